//! The host's own configuration around Docker's rules: a default-deny
//! INPUT or OUTPUT firewall, a platform's source routing, a distribution's
//! br_netfilter sysctl. The host's settings are data (`scenarios/rules/`)
//! applied after the daemon, as the host applies them.

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::support::{HostLab as _, Up as _};
use netrig::docker::{ContainerSpec, DaemonOptions};
use netrig::expect::{tcp, udp};
use netrig::{Backend, Lab, Result, Sentinel, TcpFlags};

use super::{load_rules_file, rules_path};
use crate::icc::icc_drop_rule;
use crate::local::GATEWAY;
use crate::matrix::Variant;
use crate::support::{
    INTERNET_CLIENT, Rule, WAIT, at, dnat_rule, ensure, expect_counted, expect_not_counted, ip_of,
    packets,
};

/// How long a connection the scenario expects to fail is given.
const CUT: Duration = Duration::from_millis(300);

/// The bridge-netfilter switch of the host's namespace.
const BRIDGE_NF: &str = "net.bridge.bridge-nf-call-iptables";

/// `web` (8080:80, 9999/udp, echo server on 80 started by the caller), and
/// a neighbour `client` on docker0.
fn web_and_client(v: &Variant, prefix: &str) -> Result<Lab> {
    v.host(prefix)
        .container(
            ContainerSpec::new("web")
                .publish("8080:80")
                .publish("9999:9999/udp"),
        )
        .container(ContainerSpec::new("client"))
        .build()?
        .up()
}

/// Loads the host's default-deny firewall for `hook` (`input` or `output`)
/// from `scenarios/rules/host-HOOK-deny.*` with the host's tool, and returns
/// its final drop rule.
fn default_deny(lab: &Lab, v: &Variant, hook: &str) -> Result<Rule> {
    let host = lab.host_node()?;
    match v.backend {
        Backend::Nftables => {
            load_rules_file(&host, v.backend, &format!("host-{hook}-deny.nft"))?;
            Ok(Rule::new(
                "inet host-firewall",
                hook,
                &["drop", "host-default-deny"],
            ))
        }
        b => {
            load_rules_file(&host, b, &format!("host-{hook}-deny.rules"))?;
            Ok(Rule::new(
                "filter",
                hook.to_uppercase(),
                &["--comment host-default-deny -j DROP"],
            ))
        }
    }
}

/// The internet reaches `web`'s published port, DNATed with its own source
/// kept: the contrast the reports draw ("from another host it works").
fn internet_gets_in(lab: &Lab) -> Result<()> {
    let web = ip_of(lab, "web");
    let inside = lab.container("web")?.capture("eth0")?;
    let ok = lab
        .internet()?
        .tcp_connect(at(lab.host_uplink_ip(), 8080), WAIT)?;
    inside
        .expect(
            tcp()
                .src(INTERNET_CLIENT)
                .dst(at(web, 80))
                .flags(TcpFlags::SYN),
        )
        .within(WAIT)?;
    ensure(lab, ok.is_connected(), || {
        format!("internet -> host:8080: {ok}")
    })
}

/// A datagram from the internet to the published 9999/udp, DNATed to
/// `web`: a sentinel that reaches `web` whatever the host's own firewall says.
fn internet_sentinel(lab: &Lab, payload: &'static str) -> Result<Sentinel> {
    let web = ip_of(lab, "web");
    lab.internet()?
        .udp_send(at(lab.host_uplink_ip(), 9999), payload.as_bytes())?;
    Ok(Sentinel::packet(udp().dst(at(web, 9999)).payload(payload)))
}

/// A host firewall that drops incoming traffic by default cuts containers off from ports published on the host while the internet gets in (moby#27817, open since 2016): with the userland proxy a neighbour's connection to the host's address is not DNATed (nat `DOCKER -i docker0 -j RETURN`), so it goes to docker-proxy through INPUT, where the host's default drop counts it and `web` never sees a SYN; the internet's connection is DNATed and forwarded, never meeting INPUT. Every layout and backend.
pub fn host_input_deny_blocks_containers_from_published_port(v: &Variant) -> Result<()> {
    let lab = web_and_client(v, "in-deny")?;
    let web = ip_of(&lab, "web");
    let _server = lab.container("web")?.tcp_echo_server("0.0.0.0:80")?;
    let deny = default_deny(&lab, v, "input")?;
    let dnat = dnat_rule(v.backend, 8080);
    let (denied, dnated) = (packets(&lab, &deny)?, packets(&lab, &dnat)?);
    let inside = lab.container("web")?.capture("eth0")?;
    let cut = lab
        .container("client")?
        .tcp_connect(at(lab.host_uplink_ip(), 8080), CUT)?;
    expect_counted(&lab, &deny, denied)?;
    expect_not_counted(&lab, &dnat, dnated)?;
    inside
        .expect_none(
            tcp().dst(at(web, 80)).flags(TcpFlags::SYN),
            internet_sentinel(&lab, "in-deny-sentinel")?,
        )
        .within(WAIT)?;
    ensure(&lab, !cut.is_connected(), || {
        format!("client -> host:8080 connected through the INPUT deny: {cut}")
    })?;
    let denied = packets(&lab, &deny)?;
    internet_gets_in(&lab)?;
    expect_not_counted(&lab, &deny, denied)
}

