//! Docker 28.5.2 (layout V28), recorded in `tests/data/real-docker-28`: for
//! every recorded variant and step, the rules as netrig renders them equal
//! the `.canon` files (IPv4 and IPv6) and the bare save output of the
//! backend dockerd used, table by table, rule for rule and in order; and
//! loaded with the real `iptables-*-restore` and `ip6tables-*-restore` of
//! both iptables backends, read back with the real save tools, they equal it
//! too.

use std::collections::BTreeMap;

use crate::Backend;
use crate::Lab;
use crate::docker::DockerHost;
use crate::docker::fidelity::recordings::{self, assert_same_lines, bare, tables};
use crate::docker::fidelity::recordings28::*;
use crate::docker::ruleset::Table;
use crate::unique_lab_name;

variants!(checks [rendered, loaded];
    // Default daemon: every step equals the recording, rule for rule and in order.
    default = "default",
    // An internal network: DROPs inserted at the top of STAGE-1, no raw rule for its container.
    default_plus_internal = "default-plus-internal",
    // The legacy backend: the same rules, in iptables-legacy and ip6tables-legacy only.
    legacy_backend = "legacy-backend" also legacy_backend_is_legacy_only,
    // `--userland-proxy=false`: LOCAL masquerade per bridge, hairpin MASQUERADE, no RETURN, no `! -d ::1/128`.
    userland_proxy_false = "userland-proxy-false",
    // `--icc=false`: docker0's DOCKER-FORWARD accept splits into a DROP within and an ACCEPT out.
    icc_false = "icc-false",
    // `--ip-masq=false`: docker0 loses both its MASQUERADE and its nat RETURN.
    ip_masq_false = "ip-masq-false",
    // `--ip-forward-no-drop`: the same rules, FORWARD policy ACCEPT.
    ip_forward_no_drop = "ip-forward-no-drop" also ip_forward_no_drop_accepts_forward,
    // `--allow-direct-routing`: no raw table at all.
    allow_direct_routing = "allow-direct-routing",
    // ip_forward already on before the daemon: FORWARD policy ACCEPT.
    forward_preset = "forward-preset",
    // `-p 127.0.0.1:8081:80`: DNAT to 127.0.0.1 only, plus the raw `! -i lo` drop after the endpoint drops.
    lo_publish = "lo-publish",
    // `gateway_mode_ipv4=routed`: no NAT, ICMP accept, STAGE-1 ACCEPT/RETURN at the top.
    routed = "routed",
    // `gateway_mode_ipv4=nat-unprotected`: `DOCKER ! -i br -o br -j ACCEPT`, no per-port ACCEPT, no raw rule.
    nat_unprotected = "nat-unprotected",
    // A daemon restart: user networks' rules first, docker0's last; then `docker start` re-adds ports in start order.
    default_after_daemon_restart_and_container_start = "default-after-daemon-restart-and-container-start",
);

/// Every recorded 28.5.2 variant has its cases: its row here (rendered,
/// loaded) and in [`super::v29`] (rendered against it).
#[test]
fn every_variant_is_in_the_table() {
    for v in VARIANTS {
        assert!(RECORDED.contains(&v), "{v} is not in the table");
        assert!(
            super::v29::RECORDED.contains(&v),
            "{v} is not in the table of v29"
        );
    }
}

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
    recordings::data(&format!("real-docker-28/{rel}"))
}

