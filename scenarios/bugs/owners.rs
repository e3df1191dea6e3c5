//! Two firewall owners in one namespace: the other owner's rules are data
//! (`scenarios/rules/`), loaded with the real tools next to Docker's — after
//! the daemon (a platform firewall's rewrite, a second dockerd, firewalld)
//! or before it (ufw, through `existing_rules_file`, as `[before]` rules).

use crate::support::{HostLab as _, Up as _};
use netrig::docker::{ContainerSpec, Layout};
use netrig::expect::{tcp, udp};
use netrig::{Backend, Lab, Result, Sentinel, TcpFlags};

use super::{
    expect_policy_counted, iptables_of, load_rules_file, policy_packets, rules_path,
    syn_reaches_web,
};
use crate::matrix::Variant;
use crate::support::{
    INTERNET_CLIENT, Rule, SERVER, WAIT, at, dnat_rule, ensure, expect_counted, expect_not_counted,
    ip_of, packets, peer_ip,
};

/// `web` on docker0 with 8080:80 published.
fn web_lab(v: &Variant, prefix: &str) -> Result<Lab> {
    v.host(prefix)
        .container(ContainerSpec::new("web").publish("8080:80"))
        .build()?
        .up()
}

/// `web` sends a datagram to the internet server: it enters the host on
/// docker0 and is dropped there by the filter FORWARD policy as `tool`
/// lists it; nothing leaves by the uplink (a host-sent sentinel does).
fn egress_dropped_by_policy(lab: &Lab, tool: Backend, payload: &str) -> Result<()> {
    let web = ip_of(lab, "web");
    let host = lab.host_node()?;
    let before = policy_packets(lab, tool)?;
    let entering = host.capture("docker0")?;
    let outside = lab.internet()?.capture("eth0")?;
    lab.container("web")?
        .udp_send(at(SERVER, 53), payload.as_bytes())?;
    entering
        .expect(udp().src(web).dst(at(SERVER, 53)).payload(payload))
        .within(WAIT)?;
    expect_policy_counted(lab, tool, before)?;
    outside
        .expect_none(
            udp().payload(payload),
            Sentinel::udp(&host, format!("{SERVER}:9")),
        )
        .within(WAIT)
}

/// A platform firewall that rewrites FORWARD after Docker started (Synology DSM, telnetdoogie/synology-docker#66 on 29.4.1) cuts every container's egress under its policy DROP: on 28+ the jump to DOCKER-FORWARD goes and the chain is left with 0 references, its accept for docker0 counting nothing; classic loses its per-bridge FORWARD rules the same way; with Docker on nftables, the platform's iptables policy drops the packet whatever Docker's own table accepts.
pub fn platform_firewall_orphans_docker_forward(v: &Variant) -> Result<()> {
    let lab = web_lab(v, "platform")?;
    let tool = iptables_of(v);
    let orphan = Rule::new("filter", "DOCKER-FORWARD", &["-i docker0 -j ACCEPT"]);
    let modern_iptables = v.layout != Layout::Classic && v.backend != Backend::Nftables;
    let accepted = match modern_iptables {
        true => Some(packets(&lab, &orphan)?),
        false => None,
    };
    load_rules_file(&lab.host_node()?, tool, "platform-forward.rules")?;
    egress_dropped_by_policy(&lab, tool, "platform-out")?;
    let saved = lab.host_node()?.rules(tool)?;
    if let Some(before) = accepted {
        expect_not_counted(&lab, &orphan, before)?;
        return ensure(
            &lab,
            saved.contains(":DOCKER-FORWARD") && !saved.contains("-j DOCKER-FORWARD"),
            || format!("DOCKER-FORWARD is not orphaned:\n{saved}"),
        );
    }
    ensure(
        &lab,
        !saved.contains("-i docker0 ! -o docker0 -j ACCEPT"),
        || format!("a FORWARD accept for docker0 survived the rewrite:\n{saved}"),
    )
}

