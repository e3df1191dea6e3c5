//! A dual-stack V28 host (`topologies/docker-ipv6.toml`) against the real
//! Docker 28.5.2 recorded with `--ipv6 --fixed-cidr-v6 fd00:17::/64` and the
//! networks `n6` and `g6` (`tests/data/real-docker-ipv6`, issue 21): at
//! every recorded step, the ip6tables rules — chain declarations with their
//! policies, then every rule in order — and the iptables rules beside them,
//! on both iptables backends.

use std::collections::BTreeMap;

use super::recordings::{assert_same_lines, bare, data, normalise, save_section, tables};
use crate::Backend;
use crate::docker::{DockerHost, Layout};
use crate::topology::Overrides;

const FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/topologies/docker-ipv6.toml");

/// The recorded variants: (dump prefix, backend).
const VARIANTS: [(&str, Backend); 2] = [
    ("default", Backend::IptablesNft),
    ("legacy-backend", Backend::IptablesLegacy),
];

/// The recorded steps and the model's step each shows (the last: everything).
const STEPS: [(&str, Option<usize>); 4] = [
    ("-0-daemon-start", Some(0)),
    ("-1-after-network-create-n6", Some(1)),
    ("-2-after-network-create-g6", Some(2)),
    ("", None),
];

fn host(backend: Backend) -> DockerHost {
    let o = Overrides {
        layout: Some(Layout::V28),
        backend: Some(backend),
    };
    let spec = crate::topology::load_with(FILE, &o).expect("docker-ipv6.toml loads");
    spec.docker_host("host").expect("a Docker host").clone()
}

/// A recorded dump's save section, per table, its bridge ids named
/// `br-<network name>` (from the recording's `bridges.txt`).
fn recorded(dump: &str, section: &str) -> BTreeMap<String, String> {
    let mut text = save_section(&data(&format!("real-docker-ipv6/dumps/{dump}.rules")), section);
    for line in data("real-docker-ipv6/bridges.txt").lines() {
        if let [d, id, net] = line.split_whitespace().collect::<Vec<_>>().as_slice()
            && *d == dump
        {
            text = text.replace(id, &format!("br-{net}"));
        }
    }
    tables(&bare(&text))
        .into_iter()
        .map(|(t, l)| (t, l.join("\n")))
        .collect()
}

fn rendered(host: &DockerHost, saved: &str) -> BTreeMap<String, String> {
    tables(&bare(&normalise(host, saved)))
        .into_iter()
        .map(|(t, l)| (t, l.join("\n")))
        .collect()
}

fn assert_tables(what: &str, want: &BTreeMap<String, String>, got: &BTreeMap<String, String>) {
    assert!(
        want.get("filter").is_some_and(|l| l.lines().count() > 5),
        "{what}: the recording has no filter table"
    );
    assert_eq!(
        want.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>(),
        "{what}: tables"
    );
    for (t, lines) in want {
        assert_same_lines(&format!("{what} table {t}"), lines, &got[t]);
    }
}

/// At every recorded step, on both iptables backends, the ip6tables rules
/// equal the real 28.5.2's rule for rule, policies included.
#[test]
fn ip6tables_equal_the_recording_at_every_step() {
    for (variant, backend) in VARIANTS {
        let h = host(backend);
        let (_, six) = super::recordings28::sections(&h);
        for (suffix, step) in STEPS {
            let dump = format!("{variant}{suffix}");
            let stage = h.at(step.unwrap_or(h.last_step()));
            let rules = stage.ip6tables().expect("v28 programs ip6tables");
            let want = recorded(&dump, six);
            assert_tables(&format!("{dump} {six}"), &want, &rendered(&h, &rules.iptables_restore()));
        }
    }
}

/// At every recorded step the IPv4 rules of the dual-stack host equal the
/// recording too (IPv6 changes nothing there).
#[test]
fn iptables_of_the_dual_stack_host_equal_the_recording() {
    for (variant, backend) in VARIANTS {
        let h = host(backend);
        let (four, _) = super::recordings28::sections(&h);
        for (suffix, step) in STEPS {
            let dump = format!("{variant}{suffix}");
            let stage = h.at(step.unwrap_or(h.last_step()));
            let want = recorded(&dump, four);
            let got = rendered(&h, &stage.iptables().iptables_restore());
            assert_tables(&format!("{dump} {four}"), &want, &got);
        }
    }
}
