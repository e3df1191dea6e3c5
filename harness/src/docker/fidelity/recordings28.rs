//! The real Docker 28.5.2 recordings (`tests/data/real-docker-28`) and the
//! scenario they were made with: the integration tests' helpers
//! (tests/common/recordings28.rs, one copy for both) and what only the rule
//! tests here need.

#[path = "../../../../tests/common/recordings28.rs"]
mod common;
pub use common::*;

/// `super::recordings` as the included file names it.
mod recordings {
    pub use super::super::recordings::*;
}

use std::collections::BTreeMap;

use crate::Backend;
use crate::docker::ruleset::Table;
use crate::docker::{DockerHost, Ruleset};

use super::recordings::{data, tables};

/// Every recorded daemon variant with stage dumps and a behaviour test.
pub const VARIANTS: [&str; 13] = [
    "default",
    "default-plus-internal",
    "legacy-backend",
    "userland-proxy-false",
    "icc-false",
    "ip-masq-false",
    "ip-forward-no-drop",
    "allow-direct-routing",
    "forward-preset",
    "lo-publish",
    "routed",
    "nat-unprotected",
    "default-after-daemon-restart-and-container-start",
];

/// The standard scenario's first steps, as the stage dumps name them.
pub const STEPS: [&str; 4] = [
    "-0-daemon-start",
    "-1-after-ca",
    "-2-after-network-create-br",
    "-3-after-cb",
];

/// Every recorded dump of a variant and the step of the model it shows.
pub fn dumps(name: &str) -> Vec<(String, usize)> {
    let host = variant28(name);
    let mut out: Vec<(String, usize)> = STEPS
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("{name}{s}"), i))
        .collect();
    match name {
        "default-plus-internal" => {
            out = vec![
                ("default-plus-internal-network-created".into(), 8),
                ("default-plus-internal".into(), 9),
            ];
        }
        "default-after-daemon-restart-and-container-start" => {
            out = vec![
                ("default-after-daemon-restart".into(), 10),
                (name.into(), host.last_step()),
            ];
        }
        _ => out.push((name.into(), host.last_step())),
    }
    out
}

/// The `.canon` form of a ruleset: `*nat`, `*filter`, `*raw` and their `-A` lines.
pub fn canon(host: &DockerHost, rules: &Ruleset) -> String {
    let mut s = String::new();
    for t in [Table::Nat, Table::Filter, Table::Raw] {
        s.push_str(&format!("*{t}\n"));
        for r in rules.rules(t) {
            s.push_str(&r);
            s.push('\n');
        }
    }
    normalise(host, &s)
}

/// One save section of a recorded dump, per table, bridge ids normalised.
pub fn recorded(dump: &str, section: &str) -> BTreeMap<String, Vec<String>> {
    let text = data(&format!("real-docker-28/dumps/{dump}.rules"));
    let mut body = String::new();
    let mut on = false;
    for l in text.lines() {
        if l.starts_with("### ") {
            on = l.starts_with(&format!("### {section} "));
            continue;
        }
        if on {
            body.push_str(l);
            body.push('\n');
        }
    }
    tables(&normalise_recorded(dump, &body))
}

/// The save sections of the backend a host uses: (IPv4, IPv6).
pub fn sections(host: &DockerHost) -> (&'static str, &'static str) {
    match host.backend() {
        Backend::IptablesLegacy => ("iptables-legacy-save", "ip6tables-legacy-save"),
        _ => ("iptables-nft-save", "ip6tables-nft-save"),
    }
}
