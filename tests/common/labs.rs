//! Labs and helpers shared by the capture and expectation tests (pair, routed, NAT).
#![allow(dead_code)]

use netrig::unique_lab_name;
use netrig::{Endpoint, Lab, Node, NodeSpec, Result, Route};

/// `a` 10.0.0.1/24 (eth0) <-> `b` 10.0.0.2/24 (eth0).
pub fn pair(prefix: &str) -> Result<Lab> {
    Lab::builder(unique_lab_name(prefix))
        .node("a")
        .node("b")
        .link(
            Endpoint::new("a", "eth0").addr("10.0.0.1/24"),
            Endpoint::new("b", "eth0").addr("10.0.0.2/24"),
        )
        .up()
}

/// `a` 2001:db8::1/64 (eth0) <-> `b` 2001:db8::2/64 (eth0), both with IPv6 on.
pub fn pair6(prefix: &str) -> Result<Lab> {
    let v6 = |name: &str| NodeSpec {
        ipv6: true,
        ..NodeSpec::from(name)
    };
    Lab::builder(unique_lab_name(prefix))
        .node(v6("a"))
        .node(v6("b"))
        .link(
            Endpoint::new("a", "eth0").addr("2001:db8::1/64"),
            Endpoint::new("b", "eth0").addr("2001:db8::2/64"),
        )
        .up()
}

/// `a` 10.0.0.1 — `r` (10.0.0.254 eth0 / 10.0.1.254 eth1, forwarding) — `b` 10.0.1.2.
pub fn routed(prefix: &str) -> Result<Lab> {
    Lab::builder(unique_lab_name(prefix))
        .node("a")
        .node(NodeSpec {
            forwarding: true,
            ..NodeSpec::from("r")
        })
        .node("b")
        .link(
            Endpoint::new("a", "eth0").addr("10.0.0.1/24"),
            Endpoint::new("r", "eth0").addr("10.0.0.254/24"),
        )
        .link(
            Endpoint::new("r", "eth1").addr("10.0.1.254/24"),
            Endpoint::new("b", "eth0").addr("10.0.1.2/24"),
        )
        .route("a", Route::to("default").via("10.0.0.254"))
        .route("b", Route::to("default").via("10.0.1.254"))
        .up()
}

/// `c` 10.1.0.2 — `r` (10.1.0.1 eth0 / 203.0.113.1 wan0, forwarding) — `s` 203.0.113.10.
/// `s` has no route back to 10.1.0.0/24: only a translated flow can be answered.
pub fn nat(prefix: &str) -> Result<Lab> {
    Lab::builder(unique_lab_name(prefix))
        .node("c")
        .node(NodeSpec {
            forwarding: true,
            ..NodeSpec::from("r")
        })
        .node("s")
        .link(
            Endpoint::new("c", "eth0").addr("10.1.0.2/24"),
            Endpoint::new("r", "eth0").addr("10.1.0.1/24"),
        )
        .link(
            Endpoint::new("r", "wan0").addr("203.0.113.1/24"),
            Endpoint::new("s", "eth0").addr("203.0.113.10/24"),
        )
        .route("c", Route::to("default").via("10.1.0.1"))
        .up()
}

/// Loads an iptables-save ruleset into `node` with `iptables-nft-restore`.
pub fn iptables_restore(node: &Node<'_>, rules: &str) -> Result<()> {
    node.load_rules(netrig::Backend::IptablesNft, rules)
}

/// Removes a kept artifacts directory after a test has inspected it.
pub fn discard_artifacts(path: &std::path::Path) {
    let _ = std::fs::remove_dir_all(path);
}
