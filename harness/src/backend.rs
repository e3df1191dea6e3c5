//! Which kernel firewall holds a ruleset, and the one place that knows which
//! tool loads and reads back each one — and which Debian package provides
//! each program netrig runs. No system calls: the firewall module runs these
//! command lines inside a namespace.
//!
//! | backend | loads with | reads back with | lists rules as written with |
//! |---|---|---|---|
//! | [`Backend::IptablesNft`] | `iptables-nft-restore -w` | `iptables-nft-save -c` | `iptables-nft-save` |
//! | [`Backend::IptablesLegacy`] | `iptables-legacy-restore -w` | `iptables-legacy-save -c` | `iptables-legacy-save` |
//! | [`Backend::Nftables`] | `nft -f -` | `nft list ruleset` | `nft -a list ruleset` |
//!
//! The iptables backends have `ip6tables-*` flavours of each; nftables is
//! flushed with `nft flush ruleset`, the iptables backends by restoring
//! their tables empty. The rule listing is what nftrace names the rules of a
//! trace by: nft's with the handles trace events carry (iptables-nft's rules
//! are nf_tables rules too, so it lists both), iptables' without counters.
//! nftrace's own trace table is an nf_tables table whatever the backend, so
//! it is loaded with nft's loader and deleted with
//! [`Backend::nft_delete_table_argv`].

use std::fmt;

/// Which kernel subsystem and tool set holds the rules.
///
/// ```
/// use netrig::Backend;
/// assert_eq!("iptables-legacy".parse::<Backend>(), Ok(Backend::IptablesLegacy));
/// assert_eq!(Backend::Nftables.to_string(), "nftables");
/// assert!("pf".parse::<Backend>().unwrap_err().contains("use iptables-nft, iptables-legacy or nftables"));
/// ```
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Deserialize, serde::Serialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// iptables over nf_tables (Debian's default `iptables`).
    #[default]
    IptablesNft,
    /// iptables over the legacy xtables kernel API.
    IptablesLegacy,
    /// Native nftables (`nft`).
    Nftables,
}

/// How a load treats what is already in the tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LoadMode {
    /// `iptables-restore` without `--noflush`: each table named in the input
    /// is replaced whole. (nft: `nft -f`, which adds.)
    ReplaceTables,
    /// `iptables-restore --noflush`: rules and chains are added to what is
    /// there. (nft: the same `nft -f`.)
    Append,
}

impl Backend {
    /// All backends.
    pub(crate) const ALL: [Backend; 3] = [
        Backend::IptablesNft,
        Backend::IptablesLegacy,
        Backend::Nftables,
    ];

    /// Whether the backend takes iptables-restore text.
    pub(crate) fn is_iptables(self) -> bool {
        !matches!(self, Backend::Nftables)
    }

