//! Layout V28 as netrig renders it, compared rule for rule and in order with
//! what a real Docker 28.5.2 left behind (`tests/data/real-docker-28`), for
//! every recorded variant and step: the `.canon` files (IPv4 and IPv6) and
//! the bare save output of the backend dockerd used, table by table.

mod common;

use common::recordings::assert_same_lines;
use common::recordings28::*;
use netrig::Backend;
use netrig::docker::{DockerHost, Table};

fn check_canon(name: &str) {
    let host = variant28(name);
    for (dump, step) in dumps(name) {
        assert_same_lines(
            &format!("v28 {dump} (step {step})"),
            &data28(&format!("canon/{dump}.canon")),
            &canon(&host, &host.at(step).iptables()),
        );
        let six = host.running().ip6tables().expect("V28 programs ip6tables");
        assert_same_lines(
            &format!("v28 {dump} (step {step}) ip6tables"),
            &data28(&format!("canon/{dump}.canon6")),
            &canon(&host, &six),
        );
    }
}

fn data28(rel: &str) -> String {
    common::recordings::data(&format!("real-docker-28/{rel}"))
}

/// Compares chain declarations, policies and rules of every table.
fn check_saved(name: &str) {
    let host = variant28(name);
    let (v4, v6) = sections(&host);
    for (dump, step) in dumps(name) {
        let got4 = common::recordings::tables(&normalise(
            &host,
            &host.at(step).iptables().iptables_restore(),
        ));
        let got6 =
            common::recordings::tables(&host.running().ip6tables().unwrap().iptables_restore());
        for (section, got) in [(v4, got4), (v6, got6)] {
            let want = recorded(&dump, section);
            assert!(
                want.contains_key("filter"),
                "{dump}: the recording has no filter table in {section}"
            );
            assert_eq!(
                want.keys().collect::<Vec<_>>(),
                got.keys().collect::<Vec<_>>(),
                "{dump} {section}: tables"
            );
            for (t, lines) in &want {
                assert_same_lines(
                    &format!("v28 {dump} {section} table {t}"),
                    &lines.join("\n"),
                    &got[t].join("\n"),
                );
            }
        }
    }
}

fn check(name: &str) {
    check_canon(name);
    check_saved(name);
}

/// Default daemon: every step equals the recording, rule for rule and in order.
fn v28_default_matches_recording() {
    check("default");
}

/// The legacy backend: the same rules, in iptables-legacy and ip6tables-legacy only.
fn v28_legacy_backend_matches_recording() {
    check("legacy-backend");
    let host = variant28("legacy-backend");
    assert_eq!(host.backend(), Backend::IptablesLegacy);
    assert!(recorded("legacy-backend", "iptables-nft-save").is_empty());
    assert!(recorded("legacy-backend", "ip6tables-nft-save").is_empty());
}

/// `--userland-proxy=false`: LOCAL masquerade per bridge, hairpin MASQUERADE, no RETURN, no `! -d ::1/128`.
fn v28_userland_proxy_false_matches_recording() {
    check("userland-proxy-false");
}

/// `--icc=false`: docker0's DOCKER-FORWARD accept splits into a DROP within and an ACCEPT out.
fn v28_icc_false_matches_recording() {
    check("icc-false");
}

/// `--ip-masq=false`: docker0 loses both its MASQUERADE and its nat RETURN.
fn v28_ip_masq_false_matches_recording() {
    check("ip-masq-false");
}

/// An internal network: DROPs inserted at the top of STAGE-1, no raw rule for its container.
fn v28_internal_network_matches_recording() {
    check("default-plus-internal");
}

/// `--ip-forward-no-drop`: the same rules, FORWARD policy ACCEPT.
fn v28_ip_forward_no_drop_matches_recording() {
    check("ip-forward-no-drop");
    let host = variant28("ip-forward-no-drop");
    assert_eq!(
        host.running().iptables().policy(Table::Filter, "FORWARD"),
        Some("ACCEPT")
    );
    assert!(host.daemon().host_forwards());
}

/// `--allow-direct-routing`: no raw table at all.
fn v28_allow_direct_routing_matches_recording() {
    check("allow-direct-routing");
}

/// ip_forward already on before the daemon: FORWARD policy ACCEPT.
fn v28_forward_preset_matches_recording() {
    check("forward-preset");
}

/// `-p 127.0.0.1:8081:80`: DNAT to 127.0.0.1 only, plus the raw `! -i lo` drop after the endpoint drops.
fn v28_loopback_publish_matches_recording() {
    check("lo-publish");
}

