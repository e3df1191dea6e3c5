//! Traffic from a chosen source address, as a rule matching `-s` sees it.

use std::net::IpAddr;
use std::time::Duration;

use netrig::{Endpoint, Error, Lab, TcpOutcome, unique_lab_name};

use crate::common;

const SECOND: Duration = Duration::from_secs(1);

/// TCP and UDP sent from a second address of a node arrive from that
/// address; a source the node does not own is refused with a clear error.
fn traffic_from_a_chosen_source_address() {
    let _labs = common::shared();
    let lab = Lab::builder(unique_lab_name("from"))
        .node("a")
        .node("b")
        .link(
            Endpoint::new("a", "eth0")
                .addr("10.0.0.1/24")
                .addr("10.0.0.11/24"),
            Endpoint::new("b", "eth0").addr("10.0.0.2/24"),
        )
        .up()
        .unwrap();
    let (a, b) = (lab.node("a").unwrap(), lab.node("b").unwrap());
    let second: IpAddr = "10.0.0.11".parse().unwrap();
    let tcp = b.tcp_echo_server("10.0.0.2:7000").unwrap();
    let udp = b.udp_echo_server("10.0.0.2:7001").unwrap();

    let out = a.tcp_connect_from(second, "10.0.0.2:7000", SECOND).unwrap();
    let TcpOutcome::Connected(local) = out else {
        panic!("expected a connection, got {out}");
    };
    assert_eq!(local.ip(), second);
    assert_eq!(tcp.wait_for_peers(1, SECOND).unwrap()[0].ip(), second);
    assert_eq!(
        a.tcp_connect_from(second, "10.0.0.2:7999", SECOND).unwrap(),
        TcpOutcome::Refused
    );

    let sent = a
        .udp_send_from("10.0.0.11:0", "10.0.0.2:7001", b"hi")
        .unwrap();
    let got = udp.wait_for_datagrams(1, SECOND).unwrap();
    assert_eq!((got[0].from, got[0].payload.as_slice()), (sent, &b"hi"[..]));

    let err = a
        .tcp_connect_from("10.0.0.99".parse().unwrap(), "10.0.0.2:7000", SECOND)
        .unwrap_err();
    assert!(
        matches!(&err, Error::Invalid { field, .. } if field == "source address"),
        "{err}"
    );
}

/// A stopped echo server gives its address up although a forked child
/// still holds a copy of its fd: a connect to it is refused (not accepted by
/// a listener nobody serves), and a new TCP server on the same address and
/// a UDP server on the same port get the traffic.
fn stopped_echo_servers_give_their_address_up_to_the_next() {
    let _labs = common::shared();
    let lab = common::labs::pair("echoheld").unwrap();
    let (a, b) = (lab.node("a").unwrap(), lab.node("b").unwrap());
    let tcp = b.tcp_echo_server("10.0.0.2:7000").unwrap();
    let udp = b.udp_echo_server("10.0.0.2:7001").unwrap();
    let held = common::ForkedFdHolder::start();
    drop((tcp, udp));
    assert_eq!(
        a.tcp_connect("10.0.0.2:7000", SECOND).unwrap(),
        TcpOutcome::Refused,
        "the stopped server's listener must not accept"
    );
    let tcp = b
        .tcp_echo_server("10.0.0.2:7000")
        .expect("the address is free again");
    // On the wildcard address: a socket still bound to the specific one
    // would match the datagram better, unless it was retired.
    let udp = b
        .udp_echo_server("0.0.0.0:7001")
        .expect("the port is free again");
    assert!(matches!(
        a.tcp_connect("10.0.0.2:7000", SECOND).unwrap(),
        TcpOutcome::Connected(_)
    ));
    assert_eq!(tcp.wait_for_peers(1, SECOND).unwrap().len(), 1);
    let sent = a
        .udp_send_from("10.0.0.1:0", "10.0.0.2:7001", b"hi")
        .unwrap();
    let got = udp.wait_for_datagrams(1, SECOND).unwrap();
    assert_eq!(got[0].from, sent, "the new server gets the datagram");
    drop(held);
}

/// This module's tests.
pub fn tests() -> Vec<netrig::testing::Test> {
    netrig::testing::tests![
        traffic_from_a_chosen_source_address,
        stopped_echo_servers_give_their_address_up_to_the_next,
    ]
}
