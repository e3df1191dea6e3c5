//! Crossing from one bridge to another through a published port on the host
//! address (docker-rules §2.5), and a LAN peer routing straight to a
//! container's address (§2.7). Which path serves the packet changes with
//! the Docker version: the proxy or the kernel's DNAT, the raw drop or the
//! published port's accept.

use crate::support::{HostLab as _, Up as _};
use netrig::docker::{ContainerSpec, DaemonOptions, Layout, NetworkSpec};
use netrig::expect::udp;
use netrig::{Lab, Result, Sentinel};

use crate::local::GATEWAY;
use crate::matrix::Variant;
use crate::support::{
    Rule, WAIT, at, dnat_rule, ensure, expect_counted, expect_not_counted, ip_of, packets,
    raw_direct_drop,
};

/// `web` (8080:80 on docker0) and `other` on network `back` (172.18.0.0/16).
pub fn two_bridges(v: &Variant, prefix: &str, proxy: bool) -> Result<Lab> {
    v.host(prefix)
        .daemon(DaemonOptions {
            userland_proxy: proxy,
            ..v.daemon()
        })
        .container(ContainerSpec::new("web").publish("8080:80"))
        .network(NetworkSpec {
            subnet: Some("172.18.0.0/16".into()),
            ..NetworkSpec::from("back")
        })
        .container(ContainerSpec::new("other").network("back"))
        .build()?
        .up()
}

/// A container on another bridge connects to host:8080 (proxy on) and web sees docker0's 172.17.0.1: classic and v28 skip DNAT for their own bridges (`-i br -j RETURN`) and docker-proxy serves it; v29 has no RETURN rules and DNATs it, then masquerades it (moby#49509, commit 1ad9599da7).
pub fn other_bridge_reaches_published_port(v: &Variant) -> Result<()> {
    let lab = two_bridges(v, "xbridge", true)?;
    let web = ip_of(&lab, "web");
    let server = lab.container("web")?.tcp_echo_server("0.0.0.0:80")?;
    let inside = lab.container("web")?.capture("eth0")?;
    let rule = dnat_rule(v.backend, 8080);
    let before = packets(&lab, &rule)?;
    let ok = lab
        .container("other")?
        .tcp_connect(at(lab.host_uplink_ip(), 8080), WAIT)?;
    inside
        .expect(
            netrig::expect::tcp()
                .src(GATEWAY)
                .dst(at(web, 80))
                .flags(netrig::TcpFlags::SYN),
        )
        .within(WAIT)?;
    ensure(
        &lab,
        ok.is_connected() && server.wait_for_peer_from(GATEWAY.into(), WAIT),
        || format!("other -> host:8080: {ok}; web saw {:?}", server.peers()),
    )?;
    match v.layout {
        Layout::V29 => expect_counted(&lab, &rule, before).map(|_| ()),
        Layout::Classic | Layout::V28 => expect_not_counted(&lab, &rule, before),
    }
}

/// A LAN peer routing a UDP datagram straight to a container's published UDP port (no DNAT): classic forwards it (the port's filter DOCKER accept counts it); v28 and v29 drop it in raw PREROUTING.
pub fn lan_peer_routes_udp_to_container(v: &Variant) -> Result<()> {
    let lab = v
        .host("lan-direct")
        .container(ContainerSpec::new("dns").publish("5353:53/udp"))
        .lan_peer("peer")
        .build()?
        .up()?;
    let dns = ip_of(&lab, "dns");
    let _echo = lab.container("dns")?.udp_echo_server("0.0.0.0:53")?;
    let inside = lab.container("dns")?.capture("eth0")?;
    let peer = lab.node("peer")?;
    let m = udp().dst(at(dns, 53)).payload("lan-direct");
    match v.layout {
        Layout::Classic => {
            let rule = Rule::new(
                "filter",
                "DOCKER",
                &[
                    &format!("-d {dns}/32 ! -i docker0 -o docker0"),
                    "--dport 53 -j ACCEPT",
                ],
            );
            let before = packets(&lab, &rule)?;
            peer.udp_send(at(dns, 53), b"lan-direct")?;
            inside.expect(m).within(WAIT)?;
            expect_counted(&lab, &rule, before).map(|_| ())
        }
        Layout::V28 | Layout::V29 => {
            let rule = raw_direct_drop(v.backend, dns, "docker0");
            let before = packets(&lab, &rule)?;
            peer.udp_send(at(dns, 53), b"lan-direct")?;
            expect_counted(&lab, &rule, before)?;
            inside
                .expect_none(m, Sentinel::udp(&lab.host_node()?, format!("{dns}:9")))
                .within(WAIT)
        }
    }
}
