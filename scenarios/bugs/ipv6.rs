//! IPv6 bugs users hit on a dual-stack Docker host (issue 21): the 28+ raw
//! drops cutting a LAN off an IPv6 bridge it reached before, Docker's
//! ip6tables FORWARD DROP policy breaking IPv6 forwarding between other
//! interfaces, and a DOCKER-USER rule written for iptables that IPv6 walks
//! past. The labs are topology text ([`crate::ipv6::lab6`]); the LAN router
//! is the internet node on the uplink (the recording's LAN peer), since the
//! lab's LAN peers are IPv4-only.

use std::net::Ipv6Addr;
use std::time::Duration;

use netrig::docker::Layout;
use netrig::expect::{expect_nat, tcp, udp};
use netrig::{Backend, Lab, Result, Route, Sentinel, TcpFlags};

use crate::ipv6::{CLIENT6, HOST6, N6, SERVER6, ip6_of, lab6, raw_direct_drop6};
use crate::matrix::Variant;
use crate::support::{
    HostLab as _, LAN_BRIDGE, Rule, WAIT, at, bridge_of, ensure, expect_counted,
    expect_not_counted, failure, packets, wait_counted,
};

/// The cells with Docker's rules in iptables (a DOCKER-USER chain to write
/// an IPv4-only rule into).
pub const IPTABLES: &[Variant] = crate::matrix::ROUTED_PEERS;

/// The packets the ip6tables filter `FORWARD` policy has counted.
fn forward6_policy_packets(lab: &Lab) -> Result<u64> {
    let counters = lab.docker("host")?.counters()?;
    match counters.policy("ip6 filter", "FORWARD") {
        Some(p) => Ok(p.packets),
        None => Err(failure(
            lab,
            "no ip6 filter FORWARD policy in the host's ruleset",
        )),
    }
}

/// A custom IPv6 bridge (`docker network create --ipv6 --subnet fda3:e693:8526::/64 intranet_v6`) whose container has no published ports, reached by the LAN routing that prefix to the host: up to Docker 27 it is forwarded (no Docker rule for it, and the ip6tables FORWARD policy stays ACCEPT because the host already forwarded IPv6); after the upgrade to 28 it is dropped in raw PREROUTING (NixOS/nixpkgs#417641, NixOS 24.11 → 25.05).
pub fn ipv6_bridge_unreachable_from_lan_after_28(v: &Variant) -> Result<()> {
    let daemon = "ipv6 = true\nfixed_cidr_v6 = \"fd51:d795::/64\"\n";
    let body = "[[network]]\nname = \"intranet_v6\"\nsubnet = \"172.19.0.0/16\"\nipv6 = true\nsubnet_v6 = \"fda3:e693:8526::/64\"\n\n[[container]]\nname = \"app\"\nnetworks = [\"intranet_v6\"]\n";
    let lab = lab6(v, "nix6", daemon, body, true)?;
    let app = ip6_of(&lab, "app");
    let lan = lab.internet()?;
    lan.add_route(&Route::to("fda3:e693:8526::/64").via(HOST6.to_string()))?;
    let _server = lab.container("app")?.tcp_echo_server("[::]:80")?;
    let inside = lab.container("app")?.capture("eth0")?;
    let syn = tcp().src(CLIENT6).dst(at(app, 80)).flags(TcpFlags::SYN);
    if v.layout == Layout::Classic {
        let before = forward6_policy_packets(&lab)?;
        let ok = lan.tcp_connect(at(app, 80), WAIT)?;
        inside.expect(syn).within(WAIT)?;
        ensure(&lab, ok.is_connected(), || {
            format!("LAN -> [{app}]:80: {ok}")
        })?;
        let after = forward6_policy_packets(&lab)?;
        return ensure(&lab, after > before, || {
            format!(
                "the ip6tables FORWARD ACCEPT policy did not count the LAN's packets ({before} -> {after})"
            )
        });
    }
    let raw = raw_direct_drop6(v.backend, app, &bridge_of(&lab, "intranet_v6"));
    let before = packets(&lab, &raw)?;
    let cut = lan.tcp_connect(at(app, 80), Duration::from_millis(300))?;
    expect_counted(&lab, &raw, before)?;
    inside
        .expect_none(syn, Sentinel::udp(&lab.host_node()?, format!("[{app}]:9")))
        .within(WAIT)?;
    ensure(&lab, !cut.is_connected(), || {
        format!("LAN -> [{app}]:80 connected: {cut}")
    })
}

/// The VM network of [`ipv6_forward_drop_breaks_unrelated_bridge`]: an
/// IPv6 prefix on the host's LAN bridge, not Docker's.
const VM_NET: &str = "fd42:4836:5::/64";
const VM_GW: &str = "fd42:4836:5::1";
const VM_IP: Ipv6Addr = Ipv6Addr::new(0xfd42, 0x4836, 5, 0, 0, 0, 0, 2);

