//! Routed peers (VPN, LAN, a test lab's VM, a tunnelled host) sending packets
//! straight to container addresses, `nat-unprotected` as the 28+ fix, and
//! host addresses the raw drops do not cover.

use std::net::{Ipv4Addr, SocketAddrV4};

use crate::support::{HostLab as _, Up as _};
use netrig::docker::{ContainerSpec, DaemonOptions, GatewayMode, Layout, NetworkSpec};
use netrig::expect::{tcp, udp};
use netrig::{Backend, Result, Route, Sentinel, TcpFlags};

use crate::wire::{mac, tcp_syn_frame};

use super::LAN_HOST;
use crate::matrix::Variant;
use crate::support::{
    LAN_BRIDGE, Rule, WAIT, at, dnat_rule, ensure, expect_counted, expect_not_counted,
    forward_policy_packets, ip_of, packets, peer_ip, raw_direct_drop,
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
    let peer_ip = peer_ip(&lab, "vpn");
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
    let peer_ip = peer_ip(&lab, "peer");
    let _server = lab.container("admin")?.tcp_echo_server("0.0.0.0:80")?;
    let inside = lab.container("admin")?.capture("eth0")?;
    let peer = lab.node("peer")?;
    let host = lab.host_node()?;
    let syn = tcp_syn_frame(
        mac(&peer, "eth0")?,
        mac(&host, LAN_BRIDGE)?,
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

/// A network for [`raw_drop_cuts_test_lab_off_container_network`] and
/// [`nat_unprotected_lets_routed_host_reach_every_port`]: `subnet` with
/// `mode`, its bridge named for the scenario.
fn network(name: &str, subnet: &str, mode: GatewayMode) -> NetworkSpec {
    NetworkSpec {
        subnet: Some(subnet.into()),
        gateway_mode_ipv4: mode,
        ..NetworkSpec::from(name)
    }
}

/// A test lab whose VM routes to a Docker network broke with Docker 28 (NordSecurity/libtelio PR #1452): a datagram routed straight to a container's published UDP port is dropped by the raw PREROUTING direct-access drop, where classic forwarded it; on 28+ the network made `nat-unprotected` (the fix the PR applied) lets the same datagram through.
pub fn raw_drop_cuts_test_lab_off_container_network(v: &Variant) -> Result<()> {
    let modern = v.layout != Layout::Classic;
    let mut host = v
        .host("natlab")
        .network(network("inet", "172.20.0.0/16", GatewayMode::Nat))
        .container(
            ContainerSpec::new("stun")
                .network("inet")
                .publish("3478:3478/udp"),
        );
    if modern {
        host = host
            .network(network(
                "inet-open",
                "172.21.0.0/16",
                GatewayMode::NatUnprotected,
            ))
            .container(
                ContainerSpec::new("stun-open")
                    .network("inet-open")
                    .publish("3479:3478/udp"),
            );
    }
    let lab = host.lan_peer("vm").build()?.up()?;
    let vm = lab.node("vm")?;
    let vm_ip = peer_ip(&lab, "vm");
    vm.add_route(&Route::to("172.20.0.0/15").via(LAN_HOST.to_string()))?;
    let stun = ip_of(&lab, "stun");
    let inside = lab.container("stun")?.capture("eth0")?;
    let probe = udp().src(vm_ip).dst(at(stun, 3478)).payload("natlab");
    if !modern {
        vm.udp_send(at(stun, 3478), b"natlab")?;
        return inside.expect(probe).within(WAIT).map(|_| ());
    }
    let bridge = crate::support::bridge_of(&lab, "inet");
    let raw = raw_direct_drop(v.backend, stun, &bridge);
    let before = packets(&lab, &raw)?;
    vm.udp_send(at(stun, 3478), b"natlab")?;
    expect_counted(&lab, &raw, before)?;
    vm.udp_send(at(LAN_HOST, 3478), b"natlab-sentinel")?;
    inside
        .expect_none(
            probe,
            Sentinel::packet(udp().dst(at(stun, 3478)).payload("natlab-sentinel")),
        )
        .within(WAIT)?;
    let open = ip_of(&lab, "stun-open");
    let open_inside = lab.container("stun-open")?.capture("eth0")?;
    vm.udp_send(at(open, 3478), b"natlab-open")?;
    open_inside
        .expect(udp().src(vm_ip).dst(at(open, 3478)).payload("natlab-open"))
        .within(WAIT)
        .map(|_| ())
}

/// A host that reaches containers by their addresses through a routed tunnel (chipmk/docker-mac-net-connect#49, Docker Desktop 4.39 / Engine 28) lost them with Docker 28: an unpublished port on a `nat` network is dropped by the raw direct-access drop; on a `nat-unprotected` network (the fix) every port answers. Classic with forwarding on before the daemon (as in Desktop's VM) reached them without the option, which older engines do not have.
pub fn nat_unprotected_lets_routed_host_reach_every_port(v: &Variant) -> Result<()> {
    let modern = v.layout != Layout::Classic;
    let mut host = v
        .host("macnet")
        .daemon(DaemonOptions {
            ip_forward_was_on: true,
            ..v.daemon()
        })
        .network(network("apps", "172.20.0.0/16", GatewayMode::Nat))
        .container(ContainerSpec::new("db").network("apps"));
    if modern {
        host = host
            .network(network(
                "apps-open",
                "172.21.0.0/16",
                GatewayMode::NatUnprotected,
            ))
            .container(ContainerSpec::new("db-open").network("apps-open"));
    }
    let lab = host.lan_peer("mac").build()?.up()?;
    let mac = lab.node("mac")?;
    let mac_ip = peer_ip(&lab, "mac");
    mac.add_route(&Route::to("172.20.0.0/15").via(LAN_HOST.to_string()))?;
    let db = ip_of(&lab, "db");
    let _server = lab.container("db")?.tcp_echo_server("0.0.0.0:5432")?;
    let inside = lab.container("db")?.capture("eth0")?;
    let syn = |ip| tcp().src(mac_ip).dst(at(ip, 5432)).flags(TcpFlags::SYN);
    if !modern {
        let ok = mac.tcp_connect(at(db, 5432), WAIT)?;
        inside.expect(syn(db)).within(WAIT)?;
        return ensure(&lab, ok.is_connected(), || format!("mac -> db:5432: {ok}"));
    }
    let bridge = crate::support::bridge_of(&lab, "apps");
    let raw = raw_direct_drop(v.backend, db, &bridge);
    let before = packets(&lab, &raw)?;
    let cut = mac.tcp_connect(at(db, 5432), std::time::Duration::from_millis(300))?;
    expect_counted(&lab, &raw, before)?;
    inside
        .expect_none(syn(db), Sentinel::udp(&lab.host_node()?, format!("{db}:9")))
        .within(WAIT)?;
    let open = ip_of(&lab, "db-open");
    let _open_server = lab.container("db-open")?.tcp_echo_server("0.0.0.0:5432")?;
    let open_inside = lab.container("db-open")?.capture("eth0")?;
    let ok = mac.tcp_connect(at(open, 5432), WAIT)?;
    open_inside.expect(syn(open)).within(WAIT)?;
    ensure(&lab, ok.is_connected() && !cut.is_connected(), || {
        format!("mac -> db:5432 (nat): {cut}; -> db-open:5432 (nat-unprotected): {ok}")
    })
}

/// A port published on the bridge's gateway address to keep it "internal" (`-p 172.17.0.1:8082:80`) is reachable from a LAN peer that routes that address to the host (moby#45610): the DNAT matches whatever interface the packet came in by, and the 28+ raw drops cover container addresses and 127.0.0.1 but not the gateway (open PR moby#52224 would) — every layout and backend.
pub fn port_bound_to_gateway_address_reachable_from_lan(v: &Variant) -> Result<()> {
    let lab = v
        .host("gw-bind")
        .container(ContainerSpec::new("web").publish("172.17.0.1:8082:80"))
        .lan_peer("peer")
        .build()?
        .up()?;
    let web = ip_of(&lab, "web");
    let peer_ip = peer_ip(&lab, "peer");
    let peer = lab.node("peer")?;
    peer.add_route(&Route::to("172.17.0.1/32").via(LAN_HOST.to_string()))?;
    let server = lab.container("web")?.tcp_echo_server("0.0.0.0:80")?;
    let dnat = dnat_rule(v.backend, 8082);
    let raw = raw_direct_drop(v.backend, web, "docker0");
    let dnated = packets(&lab, &dnat)?;
    let dropped = match v.layout {
        Layout::Classic => None,
        _ => Some(packets(&lab, &raw)?),
    };
    let inside = lab.container("web")?.capture("eth0")?;
    let ok = peer.tcp_connect(at(crate::local::GATEWAY, 8082), WAIT)?;
    inside
        .expect(tcp().src(peer_ip).dst(at(web, 80)).flags(TcpFlags::SYN))
        .within(WAIT)?;
    expect_counted(&lab, &dnat, dnated)?;
    if let Some(before) = dropped {
        expect_not_counted(&lab, &raw, before)?;
    }
    ensure(
        &lab,
        ok.is_connected() && server.wait_for_peer_from(peer_ip.into(), WAIT),
        || format!("peer -> 172.17.0.1:8082: {ok}"),
    )
}

/// A container on an `--internal` network still reaches the host's own services (moby/libnetwork#1151, #2261): Docker filters FORWARD, not INPUT, so the bridge's gateway address answers on every layout. Classic keeps the default route and the host's uplink address answers too; 28+ gives internal networks no default route, so that one is unreachable from inside.
pub fn internal_network_reaches_host_services(v: &Variant) -> Result<()> {
    let lab = v
        .host("sealed")
        .network(NetworkSpec {
            subnet: Some("172.18.0.0/16".into()),
            internal: true,
            ..NetworkSpec::from("sealed")
        })
        .container(ContainerSpec::new("app").network("sealed"))
        .build()?
        .up()?;
    let app = ip_of(&lab, "app");
    let gateway = crate::support::gateway_of(&lab, "sealed");
    let server = lab.host_node()?.tcp_echo_server("0.0.0.0:2222")?;
    let ok = lab.container("app")?.tcp_connect(at(gateway, 2222), WAIT)?;
    ensure(
        &lab,
        ok.is_connected() && server.wait_for_peer_from(app.into(), WAIT),
        || format!("app -> gateway {gateway}:2222 on an internal network: {ok}"),
    )?;
    let uplink = lab.host_uplink_ip();
    let leaving = lab.container("app")?.capture("eth0")?;
    let to_uplink = lab
        .container("app")?
        .tcp_connect(at(uplink, 2222), std::time::Duration::from_millis(300))?;
    let syn = tcp().src(app).dst(at(uplink, 2222)).flags(TcpFlags::SYN);
    if v.layout == Layout::Classic {
        leaving.expect(syn).within(WAIT)?;
        return ensure(&lab, to_uplink.is_connected(), || {
            format!(
                "app -> host uplink {uplink}:2222 (classic keeps the default route): {to_uplink}"
            )
        });
    }
    leaving
        .expect_none(
            syn,
            Sentinel::udp(&lab.container("app")?, format!("{gateway}:9")),
        )
        .within(WAIT)?;
    ensure(&lab, !to_uplink.is_connected(), || {
        format!("app -> host uplink {uplink}:2222 connected without a default route: {to_uplink}")
    })
}
