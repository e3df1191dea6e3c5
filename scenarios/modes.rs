//! Network modes other than bridge (docker-rules §2.8): `none` (loopback
//! only), `host` (the host's own stack, reached through filter INPUT) and
//! `container:NAME` (another container's stack).

use crate::support::{HostLab as _, Up as _};
use netrig::docker::ContainerSpec;
use netrig::expect::{tcp, udp};
use netrig::{Result, TcpFlags};

use crate::matrix::Variant;
use crate::support::{SERVER, WAIT, at, ensure, expect_counted, ip_of, packets};

/// A `--network none` container has only `lo`: no eth0, no route out, and its datagram to the internet never leaves it.
pub fn network_none_has_loopback_only(v: &Variant) -> Result<()> {
    let lab = v
        .host("none")
        .container(ContainerSpec::new("box").network("none"))
        .build()?
        .up()?;
    let node = lab.container("box")?;
    let names: Vec<String> = node.links()?.into_iter().map(|l| l.name).collect();
    ensure(&lab, names == ["lo"], || {
        format!("a --network none container has interfaces {names:?}, want [\"lo\"]")
    })?;
    let routes = node.routes()?;
    ensure(
        &lab,
        routes.iter().all(|r| r.dest.prefix_len() != 0),
        || format!("a --network none container has a default route: {routes:?}"),
    )?;
    let outside = lab.internet()?.capture("eth0")?;
    let sent = node.udp_send(at(SERVER, 53), b"from-none");
    ensure(&lab, sent.is_err(), || {
        format!("a --network none container sent to {SERVER}: {sent:?}")
    })?;
    outside
        .expect_none(
            udp().payload("from-none"),
            netrig::Sentinel::udp(&lab.host_node()?, format!("{SERVER}:9")),
        )
        .within(WAIT)
}

/// A `--network host` container's server is reached on the host's address without DNAT, through filter INPUT (a user's INPUT rule counts the SYN), like any host process.
pub fn network_host_is_reached_through_input(v: &Variant) -> Result<()> {
    let lab = v
        .host("hostnet")
        .container(ContainerSpec::new("svc").network("host"))
        .build()?
        .up()?;
    let host = lab.host_node()?;
    let rule = crate::support::input_rule(&lab, v.backend, 8090, "accept")?;
    let before = packets(&lab, &rule)?;
    let server = lab.container("svc")?.tcp_echo_server("0.0.0.0:8090")?;
    let entering = host.capture("eth0")?;
    let uplink = lab.host_uplink_ip();
    let ok = lab.internet()?.tcp_connect(at(uplink, 8090), WAIT)?;
    entering
        .expect(tcp().dst(at(uplink, 8090)).flags(TcpFlags::SYN))
        .within(WAIT)?;
    expect_counted(&lab, &rule, before)?;
    ensure(
        &lab,
        ok.is_connected()
            && server.wait_for_peer_from(crate::support::INTERNET_CLIENT.into(), WAIT),
        || {
            format!(
                "internet -> {uplink}:8090: {ok}; svc saw {:?}",
                server.peers()
            )
        },
    )
}

/// A `--network container:web` sidecar shares web's stack: it reaches web's server on 127.0.0.1:80, and its datagram to the internet leaves from web's address, masqueraded like web's own.
pub fn network_container_shares_owner_stack(v: &Variant) -> Result<()> {
    let lab = v
        .host("ctrnet")
        .container(ContainerSpec::new("web"))
        .container(ContainerSpec::new("side").network("container:web"))
        .build()?
        .up()?;
    let web = ip_of(&lab, "web");
    let server = lab.container("web")?.tcp_echo_server("0.0.0.0:80")?;
    let side = lab.container("side")?;
    let ok = side.tcp_connect(at(std::net::Ipv4Addr::LOCALHOST, 80), WAIT)?;
    ensure(
        &lab,
        ok.is_connected() && server.wait_for_peer_from(std::net::Ipv4Addr::LOCALHOST.into(), WAIT),
        || format!("side -> 127.0.0.1:80: {ok}; web saw {:?}", server.peers()),
    )?;
    let inside = lab.host_node()?.capture("docker0")?;
    let outside = lab.internet()?.capture("eth0")?;
    side.udp_send(at(SERVER, 53), b"from-side")?;
    netrig::expect::expect_nat(&inside, &outside, udp().src(web).payload("from-side"))
        .snat_to(lab.host_uplink_ip())
        .within(WAIT)
        .map(|_| ())
}