/// Compares chain declarations, policies and rules of every table.
fn check_saved(name: &str) {
    let host = variant28(name);
    let (v4, v6) = sections(&host);
    for (dump, step) in dumps(name) {
        let got4 = tables(&normalise(
            &host,
            &host.at(step).iptables().iptables_restore(),
        ));
        let got6 = tables(&host.running().ip6tables().unwrap().iptables_restore());
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

/// A recorded variant, rendered: every step equals the recording, rule for
/// rule and in order.
fn rendered(name: &str) {
    check(name);
}

/// The legacy backend: the same rules, in iptables-legacy and ip6tables-legacy only.
fn legacy_backend_is_legacy_only() {
    let host = variant28("legacy-backend");
    assert_eq!(host.backend(), Backend::IptablesLegacy);
    assert!(recorded("legacy-backend", "iptables-nft-save").is_empty());
    assert!(recorded("legacy-backend", "ip6tables-nft-save").is_empty());
}

/// `--ip-forward-no-drop`: FORWARD policy ACCEPT.
fn ip_forward_no_drop_accepts_forward() {
    let host = variant28("ip-forward-no-drop");
    assert_eq!(
        host.running().iptables().policy(Table::Filter, "FORWARD"),
        Some("ACCEPT")
    );
    assert!(host.daemon().host_forwards());
}

/// The recordings differ between variants, so a render checked against the wrong one fails.
#[test]
fn render_fails_against_another_variants_recording() {
    let host = variant28("default");
    let other = data28("canon/nat-unprotected.canon");
    let ours = canon(&host, &host.running().iptables());
    let err = std::panic::catch_unwind(|| assert_same_lines("cross", &other, &ours))
        .expect_err("default must not equal nat-unprotected");
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("br-brnu"), "{msg}");
}

/// docker-proxy for V28: `-use-listen-fd`, 0.0.0.0 and `::` per binding; a routed mapping keeps only `::`.
#[test]
fn proxies_match_recording() {
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
#[test]
fn topology_files_match_recording() {
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
        let host = crate::topology::load(&path)
            .expect("loads")
            .docker_host("host")
            .expect("a Docker host file")
            .clone();
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

fn compare(what: &str, want: &BTreeMap<String, Vec<String>>, got_text: &str) {
    let got = tables(&bare(got_text));
    let want: BTreeMap<_, _> = want
        .iter()
        .map(|(t, l)| (t.clone(), bare(&l.join("\n"))))
        .collect();
    assert_eq!(
        want.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>(),
        "{what}: tables read back"
    );
    for (t, lines) in &want {
        assert_same_lines(
            &format!("{what} table {t}, loaded and read back"),
            lines,
            &got[t].join("\n"),
        );
    }
}

/// A recorded variant, every step, loaded with the real tools (IPv4 and
/// IPv6) of the backend dockerd used and of the other iptables flavour, and
/// read back equal to 28.5.2.
fn loaded(name: &str) {
    check_loaded(name);
}

fn check_loaded(name: &str) {
    check_loaded_with(name, None);
    // The other iptables flavour programs the same rules (recorded:
    // legacy-backend = default), so it must read back the same too.
    let other = match variant28(name).backend() {
        Backend::IptablesLegacy => Backend::IptablesNft,
        _ => Backend::IptablesLegacy,
    };
    check_loaded_with(name, Some(other));
}

fn check_loaded_with(name: &str, backend: Option<Backend>) {
    let recorded_host = variant28(name);
    let (v4, v6) = sections(&recorded_host);
    let host = match backend {
        Some(b) => variant28_with(name, |x| x.backend(b)),
        None => recorded_host,
    };
    let backend = host.backend();
    for (dump, step) in dumps(name) {
        // A fresh node per dump: the raw table, once created, stays.
        let lab = Lab::builder(unique_lab_name("r28"))
            .node("host")
            .up()
            .unwrap();
        let node = lab.node("host").unwrap();
        let fail = |e: crate::Error| panic!("lab {}: {dump}: {e}", lab.name());
        backend
            .load_both(
                node.ns(),
                crate::backend::LoadMode::ReplaceTables,
                &host.at(step).iptables().iptables_restore(),
                &host.running().ip6tables().unwrap().iptables_restore(),
            )
            .unwrap_or_else(fail);
        let saved4 = normalise(&host, &backend.save(node.ns()).unwrap());
        compare(
            &format!("{dump} {v4} ({backend})"),
            &recorded(&dump, v4),
            &saved4,
        );
        let saved6 = backend.save_ip6(node.ns()).unwrap();
        compare(
            &format!("{dump} {v6} ({backend})"),
            &recorded(&dump, v6),
            &saved6,
        );
    }
}
