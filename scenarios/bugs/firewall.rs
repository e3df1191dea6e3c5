//! Docker next to other firewall owners: ufw-style INPUT rules, a
//! libvirt-style NAT for a VM bridge, a user's own nft table next to
//! iptables-legacy rules, and a user's nftables.conf that starts with
//! `flush ruleset`, a user's rule on the published port, and the
//! `--ip-forward-no-drop` fix. The other owner's rules are loaded into the host with
//! the real tools ([`netrig::Backend::append`]) next to Docker's.

use crate::support::{HostLab as _, Up as _};
use netrig::docker::ContainerSpec;
use netrig::expect::{tcp, udp};
use netrig::{Backend, Lab, Result, Route, Sentinel, TcpFlags};

use super::{LAN_HOST, syn_reaches_web};
use crate::matrix::Variant;
use crate::support::{
    INTERNET_CLIENT, LAN_BRIDGE, Rule, SERVER, WAIT, at, dnat_rule, ensure, expect_counted,
    expect_not_counted, forward_policy_packets, input_rule, ip_of, packets, peer_ip,
};

/// libvirt's network for a VM on the LAN bridge: its own nft table accepting
/// and masquerading the VM subnet.
const LIBVIRT_TABLE: &str = "table ip libvirt_network {\n chain forward {\n  type filter hook forward priority filter; policy accept;\n  ip saddr 198.51.100.128/25 counter accept\n  ip daddr 198.51.100.128/25 ct state established,related counter accept\n }\n chain postrouting {\n  type nat hook postrouting priority srcnat; policy accept;\n  ip saddr 198.51.100.128/25 oifname \"eth0\" counter masquerade\n }\n}\n";

/// `web` with 8080:80 and 9999/udp published, echo server on 80.
fn web_lab(v: &Variant, prefix: &str) -> Result<Lab> {
    v.host(prefix)
        .container(
            ContainerSpec::new("web")
                .publish("8080:80")
                .publish("9999:9999/udp"),
        )
        .build()?
        .up()
}

/// A ufw-style host INPUT rule dropping TCP 8080 does not protect the published port: the DNATed connection takes FORWARD, reaches the container with the client's address, and the INPUT drop counts nothing (moby#22054, moby#4737, docker/for-linux#690).
pub fn published_port_bypasses_host_input_rules(v: &Variant) -> Result<()> {
    let lab = web_lab(v, "ufw")?;
    let web = ip_of(&lab, "web");
    let server = lab.container("web")?.tcp_echo_server("0.0.0.0:80")?;
    let drop = input_rule(&lab, v.backend, 8080, "drop")?;
    let before = packets(&lab, &drop)?;
    let ok = syn_reaches_web(&lab, web, INTERNET_CLIENT, WAIT)?;
    ensure(
        &lab,
        ok.is_connected() && server.wait_for_peer_from(INTERNET_CLIENT.into(), WAIT),
        || format!("internet -> host:8080 despite INPUT drop: {ok}"),
    )?;
    expect_not_counted(&lab, &drop, before)
}

/// Docker turning ip_forward on sets the iptables FORWARD policy to DROP, which breaks a libvirt-style NAT whose accept lives in its own nft table: the VM's packets to the internet die on Docker's policy (moby#39439, moby#52612). The nftables backend sets no policy (it requires forwarding on already), so there the VM gets out, masqueraded by libvirt's rule.
pub fn forward_drop_policy_breaks_libvirt_nat(v: &Variant) -> Result<()> {
    let lab = v
        .host("libvirt")
        .container(ContainerSpec::new("web"))
        .lan_peer("vm")
        .build()?
        .up()?;
    let vm_ip = peer_ip(&lab, "vm");
    let vm = lab.node("vm")?;
    vm.add_route(&Route::to("default").via(LAN_HOST.to_string()))?;
    // libvirt's network: its own nft table accepting and masquerading the VM subnet.
    lab.host_node()?
        .load_rules(Backend::Nftables, LIBVIRT_TABLE)?;
    let libvirt = Rule::new(
        "ip libvirt_network",
        "forward",
        &["ip saddr 198.51.100.128/25", "accept"],
    )
    .listed_by(Backend::Nftables);
    let accepted = packets(&lab, &libvirt)?;
    let entering = lab.host_node()?.capture(LAN_BRIDGE)?;
    let outside = lab.internet()?.capture("eth0")?;
    let _echo = lab.internet()?.udp_echo_server(at(SERVER, 53))?;
    let policy_before = match v.backend {
        Backend::Nftables => None,
        _ => Some(forward_policy_packets(&lab)?),
    };
    vm.udp_send(at(SERVER, 53), b"vm-out")?;
    entering
        .expect(udp().src(vm_ip).dst(at(SERVER, 53)).payload("vm-out"))
        .within(WAIT)?;
    expect_counted(&lab, &libvirt, accepted)?;
    match policy_before {
        None => outside
            .expect(udp().src(lab.host_uplink_ip()).payload("vm-out"))
            .within(WAIT)
            .map(|_| ()),
        Some(before) => {
            let after = forward_policy_packets(&lab)?;
            ensure(&lab, after > before, || {
                format!(
                    "Docker's FORWARD DROP policy did not count the VM's packet ({before} -> {after})"
                )
            })?;
            outside
                .expect_none(
                    udp().payload("vm-out"),
                    Sentinel::udp(&lab.host_node()?, format!("{SERVER}:9")),
                )
                .within(WAIT)
        }
    }
}