/// A host firewall that drops outgoing traffic by default cuts the host off from its own published port on 127.0.0.1 while the internet reaches it (moby#21167, docker/compose#9131): with the userland proxy, 127.0.0.1 is not DNATed, docker-proxy accepts the connection and opens its own to the container from 172.17.0.1 out of docker0 — Docker accepts published ports in FORWARD only — and the host's default drop in OUTPUT counts that SYN, so `web` never sees it. The host's own address works: nat OUTPUT DNATs it, and the filter OUTPUT hook still sees the packet leaving by `lo` (the device is fixed before the DNAT re-routes it), so the firewall's `-o lo` accept lets it through. Every layout and backend.
pub fn host_output_deny_blocks_host_from_published_port(v: &Variant) -> Result<()> {
    let lab = web_and_client(v, "out-deny")?;
    let web = ip_of(&lab, "web");
    let server = lab.container("web")?.tcp_echo_server("0.0.0.0:80")?;
    let deny = default_deny(&lab, v, "output")?;
    let dnat = dnat_rule(v.backend, 8080);
    let (denied, dnated) = (packets(&lab, &deny)?, packets(&lab, &dnat)?);
    let inside = lab.container("web")?.capture("eth0")?;
    let host = lab.host_node()?;
    // docker-proxy accepts the client; its own connection to web is what dies.
    host.tcp_connect(at(Ipv4Addr::LOCALHOST, 8080), CUT)?;
    expect_counted(&lab, &deny, denied)?;
    inside
        .expect_none(
            tcp().src(GATEWAY).dst(at(web, 80)).flags(TcpFlags::SYN),
            internet_sentinel(&lab, "out-deny-sentinel")?,
        )
        .within(WAIT)?;
    expect_not_counted(&lab, &dnat, dnated)?;
    // docker-proxy keeps retrying its SYN (each one counted by the deny), so
    // the own address's way through is proved by web seeing the host's address.
    let uplink = lab.host_uplink_ip();
    let ok = host.tcp_connect(at(uplink, 8080), WAIT)?;
    inside
        .expect(tcp().src(uplink).dst(at(web, 80)).flags(TcpFlags::SYN))
        .within(WAIT)?;
    ensure(
        &lab,
        ok.is_connected() && server.wait_for_peer_from(uplink, WAIT),
        || {
            format!(
                "host -> its own address:8080 through the OUTPUT deny: {ok}; web saw {:?}",
                server.peers()
            )
        },
    )?;
    expect_counted(&lab, &dnat, dnated)?;
    internet_gets_in(&lab)
}

