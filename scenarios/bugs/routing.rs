//! Routed peers (VPN, LAN) sending packets straight to container addresses.

use std::net::{Ipv4Addr, SocketAddrV4};

use crate::support::{HostLab as _, Up as _};
use netrig::docker::{ContainerSpec, DaemonOptions, Layout};
use netrig::expect::{tcp, udp};
use netrig::{Backend, Result, Sentinel, TcpFlags, tcp_syn_frame};

use super::LAN_HOST;
use crate::matrix::Variant;
use crate::support::{
    LAN_BRIDGE, Rule, WAIT, at, dnat_rule, ensure, expect_counted, expect_not_counted,
    forward_policy_packets, ip_of, packets, raw_direct_drop,
};

/// A routed VPN peer (Tailscale/WireGuard-style, on the LAN, routing the container subnet to the host) is cut off from containers by Docker 28+'s raw PREROUTING drop, even though the user's DOCKER-USER (or own nft table) accepts it: the raw table runs first (moby#51015, moby#49498, psviderski/uncloud#293). Classic reaches the published container port.
pub fn raw_drop_cuts_off_routed_vpn_peer(v: &Variant) -> Result<()> {
    let lab = v
        .host("vpn")
        .container(
            ContainerSpec::new("web")
                .publish("8080:80")
                .publish("9999:9999/udp"),
        )
        .lan_peer("vpn")
        .build()?
        .up()?;
    let web = ip_of(&lab, "web");
    let peer_ip = lab.model().lan_peers()[0].ip;
    let host = lab.host_node()?;
    let accept = match v.backend {
        Backend::Nftables => {
            host.load_rules(
                v.backend,
                &format!(
                    "table ip vpn {{\n chain forward {{\n  type filter hook forward priority filter - 1; policy accept;\n  ip saddr {peer_ip} counter accept\n }}\n}}\n"
                ),
            )?;
            Rule::new(
                "ip vpn",
                "forward",
                &[&format!("ip saddr {peer_ip}"), "accept"],
            )
        }
        _ => {
            host.load_rules(
                v.backend,
                &format!("*filter\n-I DOCKER-USER -s {peer_ip}/32 -j ACCEPT\nCOMMIT\n"),
            )?;
            Rule::new(
                "filter",
                "DOCKER-USER",
                &[&format!("-s {peer_ip}/32 -j ACCEPT")],
            )
        }
    };
    let accepted = packets(&lab, &accept)?;
    let _server = lab.container("web")?.tcp_echo_server("0.0.0.0:80")?;
    let inside = lab.container("web")?.capture("eth0")?;
    let peer = lab.node("vpn")?;
    let syn = tcp().src(peer_ip).dst(at(web, 80)).flags(TcpFlags::SYN);
    if v.layout == Layout::Classic {
        let ok = peer.tcp_connect(at(web, 80), WAIT)?;
        inside.expect(syn).within(WAIT)?;
        expect_counted(&lab, &accept, accepted)?;
        return ensure(&lab, ok.is_connected(), || format!("vpn -> web:80: {ok}"));
    }
    let raw = raw_direct_drop(v.backend, web, "docker0");
    let before = packets(&lab, &raw)?;
    let cut = peer.tcp_connect(at(web, 80), std::time::Duration::from_millis(300))?;
    expect_counted(&lab, &raw, before)?;
    // The user's accept never saw it (read before the sentinel, which it accepts).
    expect_not_counted(&lab, &accept, accepted)?;
    peer.udp_send(at(LAN_HOST, 9999), b"vpn-sentinel")?;
    inside
        .expect_none(
            syn,
            Sentinel::packet(udp().dst(at(web, 9999)).payload("vpn-sentinel")),
        )
        .within(WAIT)?;
    ensure(&lab, !cut.is_connected(), || {
        format!("vpn -> web:80 connected: {cut}")
    })
}

