//! Layout V29 (no real 29.x daemon was recorded): against docker-rules
//! §1.2/§1.3/§1.5 (`tests/data/docker-rules`), loaded with every backend,
//! and against the real Docker 28.5.2 wherever the two share code — for
//! every recorded 28.5.2 variant and step, the V29 rendering of the same
//! scenario equals the recording once the differences docker-rules §1.4
//! documents between 28.x and 29.x are applied to it, and only those (moby's
//! goldens prove them, `fidelity::goldens`; what stays derived is
//! `V29_DERIVED`).

use crate::Backend;
use crate::Lab;
use crate::docker::fidelity::recordings::*;
use crate::docker::fidelity::recordings28::{canon, dumps, variant28_with};
use crate::docker::modern::V29_DERIVED;
use crate::docker::ruleset::Table;
use crate::docker::{
    ContainerSpec, DockerHost, DockerHostBuilder, Firewall, Layout, NetworkSpec, Ruleset,
};
use crate::unique_lab_name;

use super::v20_10::load_and_read_back;

variants!(checks [rendered_vs_v28_5_2];
    default = "default" plus [
        rendered_vs_docker_rules_1_2 = v29_matches_docker_rules_1_2,
        rendered_steps_vs_docker_rules_1_2 = v29_steps_match_docker_rules_1_2
    ],
    default_plus_internal = "default-plus-internal",
    legacy_backend = "legacy-backend",
    userland_proxy_false = "userland-proxy-false" plus [
        rendered_vs_docker_rules_1_5 = v29_userland_proxy_false_matches_docker_rules_1_5
    ],
    icc_false = "icc-false" plus [
        rendered_vs_docker_rules_1_5 = v29_icc_false_matches_docker_rules_1_5
    ],
    ip_masq_false = "ip-masq-false" plus [
        rendered_vs_docker_rules_1_5 = v29_ip_masq_false_matches_docker_rules_1_5
    ],
    ip_forward_no_drop = "ip-forward-no-drop",
    allow_direct_routing = "allow-direct-routing",
    forward_preset = "forward-preset",
    lo_publish = "lo-publish",
    routed = "routed",
    nat_unprotected = "nat-unprotected",
    default_after_daemon_restart_and_container_start = "default-after-daemon-restart-and-container-start",
);

/// An internal network, against docker-rules §1.5.
mod internal_network {
    #[test]
    fn rendered_vs_docker_rules_1_5() {
        super::v29_internal_network_matches_docker_rules_1_5();
    }
}

/// The nftables backend, against docker-rules §1.3.
mod nftables_backend {
    #[test]
    fn rendered_vs_docker_rules_1_3() {
        super::v29_nftables_matches_docker_rules_1_3();
    }
}

/// Every backend, loaded.
mod every_backend {
    #[test]
    fn loaded() {
        if !crate::docker::fidelity::builds_labs(
            "docker::fidelity::rules::v29::every_backend::loaded",
        ) {
            return;
        }
        super::v29_loads_with_every_backend();
    }
}

fn v29(b: DockerHostBuilder) -> DockerHost {
    b.layout(Layout::V29)
        .container(ContainerSpec::new("ca").publish("8080:80"))
        .network(NetworkSpec::new("br"))
        .container(ContainerSpec::new("cb").network("br"))
        .build()
        .expect("valid")
}

fn rules_of(host: &DockerHost, rules: &Ruleset, t: Table) -> Vec<String> {
    normalise(host, &rules.rules(t).join("\n"))
        .lines()
        .map(str::to_string)
        .collect()
}

/// V29 iptables backend: equal, table by table, to docker-rules §1.2.
fn v29_matches_docker_rules_1_2() {
    let host = v29(DockerHost::builder());
    let want = tables(&data("docker-rules/v29-standard.rules"));
    let got = tables(&normalise(
        &host,
        &host.running().iptables().iptables_restore(),
    ));
    assert_eq!(
        want.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>()
    );
    for (t, lines) in &want {
        assert_same_lines(
            &format!("v29 table {t}"),
            &lines.join("\n"),
            &got[t].join("\n"),
        );
    }
}

