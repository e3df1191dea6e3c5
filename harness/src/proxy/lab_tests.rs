//! The userland proxy forwards TCP and UDP from inside a node, and the
//! target sees the proxy node's own address as the source.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use super::Proxy;
use crate::{Endpoint, Lab, NodeSpec, Proto, TcpOutcome, unique_lab_name};

#[path = "../../../tests/common/fork.rs"]
mod fork;

fn lab() -> Lab {
    Lab::builder(unique_lab_name("proxy"))
        .node("client")
        .node(NodeSpec::new("host"))
        .node("server")
        .link(
            Endpoint::new("client", "eth0").addr("10.0.0.2/24"),
            Endpoint::new("host", "eth0").addr("10.0.0.1/24"),
        )
        .link(
            Endpoint::new("host", "eth1").addr("10.1.0.1/24"),
            Endpoint::new("server", "eth0").addr("10.1.0.2/24"),
        )
        .up()
        .unwrap()
}

/// TCP through the proxy reaches the target, which sees the proxy node's address.
#[test]
fn tcp_proxy_forwards_and_rewrites_the_source() {
    if !crate::privilege::should_run("tcp_proxy_forwards_and_rewrites_the_source").unwrap() {
        return;
    }
    let lab = lab();
    let listener = lab
        .node("server")
        .unwrap()
        .run(|| TcpListener::bind("10.1.0.2:80"))
        .unwrap()
        .unwrap();
    let _proxy = Proxy::start(
        lab.node("host").unwrap().ns(),
        Proto::Tcp,
        "0.0.0.0:8080".parse().unwrap(),
        "10.1.0.2:80".parse().unwrap(),
    )
    .unwrap();
    let mut c = lab
        .node("client")
        .unwrap()
        .run(|| {
            TcpStream::connect_timeout(&"10.0.0.1:8080".parse().unwrap(), Duration::from_secs(3))
        })
        .unwrap()
        .expect("connect to the proxy");
    let (mut s, peer) = listener.accept().unwrap();
    assert_eq!(
        peer.ip().to_string(),
        "10.1.0.1",
        "target must see the proxy node's address"
    );
    c.write_all(b"GET").unwrap();
    let mut buf = [0u8; 3];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"GET");
    s.write_all(b"200").unwrap();
    c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"200");
}

/// UDP through the proxy: request forwarded, reply returned to the client from the proxy's port.
#[test]
fn udp_proxy_forwards_both_ways() {
    if !crate::privilege::should_run("udp_proxy_forwards_both_ways").unwrap() {
        return;
    }
    let lab = lab();
    let server = lab
        .node("server")
        .unwrap()
        .run(|| UdpSocket::bind("10.1.0.2:53"))
        .unwrap()
        .unwrap();
    server
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let _proxy = Proxy::start(
        lab.node("host").unwrap().ns(),
        Proto::Udp,
        "10.0.0.1:5353".parse().unwrap(),
        "10.1.0.2:53".parse().unwrap(),
    )
    .unwrap();
    let client = lab
        .node("client")
        .unwrap()
        .run(|| UdpSocket::bind("10.0.0.2:0"))
        .unwrap()
        .unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    client.send_to(b"q", "10.0.0.1:5353").unwrap();
    let mut buf = [0u8; 8];
    let (n, from) = server.recv_from(&mut buf).expect("proxied datagram");
    assert_eq!(
        (&buf[..n], from.ip().to_string().as_str()),
        (&b"q"[..], "10.1.0.1")
    );
    server.send_to(b"a", from).unwrap();
    let (n, from) = client.recv_from(&mut buf).expect("proxied reply");
    assert_eq!(
        (&buf[..n], from.to_string().as_str()),
        (&b"a"[..], "10.0.0.1:5353")
    );
}