/// When ip_forward was already on before Docker started, classic Docker leaves the FORWARD policy ACCEPT and a LAN peer routing to a container reaches its *unpublished* ports (moby#14041); Docker 28.2+ drops it in raw PREROUTING.
pub fn unpublished_ports_exposed_when_forwarding_was_on(v: &Variant) -> Result<()> {
    let lab = v
        .host("exposed")
        .daemon(DaemonOptions {
            ip_forward_was_on: true,
            ..v.daemon()
        })
        .container(ContainerSpec::new("db"))
        .lan_peer("peer")
        .build()?
        .up()?;
    let db = ip_of(&lab, "db");
    let _server = lab.container("db")?.tcp_echo_server("0.0.0.0:5432")?;
    let inside = lab.container("db")?.capture("eth0")?;
    let peer = lab.node("peer")?;
    let syn = tcp().dst(at(db, 5432)).flags(TcpFlags::SYN);
    if v.layout == Layout::Classic {
        let before = forward_policy_packets(&lab)?;
        let ok = peer.tcp_connect(at(db, 5432), WAIT)?;
        inside.expect(syn).within(WAIT)?;
        ensure(&lab, ok.is_connected(), || format!("peer -> db:5432: {ok}"))?;
        let after = forward_policy_packets(&lab)?;
        return ensure(&lab, after > before, || {
            format!(
                "the FORWARD ACCEPT policy did not count the peer's packets ({before} -> {after})"
            )
        });
    }
    let raw = raw_direct_drop(v.backend, db, "docker0");
    let before = packets(&lab, &raw)?;
    let cut = peer.tcp_connect(at(db, 5432), std::time::Duration::from_millis(300))?;
    expect_counted(&lab, &raw, before)?;
    inside
        .expect_none(syn, Sentinel::udp(&lab.host_node()?, format!("{db}:9")))
        .within(WAIT)?;
    ensure(&lab, !cut.is_connected(), || {
        format!("peer -> db:5432 connected: {cut}")
    })
}

/// A LAN peer that routes packets for 127.0.0.1 to the host reaches a port published on 127.0.0.1 in classic Docker (moby#41872, moby#45610): the DNAT matches before routing; Docker 28+ drops it in raw PREROUTING (`! -i lo`).
pub fn loopback_published_port_reachable_from_lan_peer(v: &Variant) -> Result<()> {
    let lab = v
        .host("lo-lan")
        .container(
            ContainerSpec::new("admin")
                .publish("127.0.0.1:8081:80")
                .publish("9999:9999/udp"),
        )
        .lan_peer("peer")
        .build()?
        .up()?;
    let admin = ip_of(&lab, "admin");
    let peer_ip = lab.model().lan_peers()[0].ip;
    let _server = lab.container("admin")?.tcp_echo_server("0.0.0.0:80")?;
    let inside = lab.container("admin")?.capture("eth0")?;
    let peer = lab.node("peer")?;
    let host = lab.host_node()?;
    let syn = tcp_syn_frame(
        peer.interface("eth0")?.mac,
        host.interface(LAN_BRIDGE)?.mac,
        SocketAddrV4::new(peer_ip, 40124),
        SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8081),
        9,
    );
    let dnated = tcp()
        .src(at(peer_ip, 40124))
        .dst(at(admin, 80))
        .flags(TcpFlags::SYN);
    if v.layout == Layout::Classic {
        let rule = dnat_rule(v.backend, 8081);
        let before = packets(&lab, &rule)?;
        peer.inject("eth0", &syn)?;
        inside.expect(dnated).within(WAIT)?;
        return expect_counted(&lab, &rule, before).map(|_| ());
    }
    let rule = match v.backend {
        Backend::Nftables => Rule::new(
            "ip docker-bridges",
            "raw-PREROUTING",
            &["iifname != \"lo\" ip daddr 127.0.0.1", "dport 8081", "drop"],
        ),
        _ => Rule::new(
            "raw",
            "PREROUTING",
            &["-d 127.0.0.1/32 ! -i lo", "--dport 8081 -j DROP"],
        ),
    };
    let before = packets(&lab, &rule)?;
    peer.inject("eth0", &syn)?;
    expect_counted(&lab, &rule, before)?;
    peer.udp_send(at(LAN_HOST, 9999), b"lo-lan-sentinel")?;
    inside
        .expect_none(
            dnated,
            Sentinel::packet(udp().dst(at(admin, 9999)).payload("lo-lan-sentinel")),
        )
        .within(WAIT)
}