/// V29 with the proxy off: §1.5's nat table (LOCAL masquerade per bridge, no `! -i` on DNAT, hairpin MASQUERADE).
fn v29_userland_proxy_false_matches_docker_rules_1_5() {
    let host = v29(DockerHost::builder().userland_proxy(false));
    let want = [
        "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
        "-A OUTPUT -m addrtype --dst-type LOCAL -j DOCKER",
        "-A POSTROUTING -o br-br -m addrtype --src-type LOCAL -j MASQUERADE",
        "-A POSTROUTING -s 172.18.0.0/16 ! -o br-br -j MASQUERADE",
        "-A POSTROUTING -o docker0 -m addrtype --src-type LOCAL -j MASQUERADE",
        "-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE",
        "-A POSTROUTING -s 172.17.0.2/32 -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE",
        "-A DOCKER -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80",
    ];
    assert_eq!(
        rules_of(&host, &host.running().iptables(), Table::Nat),
        want
    );
    assert!(host.running().proxies().is_empty());
}

/// V29 with icc=false: DOCKER-FORWARD drops within docker0, then accepts outgoing (§1.5).
fn v29_icc_false_matches_docker_rules_1_5() {
    let host = v29(DockerHost::builder().icc(false));
    let fwd: Vec<String> = rules_of(&host, &host.running().iptables(), Table::Filter)
        .into_iter()
        .filter(|l| l.starts_with("-A DOCKER-FORWARD -i docker0"))
        .collect();
    assert_eq!(
        fwd,
        [
            "-A DOCKER-FORWARD -i docker0 -o docker0 -j DROP",
            "-A DOCKER-FORWARD -i docker0 ! -o docker0 -j ACCEPT"
        ]
    );
}

/// V29 with ip-masq=false: only docker0's MASQUERADE goes (§1.5).
fn v29_ip_masq_false_matches_docker_rules_1_5() {
    let full = v29(DockerHost::builder());
    let host = v29(DockerHost::builder().ip_masq(false));
    let mut expected = rules_of(&full, &full.running().iptables(), Table::Nat);
    expected.retain(|l| l != "-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE");
    assert_eq!(
        rules_of(&host, &host.running().iptables(), Table::Nat),
        expected
    );
    assert_eq!(
        rules_of(&host, &host.running().iptables(), Table::Filter),
        rules_of(&full, &full.running().iptables(), Table::Filter)
    );
}

/// V29 internal network: DOCKER-FORWARD accept within, two DOCKER-INTERNAL drops, nothing else (§1.5).
fn v29_internal_network_matches_docker_rules_1_5() {
    let host = DockerHost::builder()
        .layout(Layout::V29)
        .network(
            NetworkSpec::new("brint")
                .subnet("172.19.0.0/16")
                .internal(true),
        )
        .container(ContainerSpec::new("ci").network("brint"))
        .build()
        .unwrap();
    let rules = host.running().iptables();
    let all = normalise(&host, &rules.save_lines().join("\n"));
    let brint: Vec<&str> = all.lines().filter(|l| l.contains("br-brint")).collect();
    assert_eq!(
        brint,
        [
            "-A DOCKER-FORWARD -i br-brint -o br-brint -j ACCEPT",
            "-A DOCKER-INTERNAL ! -s 172.19.0.0/16 -o br-brint -j DROP",
            "-A DOCKER-INTERNAL ! -d 172.19.0.0/16 -i br-brint -j DROP",
        ]
    );
    assert!(
        !all.contains("172.19.0.2"),
        "no raw rule for internal endpoints:\n{all}"
    );
    assert!(
        host.lab_spec().routes.iter().all(|r| r.node != "ci"),
        "no default route on an internal network"
    );
}

/// V29 nftables backend: the table of docker-rules §1.3, line for line, and loaded with `nft -f -`.
fn v29_nftables_matches_docker_rules_1_3() {
    let host = v29(DockerHost::builder()
        .backend(Backend::Nftables)
        .ip_forward_was_on(true));
    assert_same_lines(
        "v29 nftables",
        &data("docker-rules/v29-standard.nft"),
        &normalise(&host, &host.running().nftables().render()),
    );
    let fw = host.running().firewall();
    assert!(matches!(fw, Firewall::Nftables(..)));
    assert_eq!(fw.backend(), Backend::Nftables);
    assert!(
        fw.input()
            .starts_with("table ip docker-bridges {}\ndelete table ip docker-bridges\n")
    );
}