/// With Docker on iptables-legacy, a user's own nft table dropping TCP to the containers still decides: Docker's legacy rules DNAT and would accept the connection, but the nft forward hook drops it, and `iptables -L` (nft) shows none of Docker's rules (moby/libnetwork#2331, moby#46147).
pub fn nft_table_drops_what_legacy_docker_accepted(v: &Variant) -> Result<()> {
    let lab = web_lab(v, "split")?;
    let web = ip_of(&lab, "web");
    let _server = lab.container("web")?.tcp_echo_server("0.0.0.0:80")?;
    lab.host_node()?.load_rules(
        Backend::Nftables,
        "table ip firewall {\n chain forward {\n  type filter hook forward priority filter; policy accept;\n  ip daddr 172.17.0.0/16 tcp dport 80 counter drop\n }\n}\n",
    )?;
    let nft_drop =
        Rule::new("ip firewall", "forward", &["tcp dport 80", "drop"]).listed_by(Backend::Nftables);
    let dnat = dnat_rule(v.backend, 8080);
    let (dropped, dnated) = (packets(&lab, &nft_drop)?, packets(&lab, &dnat)?);
    let inside = lab.container("web")?.capture("eth0")?;
    let uplink = lab.host_uplink_ip();
    let cut = lab
        .internet()?
        .tcp_connect(at(uplink, 8080), std::time::Duration::from_millis(300))?;
    expect_counted(&lab, &dnat, dnated)?;
    expect_counted(&lab, &nft_drop, dropped)?;
    lab.internet()?
        .udp_send(at(uplink, 9999), b"split-sentinel")?;
    inside
        .expect_none(
            tcp().dst(at(web, 80)).flags(TcpFlags::SYN),
            Sentinel::packet(udp().dst(at(web, 9999)).payload("split-sentinel")),
        )
        .within(WAIT)?;
    let nft_view = lab.host_node()?.rules(Backend::IptablesNft)?;
    ensure(
        &lab,
        !cut.is_connected() && !nft_view.contains("DNAT"),
        || format!("connected: {cut}; iptables-nft's view of the host: {nft_view}"),
    )
}

/// A user's nftables.conf that starts with `flush ruleset` wipes every nft-based rule, Docker's included (docker/for-linux#1472): the published port is no longer DNATed — docker-proxy still answers, so the container sees 172.17.0.1 instead of the client — and containers' traffic leaves unmasqueraded. Docker on iptables-legacy keeps its rules (they live in x_tables): the client is DNATed as before.
pub fn flush_ruleset_wipes_docker_rules(v: &Variant) -> Result<()> {
    let lab = web_lab(v, "flush")?;
    let web = ip_of(&lab, "web");
    let server = lab.container("web")?.tcp_echo_server("0.0.0.0:80")?;
    lab.host_node()?.load_rules(
        Backend::Nftables,
        "flush ruleset\ntable inet filter {\n chain input {\n  type filter hook input priority filter; policy accept;\n }\n}\n",
    )?;
    let inside = lab.container("web")?.capture("eth0")?;
    let outside = lab.internet()?.capture("eth0")?;
    let uplink = lab.host_uplink_ip();
    let syn = tcp().dst(at(web, 80)).flags(TcpFlags::SYN);
    let ok = lab.internet()?.tcp_connect(at(uplink, 8080), WAIT)?;
    ensure(&lab, ok.is_connected(), || {
        format!("internet -> host:8080: {ok}")
    })?;
    lab.container("web")?
        .udp_send(at(SERVER, 53), b"after-flush")?;
    let out = udp().dst(at(SERVER, 53)).payload("after-flush");
    if v.backend == Backend::IptablesLegacy {
        inside.expect(syn.src(INTERNET_CLIENT)).within(WAIT)?;
        outside.expect(out.src(uplink)).within(WAIT)?;
        return ensure(
            &lab,
            server.wait_for_peer_from(INTERNET_CLIENT.into(), WAIT),
            || {
                format!(
                    "web saw {:?}, want the client {INTERNET_CLIENT}",
                    server.peers()
                )
            },
        );
    }
    let rules = lab.docker("host")?.rules()?;
    ensure(
        &lab,
        !rules.contains("DNAT") && !rules.contains("dnat"),
        || format!("Docker's DNAT survived `flush ruleset`:\n{rules}"),
    )?;
    inside.expect(syn.src(crate::local::GATEWAY)).within(WAIT)?;
    outside.expect(out.src(web)).within(WAIT)?;
    ensure(
        &lab,
        server.wait_for_peer_from(crate::local::GATEWAY.into(), WAIT),
        || {
            format!(
                "web saw {:?}, want docker-proxy's 172.17.0.1",
                server.peers()
            )
        },
    )
}

