//! IPv6 packet walks (issue 21): a dual-stack Docker host as the real
//! 28.5.2 recorded it (`tests/data/real-docker-ipv6`) — a container's IPv6
//! leaving masqueraded (`gateway_mode_ipv6` nat) or not (routed), a
//! published port reached over IPv6 by kernel DNAT with the client's
//! address kept, the `[::]` docker-proxy in front of an IPv4-only container,
//! and a LAN router sending the container prefix to the host (the 28+ raw
//! drops). Classic runs with `ip6tables = true` (20.10's experimental
//! `--ip6tables`, 27's default), the nftables cell with IPv6 forwarding on
//! before the daemon (it never turns it on itself).
//!
//! The labs come from topology text ([`lab6`]): the daemon's IPv6 keys are
//! topology-file keys, not builder methods. The host's uplink is
//! 2001:db8:113::2/64, the internet (the recording's LAN peer too, routing
//! the prefixes to the host when a walk says so) 2001:db8:113::1, its
//! server 2001:db8:100::10.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use netrig::docker::Layout;
use netrig::expect::{expect_nat, tcp, udp};
use netrig::{Backend, Lab, Result, Route, Sentinel, TcpFlags, unique_lab_name};

use crate::host_lab::first_attachment;
use crate::matrix::Variant;
use crate::support::{
    HostLab as _, Rule, WAIT, at, bridge_of, ensure, expect_counted, failure, ip_of, packets,
};

/// The host's IPv6 uplink address (what nat-mode IPv6 leaves as).
pub const HOST6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x113, 0, 0, 0, 0, 2);

/// The internet's IPv6 address on the uplink: where IPv6 clients come from.
pub const CLIENT6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x113, 0, 0, 0, 0, 1);

/// The internet server's IPv6 address.
pub const SERVER6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 0x10);

/// The network `n6` of the recording: dual stack, ULA prefix, nat.
pub const N6: &str = "[[network]]\nname = \"n6\"\nsubnet = \"172.18.0.0/16\"\nipv6 = true\nsubnet_v6 = \"fd00:18::/64\"\n";

/// A Docker host for cell `v` from topology text: `[daemon]` with the
/// cell's layout, backend, release and IPv6 settings plus `daemon` (extra
/// keys), then `body` (networks, containers, LAN peers). `forwarding6`:
/// `net.ipv6.conf.all.forwarding=1` before the daemon (always with
/// nftables, which requires it).
pub fn lab6(v: &Variant, prefix: &str, daemon: &str, body: &str, forwarding6: bool) -> Result<Lab> {
    let mut text = format!(
        "[daemon]\nlayout = \"{}\"\nbackend = \"{}\"\n",
        v.layout, v.backend
    );
    if let Some(release) = v.version {
        text += &format!("version = \"{release}\"\n");
    }
    if v.layout == Layout::Classic {
        text += "ip6tables = true\n";
    }
    if v.backend == Backend::Nftables {
        text += "ip_forward_was_on = true\n";
    }
    text += daemon;
    text += "\n";
    text += body;
    if forwarding6 || v.backend == Backend::Nftables {
        text += "\n[before]\nsysctls = [\"net.ipv6.conf.all.forwarding=1\"]\n";
    }
    let mut spec = netrig::topology::parse(&text, format!("scenarios/ipv6.rs ({prefix})"))?;
    spec.set_name(unique_lab_name(prefix));
    spec.up()
}

/// A container's IPv6 address on its first network.
pub fn ip6_of(lab: &Lab, container: &str) -> Ipv6Addr {
    first_attachment(lab.model(), container)
        .and_then(|a| a.ip6)
        .map(|(ip, _, _)| ip)
        .unwrap_or_else(|| {
            panic!(
                "lab {}: container {container} has no IPv6 address",
                lab.name()
            )
        })
}

/// The 28+ raw PREROUTING direct-access drop for IPv6 address `ip` on `bridge`.
pub fn raw_direct_drop6(backend: Backend, ip: Ipv6Addr, bridge: &str) -> Rule {
    match backend {
        Backend::Nftables => Rule::new(
            "ip6 docker-bridges",
            "raw-PREROUTING",
            &[&format!("ip6 daddr {ip} iifname != \"{bridge}\""), "drop"],
        ),
        _ => Rule::new(
            "ip6 raw",
            "PREROUTING",
            &[&format!("-d {ip}/128 ! -i {bridge} -j DROP")],
        ),
    }
}