/// V29 step by step: each step is §1.2 without the rules of what does not exist yet
/// (daemon start: docker0 only; then ca; then br; then cb).
fn v29_steps_match_docker_rules_1_2() {
    let host = v29(DockerHost::builder());
    let full = tables(&data("docker-rules/v29-standard.rules"));
    let absent: [&[&str]; 4] = [
        &["172.17.0.2", "br-br", "172.18.0"],
        &["br-br", "172.18.0"],
        &["172.18.0.2"],
        &[],
    ];
    for (step, tokens) in absent.iter().enumerate() {
        let got = tables(&normalise(
            &host,
            &host.at(step).iptables().iptables_restore(),
        ));
        for (t, lines) in &full {
            let want: Vec<&str> = lines
                .iter()
                .map(String::as_str)
                .filter(|l| !tokens.iter().any(|tok| l.contains(tok)))
                .collect();
            if !got.contains_key(t) {
                // As recorded for 28.5.2 (same code in 29): iptables creates
                // the raw table with its first rule, so it is absent until then.
                assert!(
                    t == "raw" && want.iter().all(|l| !l.starts_with("-A")),
                    "v29 step {step}: table {t} missing"
                );
                continue;
            }
            assert_same_lines(
                &format!("v29 step {step} table {t}"),
                &want.join("\n"),
                &got[t].join("\n"),
            );
        }
    }
}

/// V29 with each backend loads cleanly and reads back as rendered
/// (iptables: the same `-A` lines per table; nftables: Docker's table).
fn v29_loads_with_every_backend() {
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
        backend.flush(node.ns()).unwrap();
        assert!(
            !backend.save(node.ns()).unwrap().contains("DOCKER"),
            "{backend}: flush left Docker's rules"
        );
    }
}

/// The 28.5.2 canon rewritten into what V29 programs instead: each rewrite
/// is a 28→29 difference moby's iptabler goldens prove (`fidelity::goldens`).
fn as_v29(canon28: &str) -> String {
    let mut out = Vec::new();
    let mut table = "";
    for l in canon28.lines() {
        if let Some(t) = l.strip_prefix('*') {
            table = t;
            out.push(l.to_string());
            continue;
        }
        // No STAGE-1/STAGE-2 isolation pair in 29.x.
        if l.contains("DOCKER-ISOLATION-STAGE-2") {
            continue;
        }
        // No nat skip-DNAT RETURN rules in 29.x.
        if table == "nat" && l.starts_with("-A DOCKER -i ") && l.ends_with("-j RETURN") {
            continue;
        }
        // No routed-network STAGE-1 ACCEPT/RETURN in 29.x.
        if l.starts_with("-A DOCKER-ISOLATION-STAGE-1 -i ") && l.contains("RELATED,ESTABLISHED")
            || l.starts_with("-A DOCKER-ISOLATION-STAGE-1 -o ") && l.ends_with("-j RETURN")
        {
            continue;
        }
        // DOCKER-INTERNAL instead of STAGE-1 (jump and internal-network drops).
        out.push(l.replace("DOCKER-ISOLATION-STAGE-1", "DOCKER-INTERNAL"));
    }
    out.join("\n")
}

/// A recorded 28.5.2 variant, every step: the V29 rendering of its scenario
/// = the recording with §1.4's 29.x changes, IPv4 and IPv6.
fn rendered_vs_v28_5_2(name: &str) {
    // What stays derived is named; a change to it is a change to this list.
    assert_eq!(V29_DERIVED.len(), 5);
    let host = variant28_with(name, |b| b.layout(Layout::V29));
    for (dump, step) in dumps(name) {
        let want = as_v29(&data(&format!("real-docker-28/canon/{dump}.canon")));
        assert_same_lines(
            &format!("v29 vs 28.5.2 {dump} (step {step})"),
            &want,
            &canon(&host, &host.at(step).iptables()),
        );
        let want6 = as_v29(&data(&format!("real-docker-28/canon/{dump}.canon6")));
        assert_same_lines(
            &format!("v29 vs 28.5.2 {dump} ip6tables"),
            &want6,
            &canon(&host, &host.running().ip6tables().unwrap()),
        );
    }
}