/// A user's rule on the published port never matches in FORWARD (docker/docs#12925, chaifeng/ufw-docker#108): DOCKER-USER (or, under nftables, the user's own forward chain) sees the packet after Docker's DNAT, with the container's port 80, so `--dport 8080 -j DROP` counts nothing and the internet connects; only the original destination in conntrack (`--ctorigdstport 8080`, `ct original proto-dst 8080`) still names 8080. Every layout and backend.
pub fn user_rule_on_published_port_never_matches(v: &Variant) -> Result<()> {
    let lab = web_lab(v, "dport")?;
    let web = ip_of(&lab, "web");
    let server = lab.container("web")?.tcp_echo_server("0.0.0.0:80")?;
    let ns = lab.host_node()?;
    let (drop, original) = match v.backend {
        Backend::Nftables => {
            ns.load_rules(
                v.backend,
                "table ip user-ports {\n chain forward {\n  type filter hook forward priority filter - 1; policy accept;\n  tcp dport 8080 counter drop\n  meta l4proto tcp ct original proto-dst 8080 counter\n }\n}\n",
            )?;
            (
                Rule::new("ip user-ports", "forward", &["tcp dport 8080", "drop"]),
                Rule::new("ip user-ports", "forward", &["ct original proto-dst 8080"]),
            )
        }
        _ => {
            ns.load_rules(
                v.backend,
                "*filter\n:DOCKER-USER - [0:0]\n-A DOCKER-USER -p tcp -m tcp --dport 8080 -j DROP\n-A DOCKER-USER -p tcp -m conntrack --ctorigdstport 8080\n-A DOCKER-USER -j RETURN\nCOMMIT\n",
            )?;
            (
                Rule::new("filter", "DOCKER-USER", &["--dport 8080 -j DROP"]),
                Rule::new("filter", "DOCKER-USER", &["--ctorigdstport 8080"]),
            )
        }
    };
    let (dropped, seen) = (packets(&lab, &drop)?, packets(&lab, &original)?);
    let ok = syn_reaches_web(&lab, web, INTERNET_CLIENT, WAIT)?;
    ensure(
        &lab,
        ok.is_connected() && server.wait_for_peer_from(INTERNET_CLIENT.into(), WAIT),
        || format!("internet -> host:8080 despite the user's --dport 8080 drop: {ok}"),
    )?;
    expect_counted(&lab, &original, seen)?;
    expect_not_counted(&lab, &drop, dropped)
}

/// `--ip-forward-no-drop` (Docker 28.0) is the fix for Docker's FORWARD DROP policy breaking a libvirt-style NAT (moby#39439, moby#52612): Docker still turns forwarding on but leaves the policy ACCEPT, so the VM's packets get out, masqueraded by libvirt's own rule; the policy counts them as accepted. Classic has no such flag.
pub fn ip_forward_no_drop_keeps_libvirt_nat_working(v: &Variant) -> Result<()> {
    let lab = v
        .host("nodrop")
        .daemon(netrig::docker::DaemonOptions {
            ip_forward_no_drop: true,
            ..v.daemon()
        })
        .container(ContainerSpec::new("web"))
        .lan_peer("vm")
        .build()?
        .up()?;
    let vm = lab.node("vm")?;
    vm.add_route(&Route::to("default").via(LAN_HOST.to_string()))?;
    lab.host_node()?
        .load_rules(Backend::Nftables, LIBVIRT_TABLE)?;
    let counters = lab.docker("host")?.counters()?;
    let policy = counters
        .policy("filter", "FORWARD")
        .map(|p| (p.policy.clone(), p.packets));
    let Some((verdict, before)) = policy else {
        return Err(crate::support::failure(&lab, "no filter FORWARD policy"));
    };
    ensure(&lab, verdict == "ACCEPT", || {
        format!("Docker set the FORWARD policy to {verdict} despite --ip-forward-no-drop")
    })?;
    let outside = lab.internet()?.capture("eth0")?;
    let _echo = lab.internet()?.udp_echo_server(at(SERVER, 53))?;
    vm.udp_send(at(SERVER, 53), b"vm-nodrop")?;
    outside
        .expect(
            udp()
                .src(lab.host_uplink_ip())
                .dst(at(SERVER, 53))
                .payload("vm-nodrop"),
        )
        .within(WAIT)?;
    let after = forward_policy_packets(&lab)?;
    ensure(&lab, after > before, || {
        format!("the FORWARD ACCEPT policy did not count the VM's packet ({before} -> {after})")
    })
}