/// A proxy whose port is taken fails at start with the address in the message.
#[test]
fn proxy_bind_conflict_is_reported() {
    if !crate::privilege::should_run("proxy_bind_conflict_is_reported").unwrap() {
        return;
    }
    let lab = lab();
    let host = lab.node("host").unwrap();
    let _a = Proxy::start(
        host.ns(),
        Proto::Tcp,
        "10.0.0.1:9000".parse().unwrap(),
        "10.1.0.2:1".parse().unwrap(),
    )
    .unwrap();
    let err = Proxy::start(
        host.ns(),
        Proto::Tcp,
        "10.0.0.1:9000".parse().unwrap(),
        "10.1.0.2:1".parse().unwrap(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("10.0.0.1:9000"), "{err}");
}

/// `start_all` returns with every listener bound; when one bind fails, the
/// error names it and the proxies already started are stopped (their ports free).
#[test]
fn start_all_binds_every_listener_or_none() {
    if !crate::privilege::should_run("start_all_binds_every_listener_or_none").unwrap() {
        return;
    }
    let lab = lab();
    let host = lab.node("host").unwrap();
    let map = |port: u16| {
        (
            Proto::Tcp,
            format!("10.0.0.1:{port}").parse().unwrap(),
            "10.1.0.2:1".parse().unwrap(),
        )
    };
    let all = Proxy::start_all(host.ns(), &[map(9100), map(9101), map(9102)]).unwrap();
    assert_eq!(all.len(), 3);
    for port in [9100, 9101, 9102] {
        // Bound at return: binding the same address again fails.
        let again = host
            .run(move || TcpListener::bind(format!("10.0.0.1:{port}")))
            .unwrap();
        assert!(again.is_err(), "port {port} not held by its proxy");
    }
    drop(all);
    let _taken = Proxy::start(
        host.ns(),
        Proto::Tcp,
        "10.0.0.1:9202".parse().unwrap(),
        "10.1.0.2:1".parse().unwrap(),
    )
    .unwrap();
    let err = Proxy::start_all(host.ns(), &[map(9200), map(9201), map(9202)]).unwrap_err();
    assert!(err.to_string().contains("10.0.0.1:9202"), "{err}");
    for port in [9200, 9201] {
        let free = host
            .run(move || TcpListener::bind(format!("10.0.0.1:{port}")))
            .unwrap();
        assert!(
            free.is_ok(),
            "port {port} still held after a failed start_all"
        );
    }
}

/// A stopped proxy gives its listening address up although a forked child
/// still holds a copy of its fds: a client's connect is refused (not
/// accepted by a listener nobody serves), and a new TCP proxy on the same
/// address and a UDP one on the same port start and forward.
#[test]
fn stopped_proxy_gives_its_address_up_to_the_next() {
    if !crate::privilege::should_run("stopped_proxy_gives_its_address_up_to_the_next").unwrap() {
        return;
    }
    let lab = lab();
    let (host, client) = (lab.node("host").unwrap(), lab.node("client").unwrap());
    let server = lab.node("server").unwrap();
    let _tcp_server = server.tcp_echo_server("10.1.0.2:80").unwrap();
    let udp_server = server.udp_echo_server("10.1.0.2:53").unwrap();
    let mappings = [
        (
            Proto::Tcp,
            "10.0.0.1:8080".parse().unwrap(),
            "10.1.0.2:80".parse().unwrap(),
        ),
        (
            Proto::Udp,
            "10.0.0.1:5353".parse().unwrap(),
            "10.1.0.2:53".parse().unwrap(),
        ),
    ];
    let proxies = Proxy::start_all(host.ns(), &mappings).unwrap();
    let held = fork::ForkedFdHolder::start();
    drop(proxies);
    let second = Duration::from_secs(1);
    assert_eq!(
        client.tcp_connect("10.0.0.1:8080", second).unwrap(),
        TcpOutcome::Refused,
        "the stopped proxy's listener must not accept"
    );
    // The UDP one on the wildcard address: a socket still bound to the
    // specific one would match the datagram better, unless it was retired.
    let again = [
        mappings[0],
        (Proto::Udp, "0.0.0.0:5353".parse().unwrap(), mappings[1].2),
    ];
    let _again = Proxy::start_all(host.ns(), &again).expect("the addresses are free again");
    assert!(matches!(
        client.tcp_connect("10.0.0.1:8080", second).unwrap(),
        TcpOutcome::Connected(_)
    ));
    client
        .udp_send_from("10.0.0.2:0", "10.0.0.1:5353", b"q")
        .unwrap();
    let got = udp_server.wait_for_datagrams(1, second).unwrap();
    assert_eq!(got[0].payload, b"q", "forwarded by the new proxy");
    drop(held);
}

/// Sockets a node's processes hold open, listeners excepted (lines of
/// /proc/net/tcp with an inode, not in LISTEN).
fn held_tcp_sockets(node: &crate::Node<'_>) -> usize {
    let text = node
        .run(|| std::fs::read_to_string("/proc/thread-self/net/tcp"))
        .unwrap()
        .unwrap();
    text.lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 9 && f[3] != "0A" && f[9] != "0"
        })
        .count()
}

/// Connections that ended give their sockets back: a proxy and an echo
/// server that served a hundred connections hold none of them (they used
/// to keep a copy of every connection until they stopped, and a long test
/// ran out of file descriptors).
#[test]
fn finished_connections_release_their_sockets() {
    if !crate::privilege::should_run("finished_connections_release_their_sockets").unwrap() {
        return;
    }
    let lab = lab();
    let (host, client) = (lab.node("host").unwrap(), lab.node("client").unwrap());
    let server = lab.node("server").unwrap();
    let _echo = server.tcp_echo_server("10.1.0.2:80").unwrap();
    let _proxy = Proxy::start(
        host.ns(),
        Proto::Tcp,
        "0.0.0.0:8080".parse().unwrap(),
        "10.1.0.2:80".parse().unwrap(),
    )
    .unwrap();
    for _ in 0..100 {
        let mut c = client
            .run(|| {
                TcpStream::connect_timeout(
                    &"10.0.0.1:8080".parse().unwrap(),
                    Duration::from_secs(3),
                )
            })
            .unwrap()
            .expect("connect to the proxy");
        c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        c.write_all(b"x").unwrap();
        let mut buf = [0u8; 1];
        c.read_exact(&mut buf).expect("the echo through the proxy");
        // Closing waits for the proxy to close its side: every earlier
        // connection has ended on both hops by the time the next one starts.
        c.shutdown(std::net::Shutdown::Write).unwrap();
        let n = c
            .read(&mut buf)
            .expect("the proxy closes its side once the server has");
        assert_eq!(n, 0, "the proxy closes after the server");
    }
    let (proxy_held, server_held) = (held_tcp_sockets(&host), held_tcp_sockets(&server));
    assert!(
        proxy_held <= 4 && server_held <= 2,
        "after 100 finished connections the proxy holds {proxy_held} sockets, the echo server {server_held}"
    );
}
