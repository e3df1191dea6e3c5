//! Host-local access to a published port (docker-rules §2.3) and a container
//! reaching its own published port (hairpin, §2.6): who serves the
//! connection — docker-proxy or the kernel's DNAT — decides the source
//! address the container sees.

use std::net::{IpAddr, Ipv4Addr};

use crate::support::{HostLab as _, Up as _};
use netrig::docker::{ContainerSpec, DaemonOptions};
use netrig::expect::{tcp, udp};
use netrig::{Lab, Result, Sentinel, TcpFlags};

use crate::matrix::Variant;
use crate::support::{
    Rule, WAIT, at, dnat_rule, ensure, expect_counted, expect_not_counted, ip_of, packets,
};

/// docker0's address: where docker-proxy's (and the local MASQUERADE's) connections come from.
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(172, 17, 0, 1);

/// `web` on docker0 with 8080:80 published and an echo server on 80.
fn web_lab(v: &Variant, prefix: &str, proxy: bool) -> Result<Lab> {
    v.host(prefix)
        .daemon(DaemonOptions {
            userland_proxy: proxy,
            ..v.daemon()
        })
        .container(ContainerSpec::new("web").publish("8080:80"))
        .build()?
        .up()
}

/// Connects from `from` (a node name) to `dst`, then checks the container
/// `web` saw a SYN from `src` on its eth0 and its server accepted `src`;
/// `counted` says whether the DNAT rule for 8080 must count it.
fn connect_and_check(
    lab: &Lab,
    v: &Variant,
    from: &str,
    dst: std::net::SocketAddr,
    src: Ipv4Addr,
    counted: bool,
) -> Result<()> {
    let web = ip_of(lab, "web");
    let server = lab.container("web")?.tcp_echo_server("0.0.0.0:80")?;
    let inside = lab.container("web")?.capture("eth0")?;
    let rule = dnat_rule(v.backend, 8080);
    let before = packets(lab, &rule)?;
    let outcome = lab.node(from)?.tcp_connect(dst, WAIT)?;
    inside
        .expect(tcp().src(src).dst(at(web, 80)).flags(TcpFlags::SYN))
        .within(WAIT)?;
    let seen = server.wait_for_peer_from(IpAddr::V4(src), WAIT);
    ensure(lab, outcome.is_connected() && seen, || {
        format!(
            "{from} -> {dst}: {outcome}; web's server saw {:?}, want {src}",
            server.peers()
        )
    })?;
    if counted {
        expect_counted(lab, &rule, before).map(|_| ())
    } else {
        expect_not_counted(lab, &rule, before)
    }
}

/// A host process connecting to 127.0.0.1:8080 is served by docker-proxy (nat OUTPUT skips 127.0.0.0/8): the container sees 172.17.0.1 and the DNAT rule counts nothing.
pub fn host_loopback_reaches_published_port_through_proxy(v: &Variant) -> Result<()> {
    let lab = web_lab(v, "lo-proxy", true)?;
    connect_and_check(
        &lab,
        v,
        "host",
        at(Ipv4Addr::LOCALHOST, 8080),
        GATEWAY,
        false,
    )
}

/// With --userland-proxy=false a host process connecting to 127.0.0.1:8080 is DNATed in nat OUTPUT (route_localnet) and masqueraded to 172.17.0.1 by the local-source MASQUERADE; the DNAT rule counts it.
pub fn host_loopback_reaches_published_port_without_proxy(v: &Variant) -> Result<()> {
    let lab = web_lab(v, "lo-noproxy", false)?;
    connect_and_check(
        &lab,
        v,
        "host",
        at(Ipv4Addr::LOCALHOST, 8080),
        GATEWAY,
        true,
    )
}

/// A host process connecting to its own uplink address 203.0.113.2:8080 is DNATed in nat OUTPUT even with the proxy on, and the container sees the host's address 203.0.113.2.
pub fn host_address_reaches_published_port_by_dnat(v: &Variant) -> Result<()> {
    let lab = web_lab(v, "hostaddr", true)?;
    let uplink = Ipv4Addr::new(203, 0, 113, 2);
    connect_and_check(&lab, v, "host", at(uplink, 8080), uplink, true)
}

/// A `--network host` container connecting to 203.0.113.2:8080 is DNATed to the published container like any host process (its sockets are the host's).
pub fn host_mode_container_is_dnated_to_published_port(v: &Variant) -> Result<()> {
    let lab = v
        .host("hostmode-dnat")
        .container(ContainerSpec::new("web").publish("8080:80"))
        .container(ContainerSpec::new("tool").network("host"))
        .build()?
        .up()?;
    let uplink = Ipv4Addr::new(203, 0, 113, 2);
    connect_and_check(&lab, v, "tool", at(uplink, 8080), uplink, true)
}