/// c6 on `n6` with its ports, the internet's server on `[SERVER6]:80`.
fn c6(ports: &str) -> String {
    format!("{N6}\n[[container]]\nname = \"c6\"\nnetworks = [\"n6\"]\nports = [{ports}]\n")
}

/// A container's IPv6 traffic to the internet leaves the host masqueraded to the uplink's 2001:db8:113::2 (`gateway_mode_ipv6` nat, Docker's default; ULA and global prefixes alike), and is answered without a route back.
pub fn ipv6_outbound_masquerade(v: &Variant) -> Result<()> {
    let lab = lab6(v, "masq6", "", &c6(""), false)?;
    let c6 = ip6_of(&lab, "c6");
    let to = at(SERVER6, 80);
    let server = lab.internet()?.tcp_echo_server(to)?;
    let inside = lab.host_node()?.capture(&bridge_of(&lab, "n6"))?;
    let outside = lab.internet()?.capture("eth0")?;
    let out = lab.container("c6")?.tcp_connect(to, WAIT)?;
    expect_nat(
        &inside,
        &outside,
        tcp().src(c6).dst(to).flags(TcpFlags::SYN),
    )
    .snat_to(HOST6)
    .within(WAIT)?;
    let peers = server.wait_for_peers(1, WAIT)?;
    ensure(
        &lab,
        out.is_connected() && peers[0].ip() == IpAddr::V6(HOST6),
        || format!("c6 -> {to}: {out}; the server saw {peers:?}, expected {HOST6}"),
    )
}

/// With `gateway_mode_ipv6 = "routed"` a container's IPv6 leaves with its own address (no MASQUERADE) and is answered once the internet routes the prefix back to the host.
pub fn ipv6_routed_network_leaves_unnated(v: &Variant) -> Result<()> {
    let body = c6("").replace(
        "subnet_v6 = \"fd00:18::/64\"\n",
        "subnet_v6 = \"fd00:18::/64\"\ngateway_mode_ipv6 = \"routed\"\n",
    );
    let lab = lab6(v, "routed6", "", &body, false)?;
    let c6 = ip6_of(&lab, "c6");
    let internet = lab.internet()?;
    internet.add_route(&Route::to("fd00:18::/64").via(HOST6.to_string()))?;
    let to = at(SERVER6, 80);
    let server = internet.tcp_echo_server(to)?;
    let outside = internet.capture("eth0")?;
    let out = lab.container("c6")?.tcp_connect(to, WAIT)?;
    outside
        .expect(tcp().src(c6).dst(to).flags(TcpFlags::SYN))
        .within(WAIT)?;
    let peers = server.wait_for_peers(1, WAIT)?;
    ensure(
        &lab,
        out.is_connected() && peers[0].ip() == IpAddr::V6(c6),
        || format!("c6 -> {to}: {out}; the server saw {peers:?}, expected {c6}"),
    )
}

/// An IPv6 client on the internet reaches a published port on the host's IPv6 address: the kernel DNATs `[2001:db8:113::2]:8443` to the container's IPv6 address, port 443, and the server sees the client's own address (no proxy, no SNAT).
pub fn ipv6_published_port_dnat(v: &Variant) -> Result<()> {
    let lab = lab6(v, "dnat6", "", &c6("\"8443:443\""), false)?;
    let c6 = ip6_of(&lab, "c6");
    let server = lab.container("c6")?.tcp_echo_server("[::]:443")?;
    let outside = lab.host_node()?.capture("eth0")?;
    let inside = lab.container("c6")?.capture("eth0")?;
    let mut stream = crate::wire::tcp_stream(&lab.internet()?, at(HOST6, 8443), WAIT)?;
    let flow = expect_nat(
        &outside,
        &inside,
        tcp().src(CLIENT6).dst(at(HOST6, 8443)).flags(TcpFlags::SYN),
    )
    .dnat_to(at(c6, 443))
    .within(WAIT)?;
    let port_kept = flow.before.tcp().map(|t| t.src_port) == flow.after.tcp().map(|t| t.src_port);
    ensure(&lab, port_kept, || {
        format!("the client's port changed on the way in: {flow:?}")
    })?;
    stream
        .set_read_timeout(Some(WAIT))
        .expect("set a read timeout");
    let mut echo = [0u8; 5];
    let echoed = stream
        .write_all(b"hello")
        .and_then(|()| stream.read_exact(&mut echo));
    let peers = server.wait_for_peers(1, WAIT)?;
    ensure(
        &lab,
        echoed.is_ok() && &echo == b"hello" && peers[0].ip() == IpAddr::V6(CLIENT6),
        || format!("expected an echo and peer {CLIENT6}; got {echoed:?} {echo:?}, peers {peers:?}"),
    )
}

