//! What this machine and process can do, found out once before any trial
//! runs: whether labs can be built at all (privileges), and whether each
//! feature a scenario needs is there — a firewall backend's tool and kernel
//! support, br_netfilter. Nothing is assumed: each feature is probed in a
//! throwaway one-node lab, and a missing one is reported with the reason.
//!
//! Policy (see `main.rs`): unprivileged → trials are skipped visibly, or fail
//! when [`netrig::privilege::privileges_required`] (CI, or
//! `NETRIG_REQUIRE_PRIVILEGES=1`). A missing *program* fails under the same
//! condition (CI installs them with `ci/setup.sh`); a missing *kernel*
//! feature is skipped with its reason everywhere — the machine cannot do it.

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
}

impl std::fmt::Display for Feature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Feature::Backend(b) => write!(f, "the {b} firewall backend"),
            Feature::BridgeNetfilter => f.write_str("br_netfilter"),
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

/// What the probes found.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    /// Why labs cannot be built here; `None` when they can.
    pub unprivileged: Option<String>,
    /// Features that are not available.
    pub missing: Vec<Missing>,
}

impl Environment {
    /// Probes privileges and then every feature in `features`.
    pub fn probe(features: &[Feature]) -> Environment {
        if let Err(e) = netrig::privilege::check() {
            return Environment {
                unprivileged: Some(e.to_string()),
                missing: Vec::new(),
            };
        }
        let lab = Lab::builder(unique_lab_name("probe")).node("probe").up();
        let missing = match &lab {
            Ok(lab) => {
                let node = lab.node("probe").expect("the probe lab has node probe");
                features.iter().filter_map(|f| probe(&node, *f)).collect()
            }
            Err(e) => features
                .iter()
                .map(|f| Missing {
                    feature: *f,
                    reason: format!("cannot build a probe lab: {e}"),
                    installable: false,
                })
                .collect(),
        };
        Environment {
            unprivileged: None,
            missing,
        }
    }

    /// An environment nothing was probed in (for `--list`).
    pub fn unprobed() -> Environment {
        Environment::default()
    }

    /// Why `feature` is missing, if it is.
    pub fn missing(&self, feature: Feature) -> Option<&Missing> {
        self.missing.iter().find(|m| m.feature == feature)
    }
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
            if !b.is_installed() {
                let program = b.load_program();
                return missing(
                    netrig::Error::missing_program(program, format!("load {b} rules")).to_string(),
                    true,
                );
            }
            let probe = match b {
                Backend::Nftables => "table ip netrig-probe {\n}\n",
                _ => "*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n",
            };
            match b.replace_tables(node, probe) {
                Ok(()) => None,
                Err(e) => missing(format!("the kernel refused a trivial ruleset: {e}"), false),
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
