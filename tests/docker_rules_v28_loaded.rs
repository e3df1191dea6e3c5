//! Layout V28 as netrig *loads* it: every recorded 28.5.2 variant and step,
//! rendered, loaded with the real `iptables-*-restore` and
//! `ip6tables-*-restore` of both iptables backends, read back with the real
//! save tools, and compared rule for rule, in order, with the recording.

mod common;

use std::collections::BTreeMap;

use common::recordings::{assert_same_lines, bare, tables};
use common::recordings28::*;
use netrig::Backend;
use netrig::Lab;
use netrig::unique_lab_name;

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
        let fail = |e: netrig::Error| panic!("lab {}: {dump}: {e}", lab.name());
        backend
            .replace_tables(&node, &host.at(step).iptables().iptables_restore())
            .unwrap_or_else(fail);
        backend
            .replace_tables_ip6(
                &node,
                &host.running().ip6tables().unwrap().iptables_restore(),
            )
            .unwrap_or_else(fail);
        let saved4 = normalise(&host, &backend.save(&node).unwrap());
        compare(
            &format!("{dump} {v4} ({backend})"),
            &recorded(&dump, v4),
            &saved4,
        );
        let saved6 = backend.save_ip6(&node).unwrap();
        compare(
            &format!("{dump} {v6} ({backend})"),
            &recorded(&dump, v6),
            &saved6,
        );
    }
}

macro_rules! loaded {
    ($($test:ident => $variant:literal),* $(,)?) => {$(
        /// This recorded variant, every step, loaded with the real tools
        /// (IPv4 and IPv6) of the backend dockerd used and of the other
        /// iptables flavour, and read back equal to 28.5.2.
        fn $test() {
            let _labs = common::shared();
            check_loaded($variant);
        }
    )*};
}

loaded! {
    default_loaded => "default",
    internal_network_loaded => "default-plus-internal",
    legacy_backend_loaded => "legacy-backend",
    userland_proxy_false_loaded => "userland-proxy-false",
    icc_false_loaded => "icc-false",
    ip_masq_false_loaded => "ip-masq-false",
    ip_forward_no_drop_loaded => "ip-forward-no-drop",
    allow_direct_routing_loaded => "allow-direct-routing",
    forward_preset_loaded => "forward-preset",
    loopback_publish_loaded => "lo-publish",
    routed_loaded => "routed",
    nat_unprotected_loaded => "nat-unprotected",
    daemon_restart_loaded => "default-after-daemon-restart-and-container-start",
}

/// The list above covers every recorded variant.
fn every_variant_is_loaded() {
    let src = include_str!("docker_rules_v28_loaded.rs");
    for v in VARIANTS {
        assert!(src.contains(&format!("=> \"{v}\"")), "{v} is not loaded");
    }
}

netrig::testing::main!(
    default_loaded,
    internal_network_loaded,
    legacy_backend_loaded,
    userland_proxy_false_loaded,
    icc_false_loaded,
    ip_masq_false_loaded,
    ip_forward_no_drop_loaded,
    allow_direct_routing_loaded,
    forward_preset_loaded,
    loopback_publish_loaded,
    routed_loaded,
    nat_unprotected_loaded,
    daemon_restart_loaded,
    #[plain]
    every_variant_is_loaded,
);
