//! The real Docker 20.10 recordings (`tests/data/real-docker`) and the
//! scenario they were made with: the integration tests' helpers
//! (tests/common/recordings.rs, one copy for both) and what only the rule
//! tests here need (the rendering's own types).

#[path = "../../../../tests/common/recordings.rs"]
mod common;
pub use common::*;

use std::collections::BTreeMap;

use crate::Backend;
use crate::docker::{DockerHost, Ruleset};

pub const STEPS: [&str; 4] = [
    "-0-daemon-start",
    "-1-after-ca",
    "-2-after-network-create-br",
    "-3-after-cb",
];

/// [`recorded_tables`] with the bridge ids named after `host`'s networks,
/// found through their subnets (each `br-<id>` becomes `br-<network name>`,
/// as [`normalise`] does to the model's).
pub fn recorded_tables_for(
    host: &DockerHost,
    dump: &str,
    section: &str,
) -> BTreeMap<String, Vec<String>> {
    let names: Vec<(String, String)> = host
        .networks()
        .iter()
        .filter(|n| !n.is_default)
        .map(|n| (n.subnet.to_string(), format!("br-{}", n.name)))
        .collect();
    let names: Vec<(&str, &str)> = names
        .iter()
        .map(|(s, n)| (s.as_str(), n.as_str()))
        .collect();
    tables(&rename_bridges(&save_section(dump, section), &names))
}

/// Asserts that `rules` (the model's, for `host`) equal the dump at `rel`
/// (under `tests/data`), table by table: chain declarations with their
/// policies, then every rule in order.
pub fn assert_matches_dump(host: &DockerHost, rules: &Ruleset, rel: &str) {
    assert_saved_matches_dump(host, &rules.iptables_restore(), rel);
}

/// [`assert_matches_dump`] for save-format text (`iptables-save` output or
/// `iptables-restore` input); comments and counters are ignored.
pub fn assert_saved_matches_dump(host: &DockerHost, saved: &str, rel: &str) {
    let section = match host.backend() {
        Backend::IptablesLegacy => "iptables-legacy-save",
        _ => "iptables-nft-save",
    };
    let want: BTreeMap<String, String> = recorded_tables_for(host, &data(rel), section)
        .into_iter()
        .map(|(t, lines)| (t, bare(&lines.join("\n"))))
        .collect();
    let got: BTreeMap<String, String> = tables(&bare(&normalise(host, saved)))
        .into_iter()
        .map(|(t, lines)| (t, lines.join("\n")))
        .collect();
    assert!(
        want.get("filter").is_some_and(|l| l.lines().count() > 5),
        "{rel}: the recording has no filter table in {section}"
    );
    assert_eq!(
        want.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>(),
        "{rel}: tables"
    );
    for (t, lines) in &want {
        assert_same_lines(&format!("{rel} table {t}"), lines, &got[t]);
    }
}