/// A port published without an address on a container that has no IPv6 address is still reachable over IPv6: docker-proxy listens on `[::]:8080` and connects to the container's IPv4 address, so the server sees its bridge's gateway (172.18.0.1) — there is no IPv6 DNAT to an IPv4 address.
pub fn ipv6_wildcard_proxied_to_ipv4_container(v: &Variant) -> Result<()> {
    // docker0 is dual stack (the host has IPv6, as with `--ipv6`); web sits
    // on n4, a network without IPv6.
    let body = "[[network]]\nname = \"n4\"\nsubnet = \"172.18.0.0/16\"\n\n[[container]]\nname = \"web\"\nnetworks = [\"n4\"]\nports = [\"8080:80\"]\n";
    let daemon = "ipv6 = true\nfixed_cidr_v6 = \"fd00:17::/64\"\n";
    let lab = lab6(v, "proxy6", daemon, body, false)?;
    let web = ip_of(&lab, "web");
    let gateway = crate::support::gateway_of(&lab, "n4");
    ensure(
        &lab,
        first_attachment(lab.model(), "web").is_some_and(|a| a.ip6.is_none()),
        || "web has an IPv6 address on n4".into(),
    )?;
    let server = lab.container("web")?.tcp_echo_server("0.0.0.0:80")?;
    let outside = lab.host_node()?.capture("eth0")?;
    let inside = lab.container("web")?.capture("eth0")?;
    let out = lab.internet()?.tcp_connect(at(HOST6, 8080), WAIT)?;
    outside
        .expect(tcp().src(CLIENT6).dst(at(HOST6, 8080)).flags(TcpFlags::SYN))
        .within(WAIT)?;
    inside
        .expect(tcp().src(gateway).dst(at(web, 80)).flags(TcpFlags::SYN))
        .within(WAIT)?;
    let peers = server.wait_for_peers(1, WAIT)?;
    ensure(
        &lab,
        out.is_connected() && peers[0].ip() == IpAddr::V4(gateway),
        || format!("internet -> [{HOST6}]:8080: {out}; web saw {peers:?}, expected {gateway}"),
    )
}

/// A LAN router sending the container prefix to the host (the recording's LAN peer: `fd00:18::/64 via 2001:db8:113::2`) reaches a published container port directly under classic (20.10 with `--ip6tables`: the per-port filter ACCEPT); Docker 28+ drops it in raw PREROUTING (`-d fd00:18::2/128 ! -i br-n6 -j DROP`), the ULA like any prefix.
pub fn ipv6_lan_routes_container_prefix(v: &Variant) -> Result<()> {
    let lab = lab6(v, "lan6", "", &c6("\"8443:443\", \"9999:9999/udp\""), false)?;
    let c6 = ip6_of(&lab, "c6");
    let internet = lab.internet()?;
    internet.add_route(&Route::to("fd00:18::/64").via(HOST6.to_string()))?;
    let _server = lab.container("c6")?.tcp_echo_server("[::]:443")?;
    let inside = lab.container("c6")?.capture("eth0")?;
    let syn = tcp().src(CLIENT6).dst(at(c6, 443)).flags(TcpFlags::SYN);
    if v.layout == Layout::Classic {
        let out = internet.tcp_connect(at(c6, 443), WAIT)?;
        inside.expect(syn).within(WAIT)?;
        return ensure(&lab, out.is_connected(), || {
            format!("internet -> [{c6}]:443: {out}")
        });
    }
    let raw = raw_direct_drop6(v.backend, c6, &bridge_of(&lab, "n6"));
    let before = packets(&lab, &raw)?;
    let entering = lab.host_node()?.capture("eth0")?;
    let out = internet.tcp_connect(at(c6, 443), Duration::from_millis(300))?;
    entering.expect(syn.clone()).within(WAIT)?;
    expect_counted(&lab, &raw, before)?;
    // The sentinel goes the allowed way in: the published UDP port, DNATed to c6.
    internet.udp_send(at(HOST6, 9999), b"lan6-sentinel")?;
    inside
        .expect_none(
            syn,
            Sentinel::packet(udp().dst(at(c6, 9999)).payload("lan6-sentinel")),
        )
        .within(WAIT)?;
    if out.is_connected() {
        return Err(failure(&lab, "the routed connection to c6:443 succeeded"));
    }
    Ok(())
}
