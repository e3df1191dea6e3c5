//! The IPv6 side of the iptables backends: `ip6tables-*-restore` to load,
//! the matching save tool to read back ([`Backend::ip6_save_argv`]). Docker
//! 28+ programs ip6tables by default, so an emulated host loads its IPv6
//! skeleton with these.

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::namespace::Namespace;

impl Backend {
    /// Loads ip6tables-restore `text`, **replacing** the ip6tables tables it
    /// names (iptables backends only; nft loads IPv6 tables itself).
    pub fn replace_tables_ip6(self, ns: &Namespace, text: &str) -> Result<()> {
        let argv = self.ip6_load_argv().ok_or_else(|| no_ip6(self, ns))?;
        tracing::debug!(subject = %ns.subject(), backend = %self, lines = text.lines().count(), "load ip6tables ruleset");
        ns.command(argv[0])
            .args(&argv[1..])
            .input(text)
            .checked_output()
            .map(|_| ())
    }

    /// The ip6tables rules with counters (`ip6tables-*-save -c`).
    pub fn save_ip6(self, ns: &Namespace) -> Result<String> {
        let argv = self.ip6_save_argv().ok_or_else(|| no_ip6(self, ns))?;
        let out = ns.command(argv[0]).args(&argv[1..]).checked_output()?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

fn no_ip6(b: Backend, ns: &Namespace) -> Error {
    Error::invalid(
        ns.subject().clone(),
        "backend",
        format!("{b} has no ip6tables tools (nft loads IPv6 tables itself)"),
    )
}