/// A second dockerd started in the host's namespace (docker:29.6.0-dind on host networking, getumbrel/umbrel-apps#5802) re-creates DOCKER-FORWARD for its own bridges only: the first daemon's containers lose egress (their `-i docker0 -j ACCEPT` is gone; the FORWARD policy DROP counts the packet), and a client of their published port gets its SYN through DOCKER-BRIDGE but never the answer, which dies on the same policy.
pub fn second_daemon_rewrites_docker_forward(v: &Variant) -> Result<()> {
    let lab = web_lab(v, "dind")?;
    let web = ip_of(&lab, "web");
    let _server = lab.container("web")?.tcp_echo_server("0.0.0.0:80")?;
    load_rules_file(
        &lab.host_node()?,
        v.backend,
        &format!("dind-{}-forward.rules", v.layout),
    )?;
    egress_dropped_by_policy(&lab, v.backend, "dind-out")?;
    let before = policy_packets(&lab, v.backend)?;
    let outside = lab.internet()?.capture("eth0")?;
    let cut = syn_reaches_web(
        &lab,
        web,
        INTERNET_CLIENT,
        std::time::Duration::from_millis(300),
    )?;
    expect_policy_counted(&lab, v.backend, before)?;
    outside
        .expect_none(
            tcp()
                .dst(INTERNET_CLIENT)
                .flags(TcpFlags::SYN | TcpFlags::ACK),
            Sentinel::udp(&lab.host_node()?, format!("{INTERNET_CLIENT}:9")),
        )
        .within(WAIT)?;
    ensure(&lab, !cut.is_connected(), || {
        format!("internet -> host:8080 connected after the second daemon: {cut}")
    })
}

/// With Docker on nftables, a second dockerd started in the host's namespace deletes `table ip docker-bridges` and writes it again for its own bridges (getumbrel/umbrel-apps#5802; moby's nftables code expects the flush): the first daemon's containers leave unmasqueraded, and their published port is no longer DNATed — docker-proxy answers, so the container sees 172.17.0.1 instead of the client.
pub fn second_daemon_replaces_docker_bridges_table(v: &Variant) -> Result<()> {
    let lab = web_lab(v, "dind-nft")?;
    let web = ip_of(&lab, "web");
    let server = lab.container("web")?.tcp_echo_server("0.0.0.0:80")?;
    load_rules_file(
        &lab.host_node()?,
        Backend::Nftables,
        "dind-docker-bridges.nft",
    )?;
    let rules = lab.docker("host")?.rules()?;
    ensure(
        &lab,
        rules.contains("br-dind0") && !rules.contains("dnat to"),
        || format!("the first daemon's table survived the second daemon:\n{rules}"),
    )?;
    let inside = lab.container("web")?.capture("eth0")?;
    let outside = lab.internet()?.capture("eth0")?;
    lab.container("web")?
        .udp_send(at(SERVER, 53), b"dind-nft-out")?;
    outside
        .expect(udp().src(web).dst(at(SERVER, 53)).payload("dind-nft-out"))
        .within(WAIT)?;
    let ok = lab
        .internet()?
        .tcp_connect(at(lab.host_uplink_ip(), 8080), WAIT)?;
    inside
        .expect(
            tcp()
                .src(crate::local::GATEWAY)
                .dst(at(web, 80))
                .flags(TcpFlags::SYN),
        )
        .within(WAIT)?;
    ensure(
        &lab,
        ok.is_connected() && server.wait_for_peer_from(crate::local::GATEWAY.into(), WAIT),
        || {
            format!(
                "internet -> host:8080: {ok}; web saw {:?}, want docker-proxy's 172.17.0.1",
                server.peers()
            )
        },
    )
}

