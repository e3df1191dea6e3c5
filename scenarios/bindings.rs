//! Port bindings and NAT options: UDP as well as TCP through a published
//! port and out through masquerade, a port bound to one host address, and
//! `enable_ip_masquerade=false` (docker-rules §1.5, §2.1, §2.2).

use std::net::Ipv4Addr;

use crate::support::{HostLab as _, Up as _};
use netrig::docker::{ContainerSpec, Layout, NetworkSpec};
use netrig::expect::{expect_nat, tcp, udp};
use netrig::{Backend, Result, Sentinel, TcpFlags};

use crate::matrix::Variant;
use crate::support::{
    INTERNET_CLIENT, Rule, SERVER, WAIT, at, bridge_of, dnat_rule, ensure, expect_counted, ip_of,
    packets, peer_ip,
};

/// The host's address on the LAN (where LAN peers reach it).
const LAN_HOST: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 129);

/// A UDP datagram from the internet to host:5353/udp reaches the container's port 53 with the client's source kept, and the answer comes back from host:5353.
pub fn published_udp_port_keeps_client_source(v: &Variant) -> Result<()> {
    let lab = v
        .host("udp-dnat")
        .container(ContainerSpec::new("dns").publish("5353:53/udp"))
        .build()?
        .up()?;
    let dns = ip_of(&lab, "dns");
    let _echo = lab.container("dns")?.udp_echo_server("0.0.0.0:53")?;
    let outside = lab.host_node()?.capture("eth0")?;
    let inside = lab.container("dns")?.capture("eth0")?;
    let rule = dnat_rule(v.backend, 5353);
    let before = packets(&lab, &rule)?;
    let published = at(lab.host_uplink_ip(), 5353);
    let outcome = lab.internet()?.udp_request(published, b"udp-in", WAIT)?;
    expect_nat(
        &outside,
        &inside,
        udp().src(INTERNET_CLIENT).dst(published).payload("udp-in"),
    )
    .dnat_to(at(dns, 53))
    .within(WAIT)?;
    expect_counted(&lab, &rule, before)?;
    outside
        .expect(udp().src(published).dst(INTERNET_CLIENT).payload("udp-in"))
        .within(WAIT)?;
    ensure(
        &lab,
        matches!(outcome, netrig::UdpOutcome::Reply { .. }),
        || format!("no echo from {published}: {outcome:?}"),
    )
}

/// A TCP connection from a container to an internet server leaves with its SYN masqueraded to 203.0.113.2 and completes.
pub fn outbound_tcp_is_masqueraded(v: &Variant) -> Result<()> {
    let lab = v
        .host("masq-tcp")
        .container(ContainerSpec::new("app"))
        .build()?
        .up()?;
    let app = ip_of(&lab, "app");
    let server = lab.internet()?.tcp_echo_server(at(SERVER, 80))?;
    let inside = lab.host_node()?.capture("docker0")?;
    let outside = lab.internet()?.capture("eth0")?;
    let outcome = lab.container("app")?.tcp_connect(at(SERVER, 80), WAIT)?;
    expect_nat(
        &inside,
        &outside,
        tcp().src(app).dst(at(SERVER, 80)).flags(TcpFlags::SYN),
    )
    .snat_to(lab.host_uplink_ip())
    .within(WAIT)?;
    let seen = server.wait_for_peer_from(lab.host_uplink_ip(), WAIT);
    ensure(&lab, outcome.is_connected() && seen, || {
        format!(
            "app -> {SERVER}:80: {outcome}; server saw {:?}",
            server.peers()
        )
    })
}

/// A port published on one host address (`-p 198.51.100.129:8083:80`, the host's LAN address) is DNATed for a LAN peer connecting there, source kept; a client on the internet connecting to 203.0.113.2:8083 never reaches the container.
pub fn port_bound_to_one_host_address(v: &Variant) -> Result<()> {
    let lab = v
        .host("hostip")
        .container(
            ContainerSpec::new("web")
                .publish(format!("{LAN_HOST}:8083:80"))
                .publish("9999:9999/udp"),
        )
        .lan_peer("peer")
        .build()?
        .up()?;
    let web = ip_of(&lab, "web");
    let peer_ip = peer_ip(&lab, "peer");
    let server = lab.container("web")?.tcp_echo_server("0.0.0.0:80")?;
    let inside = lab.container("web")?.capture("eth0")?;
    let ok = lab.node("peer")?.tcp_connect(at(LAN_HOST, 8083), WAIT)?;
    inside
        .expect(tcp().src(peer_ip).dst(at(web, 80)).flags(TcpFlags::SYN))
        .within(WAIT)?;
    ensure(
        &lab,
        ok.is_connected() && server.wait_for_peer_from(peer_ip.into(), WAIT),
        || {
            format!(
                "peer -> {LAN_HOST}:8083: {ok}; web saw {:?}",
                server.peers()
            )
        },
    )?;
    let entering = lab.host_node()?.capture("eth0")?;
    let uplink = lab.host_uplink_ip();
    let wrong = lab
        .internet()?
        .tcp_connect(at(uplink, 8083), std::time::Duration::from_millis(300))?;
    entering
        .expect(
            tcp()
                .src(INTERNET_CLIENT)
                .dst(at(uplink, 8083))
                .flags(TcpFlags::SYN),
        )
        .within(WAIT)?;
    lab.internet()?
        .udp_send(at(uplink, 9999), b"hostip-sentinel")?;
    inside
        .expect_none(
            tcp().src(INTERNET_CLIENT).dst(at(web, 80)),
            Sentinel::packet(udp().dst(at(web, 9999)).payload("hostip-sentinel")),
        )
        .within(WAIT)?;
    ensure(&lab, !wrong.is_connected(), || {
        format!("internet -> {uplink}:8083 connected: {wrong}")
    })
}

/// The outgoing accept of network bridge `br` for this cell.
fn outgoing_rule(v: &Variant, br: &str) -> Rule {
    match (v.layout, v.backend) {
        (Layout::Classic, _) => Rule::new(
            "filter",
            "FORWARD",
            &[&format!("-i {br} ! -o {br} -j ACCEPT")],
        ),
        (_, Backend::Nftables) => Rule::new(
            "ip docker-bridges",
            format!("filter-forward-out__{br}"),
            &["accept", "OUTGOING"],
        ),
        _ => Rule::new("filter", "DOCKER-FORWARD", &[&format!("-i {br} -j ACCEPT")]),
    }
}

/// With enable_ip_masquerade=false, a container's datagram to the internet is forwarded (counted by the network's outgoing accept) and leaves with the container's own source address, not rewritten.
pub fn ip_masq_off_keeps_container_source(v: &Variant) -> Result<()> {
    let lab = v
        .host("nomasq")
        .network(NetworkSpec {
            subnet: Some("172.18.0.0/16".into()),
            ip_masq: false,
            ..NetworkSpec::from("plain")
        })
        .container(ContainerSpec::new("app").network("plain"))
        .build()?
        .up()?;
    let app = ip_of(&lab, "app");
    let rule = outgoing_rule(v, &bridge_of(&lab, "plain"));
    let before = packets(&lab, &rule)?;
    let outside = lab.internet()?.capture("eth0")?;
    lab.container("app")?.udp_send(at(SERVER, 53), b"no-masq")?;
    outside
        .expect(udp().src(app).dst(at(SERVER, 53)).payload("no-masq"))
        .within(WAIT)?;
    expect_counted(&lab, &rule, before).map(|_| ())
}
