//! The IPv6 side of the iptables backends: `ip6tables-*-restore` to load,
//! the matching save tool to read back ([`Backend::ip6_save_argv`]). Docker
//! 28+ programs ip6tables by default, so an emulated host loads its IPv6
//! skeleton with these — with iptables-nft at the same time as its IPv4
//! ruleset ([`Backend::replace_tables_both`]): two tools, two tables of two
//! families, neither waiting for the other.

use crate::backend::{Backend, LoadMode};
use crate::error::{Error, Result};
use crate::namespace::Namespace;

impl Backend {
    /// Loads ip6tables-restore `text`, **replacing** the ip6tables tables it
    /// names (iptables backends only; nft loads IPv6 tables itself).
    pub(crate) fn replace_tables_ip6(self, ns: &Namespace, text: &str) -> Result<()> {
        let argv = self.ip6_load_argv().ok_or_else(|| no_ip6(self, ns))?;
        tracing::debug!(subject = %ns.subject(), backend = %self, lines = text.lines().count(), "load ip6tables ruleset");
        super::run(ns, argv, Some(text)).map(|_| ())
    }

    /// Loads `v4` with the backend's restore tool and `v6` with its
    /// ip6tables flavour, both **replacing** the tables they name (iptables
    /// backends only). With iptables-nft the two processes run at the same
    /// time: the families' tables are separate, so neither load sees the
    /// other's (iptables-nft retries a transaction another one overtook).
    /// The legacy tools would only queue on the xtables lock (`-w`), so they
    /// run one after the other. Returns once both are active — with
    /// iptables-nft once the kernel has committed both, the tools reaped in
    /// the background (see [`Backend::replace_tables_committed`]) — or the
    /// first failure (IPv4's if both fail).
    pub(crate) fn replace_tables_both(self, ns: &Namespace, v4: &str, v6: &str) -> Result<()> {
        self.ip6_load_argv().ok_or_else(|| no_ip6(self, ns))?;
        if self != Backend::IptablesNft {
            self.replace_tables(ns, v4)?;
            return self.replace_tables_ip6(ns, v6);
        }
        // Each returns once the kernel has committed its tables; the tools
        // are reaped in the background (see `Backend::replace_tables_committed`).
        ns.settle_loads()?;
        let argv6 = self
            .ip6_load_argv()
            .ok_or_else(|| no_ip6(self, ns))?
            .to_vec();
        std::thread::scope(|scope| {
            let six = std::thread::Builder::new()
                .name("netrig-ip6tables".into())
                .spawn_scoped(scope, || self.load_committed(ns, argv6, v6))
                .map_err(|e| Error::io(ns.subject().clone(), "start thread netrig-ip6tables", e))?;
            let four = self.load_committed(ns, self.load_argv(LoadMode::ReplaceTables), v4);
            let six = six.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            four.and(six)
        })
    }

    /// The ip6tables rules with counters (`ip6tables-*-save -c`).
    pub(crate) fn save_ip6(self, ns: &Namespace) -> Result<String> {
        let argv = self.ip6_save_argv().ok_or_else(|| no_ip6(self, ns))?;
        super::run(ns, argv, None)
    }
}

pub(super) fn no_ip6(b: Backend, ns: &Namespace) -> Error {
    Error::invalid(
        ns.subject().clone(),
        "backend",
        format!("{b} has no ip6tables tools (nft loads IPv6 tables itself)"),
    )
}
