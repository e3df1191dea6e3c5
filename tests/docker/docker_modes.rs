//! Docker's four network modes, emulated: each behaves as Docker's does
//! (docker-rules §2.8), in the scenario real Docker was recorded with.

use crate::common::host_lab::HostLab as _;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use netrig::Lab;

use crate::common;

fn standard_lab(name: &str) -> Lab {
    let file =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/real-docker/standard.toml");
    let mut host = netrig::topology::load(&file).unwrap();
    host.set_name(netrig::unique_lab_name(name));
    host.up().unwrap()
}

/// none: only `lo`, and no route anywhere.
fn none_mode_has_only_loopback() {
    let _labs = common::shared();
    let lab = standard_lab("none");
    assert_eq!(
        common::link_names(&lab, "cn"),
        vec!["lo"],
        "lab {}: cn",
        lab.name()
    );
    assert!(lab.node("cn").unwrap().routes().unwrap().is_empty());
    let err = lab
        .node("cn")
        .unwrap()
        .run(|| {
            TcpStream::connect_timeout(&"198.51.100.10:80".parse().unwrap(), Duration::from_secs(1))
        })
        .unwrap()
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENETUNREACH), "{err}");
}

/// host: the container sees the host's interfaces and addresses (it is the host's namespace).
fn host_mode_shares_the_host_namespace() {
    let _labs = common::shared();
    let lab = standard_lab("hostmode");
    let ch = lab.container("ch").unwrap();
    let host = lab.host_node().unwrap();
    assert_eq!(common::inode(&ch), common::inode(&host));
    let names = common::link_names(&lab, "ch");
    for want in ["docker0", "eth0"] {
        assert!(
            names.iter().any(|n| n == want),
            "ch lacks {want}: {names:?}"
        );
    }
    let addrs: Vec<String> = ch
        .addresses()
        .unwrap()
        .into_iter()
        .map(|(_, a)| a.to_string())
        .collect();
    assert!(
        addrs.contains(&"203.0.113.2/24".to_string())
            && addrs.contains(&"172.17.0.1/16".to_string()),
        "{addrs:?}"
    );
}

/// container:ca: cc shares ca's interfaces, address and loopback.
fn container_mode_shares_the_owners_namespace() {
    let _labs = common::shared();
    let lab = standard_lab("ctrmode");
    let (ca, cc) = (lab.container("ca").unwrap(), lab.container("cc").unwrap());
    assert_eq!(common::inode(&ca), common::inode(&cc));
    assert_eq!(
        common::link_names(&lab, "cc"),
        common::link_names(&lab, "ca")
    );
    // A server on ca's loopback is reachable from cc's.
    let listener = ca
        .run(|| TcpListener::bind("127.0.0.1:80"))
        .unwrap()
        .unwrap();
    cc.run(|| TcpStream::connect_timeout(&"127.0.0.1:80".parse().unwrap(), Duration::from_secs(1)))
        .unwrap()
        .expect("cc reaches ca's loopback");
    let (_, peer) = listener.accept().unwrap();
    assert_eq!(peer.ip().to_string(), "127.0.0.1");
}

/// bridge: eth0 with Docker's address and MAC, default route via the network's gateway.
fn bridge_mode_gets_eth0_and_default_route() {
    let _labs = common::shared();
    let lab = standard_lab("bridgemode");
    for (c, ip, gw, mac) in [
        ("ca", "172.17.0.2/16", "172.17.0.1", "02:42:ac:11:00:02"),
        ("ca2", "172.17.0.3/16", "172.17.0.1", "02:42:ac:11:00:03"),
        ("cb", "172.18.0.2/16", "172.18.0.1", "02:42:ac:12:00:02"),
    ] {
        let node = lab.container(c).unwrap();
        assert_eq!(common::link_names(&lab, c), vec!["lo", "eth0"], "{c}");
        let eth0 = node
            .links()
            .unwrap()
            .into_iter()
            .find(|l| l.name == "eth0")
            .unwrap();
        let m = eth0.mac.unwrap();
        let text = m.map(|b| format!("{b:02x}")).join(":");
        assert_eq!(text, mac, "{c} MAC");
        let addrs: Vec<String> = node
            .addresses()
            .unwrap()
            .into_iter()
            .map(|(_, a)| a.to_string())
            .collect();
        assert!(addrs.contains(&ip.to_string()), "{c}: {addrs:?}");
        let routes = node.routes().unwrap();
        let default = routes
            .iter()
            .find(|r| r.dest.prefix_len() == 0)
            .expect("default route");
        assert_eq!(
            default.via.map(|g| g.to_string()).as_deref(),
            Some(gw),
            "{c}"
        );
        assert_eq!(default.dev.as_deref(), Some("eth0"));
    }
    // Docker's container sysctls.
    assert_eq!(
        lab.container("ca")
            .unwrap()
            .sysctl_get("net.ipv4.ip_unprivileged_port_start")
            .unwrap(),
        "0"
    );
}

/// This module's tests.
pub fn tests() -> Vec<netrig::testing::Test> {
    netrig::testing::tests![
        none_mode_has_only_loopback,
        host_mode_shares_the_host_namespace,
        container_mode_shares_the_owners_namespace,
        bridge_mode_gets_eth0_and_default_route,
    ]
}