/// With the proxy on, a container connecting to its own published port via the host address is not DNATed: docker-proxy serves it and the container sees 172.17.0.1.
pub fn container_reaches_own_published_port_through_proxy(v: &Variant) -> Result<()> {
    let lab = web_lab(v, "self-proxy", true)?;
    let uplink = Ipv4Addr::new(203, 0, 113, 2);
    connect_and_check(&lab, v, "web", at(uplink, 8080), GATEWAY, false)
}

/// With --userland-proxy=false a container connecting to its own published port is DNATed back out of its own bridge port (hairpin_mode) and masqueraded to 172.17.0.1 by the per-port MASQUERADE, which counts it.
pub fn container_reaches_own_published_port_by_hairpin_nat(v: &Variant) -> Result<()> {
    let lab = web_lab(v, "self-hairpin", false)?;
    let web = ip_of(&lab, "web");
    let masq = match v.backend {
        netrig::Backend::Nftables => Rule::new(
            "ip docker-bridges",
            "nat-postrouting-in__docker0",
            &[
                &format!("ip saddr {web} ip daddr {web} tcp dport 80"),
                "masquerade",
            ],
        ),
        _ => Rule::new(
            "nat",
            "POSTROUTING",
            &[&format!(
                "-s {web}/32 -d {web}/32 -p tcp -m tcp --dport 80 -j MASQUERADE"
            )],
        ),
    };
    let before = packets(&lab, &masq)?;
    let uplink = Ipv4Addr::new(203, 0, 113, 2);
    connect_and_check(&lab, v, "web", at(uplink, 8080), GATEWAY, true)?;
    expect_counted(&lab, &masq, before).map(|_| ())
}

/// The host reaches a container at its own address on any port: locally generated packets skip raw PREROUTING, so even 28+'s direct-access drop does not count them; the container sees 172.17.0.1.
pub fn host_reaches_container_address(v: &Variant) -> Result<()> {
    let lab = web_lab(v, "host-direct", true)?;
    let web = ip_of(&lab, "web");
    let raw = crate::support::raw_direct_drop(v.backend, web, "docker0");
    let before = match v.layout {
        netrig::docker::Layout::Classic => None,
        _ => Some(packets(&lab, &raw)?),
    };
    connect_and_check(&lab, v, "host", at(web, 80), GATEWAY, false)?;
    match before {
        Some(b) => expect_not_counted(&lab, &raw, b),
        None => Ok(()),
    }
}

/// A port published on 127.0.0.1 (`-p 127.0.0.1:8081:80`) serves host processes at 127.0.0.1:8081, while a client on the internet connecting to 203.0.113.2:8081 never reaches the container.
pub fn loopback_binding_serves_only_the_host(v: &Variant) -> Result<()> {
    let lab = v
        .host("lo-bind")
        .container(
            ContainerSpec::new("web")
                .publish("127.0.0.1:8081:80")
                .publish("9999:9999/udp"),
        )
        .build()?
        .up()?;
    let web = ip_of(&lab, "web");
    let _server = lab.container("web")?.tcp_echo_server("0.0.0.0:80")?;
    let host = lab.host_node()?;
    let local = host.tcp_connect(at(Ipv4Addr::LOCALHOST, 8081), WAIT)?;
    ensure(&lab, local.is_connected(), || {
        format!("host -> 127.0.0.1:8081: {local}")
    })?;
    let entering = host.capture("eth0")?;
    let inside = lab.container("web")?.capture("eth0")?;
    let uplink = Ipv4Addr::new(203, 0, 113, 2);
    let remote = lab
        .internet()?
        .tcp_connect(at(uplink, 8081), std::time::Duration::from_millis(300))?;
    entering
        .expect(tcp().dst(at(uplink, 8081)).flags(TcpFlags::SYN))
        .within(WAIT)?;
    lab.internet()?
        .udp_send(at(uplink, 9999), b"lo-bind-sentinel")?;
    inside
        .expect_none(
            tcp().dst(at(web, 80)).flags(TcpFlags::SYN),
            Sentinel::packet(udp().dst(at(web, 9999)).payload("lo-bind-sentinel")),
        )
        .within(WAIT)?;
    ensure(&lab, !remote.is_connected(), || {
        format!("internet -> {uplink}:8081 connected: {remote}")
    })
}