/// firewalld's StrictForwardPorts=yes does not constrain a port Docker publishes when firewalld has a forward-port with the same number (firewalld/firewalld#1536): its accept matches the original destination port alone, so the internet reaches Docker's 8080 although the forward-port was zone "test"'s, to another address; Docker's 9090, which no forward-port names, is rejected as strict mode intends. Every layout and backend: firewalld's table is a base chain of its own.
pub fn firewalld_strict_forward_ports_accept_any_docker_port(v: &Variant) -> Result<()> {
    let lab = v
        .host("strict")
        .container(
            ContainerSpec::new("web")
                .publish("8080:80")
                .publish("9090:90"),
        )
        .build()?
        .up()?;
    let web = ip_of(&lab, "web");
    let server = lab.container("web")?.tcp_echo_server("0.0.0.0:80")?;
    let _other = lab.container("web")?.tcp_echo_server("0.0.0.0:90")?;
    load_rules_file(&lab.host_node()?, Backend::Nftables, "firewalld-strict.nft")?;
    let accept = Rule::new(
        "inet firewalld",
        "filter_FORWARD_dnat",
        &["proto-dst 8080", "accept"],
    )
    .listed_by(Backend::Nftables);
    let reject = Rule::new("inet firewalld", "filter_FORWARD_dnat", &["reject"])
        .listed_by(Backend::Nftables);
    let (accepted, rejected) = (packets(&lab, &accept)?, packets(&lab, &reject)?);
    let inside = lab.container("web")?.capture("eth0")?;
    let uplink = lab.host_uplink_ip();
    let cut = lab
        .internet()?
        .tcp_connect(at(uplink, 9090), std::time::Duration::from_millis(300))?;
    expect_counted(&lab, &reject, rejected)?;
    let ok = lab.internet()?.tcp_connect(at(uplink, 8080), WAIT)?;
    let syn = |port| {
        tcp()
            .src(INTERNET_CLIENT)
            .dst(at(web, port))
            .flags(TcpFlags::SYN)
    };
    inside
        .expect_none(syn(90), Sentinel::packet(syn(80)))
        .within(WAIT)?;
    expect_counted(&lab, &accept, accepted)?;
    ensure(
        &lab,
        ok.is_connected()
            && !cut.is_connected()
            && server.wait_for_peer_from(INTERNET_CLIENT.into(), WAIT),
        || format!("internet -> host:8080: {ok}; -> host:9090: {cut}"),
    )
}

/// ufw's route rules do not stop a published port (chaifeng/ufw-docker, moby#22054): with ufw's FORWARD chains in place before the daemon starts and `ufw route deny … port 80`, Docker puts its own FORWARD rules above ufw's and accepts the DNATed connection first, so ufw's drop counts nothing. With Docker on nftables, ufw's iptables FORWARD chain is a base chain of its own and its drop does stop the connection.
pub fn ufw_route_deny_does_not_stop_published_port(v: &Variant) -> Result<()> {
    let mut host = v
        .host("ufw-route")
        .container(ContainerSpec::new("web").publish("8080:80"));
    if v.backend != Backend::Nftables {
        host = host.existing_rules_file(rules_path("ufw-forward.rules"));
    }
    let lab = host.build()?.up()?;
    let tool = iptables_of(v);
    if v.backend == Backend::Nftables {
        // Separate tables: the order of loading does not matter.
        load_rules_file(&lab.host_node()?, tool, "ufw-forward.rules")?;
    }
    let web = ip_of(&lab, "web");
    let server = lab.container("web")?.tcp_echo_server("0.0.0.0:80")?;
    let deny = Rule::new("filter", "ufw-user-forward", &["--dport 80 -j DROP"]).listed_by(tool);
    let dnat = dnat_rule(v.backend, 8080);
    let (denied, dnated) = (packets(&lab, &deny)?, packets(&lab, &dnat)?);
    let inside = lab.container("web")?.capture("eth0")?;
    let syn = tcp()
        .src(INTERNET_CLIENT)
        .dst(at(web, 80))
        .flags(TcpFlags::SYN);
    let uplink = lab.host_uplink_ip();
    if v.backend != Backend::Nftables {
        let ok = lab.internet()?.tcp_connect(at(uplink, 8080), WAIT)?;
        inside.expect(syn).within(WAIT)?;
        ensure(
            &lab,
            ok.is_connected() && server.wait_for_peer_from(INTERNET_CLIENT.into(), WAIT),
            || format!("internet -> host:8080 despite ufw's route deny: {ok}"),
        )?;
        expect_counted(&lab, &dnat, dnated)?;
        return expect_not_counted(&lab, &deny, denied);
    }
    let cut = lab
        .internet()?
        .tcp_connect(at(uplink, 8080), std::time::Duration::from_millis(300))?;
    expect_counted(&lab, &dnat, dnated)?;
    expect_counted(&lab, &deny, denied)?;
    inside
        .expect_none(syn, Sentinel::udp(&lab.host_node()?, format!("{web}:9")))
        .within(WAIT)?;
    ensure(&lab, !cut.is_connected(), || {
        format!("internet -> host:8080 connected despite ufw's route deny: {cut}")
    })
}

