//! Docker's firewall rules as netrig renders them, compared rule for rule
//! with what a real Docker 20.10.24 left behind (`tests/data/real-docker`,
//! classic layout) and with docker-rules §1.2/§1.3 (`tests/data/docker-rules`,
//! V29), at every recorded step.

mod common;

use common::recordings::*;
use netrig::Backend;
use netrig::docker::{
    ContainerSpec, DockerHost, DockerHostBuilder, Firewall, Layout, NetworkSpec, Ruleset, Table,
};
use std::path::PathBuf;

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

/// Default daemon: the final rules equal the recording, rule for rule.
fn classic_default_matches_recording() {
    check_canon("default");
    check_canon_steps("default");
    check_dumps_all_steps("default");
}

/// The legacy backend programs the same rules, into iptables-legacy only.
fn classic_legacy_backend_matches_recording() {
    check_canon("legacy-backend");
    check_canon_steps("legacy-backend");
    check_dumps_all_steps("legacy-backend");
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

/// `--userland-proxy=false`: hairpin NAT rules, no RETURN, DNAT without `! -i`.
fn classic_userland_proxy_false_matches_recording() {
    check_canon("userland-proxy-false");
    check_canon_steps("userland-proxy-false");
    check_dumps_all_steps("userland-proxy-false");
}

/// `--icc=false`: docker0's intra-bridge ACCEPT becomes a DROP, at every step.
fn classic_icc_false_matches_recording() {
    check_canon("icc-false");
    check_canon_steps("icc-false");
    check_dumps_all_steps("icc-false");
}

/// `--ip-masq=false`: docker0 loses its MASQUERADE and RETURN, br keeps its own.
fn classic_ip_masq_false_matches_recording() {
    check_canon("ip-masq-false");
    check_canon_steps("ip-masq-false");
    check_dumps_all_steps("ip-masq-false");
}

/// An `--internal` network adds a FORWARD ACCEPT and two STAGE-1 DROPs, newest on top.
fn classic_internal_network_matches_recording() {
    check_canon("default-plus-internal");
    check_dump("default-plus-internal", None, "");
}

/// The filter FORWARD policy is DROP only when Docker itself turned forwarding on
/// (and, from 28, not with `--ip-forward-no-drop`).
fn forward_policy_follows_ip_forward() {
    for layout in [Layout::V28, Layout::V29] {
        let no_drop = standard(
            DockerHost::builder()
                .layout(layout)
                .ip_forward_no_drop(true),
            false,
        );
        assert_eq!(
            no_drop
                .running()
                .iptables()
                .policy(Table::Filter, "FORWARD"),
            Some("ACCEPT"),
            "{layout}"
        );
        assert!(no_drop.daemon().host_forwards(), "{layout}");
    }
    for layout in Layout::ALL {
        let dropped = standard(DockerHost::builder().layout(layout), false);
        assert_eq!(
            dropped
                .running()
                .iptables()
                .policy(Table::Filter, "FORWARD"),
            Some("DROP"),
            "{layout}"
        );
        let was_on = standard(
            DockerHost::builder().layout(layout).ip_forward_was_on(true),
            false,
        );
        assert_eq!(
            was_on.running().iptables().policy(Table::Filter, "FORWARD"),
            Some("ACCEPT"),
            "{layout}"
        );
        let off = standard(
            DockerHost::builder().layout(layout).ip_forward(false),
            false,
        );
        assert_eq!(
            off.running().iptables().policy(Table::Filter, "FORWARD"),
            Some("ACCEPT"),
            "{layout}"
        );
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
    assert!(matches!(fw, Firewall::Nftables(_)));
    assert_eq!(fw.backend(), Backend::Nftables);
    assert!(
        fw.input()
            .starts_with("table ip docker-bridges\ndelete table ip docker-bridges\n")
    );
}

/// docker-proxy: one per binding (0.0.0.0 and ::) with the proxy on, as in the recording's process list.
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
fn kernel_settings_match_recording() {
    use netrig::docker::KernelSetting;
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
fn standard_topology_file_matches_recording_step_by_step() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/real-docker/standard.toml");
    let host = netrig::topology::load(&path).expect("standard.toml loads");
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

netrig::testing::main!(
    #[plain]
    classic_default_matches_recording,
    #[plain]
    classic_legacy_backend_matches_recording,
    #[plain]
    classic_userland_proxy_false_matches_recording,
    #[plain]
    classic_icc_false_matches_recording,
    #[plain]
    classic_ip_masq_false_matches_recording,
    #[plain]
    classic_internal_network_matches_recording,
    #[plain]
    forward_policy_follows_ip_forward,
    #[plain]
    v29_matches_docker_rules_1_2,
    #[plain]
    v29_userland_proxy_false_matches_docker_rules_1_5,
    #[plain]
    v29_icc_false_matches_docker_rules_1_5,
    #[plain]
    v29_ip_masq_false_matches_docker_rules_1_5,
    #[plain]
    v29_internal_network_matches_docker_rules_1_5,
    #[plain]
    v29_nftables_matches_docker_rules_1_3,
    #[plain]
    proxies_match_recording,
    #[plain]
    kernel_settings_match_recording,
    #[plain]
    standard_topology_file_matches_recording_step_by_step,
    #[plain]
    v29_steps_match_docker_rules_1_2,
);