/// `gateway_mode_ipv4=routed`: no NAT, ICMP accept, STAGE-1 ACCEPT/RETURN at the top.
fn v28_routed_matches_recording() {
    check("routed");
}

/// `gateway_mode_ipv4=nat-unprotected`: `DOCKER ! -i br -o br -j ACCEPT`, no per-port ACCEPT, no raw rule.
fn v28_nat_unprotected_matches_recording() {
    check("nat-unprotected");
}

/// A daemon restart: user networks' rules first, docker0's last; then `docker start` re-adds ports in start order.
fn v28_daemon_restart_matches_recording() {
    check("default-after-daemon-restart-and-container-start");
}

/// The recordings differ between variants, so a render checked against the wrong one fails.
fn v28_render_fails_against_another_variants_recording() {
    let host = variant28("default");
    let other = data28("canon/nat-unprotected.canon");
    let ours = canon(&host, &host.running().iptables());
    let err = std::panic::catch_unwind(|| assert_same_lines("cross", &other, &ours))
        .expect_err("default must not equal nat-unprotected");
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("br-brnu"), "{msg}");
}

/// docker-proxy for V28: `-use-listen-fd`, 0.0.0.0 and `::` per binding; a routed mapping keeps only `::`.
fn v28_proxies_match_recording() {
    let args = |h: &DockerHost| -> Vec<String> {
        h.running()
            .proxies()
            .iter()
            .map(|p| p.args().join(" "))
            .collect()
    };
    let fd = "-use-listen-fd";
    assert_eq!(
        args(&variant28("default")),
        [
            format!(
                "-proto tcp -host-ip 0.0.0.0 -host-port 8080 -container-ip 172.17.0.2 -container-port 80 {fd}"
            ),
            format!(
                "-proto tcp -host-ip :: -host-port 8080 -container-ip 172.17.0.2 -container-port 80 {fd}"
            ),
        ]
    );
    let lo = args(&variant28("lo-publish"));
    assert_eq!(lo.len(), 3);
    assert_eq!(
        lo[2],
        format!(
            "-proto tcp -host-ip 127.0.0.1 -host-port 8081 -container-ip 172.17.0.4 -container-port 80 {fd}"
        )
    );
    let routed = args(&variant28("routed"));
    assert_eq!(
        routed[2..],
        [format!(
            "-proto tcp -host-ip :: -host-port 8082 -container-ip 172.19.0.2 -container-port 80 {fd}"
        )]
    );
    assert!(
        variant28("userland-proxy-false")
            .running()
            .proxies()
            .is_empty()
    );
}

/// The recorded scenarios written as topology files (gateway mode, `restart`
/// and `start:NAME` in `order`) render the recorded rules at every step.
fn v28_topology_files_match_recording() {
    for (file, variant) in [
        (
            "restart.toml",
            "default-after-daemon-restart-and-container-start",
        ),
        ("routed.toml", "routed"),
    ] {
        let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/real-docker-28")
            .join(file);
        let host = netrig::topology::load(&path).expect("loads");
        assert_eq!(host, {
            let mut m = variant28(variant);
            m.set_name(host.name());
            m
        });
        for (dump, step) in dumps(variant) {
            assert_same_lines(
                &format!("{file} {dump}"),
                &data28(&format!("canon/{dump}.canon")),
                &canon(&host, &host.at(step).iptables()),
            );
        }
    }
}

netrig::testing::main!(
    #[plain]
    v28_default_matches_recording,
    #[plain]
    v28_legacy_backend_matches_recording,
    #[plain]
    v28_userland_proxy_false_matches_recording,
    #[plain]
    v28_icc_false_matches_recording,
    #[plain]
    v28_ip_masq_false_matches_recording,
    #[plain]
    v28_internal_network_matches_recording,
    #[plain]
    v28_ip_forward_no_drop_matches_recording,
    #[plain]
    v28_allow_direct_routing_matches_recording,
    #[plain]
    v28_forward_preset_matches_recording,
    #[plain]
    v28_loopback_publish_matches_recording,
    #[plain]
    v28_routed_matches_recording,
    #[plain]
    v28_nat_unprotected_matches_recording,
    #[plain]
    v28_daemon_restart_matches_recording,
    #[plain]
    v28_render_fails_against_another_variants_recording,
    #[plain]
    v28_proxies_match_recording,
    #[plain]
    v28_topology_files_match_recording,
);