/// A 29 daemon over chains a 28 daemon left (docker/cli#6691, srl-labs/containerlab#2944, 29.1.1): DOCKER-ISOLATION-STAGE-1 is still there, STAGE-2 is gone, and the inter-network rule `network create` adds is refused by iptables with "Chain 'DOCKER-ISOLATION-STAGE-2' does not exist". On 28.x both chains exist: the same rule loads, and the new bridge's traffic to docker0 is dropped by isolation as intended.
pub fn mixed_28_29_chains_refuse_network_create(v: &Variant) -> Result<()> {
    let mut host = v
        .host("mixed")
        .container(ContainerSpec::new("web"))
        .lan_peer("newnet");
    if v.layout == Layout::V29 {
        host = host.existing_rules_file(rules_path("isolation-stage-1-left.rules"));
    }
    let lab = host.build()?.up()?;
    let ns = lab.host_node()?;
    // `network create` for a bridge: the rule of the error message, bridge lan0 standing in.
    let create = "*filter\n-A DOCKER-ISOLATION-STAGE-1 -i lan0 ! -o lan0 -j DOCKER-ISOLATION-STAGE-2\n-I DOCKER-ISOLATION-STAGE-2 -o lan0 -j DROP\nCOMMIT\n";
    let created = ns.load_rules(v.backend, create);
    if v.layout == Layout::V29 {
        let saved = ns.rules(v.backend)?;
        return match created {
            Ok(()) => Err(crate::support::failure(
                &lab,
                &format!("the 28-era rule loaded on a 29 host:\n{saved}"),
            )),
            Err(e) => ensure(
                &lab,
                e.to_string()
                    .contains("Chain 'DOCKER-ISOLATION-STAGE-2' does not exist")
                    && saved.contains(":DOCKER-ISOLATION-STAGE-1")
                    && !saved.contains(":DOCKER-ISOLATION-STAGE-2"),
                || format!("want iptables' \"does not exist\" refusal, got: {e}\n{saved}"),
            ),
        };
    }
    created?;
    // The new "network" (the LAN bridge lan0) is now isolated from docker0.
    let peer_ip = peer_ip(&lab, "newnet");
    let isolation = Rule::new("filter", "DOCKER-ISOLATION-STAGE-2", &["-o lan0 -j DROP"]);
    let isolated = packets(&lab, &isolation)?;
    let lan = lab.node("newnet")?.capture("eth0")?;
    lab.container("web")?
        .udp_send(at(peer_ip, 53), b"mixed-iso")?;
    expect_counted(&lab, &isolation, isolated)?;
    lan.expect_none(
        udp().payload("mixed-iso"),
        Sentinel::udp(&lab.host_node()?, format!("{peer_ip}:9")),
    )
    .within(WAIT)
}
