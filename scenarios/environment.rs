//! What this machine can do, found out once per feature when a selected
//! trial first needs it: whether each feature a scenario needs is there — a
//! firewall backend's tool and kernel support, br_netfilter. Nothing is assumed: each feature is probed in a
//! throwaway one-node lab, and a missing one is reported with the reason.
//!
//! Policy (applied by `netrig::testing`, see `main.rs`): unprivileged →
//! trials are ignored with the reason, or fail when privileges are required
//! (CI, or `NETRIG_REQUIRE_PRIVILEGES=1`). A missing *program* fails under
//! the same condition (CI installs them with `ci/setup.sh`); a missing
//! *kernel* feature is skipped with its reason everywhere — the machine
//! cannot do it.

use std::sync::Mutex;

use netrig::Backend;
use netrig::unique_lab_name;
use netrig::{Lab, Node};

/// Something a scenario needs beyond privileges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// A firewall backend: its restore tool installed and its kernel side working.
    Backend(Backend),
    /// br_netfilter: bridged frames through netfilter (`net.bridge.bridge-nf-call-iptables`).
    BridgeNetfilter,
    /// The real ufw (Debian's package `ufw`), run confined to a node.
    Ufw,
    /// The real firewalld (Debian's packages `firewalld`, `dbus-daemon`),
    /// run confined to a node on a bus of its own.
    Firewalld,
}

impl std::fmt::Display for Feature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Feature::Backend(b) => write!(f, "the {b} firewall backend"),
            Feature::BridgeNetfilter => f.write_str("br_netfilter"),
            Feature::Ufw => f.write_str("ufw"),
            Feature::Firewalld => f.write_str("firewalld"),
        }
    }
}

/// Why a feature is missing.
#[derive(Debug, Clone)]
pub struct Missing {
    /// The feature.
    pub feature: Feature,
    /// What the probe found.
    pub reason: String,
    /// True when installing a package fixes it (as opposed to the kernel lacking it).
    pub installable: bool,
}

/// Why `feature` is missing here, if it is: probed once per process, in a
/// throwaway one-node lab, the first time a selected trial needs it (a
/// trial run alone — as `cargo nextest run` does — probes only its own
/// needs). The caller has checked privileges first.
pub fn missing(feature: Feature) -> Option<Missing> {
    static FOUND: Mutex<Vec<(Feature, Option<Missing>)>> = Mutex::new(Vec::new());
    let mut found = FOUND.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, m)) = found.iter().find(|(f, _)| *f == feature) {
        return m.clone();
    }
    let m = match Lab::builder(unique_lab_name("probe")).node("probe").up() {
        Ok(lab) => probe(
            &lab.node("probe").expect("the probe lab has node probe"),
            feature,
        ),
        Err(e) => Some(Missing {
            feature,
            reason: format!("cannot build a probe lab: {e}"),
            installable: false,
        }),
    };
    found.push((feature, m.clone()));
    m
}

fn probe(node: &Node<'_>, feature: Feature) -> Option<Missing> {
    let missing = |reason: String, installable: bool| {
        Some(Missing {
            feature,
            reason,
            installable,
        })
    };
    match feature {
        Feature::Backend(b) => {
            let probe = match b {
                Backend::Nftables => "table ip netrig-probe {\n}\n",
                _ => "*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n",
            };
            match node.load_rules(b, probe) {
                Ok(()) => None,
                Err(e @ netrig::Error::MissingProgram { .. }) => missing(e.to_string(), true),
                Err(e) => missing(format!("the kernel refused a trivial ruleset: {e}"), false),
            }
        }
        Feature::Ufw => {
            let ok = std::path::Path::new("/usr/sbin/ufw").is_file()
                && std::path::Path::new("/usr/share/ufw/iptables").is_dir();
            if ok {
                None
            } else {
                missing("ufw is not installed (package ufw)".into(), true)
            }
        }
        Feature::Firewalld => {
            let programs = [
                "/usr/sbin/firewalld",
                "/usr/bin/firewall-cmd",
                "/usr/bin/dbus-daemon",
            ];
            match programs
                .into_iter()
                .find(|p| !std::path::Path::new(p).is_file())
            {
                None => None,
                Some(p) => missing(
                    format!("{p} is not installed (packages firewalld, dbus-daemon)"),
                    true,
                ),
            }
        }
        Feature::BridgeNetfilter => match node.sysctl_get("net.bridge.bridge-nf-call-iptables") {
            Ok(_) => None,
            Err(e) => missing(
                format!(
                    "net.bridge.bridge-nf-call-iptables is unavailable (module br_netfilter not loaded?): {e}"
                ),
                false,
            ),
        },
    }
}
