//! The IPv6 side of the iptables backends: `ip6tables-nft-restore` /
//! `ip6tables-legacy-restore` to load, the matching save tool to read back.
//! Docker 28+ programs ip6tables by default, so an emulated host loads its
//! IPv6 skeleton with these.

use super::Backend;
use crate::error::{Error, Result};
use crate::lab::Node;

impl Backend {
    /// The ip6tables flavour of this backend's restore and save tools
    /// (`None` for nftables, whose `inet`/`ip6` tables `nft -f` loads).
    pub fn ip6_programs(self) -> Option<(&'static str, &'static str)> {
        match self {
            Backend::IptablesNft => Some(("ip6tables-nft-restore", "ip6tables-nft-save")),
            Backend::IptablesLegacy => Some(("ip6tables-legacy-restore", "ip6tables-legacy-save")),
            Backend::Nftables => None,
        }
    }

    /// Replaces the ip6tables tables named in `text` in `node`.
    pub fn apply_ip6(self, node: &Node<'_>, text: &str) -> Result<()> {
        let (restore, _) = self.ip6_programs().ok_or_else(|| no_ip6(self, node))?;
        node.command(restore)
            .arg("-w")
            .input(text)
            .checked_output()
            .map(|_| ())
    }

    /// The ip6tables rules of `node`, with counters (`ip6tables-*-save -c`).
    pub fn save_ip6(self, node: &Node<'_>) -> Result<String> {
        let (_, save) = self.ip6_programs().ok_or_else(|| no_ip6(self, node))?;
        let out = node.command(save).arg("-c").checked_output()?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

fn no_ip6(b: Backend, node: &Node<'_>) -> Error {
    Error::invalid(
        node.subject(),
        "backend",
        format!("{b} has no ip6tables tools (nft loads IPv6 tables itself)"),
    )
}
