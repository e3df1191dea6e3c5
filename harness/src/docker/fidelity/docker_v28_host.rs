//! The emulated V28 host has the state a real Docker 28.5.2 leaves besides
//! its IPv4 rules (recorded in `tests/data/real-docker-28`, README §5): the
//! ip6tables skeleton loaded, the `[::]` docker-proxy binding, `accept_ra=0`
//! on bridges, random (not `02:42:…`) MACs, container sysctls, no default
//! route on an internal network, and dockerd holding published ports itself
//! when the userland proxy is off.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use super::recordings28::variant28;
use crate::Lab;
use crate::docker::DockerHost;

const WAIT: Duration = Duration::from_secs(2);

fn up(name: &str) -> (DockerHost, Lab) {
    let mut model = variant28(name);
    model.set_name(crate::unique_lab_name("h28"));
    let lab = super::up(&model).unwrap();
    (model, lab)
}

fn echo_through(lab: &Lab, from: &str, to: SocketAddr) -> bool {
    let Ok(mut s) = lab.node(from).unwrap().tcp_stream(to, WAIT) else {
        return false;
    };
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut buf = [0u8; 4];
    s.write_all(b"ping").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"ping"
}

/// Default daemon: ip6tables skeleton with FORWARD ACCEPT, `[::1]:8080` reaches ca, bridges refuse RAs, MACs are not Docker's old 02:42.
#[test]
fn v28_host_state_matches_recording() {
    if !super::builds_labs("docker::fidelity::docker_v28_host::v28_host_state_matches_recording") {
        return;
    }
    let (model, lab) = up("default");
    let docker = lab.docker("host").unwrap();
    let host = docker.host().unwrap();
    let six = model.backend().save_ip6(host.ns()).unwrap();
    assert!(six.contains(":FORWARD ACCEPT"), "lab {}: {six}", lab.name());
    assert!(
        six.contains("-A DOCKER-FORWARD -j DOCKER-ISOLATION-STAGE-1"),
        "{six}"
    );
    assert!(six.contains("-A OUTPUT ! -d ::1/128 -m addrtype --dst-type LOCAL -j DOCKER"));
    let _srv = docker
        .container("ca")
        .unwrap()
        .tcp_echo_server("0.0.0.0:80")
        .unwrap();
    assert!(
        echo_through(&lab, "host", "[::1]:8080".parse().unwrap()),
        "lab {}: host -> [::1]:8080 does not reach ca through the proxy",
        lab.name()
    );
    for n in model.networks() {
        let key = format!("net.ipv6.conf.{}.accept_ra", n.bridge);
        assert_eq!(host.sysctl_get(&key).unwrap().trim(), "0", "{key}");
    }
    for c in ["ca", "cb", "ca2"] {
        let node = docker.container(c).unwrap();
        let eth0 = node
            .interfaces()
            .into_iter()
            .find(|i| i.name == "eth0")
            .unwrap();
        let mac = eth0.mac;
        assert_ne!(mac[..2], [0x02, 0x42], "{c}: Docker 28 MACs are random");
        assert_eq!(
            node.sysctl_get("net.ipv4.ip_unprivileged_port_start")
                .unwrap()
                .trim(),
            "0"
        );
    }
}

/// An internal network's container has only its subnet route, as recorded (no default route).
#[test]
fn v28_internal_container_has_no_default_route() {
    if !super::builds_labs(
        "docker::fidelity::docker_v28_host::v28_internal_container_has_no_default_route",
    ) {
        return;
    }
    let (_, lab) = up("default-plus-internal");
    let routes = lab
        .docker("host")
        .unwrap()
        .container("ci")
        .unwrap()
        .routes()
        .unwrap();
    assert!(
        routes.iter().all(|r| r.dest.prefix_len() != 0),
        "lab {}: ci has a default route: {routes:?}",
        lab.name()
    );
}

/// Proxy off: dockerd holds 0.0.0.0:8080 (a host process cannot bind it) and there is no `[::]` binding.
#[test]
fn v28_proxy_off_daemon_holds_the_port() {
    if !super::builds_labs("docker::fidelity::docker_v28_host::v28_proxy_off_daemon_holds_the_port")
    {
        return;
    }
    let (model, lab) = up("userland-proxy-false");
    assert_eq!(model.running().port_reservations().len(), 1);
    let docker = lab.docker("host").unwrap();
    let host = docker.host().unwrap();
    let bind = host.run(|| TcpListener::bind("0.0.0.0:8080")).unwrap();
    let err = bind.expect_err("the port is held by the daemon");
    assert_eq!(
        err.kind(),
        std::io::ErrorKind::AddrInUse,
        "lab {}",
        lab.name()
    );
    let _srv = docker
        .container("ca")
        .unwrap()
        .tcp_echo_server("0.0.0.0:80")
        .unwrap();
    assert!(!echo_through(&lab, "host", "[::1]:8080".parse().unwrap()));
    assert!(echo_through(
        &lab,
        "host",
        "203.0.113.2:8080".parse().unwrap()
    ));
}
