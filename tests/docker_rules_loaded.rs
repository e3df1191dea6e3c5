//! Docker's rules as netrig *loads* them: rendered, loaded with the real
//! `iptables-nft-restore` / `iptables-legacy-restore` / `nft` inside a node,
//! read back with the real save tools, and compared rule for rule with what
//! real Docker 20.10 left behind — for every recorded variant and step.

mod common;

use common::recordings::*;
use netrig::Backend;
use netrig::docker::{DockerHost, Layout};
use netrig::unique_lab_name;
use netrig::{Lab, Node};

fn load_and_read_back(node: &Node<'_>, host: &DockerHost, step: usize) -> String {
    let backend = host.backend();
    // Each load replaces the tables it names, as Docker's state at that step.
    let fw = host.at(step).firewall();
    backend
        .replace_tables(node, &fw.input())
        .unwrap_or_else(|e| {
            panic!(
                "lab {}: loading step {step} with {backend}: {e}",
                node.lab().name()
            )
        });
    normalise(host, &backend.save(node).unwrap())
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

/// Default daemon, every step: loaded with iptables-nft, read back equal to the recording.
fn default_loaded_equals_recording() {
    let _labs = common::shared();
    check_variant_loaded("default");
}

/// Legacy backend, every step: loaded with iptables-legacy, read back equal to the recording.
fn legacy_backend_loaded_equals_recording() {
    let _labs = common::shared();
    check_variant_loaded("legacy-backend");
}

/// `--userland-proxy=false`, every step, loaded and read back.
fn userland_proxy_false_loaded_equals_recording() {
    let _labs = common::shared();
    check_variant_loaded("userland-proxy-false");
}

/// `--icc=false`, every step, loaded and read back.
fn icc_false_loaded_equals_recording() {
    let _labs = common::shared();
    check_variant_loaded("icc-false");
}

/// `--ip-masq=false`, every step, loaded and read back.
fn ip_masq_false_loaded_equals_recording() {
    let _labs = common::shared();
    check_variant_loaded("ip-masq-false");
}

/// An `--internal` network, loaded and read back.
fn internal_network_loaded_equals_recording() {
    let _labs = common::shared();
    check_variant_loaded("default-plus-internal");
}

/// V29 with each backend loads cleanly and reads back as rendered
/// (iptables: the same `-A` lines per table; nftables: Docker's table).
fn v29_loads_with_every_backend() {
    let _labs = common::shared();
    let lab = Lab::builder(unique_lab_name("v29"))
        .node("a")
        .node("b")
        .node("c")
        .up()
        .unwrap();
    for (backend, node) in Backend::ALL.into_iter().zip(["a", "b", "c"]) {
        let node = lab.node(node).unwrap();
        let host = variant_with("default", |b| {
            b.layout(Layout::V29)
                .backend(backend)
                .ip_forward_was_on(backend == Backend::Nftables)
        });
        let saved = bare(&load_and_read_back(&node, &host, host.last_step()));
        match backend {
            Backend::Nftables => {
                assert!(saved.contains("table ip docker-bridges"), "{saved}");
                assert!(saved.contains("UNPUBLISHED PORT DROP"), "{saved}");
                let rendered = normalise(&host, &host.running().nftables().render());
                for chain_line in rendered
                    .lines()
                    .filter(|l| l.trim_start().starts_with("chain "))
                {
                    assert!(
                        saved.contains(chain_line.trim()),
                        "chain {chain_line:?} missing after load:\n{saved}"
                    );
                }
            }
            _ => {
                let rendered = normalise(&host, &host.running().iptables().iptables_restore());
                let want: Vec<&str> = rendered.lines().filter(|l| l.starts_with("-A")).collect();
                let got: Vec<&str> = saved.lines().filter(|l| l.starts_with("-A")).collect();
                let mut w = want.clone();
                let mut g = got.clone();
                w.sort();
                g.sort();
                assert_eq!(w, g, "{backend}: rules read back differ from the render");
            }
        }
        backend.flush(&node).unwrap();
        assert!(
            !backend.save(&node).unwrap().contains("DOCKER"),
            "{backend}: flush left Docker's rules"
        );
    }
}

/// A malformed user rule file fails with the tool's message and the file and line.
fn malformed_rule_file_names_file_and_line() {
    let _labs = common::shared();
    let lab = Lab::builder(unique_lab_name("badrules"))
        .node("host")
        .up()
        .unwrap();
    let node = lab.node("host").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ipt = dir.path().join("user.rules");
    std::fs::write(
        &ipt,
        "*filter\n:DOCKER-USER - [0:0]\n-A DOCKER-USER -p tcp --dport 22 -j DRPO\nCOMMIT\n",
    )
    .unwrap();
    let err = Backend::IptablesNft
        .append_file(&node, &ipt)
        .unwrap_err()
        .to_string();
    assert!(err.contains(&format!("{}:3", ipt.display())), "{err}");
    assert!(err.contains("DRPO"), "{err}");
    let nft = dir.path().join("user.nft");
    std::fs::write(
        &nft,
        "table inet t {\n  chain c {\n    tcp dport 22 dorp\n  }\n}\n",
    )
    .unwrap();
    let err = Backend::Nftables
        .append_file(&node, &nft)
        .unwrap_err()
        .to_string();
    assert!(err.contains(&format!("{}:3", nft.display())), "{err}");
    // Nothing was loaded.
    assert!(
        !Backend::IptablesNft
            .save(&node)
            .unwrap()
            .contains("DOCKER-USER")
    );
    assert!(
        !Backend::Nftables
            .save(&node)
            .unwrap()
            .contains("table inet t")
    );
}

netrig::testing::main!(
    default_loaded_equals_recording,
    legacy_backend_loaded_equals_recording,
    userland_proxy_false_loaded_equals_recording,
    icc_false_loaded_equals_recording,
    ip_masq_false_loaded_equals_recording,
    internal_network_loaded_equals_recording,
    v29_loads_with_every_backend,
    malformed_rule_file_names_file_and_line,
);
