//! The userland proxy deciding who reaches a published port: with icc=false
//! (moby#53713, PR #53723) and from another bridge without the proxy
//! (moby#38784, fixed in 29 by moby#49509's rework), and from a `routed`
//! network on 28.x (moby#49509), and through the container's own gateway
//! address (moby#40518).

use crate::support::{HostLab as _, Up as _};
use netrig::docker::{ContainerSpec, DaemonOptions, GatewayMode, Layout, NetworkSpec};
use netrig::expect::tcp;
use netrig::{Lab, Matcher, Result, Sentinel, TcpFlags};

use crate::crossing::two_bridges;
use crate::icc::icc_drop_rule;
use crate::local::GATEWAY;
use crate::matrix::Variant;
use crate::support::{
    Rule, WAIT, at, dnat_rule, ensure, expect_counted, expect_not_counted, ip_of, packets,
};

/// docker0 with icc=false: `web` (8080:80, echo server) and a neighbour `client`.
fn quiet_bridge(v: &Variant, prefix: &str, proxy: bool) -> Result<Lab> {
    v.host(prefix)
        .daemon(DaemonOptions {
            icc: false,
            userland_proxy: proxy,
            ..v.daemon()
        })
        .container(ContainerSpec::new("web").publish("8080:80"))
        .container(ContainerSpec::new("client"))
        .build()?
        .up()
}

/// With icc=false and --userland-proxy=false, a neighbour container cannot reach a published port through the host address: the kernel DNATs it back onto docker0 and the ICC drop kills it (moby#53713, open PR #53723; every version emulated).
pub fn icc_false_without_proxy_blocks_peer_from_published_port(v: &Variant) -> Result<()> {
    let lab = quiet_bridge(v, "icc-noproxy", false)?;
    let web = ip_of(&lab, "web");
    let _server = lab.container("web")?.tcp_echo_server("0.0.0.0:80")?;
    let icc = icc_drop_rule(v, "docker0");
    let dnat = dnat_rule(v.backend, 8080);
    let (dropped, dnated) = (packets(&lab, &icc)?, packets(&lab, &dnat)?);
    let inside = lab.container("web")?.capture("eth0")?;
    let cut = lab.container("client")?.tcp_connect(
        at(lab.host_uplink_ip(), 8080),
        std::time::Duration::from_millis(300),
    )?;
    expect_counted(&lab, &dnat, dnated)?;
    expect_counted(&lab, &icc, dropped)?;
    inside
        .expect_none(
            tcp().dst(at(web, 80)).flags(TcpFlags::SYN),
            Sentinel::udp(&lab.host_node()?, format!("{web}:9")),
        )
        .within(WAIT)?;
    ensure(&lab, !cut.is_connected(), || {
        format!("client -> host:8080 connected: {cut}")
    })
}

/// With icc=false and the userland proxy on, the same neighbour does reach the published port: it is not DNATed, docker-proxy serves it from the host, and the container sees 172.17.0.1 (moby#53713: the proxy setting changes who gets in).
pub fn icc_false_with_proxy_lets_peer_reach_published_port(v: &Variant) -> Result<()> {
    let lab = quiet_bridge(v, "icc-proxy", true)?;
    let web = ip_of(&lab, "web");
    let server = lab.container("web")?.tcp_echo_server("0.0.0.0:80")?;
    let icc = icc_drop_rule(v, "docker0");
    let dnat = dnat_rule(v.backend, 8080);
    let (dropped, dnated) = (packets(&lab, &icc)?, packets(&lab, &dnat)?);
    let inside = lab.container("web")?.capture("eth0")?;
    let ok = lab
        .container("client")?
        .tcp_connect(at(lab.host_uplink_ip(), 8080), WAIT)?;
    inside
        .expect(tcp().src(GATEWAY).dst(at(web, 80)).flags(TcpFlags::SYN))
        .within(WAIT)?;
    ensure(
        &lab,
        ok.is_connected() && server.wait_for_peer_from(GATEWAY.into(), WAIT),
        || format!("client -> host:8080: {ok}; web saw {:?}", server.peers()),
    )?;
    expect_not_counted(&lab, &dnat, dnated)?;
    expect_not_counted(&lab, &icc, dropped)
}

/// Without the userland proxy, a container on another bridge cannot reach a published port through the host address in classic and 28.x Docker: it is DNATed, then Docker's inter-network isolation drops it (moby#38784). Docker 29 removed the isolation chains and reaches it, masqueraded to 172.17.0.1 (moby#49509).
pub fn published_port_unreachable_from_other_bridge_without_proxy(v: &Variant) -> Result<()> {
    let lab = two_bridges(v, "xbridge-noproxy", false)?;
    let web = ip_of(&lab, "web");
    let server = lab.container("web")?.tcp_echo_server("0.0.0.0:80")?;
    let dnat = dnat_rule(v.backend, 8080);
    let dnated = packets(&lab, &dnat)?;
    let inside = lab.container("web")?.capture("eth0")?;
    let uplink = lab.host_uplink_ip();
    let syn = tcp().dst(at(web, 80)).flags(TcpFlags::SYN);
    if v.layout == Layout::V29 {
        let ok = lab
            .container("other")?
            .tcp_connect(at(uplink, 8080), WAIT)?;
        inside.expect(syn.src(GATEWAY)).within(WAIT)?;
        expect_counted(&lab, &dnat, dnated)?;
        return ensure(
            &lab,
            ok.is_connected() && server.wait_for_peer_from(GATEWAY.into(), WAIT),
            || format!("other -> host:8080: {ok}; web saw {:?}", server.peers()),
        );
    }
    isolation_cuts_other_from_published_port(&lab, &dnat, dnated, &inside, syn)
}

