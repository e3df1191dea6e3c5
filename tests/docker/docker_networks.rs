//! docker-two-networks, end to end: isolation between user-defined bridges,
//! a container on both, and a LAN peer routing straight to container
//! addresses (docker-rules §2.5, §2.7).

use crate::common::host_lab::HostLab as _;
use std::time::Duration;

use netrig::TcpOutcome;

use crate::common;

const T: Duration = Duration::from_millis(700);

/// web and db (different bridges) cannot reach each other; api (on both) reaches both.
fn bridges_are_isolated_and_a_dual_homed_container_reaches_both() {
    let _labs = common::shared();
    let docker = common::topology("docker-two-networks.toml", "nets")
        .up()
        .unwrap();
    let _web = docker
        .container("web")
        .unwrap()
        .tcp_echo_server("0.0.0.0:80")
        .unwrap();
    let _db = docker
        .container("db")
        .unwrap()
        .tcp_echo_server("0.0.0.0:5432")
        .unwrap();
    let web = docker.container("web").unwrap();
    let api = docker.container("api").unwrap();
    assert_eq!(
        web.tcp_connect("172.19.0.10:5432", T).unwrap(),
        TcpOutcome::NoAnswer,
        "isolation"
    );
    assert!(
        api.tcp_connect("172.19.0.10:5432", T)
            .unwrap()
            .is_connected(),
        "api -> db"
    );
    assert!(
        api.tcp_connect("172.18.0.2:80", T).unwrap().is_connected(),
        "api -> web"
    );
    assert_eq!(
        common::link_names(&docker, "api"),
        vec!["lo", "eth0", "eth1"]
    );
}

/// Classic layout: a LAN peer routing straight to a container reaches its published
/// container port (the per-port ACCEPT), and nothing else (FORWARD policy DROP).
fn lan_peer_reaches_only_published_container_ports() {
    let _labs = common::shared();
    let docker = common::topology("docker-two-networks.toml", "lan")
        .up()
        .unwrap();
    let server = docker
        .container("web")
        .unwrap()
        .tcp_echo_server("0.0.0.0:80")
        .unwrap();
    let _other = docker
        .container("web")
        .unwrap()
        .tcp_echo_server("0.0.0.0:81")
        .unwrap();
    let lan = docker.node("lanpc").unwrap();
    assert!(
        lan.tcp_connect("172.18.0.2:80", T).unwrap().is_connected(),
        "published port, routed directly"
    );
    assert_eq!(
        server.wait_for_peers(1, T).unwrap()[0].ip().to_string(),
        "198.51.100.150",
        "no NAT on direct routing"
    );
    assert_eq!(
        lan.tcp_connect("172.18.0.2:81", T).unwrap(),
        TcpOutcome::NoAnswer,
        "unpublished port"
    );
}

/// This module's tests.
pub fn tests() -> Vec<netrig::testing::Test> {
    netrig::testing::tests![
        bridges_are_isolated_and_a_dual_homed_container_reaches_both,
        lan_peer_reaches_only_published_container_ports,
    ]
}