    /// The command line that loads this backend's rules from stdin.
    pub(crate) fn load_argv(self, mode: LoadMode) -> Vec<&'static str> {
        let mut argv = match self {
            Backend::IptablesNft => vec!["iptables-nft-restore", "-w"],
            Backend::IptablesLegacy => vec!["iptables-legacy-restore", "-w"],
            Backend::Nftables => return vec!["nft", "-f", "-"],
        };
        if mode == LoadMode::Append {
            argv.push("--noflush");
        }
        argv
    }

    /// The command line that prints this backend's rules, with counters.
    pub(crate) fn save_argv_v4(self) -> &'static [&'static str] {
        match self {
            Backend::IptablesNft => &["iptables-nft-save", "-c"],
            Backend::IptablesLegacy => &["iptables-legacy-save", "-c"],
            Backend::Nftables => &["nft", "list", "ruleset"],
        }
    }

    /// The ip6tables flavour of [`Backend::save_argv_v4`] (`None` for nftables,
    /// whose `nft list ruleset` shows IPv6 tables too).
    pub(crate) fn ip6_save_argv(self) -> Option<&'static [&'static str]> {
        match self {
            Backend::IptablesNft => Some(&["ip6tables-nft-save", "-c"]),
            Backend::IptablesLegacy => Some(&["ip6tables-legacy-save", "-c"]),
            Backend::Nftables => None,
        }
    }

    /// The command lines that print this backend's whole ruleset with
    /// counters, IPv4 first: `iptables-*-save -c` then `ip6tables-*-save -c`,
    /// or `nft list ruleset` alone (it shows both families). For reading a
    /// namespace netrig holds no handle of (a kept lab's pin); in a running
    /// lab, [`Node::rules`](crate::Node::rules) does this.
    ///
    /// ```
    /// use netrig::Backend;
    /// assert_eq!(Backend::IptablesLegacy.save_argv()[1], ["ip6tables-legacy-save", "-c"]);
    /// assert_eq!(Backend::Nftables.save_argv().len(), 1);
    /// ```
    pub fn save_argv(self) -> Vec<&'static [&'static str]> {
        std::iter::once(self.save_argv_v4())
            .chain(self.ip6_save_argv())
            .collect()
    }

    /// The ip6tables flavour of [`Backend::load_argv`] (`None` for
    /// nftables, whose `nft -f` loads IPv6 tables itself).
    pub(crate) fn ip6_load_argv(self, mode: LoadMode) -> Option<Vec<&'static str>> {
        let mut argv = match self {
            Backend::IptablesNft => vec!["ip6tables-nft-restore", "-w"],
            Backend::IptablesLegacy => vec!["ip6tables-legacy-restore", "-w"],
            Backend::Nftables => return None,
        };
        if mode == LoadMode::Append {
            argv.push("--noflush");
        }
        Some(argv)
    }

    /// The command line that prints this backend's rules as written, without
    /// counters (see the module docs): what nftrace names traced rules by.
    pub(crate) fn list_argv(self) -> &'static [&'static str] {
        match self {
            Backend::IptablesNft => &["iptables-nft-save"],
            Backend::IptablesLegacy => &["iptables-legacy-save"],
            Backend::Nftables => &["nft", "-a", "list", "ruleset"],
        }
    }

    /// The ip6tables flavour of [`Backend::list_argv`] (`None` for nftables,
    /// whose listing shows IPv6 tables too).
    pub(crate) fn ip6_list_argv(self) -> Option<&'static [&'static str]> {
        match self {
            Backend::IptablesNft => Some(&["ip6tables-nft-save"]),
            Backend::IptablesLegacy => Some(&["ip6tables-legacy-save"]),
            Backend::Nftables => None,
        }
    }

    /// The command line that deletes the nf_tables table `family name`
    /// (`nft delete table inet netrig_trace_1_0`): how a table netrig adds
    /// beside any backend's rules, such as nftrace's, is removed.
    pub(crate) fn nft_delete_table_argv(family: &str, name: &str) -> Vec<String> {
        ["nft", "delete", "table", family, name]
            .map(str::to_string)
            .to_vec()
    }

    /// The command line that prints the version of this backend's tools
    /// (for the fingerprint).
    pub(crate) fn version_argv(self) -> &'static [&'static str] {
        match self {
            Backend::IptablesNft => &["iptables-nft", "--version"],
            Backend::IptablesLegacy => &["iptables-legacy", "--version"],
            Backend::Nftables => &["nft", "--version"],
        }
    }

    /// The program that loads this backend's rules.
    pub(crate) fn load_program(self) -> &'static str {
        self.load_argv(LoadMode::Append)[0]
    }

    #[cfg(test)]
    /// The command line that empties the whole ruleset at once (`None` for
    /// the iptables backends, which are flushed by restoring their tables
    /// empty).
    pub(crate) fn flush_argv(self) -> Option<&'static [&'static str]> {
        match self {
            Backend::Nftables => Some(&["nft", "flush", "ruleset"]),
            Backend::IptablesNft | Backend::IptablesLegacy => None,
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::IptablesNft => "iptables-nft",
            Backend::IptablesLegacy => "iptables-legacy",
            Backend::Nftables => "nftables",
        })
    }
}

impl std::str::FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "iptables-nft" | "iptables" => Ok(Backend::IptablesNft),
            "iptables-legacy" => Ok(Backend::IptablesLegacy),
            "nftables" | "nft" => Ok(Backend::Nftables),
            _ => Err(format!(
                "unknown backend {s:?} (use iptables-nft, iptables-legacy or nftables)"
            )),
        }
    }
}

/// Whether rule file `path` is ip6tables-restore input: its name ends in
/// `.v6`, as iptables-persistent's `/etc/iptables/rules.v6` does. Loaded
/// with the ip6tables flavour of the node's iptables backend; any other
/// iptables file is IPv4 (`.nft` files hold both families themselves).
pub(crate) fn is_ip6_rules_file(path: &std::path::Path) -> bool {
    path.extension().is_some_and(|e| e == "v6")
}

/// The Debian package that provides a program netrig (or a test) may run,
/// if netrig knows it.
pub(crate) fn package_for(program: &str) -> Option<&'static str> {
    let base = program.rsplit('/').next().unwrap_or(program);
    Some(match base {
        p if p.starts_with("iptables") || p.starts_with("ip6tables") => "iptables",
        "nft" => "nftables",
        "conntrack" => "conntrack",
        "tcpdump" => "tcpdump",
        "socat" => "socat",
        "curl" => "curl",
        "ip" | "bridge" | "tc" | "ss" => "iproute2",
        "ping" => "iputils-ping",
        "nc" => "netcat-openbsd",
        "nsenter" | "unshare" | "runuser" => "util-linux",
        "sysctl" => "procps",
        "ufw" => "ufw",
        "firewalld" | "firewall-cmd" => "firewalld",
        "dbus-daemon" => "dbus-daemon",
        _ => return None,
    })
}