/// Without the userland proxy, a container on a `routed` network cannot reach a port published on a `nat` network through the host's address on 28.x (moby#49509): it is DNATed, then inter-network isolation drops it. Docker 29 removed the isolation chains and the connection goes through.
pub fn routed_network_cannot_reach_published_port_on_nat_network(v: &Variant) -> Result<()> {
    let lab = v
        .host("routed-nat")
        .daemon(DaemonOptions {
            userland_proxy: false,
            ..v.daemon()
        })
        .container(ContainerSpec::new("web").publish("8080:80"))
        .network(NetworkSpec {
            subnet: Some("172.18.0.0/16".into()),
            gateway_mode_ipv4: GatewayMode::Routed,
            ..NetworkSpec::from("routed")
        })
        .container(ContainerSpec::new("other").network("routed"))
        .build()?
        .up()?;
    let web = ip_of(&lab, "web");
    let other = ip_of(&lab, "other");
    let server = lab.container("web")?.tcp_echo_server("0.0.0.0:80")?;
    let dnat = dnat_rule(v.backend, 8080);
    let dnated = packets(&lab, &dnat)?;
    let inside = lab.container("web")?.capture("eth0")?;
    let uplink = lab.host_uplink_ip();
    let syn = tcp().dst(at(web, 80)).flags(TcpFlags::SYN);
    if v.layout == Layout::V29 {
        let ok = lab
            .container("other")?
            .tcp_connect(at(uplink, 8080), WAIT)?;
        inside.expect(syn).within(WAIT)?;
        expect_counted(&lab, &dnat, dnated)?;
        return ensure(
            &lab,
            ok.is_connected() && server.wait_for_peers(1, WAIT).is_ok(),
            || {
                format!(
                    "other ({other}) -> host:8080: {ok}; web saw {:?}",
                    server.peers()
                )
            },
        );
    }
    isolation_cuts_other_from_published_port(&lab, &dnat, dnated, &inside, syn)
}

/// Container `other`'s connection to the host's published port 8080 is
/// DNATed (`dnat` counts past `dnated`), then dropped by the isolation of
/// docker0 (counted), and no SYN reaches web (`inside`, proved by a
/// sentinel from the host).
fn isolation_cuts_other_from_published_port(
    lab: &Lab,
    dnat: &Rule,
    dnated: u64,
    inside: &netrig::Capture,
    syn: Matcher,
) -> Result<()> {
    let web = ip_of(lab, "web");
    let isolation = Rule::new(
        "filter",
        "DOCKER-ISOLATION-STAGE-2",
        &["-o docker0 -j DROP"],
    );
    let isolated = packets(lab, &isolation)?;
    let cut = lab.container("other")?.tcp_connect(
        at(lab.host_uplink_ip(), 8080),
        std::time::Duration::from_millis(300),
    )?;
    expect_counted(lab, dnat, dnated)?;
    expect_counted(lab, &isolation, isolated)?;
    inside
        .expect_none(syn, Sentinel::udp(&lab.host_node()?, format!("{web}:9")))
        .within(WAIT)?;
    ensure(lab, !cut.is_connected(), || {
        format!("other -> host:8080 connected: {cut}")
    })
}

/// Without the userland proxy, a container cannot reach a port published on another network through its own network's gateway address in classic and 28.x Docker (moby#40518: `curl http://172.18.0.1` from test_net fails once userland-proxy is off): the gateway address is the host's, so nat PREROUTING DNATs the connection to `web` on docker0, and inter-network isolation drops it. Docker 29 removed the isolation chains: DNATed, masqueraded to 172.17.0.1, connected.
pub fn gateway_address_loses_published_port_without_proxy(v: &Variant) -> Result<()> {
    let lab = two_bridges(v, "gw-noproxy", false)?;
    let web = ip_of(&lab, "web");
    let gateway = crate::support::gateway_of(&lab, "back");
    let server = lab.container("web")?.tcp_echo_server("0.0.0.0:80")?;
    let dnat = dnat_rule(v.backend, 8080);
    let dnated = packets(&lab, &dnat)?;
    let inside = lab.container("web")?.capture("eth0")?;
    let syn = tcp().dst(at(web, 80)).flags(TcpFlags::SYN);
    if v.layout == Layout::V29 {
        let ok = lab
            .container("other")?
            .tcp_connect(at(gateway, 8080), WAIT)?;
        inside.expect(syn.src(GATEWAY)).within(WAIT)?;
        expect_counted(&lab, &dnat, dnated)?;
        return ensure(
            &lab,
            ok.is_connected() && server.wait_for_peer_from(GATEWAY.into(), WAIT),
            || {
                format!(
                    "other -> {gateway}:8080: {ok}; web saw {:?}",
                    server.peers()
                )
            },
        );
    }
    let isolation = Rule::new(
        "filter",
        "DOCKER-ISOLATION-STAGE-2",
        &["-o docker0 -j DROP"],
    );
    let isolated = packets(&lab, &isolation)?;
    let cut = lab
        .container("other")?
        .tcp_connect(at(gateway, 8080), std::time::Duration::from_millis(300))?;
    expect_counted(&lab, &dnat, dnated)?;
    expect_counted(&lab, &isolation, isolated)?;
    inside
        .expect_none(syn, Sentinel::udp(&lab.host_node()?, format!("{web}:9")))
        .within(WAIT)?;
    ensure(&lab, !cut.is_connected(), || {
        format!("other -> {gateway}:8080 connected: {cut}")
    })
}
