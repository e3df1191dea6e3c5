//! Docker 20.10.24 (classic layout), recorded in `tests/data/real-docker`:
//! each variant's rules as netrig renders them, and as it loads them with
//! the real tools and reads them back, equal the recording at every
//! recorded step; the proxies, kernel settings and the standard scenario as
//! a topology file too.

use std::path::PathBuf;

use crate::Backend;
use crate::docker::DockerHost;
use crate::docker::fidelity::recordings::*;
use crate::unique_lab_name;
use crate::{Lab, Node};

variants!(checks [rendered, loaded];
    // Default daemon: the rules equal the recording, rule for rule.
    default = "default",
    // The legacy backend programs the same rules, into iptables-legacy only.
    legacy_backend = "legacy-backend" also legacy_backend_is_legacy_only,
    // `--userland-proxy=false`: hairpin NAT rules, no RETURN, DNAT without `! -i`.
    userland_proxy_false = "userland-proxy-false",
    // `--icc=false`: docker0's intra-bridge ACCEPT becomes a DROP, at every step.
    icc_false = "icc-false",
    // `--ip-masq=false`: docker0 loses its MASQUERADE and RETURN, br keeps its own.
    ip_masq_false = "ip-masq-false",
    // An `--internal` network adds a FORWARD ACCEPT and two STAGE-1 DROPs,
    // newest on top (recorded without stage dumps: the final rules).
    default_plus_internal = "default-plus-internal",
);

fn check_canon(name: &str) {
    let host = variant(name);
    assert_same_lines(
        &format!("{name} (final)"),
        &data(&format!("real-docker/canon/{name}.canon")),
        &normalise(&host, &host.running().iptables().canon()),
    );
}

fn check_canon_steps(name: &str) {
    let host = variant(name);
    for (step, suffix) in STEPS.iter().enumerate() {
        assert_same_lines(
            &format!("{name}{suffix} (step {step})"),
            &data(&format!("real-docker/canon/{name}{suffix}.canon")),
            &normalise(&host, &host.at(step).iptables().canon()),
        );
    }
}

fn check_dump(name: &str, step: Option<usize>, suffix: &str) {
    let host = variant(name);
    let rules = match step {
        Some(s) => host.at(s).iptables(),
        None => host.running().iptables(),
    };
    assert_matches_dump(
        &host,
        &rules,
        &format!("real-docker/dumps/{name}{suffix}.rules"),
    );
}

fn check_dumps_all_steps(name: &str) {
    check_dump(name, None, "");
    for (step, suffix) in STEPS.iter().enumerate() {
        check_dump(name, Some(step), suffix);
    }
}

/// A recorded variant, rendered: the final rules and those of every
/// recorded step, as canon and as save dumps, equal the recording. (An
/// `--internal` network was recorded without stage dumps: its final rules.)
fn rendered(name: &str) {
    check_canon(name);
    if name == "default-plus-internal" {
        check_dump(name, None, "");
    } else {
        check_canon_steps(name);
        check_dumps_all_steps(name);
    }
}

/// The legacy backend's rules are in iptables-legacy only.
fn legacy_backend_is_legacy_only() {
    let host = variant("legacy-backend");
    assert_eq!(host.running().firewall().backend(), Backend::IptablesLegacy);
    let nft_side = recorded_tables(
        &data("real-docker/dumps/legacy-backend.rules"),
        "iptables-nft-save",
    );
    assert!(
        nft_side.is_empty(),
        "the recording has nothing in iptables-nft: {nft_side:?}"
    );
}

/// docker-proxy: one per binding (0.0.0.0 and ::) with the proxy on, as in the recording's process list.
#[test]
fn proxies_match_recording() {
    let host = variant("default");
    let args: Vec<String> = host
        .running()
        .proxies()
        .iter()
        .map(|p| p.args().join(" "))
        .collect();
    assert_eq!(
        args,
        [
            "-proto tcp -host-ip 0.0.0.0 -host-port 8080 -container-ip 172.17.0.2 -container-port 80",
            "-proto tcp -host-ip :: -host-port 8080 -container-ip 172.17.0.2 -container-port 80",
        ]
    );
    assert!(
        variant("userland-proxy-false")
            .running()
            .proxies()
            .is_empty()
    );
    assert!(host.at(0).proxies().is_empty(), "no proxy before ca starts");
}