/// With a platform's source routing for the host's own address (Synology DSM's `from <LAN IP> lookup <interface table>`, telnetdoogie/synology-docker#93 on 28.5.2), a host process cannot reach a published port through that address: nat OUTPUT DNATs it (Docker's `! -d 127.0.0.0/8 --dst-type LOCAL` jump, recorded in 20.10.24 and 28.5.2), the re-routed SYN still carries the host's address as source and follows the platform's table out of the uplink toward the gateway instead of docker0; 127.0.0.1 is not DNATed and docker-proxy serves it (the container sees 172.17.0.1), and deleting the OUTPUT jump — the reporter's workaround — lets docker-proxy serve the host's address too. Every layout and backend (the userland proxy on).
pub fn source_routed_host_cannot_reach_own_published_port(v: &Variant) -> Result<()> {
    let lab = web_and_client(v, "srcroute")?;
    let web = ip_of(&lab, "web");
    let server = lab.container("web")?.tcp_echo_server("0.0.0.0:80")?;
    let host = lab.host_node()?;
    host.command("ip")
        .arg("-batch")
        .arg(rules_path("dsm-source-route.ip"))
        .checked_output()?;
    let uplink = lab.host_uplink_ip();
    let dnat = dnat_rule(v.backend, 8080);
    let dnated = packets(&lab, &dnat)?;
    let inside = lab.container("web")?.capture("eth0")?;
    let outside = lab.internet()?.capture("eth0")?;
    let syn = tcp().src(uplink).dst(at(web, 80)).flags(TcpFlags::SYN);
    let cut = host.tcp_connect(at(uplink, 8080), CUT)?;
    outside.expect(syn.clone()).within(WAIT)?;
    expect_counted(&lab, &dnat, dnated)?;
    inside
        .expect_none(syn, internet_sentinel(&lab, "srcroute-sentinel")?)
        .within(WAIT)?;
    ensure(&lab, !cut.is_connected(), || {
        format!("host -> its own address:8080 connected despite the source route: {cut}")
    })?;
    let local = host.tcp_connect(at(Ipv4Addr::LOCALHOST, 8080), WAIT)?;
    ensure(
        &lab,
        local.is_connected() && server.wait_for_peer_from(GATEWAY.into(), WAIT),
        || {
            format!(
                "host -> 127.0.0.1:8080: {local}; web saw {:?}",
                server.peers()
            )
        },
    )?;
    match v.backend {
        Backend::Nftables => {
            host.load_rules(v.backend, "flush chain ip docker-bridges nat-OUTPUT\n")?
        }
        b => host.load_rules(
            b,
            "*nat\n-D OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER\nCOMMIT\n",
        )?,
    }
    let dnated = packets(&lab, &dnat)?;
    let served = server.peers().len();
    let ok = host.tcp_connect(at(uplink, 8080), WAIT)?;
    ensure(
        &lab,
        ok.is_connected() && server.wait_for_peers(served + 1, WAIT).is_ok(),
        || {
            format!(
                "host -> its own address:8080 without the OUTPUT jump: {ok}; web saw {:?}",
                server.peers()
            )
        },
    )?;
    ensure(
        &lab,
        server
            .peers()
            .iter()
            .all(|p| p.ip() == std::net::IpAddr::from(GATEWAY)),
        || {
            format!(
                "docker-proxy should connect from 172.17.0.1; web saw {:?}",
                server.peers()
            )
        },
    )?;
    expect_not_counted(&lab, &dnat, dnated)
}

/// icc=false stops isolating containers once `net.bridge.bridge-nf-call-iptables` is back at 0 (moby#12071, moby#11404: the Fedora/RHEL default, re-applied by the distribution's sysctl.d after the daemon started): same-bridge frames then never reach iptables' or nft's forward hook, Docker's ICC drop counts nothing and `client` connects to `web` with its own address. Docker turns the switch on itself when it starts with icc=false (it was 0 before the daemon here), and while it stays on the ICC drop counts the neighbour's datagram. Every layout and backend.
pub fn icc_false_ignored_when_bridge_netfilter_is_reset(v: &Variant) -> Result<()> {
    let lab = v
        .host("brnf-reset")
        .daemon(DaemonOptions {
            icc: false,
            ..v.daemon()
        })
        .existing_sysctl(BRIDGE_NF, "0")
        .container(ContainerSpec::new("web"))
        .container(ContainerSpec::new("client"))
        .build()?
        .up()?;
    let (web, client) = (ip_of(&lab, "web"), ip_of(&lab, "client"));
    let host = lab.host_node()?;
    let switch = host.sysctl_get(BRIDGE_NF)?;
    ensure(&lab, switch == "1", || {
        format!("Docker with icc=false left {BRIDGE_NF} = {switch}")
    })?;
    let icc = icc_drop_rule(v, "docker0");
    let before = packets(&lab, &icc)?;
    lab.container("client")?
        .udp_send(at(web, 7), b"icc-while-on")?;
    let dropped = expect_counted(&lab, &icc, before)?;
    host.sysctl_set(BRIDGE_NF, "0")?;
    let server = lab.container("web")?.tcp_echo_server("0.0.0.0:80")?;
    let inside = lab.container("web")?.capture("eth0")?;
    let ok = lab.container("client")?.tcp_connect(at(web, 80), WAIT)?;
    inside
        .expect(tcp().src(client).dst(at(web, 80)).flags(TcpFlags::SYN))
        .within(WAIT)?;
    ensure(
        &lab,
        ok.is_connected() && server.wait_for_peer_from(client.into(), WAIT),
        || format!("client -> web:80 with icc=false and {BRIDGE_NF} = 0: {ok}"),
    )?;
    expect_not_counted(&lab, &icc, dropped)
}