/// Docker turning IPv6 forwarding on (its first IPv6 network) sets the ip6tables FORWARD policy to DROP, which breaks IPv6 forwarding for bridges that are not Docker's — a VM/LXD bridge's IPv6 traffic to the internet dies on the policy (moby#48365; the report: IPv6 multicast routing on another bridge). The nftables backend sets no policy (forwarding must be on already), so there the VM's packet is forwarded.
pub fn ipv6_forward_drop_breaks_unrelated_bridge(v: &Variant) -> Result<()> {
    let body = format!(
        "{N6}\n[[container]]\nname = \"c6\"\nnetworks = [\"n6\"]\n\n[[lan_peer]]\nname = \"vm\"\n"
    );
    let lab = lab6(v, "fwd6", "", &body, false)?;
    let host = lab.host_node()?;
    let vm = lab.node("vm")?;
    vm.sysctl_set("net.ipv6.conf.all.disable_ipv6", "0")?;
    vm.sysctl_set("net.ipv6.conf.eth0.disable_ipv6", "0")?;
    host.add_address(LAN_BRIDGE, &format!("{VM_GW}/64"))?;
    vm.add_address("eth0", &format!("{VM_IP}/64"))?;
    vm.add_route(&Route::to("default").via(VM_GW))?;
    lab.internet()?
        .add_route(&Route::to(VM_NET).via(HOST6.to_string()))?;
    let entering = host.capture(LAN_BRIDGE)?;
    let outside = lab.internet()?.capture("eth0")?;
    let policy_before = match v.backend {
        Backend::Nftables => None,
        _ => Some(forward6_policy_packets(&lab)?),
    };
    let to = at(SERVER6, 53);
    vm.udp_send(to, b"vm6-out")?;
    entering
        .expect(udp().src(VM_IP).dst(to).payload("vm6-out"))
        .within(WAIT)?;
    match policy_before {
        None => outside
            .expect(udp().src(VM_IP).dst(to).payload("vm6-out"))
            .within(WAIT)
            .map(|_| ()),
        Some(before) => {
            wait_counted(&lab, "ip6tables FORWARD policy", before, || {
                forward6_policy_packets(&lab)
            })?;
            outside
                .expect_none(
                    udp().payload("vm6-out"),
                    Sentinel::udp(&host, format!("[{SERVER6}]:9")),
                )
                .within(WAIT)
        }
    }
}

/// A user blocks the internet from the published ports with an iptables DOCKER-USER rule (`-I DOCKER-USER -i eth0 -j DROP`); iptables is IPv4 only, so the same published port on the host's IPv6 address stays open: the IPv6 client is DNATed to the container past the rule (docker/for-linux#1248: 20.10's ip6tables has no DOCKER-USER at all; 28+ has one, empty; chaifeng/ufw-docker#8: the ufw-docker recipe is IPv4-only).
pub fn ipv6_published_port_bypasses_iptables_docker_user_rule(v: &Variant) -> Result<()> {
    let body = format!(
        "{N6}\n[[container]]\nname = \"c6\"\nnetworks = [\"n6\"]\nports = [\"8443:443\"]\n"
    );
    let lab = lab6(v, "user6", "", &body, false)?;
    let c6 = ip6_of(&lab, "c6");
    lab.host_node()?.load_rules(
        v.backend,
        "*filter\n-I DOCKER-USER -i eth0 -j DROP\nCOMMIT\n",
    )?;
    let user = Rule::new("filter", "DOCKER-USER", &["-i eth0 -j DROP"]);
    let _server = lab.container("c6")?.tcp_echo_server("[::]:443")?;
    let internet = lab.internet()?;
    // IPv4: the user's rule drops it.
    let dropped = packets(&lab, &user)?;
    let v4 = internet.tcp_connect(at(lab.host_uplink_ip(), 8443), Duration::from_millis(300))?;
    let dropped = expect_counted(&lab, &user, dropped)?;
    ensure(&lab, !v4.is_connected(), || {
        format!("IPv4 to the published port connected despite DOCKER-USER: {v4}")
    })?;
    // IPv6: DNATed to c6 and connected, the rule untouched.
    let outside = lab.host_node()?.capture("eth0")?;
    let inside = lab.container("c6")?.capture("eth0")?;
    let v6 = internet.tcp_connect(at(HOST6, 8443), WAIT)?;
    expect_nat(
        &outside,
        &inside,
        tcp().src(CLIENT6).dst(at(HOST6, 8443)).flags(TcpFlags::SYN),
    )
    .dnat_to(at(c6, 443))
    .within(WAIT)?;
    expect_not_counted(&lab, &user, dropped)?;
    ensure(&lab, v6.is_connected(), || {
        format!("IPv6 to the published port: {v6}")
    })
}