/// Kernel settings with the proxy off: route_localnet on every bridge and hairpin on every host veth, as recorded.
#[test]
fn kernel_settings_match_recording() {
    use crate::docker::KernelSetting;
    let host = variant("userland-proxy-false");
    let ks = host.running().kernel_settings();
    for n in host.networks() {
        let want = KernelSetting::Sysctl {
            node: "host".into(),
            key: format!("net.ipv4.conf.{}.route_localnet", n.bridge),
            value: "1".into(),
        };
        assert!(ks.contains(&want), "missing {want}");
    }
    let veths: Vec<String> = host
        .containers()
        .iter()
        .flat_map(|c| c.attachments().iter().map(|a| a.host_veth.clone()))
        .collect();
    assert_eq!(
        veths.len(),
        3,
        "ca, cb, ca2 have veths, as in the recording"
    );
    assert_eq!(host.running().hairpin_ports(), veths);
    assert!(variant("default").running().hairpin_ports().is_empty());
    let fwd = KernelSetting::Sysctl {
        node: "host".into(),
        key: "net.ipv4.ip_forward".into(),
        value: "1".into(),
    };
    assert!(ks.contains(&fwd));
    let icc = variant("icc-false").running().kernel_settings();
    assert!(
        icc.iter()
            .any(|k| k.to_string() == "host: sysctl net.bridge.bridge-nf-call-iptables=1")
    );
}

/// The recorded scenario written as a topology file renders the recorded rules at every step.
#[test]
fn standard_topology_file_matches_recording_step_by_step() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/real-docker/standard.toml");
    let host = crate::topology::load(&path)
        .expect("standard.toml loads")
        .docker_host("host")
        .expect("a Docker host file")
        .clone();
    assert_eq!(host.steps(), 8);
    for (step, suffix) in STEPS.iter().enumerate() {
        assert_same_lines(
            &format!("standard.toml{suffix}"),
            &data(&format!("real-docker/canon/default{suffix}.canon")),
            &normalise(&host, &host.at(step).iptables().canon()),
        );
    }
    assert_same_lines(
        "standard.toml (final)",
        &data("real-docker/canon/default.canon"),
        &normalise(&host, &host.running().iptables().canon()),
    );
}

pub(super) fn load_and_read_back(node: &Node<'_>, host: &DockerHost, step: usize) -> String {
    let backend = host.backend();
    // Each load replaces the tables it names, as Docker's state at that step.
    let fw = host.at(step).firewall();
    backend
        .replace_tables(node.ns(), &fw.input())
        .unwrap_or_else(|e| {
            panic!(
                "node {}: loading step {step} with {backend}: {e}",
                node.name()
            )
        });
    normalise(host, &backend.save(node.ns()).unwrap())
}

/// A recorded variant, every step, loaded with the real restore tools of
/// its backend in a lab node, read back with the save tools equal to the
/// recording.
fn loaded(name: &str) {
    check_variant_loaded(name);
}

fn check_variant_loaded(name: &str) {
    let lab = Lab::builder(unique_lab_name("rules"))
        .node("host")
        .up()
        .unwrap();
    let node = lab.node("host").unwrap();
    let host = variant(name);
    let section = match host.backend() {
        Backend::IptablesLegacy => "iptables-legacy-save",
        _ => "iptables-nft-save",
    };
    let mut cases: Vec<(usize, String)> = STEPS
        .iter()
        .enumerate()
        .map(|(i, s)| (i, s.to_string()))
        .collect();
    if name == "default-plus-internal" {
        cases.clear();
    }
    cases.push((host.last_step(), String::new()));
    for (step, suffix) in cases {
        let want = recorded_tables(
            &data(&format!("real-docker/dumps/{name}{suffix}.rules")),
            section,
        );
        let got = tables(&bare(&load_and_read_back(&node, &host, step)));
        let want_bare: std::collections::BTreeMap<_, _> = want
            .iter()
            .map(|(t, lines)| (t.clone(), bare(&lines.join("\n"))))
            .collect();
        let got_bare: std::collections::BTreeMap<_, _> =
            got.iter().map(|(t, l)| (t.clone(), l.join("\n"))).collect();
        assert_eq!(
            want_bare.keys().collect::<Vec<_>>(),
            got_bare.keys().collect::<Vec<_>>(),
            "{name}{suffix}: tables read back with {section}"
        );
        for (t, lines) in &want_bare {
            assert_same_lines(
                &format!("{name}{suffix} table {t}, loaded and read back"),
                lines,
                &got_bare[t],
            );
        }
    }
}
