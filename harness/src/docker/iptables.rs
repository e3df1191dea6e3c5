//! Rendering a [`DockerHost`] at a step into the iptables [`Ruleset`] Docker
//! leaves behind, for both layouts, by replaying Docker's operations in
//! creation order:
//!
//! - Classic (20.10–27.x, docker-rules §1.1, libnetwork `setupIPChains`,
//!   `setupIPTablesInternal`, `ProgramChain`, `setINC`, `Forward`,
//!   `arrangeUserFilterRule`): per-network rules are *inserted* (newest network
//!   on top), per-port rules *appended*, `icc=false` DROPs appended to FORWARD.
//!   A daemon restart keeps FORWARD and POSTROUTING, refills the chains it
//!   flushed in network-id order and re-creates the default bridge on top
//!   (`removeIPChains`, `populateNetworks`, `initNetworkController`).
//! - V28 and V29: in `modern.rs`, which shares these helpers.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::container::{Attachment, Container};
use super::host::{DockerHost, Event, Happening};
use super::network::{Family, Network};
use super::port::PortBinding;
use super::ruleset::{Replay, Ruleset, Table};

pub(crate) const STAGE1: &str = "DOCKER-ISOLATION-STAGE-1";
pub(crate) const STAGE2: &str = "DOCKER-ISOLATION-STAGE-2";

/// A published port as programmed in one address family: the binding with
/// its effective host address, the container address it forwards to, and
/// the attachment that carries it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mapping<'a> {
    pub(crate) port: PortBinding,
    /// The host address (`None`: any address of the family).
    pub(crate) host_ip: Option<IpAddr>,
    /// The container's address in the mapping's family.
    pub(crate) ip: IpAddr,
    pub(crate) att: &'a Attachment,
}

impl Mapping<'_> {
    /// The mapping's address family.
    pub(crate) fn family(&self) -> Family {
        Family::of(self.ip)
    }
}

/// Whether binding `p` (host address `host_ip`, or the network's default
/// `binding`) has a host side in family `fam` (moby
/// `configurePortBindingIPv4/IPv6`): an address of that family, or none
/// and no IPv4 default binding address in the way of IPv6.
pub(crate) fn binds_in(host_ip: Option<IpAddr>, binding: Option<Ipv4Addr>, fam: Family) -> bool {
    match (host_ip, fam) {
        (Some(ip), _) => Family::of(ip) == fam,
        (None, Family::V4) => true,
        (None, Family::V6) => binding.is_none_or(|b| b.is_unspecified()),
    }
}

/// The IPv4 port mappings Docker programs for a container.
pub(crate) fn mappings<'a>(host: &'a DockerHost, c: &'a Container) -> Vec<Mapping<'a>> {
    mappings_in(host, c, Family::V4)
}

/// The port mappings Docker programs for a container in family `fam`: its
/// ports on the attachment that carries them (none on internal networks;
/// in IPv6 only where the container has an IPv6 address there).
pub(crate) fn mappings_in<'a>(
    host: &'a DockerHost,
    c: &'a Container,
    fam: Family,
) -> Vec<Mapping<'a>> {
    let Some(att) = c.gateway_attachment(host.layout()) else {
        return Vec::new();
    };
    if att.internal {
        return Vec::new();
    }
    let Some(ip) = att.ip_in(fam) else {
        return Vec::new();
    };
    let binding = host.network(&att.network).and_then(|n| n.host_binding);
    c.ports
        .iter()
        .filter(|p| binds_in(p.host_ip, binding, fam))
        .map(|p| Mapping {
            port: *p,
            host_ip: p
                .host_ip
                .or(binding.map(IpAddr::V4).filter(|_| fam == Family::V4))
                .filter(|ip| !ip.is_unspecified()),
            ip,
            att,
        })
        .collect()
}

/// The IPv4 port mappings whose firewall rules Docker programs.
pub(crate) fn rule_mappings<'a>(host: &'a DockerHost, c: &'a Container) -> Vec<Mapping<'a>> {
    rule_mappings_in(host, c, Family::V4)
}

/// The port mappings whose firewall rules Docker programs for a container
/// in family `fam`: [`mappings_in`], plus from 29.0 its ports on every other
/// `routed` network it is attached to (moby #50140: routed bindings are set
/// up per endpoint, gateway or not; they map no host port, so no proxy and
/// no DNAT).
pub(crate) fn rule_mappings_in<'a>(
    host: &'a DockerHost,
    c: &'a Container,
    fam: Family,
) -> Vec<Mapping<'a>> {
    let mut out = mappings_in(host, c, fam);
    if !host.daemon().routed_ports_on_every_endpoint() {
        return out;
    }
    let gateway = c.gateway_attachment(host.layout());
    for att in c.attachments() {
        let routed = host
            .network(&att.network)
            .and_then(|n| n.in_family(fam))
            .is_some_and(|(_, n)| n.routed());
        if !routed || att.internal || gateway.is_some_and(|g| g.network == att.network) {
            continue;
        }
        let Some(ip) = att.ip_in(fam) else { continue };
        out.extend(
            c.ports
                .iter()
                .filter(|p| binds_in(p.host_ip, None, fam))
                .map(|p| Mapping {
                    port: *p,
                    host_ip: p.host_ip.filter(|ip| !ip.is_unspecified()),
                    ip,
                    att,
                }),
        );
    }
    out
}

pub(crate) fn dport(p: &PortBinding, port: u16) -> String {
    format!("-p {0} -m {0} --dport {port}", p.proto)
}

pub(crate) fn dnat_rule(m: &Mapping, proxy: bool) -> String {
    // 28+: ip6tables DNAT never takes link-local sources (moby `setPerPortNAT`).
    dnat_rule_with(m, proxy, m.family() == Family::V6)
}

/// [`dnat_rule`], with `! -s fe80::/10` or without (Docker 20.10).
fn dnat_rule_with(m: &Mapping, proxy: bool, skip_link_local: bool) -> String {
    let s = if skip_link_local {
        "! -s fe80::/10 "
    } else {
        ""
    };
    let d = m
        .host_ip
        .map(|ip| format!("-d {} ", Family::host(ip)))
        .unwrap_or_default();
    let i = if proxy {
        format!("! -i {} ", m.att.bridge)
    } else {
        String::new()
    };
    format!(
        "{s}{d}{i}{} -j DNAT --to-destination {}",
        dport(&m.port, m.port.host_port),
        SocketAddr::new(m.ip, m.port.container_port)
    )
}

pub(crate) fn accept_rule(m: &Mapping) -> String {
    format!(
        "-d {} ! -i {br} -o {br} {} -j ACCEPT",
        Family::host(m.ip),
        dport(&m.port, m.port.container_port),
        br = m.att.bridge
    )
}

pub(crate) fn hairpin_masq_rule(m: &Mapping) -> String {
    format!(
        "-s {ip} -d {ip} {} -j MASQUERADE",
        dport(&m.port, m.port.container_port),
        ip = Family::host(m.ip)
    )
}

pub(crate) fn nat_jumps(r: &mut Replay, proxy: bool) {
    nat_jumps_in(r, proxy, Family::V4)
}

/// The nat jumps to `DOCKER` in one family's table (loopback excluded from
/// OUTPUT while the proxy serves it: `127.0.0.0/8`, `::1/128`).
fn nat_jumps_in(r: &mut Replay, proxy: bool, fam: Family) {
    r.append_unique(
        Table::Nat,
        "PREROUTING",
        "-m addrtype --dst-type LOCAL -j DOCKER",
    );
    let out = match (proxy, fam) {
        (true, Family::V4) => "! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER",
        (true, Family::V6) => "! -d ::1/128 -m addrtype --dst-type LOCAL -j DOCKER",
        (false, _) => "-m addrtype --dst-type LOCAL -j DOCKER",
    };
    r.append_unique(Table::Nat, "OUTPUT", out);
}

/// Renders the classic (20.10 – 27.x) ruleset at `step`.
pub(crate) fn classic(host: &DockerHost, step: usize) -> Ruleset {
    classic_replay(host, step).finish()
}

/// The classic rules at `step` as Docker's operations leave them: replayed
/// from the daemon's first start, or from the state right before the last
/// daemon restart, then [`classic_restart`] and what happened since.
fn classic_replay(host: &DockerHost, step: usize) -> Replay {
    let step = step.min(host.last_step());
    let last_restart = host.events()[..step]
        .iter()
        .rposition(|e| matches!(e, Event::RestartDaemon));
    let Some(before) = last_restart else {
        let mut r = Replay::new(&[Table::Nat, Table::Filter], host.existing_rules());
        classic_driver_init(&mut r, host);
        for h in host.timeline(step) {
            classic_happening(&mut r, host, h);
        }
        return r;
    };
    let mut r = classic_replay(host, before);
    let stopped = host.timeline(before);
    let restored = host.timeline(before + 1);
    classic_restart(&mut r, host, &stopped, &restored);
    for h in host.timeline(step).into_iter().skip(restored.len()) {
        classic_happening(&mut r, host, h);
    }
    r
}

/// Driver init (`setupIPChains`): the chains, their RETURN rules, the jump.
fn classic_driver_init(r: &mut Replay, host: &DockerHost) {
    r.new_chain(Table::Nat, "DOCKER");
    r.new_chain(Table::Filter, "DOCKER");
    r.new_chain(Table::Filter, STAGE1);
    r.new_chain(Table::Filter, STAGE2);
    r.append_unique(Table::Filter, STAGE1, "-j RETURN");
    r.append_unique(Table::Filter, STAGE2, "-j RETURN");
    r.ensure_top(Table::Filter, "FORWARD", format!("-j {STAGE1}"));
    if host.daemon().forward_policy_drop() {
        r.policy(Table::Filter, "FORWARD", "DROP");
    }
}

/// A network created (`CreateNetwork` in the bridge driver, then
/// `arrangeUserFilterRule`) or a container started (its ports).
fn classic_happening(r: &mut Replay, host: &DockerHost, h: Happening<'_>) {
    let proxy = host.daemon().userland_proxy;
    match h {
        Happening::Network(n) => {
            classic_network(r, n, proxy);
            arrange_user_filter_rule(r);
        }
        Happening::Container(c) => classic_container(r, host, c, proxy),
    }
}

/// libnetwork's `arrangeUserFilterRule`, after every network creation.
fn arrange_user_filter_rule(r: &mut Replay) {
    r.new_chain(Table::Filter, "DOCKER-USER");
    r.append_unique(Table::Filter, "DOCKER-USER", "-j RETURN");
    r.ensure_top(Table::Filter, "FORWARD", "-j DOCKER-USER");
}

/// A 20.10 daemon restart over the rules the old daemon left (recorded in
/// `tests/data/real-docker/restart`; libnetwork v20.10.24):
///
/// 1. shutdown: the containers stop and release their ports (DNAT, per-port
///    ACCEPT, hairpin MASQUERADE go);
/// 2. bridge driver `configure`: `removeIPChains` deletes the nat
///    PREROUTING/OUTPUT jumps to `DOCKER` and flushes nat `DOCKER`, filter
///    `DOCKER` and both isolation chains (the FORWARD and POSTROUTING rules
///    stay); `setupIPChains` puts the RETURN rules back;
/// 3. `populateNetworks`: every stored network is set up again as at
///    creation — each rule inserted only if missing (`programChainRule`,
///    `ProgramRule` check `iptables.Exists`), so FORWARD and POSTROUTING keep
///    their order while the flushed chains are refilled network by network,
///    in the order `restored` lists them (by id);
/// 4. `initNetworkController`: the stale default bridge is deleted (its
///    clean-up functions delete its rules) and created again, so its rules
///    land on top, then `arrangeUserFilterRule`.
///
/// The default bridge's place in step 3 leaves no trace: step 4 deletes what
/// it inserted.
fn classic_restart(
    r: &mut Replay,
    host: &DockerHost,
    stopped: &[Happening<'_>],
    restored: &[Happening<'_>],
) {
    let proxy = host.daemon().userland_proxy;
    for h in stopped {
        let Happening::Container(c) = h else { continue };
        for m in mappings(host, c) {
            r.delete(Table::Nat, "DOCKER", &dnat_rule(&m, proxy));
            r.delete(Table::Filter, "DOCKER", &accept_rule(&m));
            r.delete(Table::Nat, "POSTROUTING", &hairpin_masq_rule(&m));
        }
    }
    // removeIPChains (ChainInfo.Remove: jumps out of nat, -F, -X where unreferenced).
    r.delete(Table::Filter, "FORWARD", "-j DOCKER-ISOLATION");
    r.delete(
        Table::Nat,
        "PREROUTING",
        "-m addrtype --dst-type LOCAL -j DOCKER",
    );
    for out in [
        "! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER",
        "-m addrtype --dst-type LOCAL -j DOCKER",
    ] {
        r.delete(Table::Nat, "OUTPUT", out);
    }
    r.flush(Table::Nat, "DOCKER");
    for c in ["DOCKER", STAGE1, STAGE2] {
        r.flush(Table::Filter, c);
    }
    classic_driver_init(r, host);
    let default = restored.iter().find_map(|h| match h {
        Happening::Network(n) if n.is_default => Some(*n),
        _ => None,
    });
    for h in restored {
        if let Happening::Network(n) = h {
            classic_network(r, n, proxy);
        }
    }
    if let Some(n) = default {
        classic_network_delete(r, n, proxy);
        classic_happening(r, host, Happening::Network(n));
    }
}

/// A bridge network's clean-up functions (`deleteNetwork`): what
/// [`classic_network`] inserted, except the nat jumps and the FORWARD jump to
/// STAGE-1, which stay.
fn classic_network_delete(r: &mut Replay, n: &Network, proxy: bool) {
    let br = n.bridge.as_str();
    let sub = n.subnet;
    let icc = if n.icc { "ACCEPT" } else { "DROP" };
    r.delete(
        Table::Filter,
        "FORWARD",
        &format!("-i {br} -o {br} -j {icc}"),
    );
    if n.internal {
        r.delete(
            Table::Filter,
            STAGE1,
            &format!("! -d {sub} -i {br} -j DROP"),
        );
        r.delete(
            Table::Filter,
            STAGE1,
            &format!("! -s {sub} -o {br} -j DROP"),
        );
        return;
    }
    // setupIPTablesInternal(…, false): the same conditions as when inserting.
    if n.ip_masq {
        r.delete(
            Table::Nat,
            "POSTROUTING",
            &format!("-s {sub} ! -o {br} -j MASQUERADE"),
        );
    }
    if n.ip_masq && proxy {
        r.delete(Table::Nat, "DOCKER", &format!("-i {br} -j RETURN"));
    }
    if !proxy {
        r.delete(
            Table::Nat,
            "POSTROUTING",
            &format!("-o {br} -m addrtype --src-type LOCAL -j MASQUERADE"),
        );
    }
    for rule in [
        format!("-i {br} ! -o {br} -j ACCEPT"),
        format!("-o {br} -j DOCKER"),
        format!("-o {br} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"),
    ] {
        r.delete(Table::Filter, "FORWARD", &rule);
    }
    r.delete(
        Table::Filter,
        STAGE1,
        &format!("-i {br} ! -o {br} -j {STAGE2}"),
    );
    r.delete(Table::Filter, STAGE2, &format!("-o {br} -j DROP"));
}

/// A container start (classic): per published port, a DNAT, an ACCEPT and
/// the hairpin MASQUERADE, each appended.
pub(crate) fn classic_container(r: &mut Replay, host: &DockerHost, c: &Container, proxy: bool) {
    classic_container_in(r, host, c, proxy, Family::V4)
}

/// A container start in one family's table (classic). Recorded for 20.10.24
/// (`-p 8080:80 -p [::1]:8081:80 -p 127.0.0.1:8082:80`): the bindings of one
/// container port are programmed last given first, and the ACCEPT and the
/// hairpin MASQUERADE, the same for all of them, once.
fn classic_container_in(
    r: &mut Replay,
    host: &DockerHost,
    c: &Container,
    proxy: bool,
    fam: Family,
) {
    for m in classic_order(mappings_in(host, c, fam)) {
        r.append(Table::Nat, "DOCKER", dnat_rule_with(&m, proxy, false));
        r.append_unique(Table::Filter, "DOCKER", accept_rule(&m));
        r.append_unique(Table::Nat, "POSTROUTING", hairpin_masq_rule(&m));
    }
}

/// `ms` grouped by container port (groups in order of first appearance),
/// each group in reverse order.
fn classic_order(ms: Vec<Mapping<'_>>) -> Vec<Mapping<'_>> {
    let mut groups: Vec<Vec<Mapping<'_>>> = Vec::new();
    for m in ms {
        let key = (m.port.container_port, m.port.proto);
        match groups
            .iter_mut()
            .find(|g| (g[0].port.container_port, g[0].port.proto) == key)
        {
            Some(g) => g.insert(0, m),
            None => groups.push(vec![m]),
        }
    }
    groups.into_iter().flatten().collect()
}

/// The classic ip6tables rules at `step` (20.10's experimental
/// `--ip6tables`; recorded for 20.10.24, `tests/data/real-docker-ipv6/20.10.24`):
/// the IPv4 code path with each IPv6 network's subnet and the containers'
/// IPv6 addresses — no `DOCKER-USER` (20.10 makes it in iptables only), no
/// `! -s fe80::/10` on DNAT. Daemon restarts are refused with IPv6 rules.
pub(crate) fn classic6(host: &DockerHost, step: usize) -> Ruleset {
    let proxy = host.daemon().userland_proxy;
    let mut r = Replay::new(&[Table::Nat, Table::Filter], None);
    r.new_chain(Table::Nat, "DOCKER");
    r.new_chain(Table::Filter, "DOCKER");
    r.new_chain(Table::Filter, STAGE1);
    r.new_chain(Table::Filter, STAGE2);
    r.append_unique(Table::Filter, STAGE1, "-j RETURN");
    r.append_unique(Table::Filter, STAGE2, "-j RETURN");
    r.ensure_top(Table::Filter, "FORWARD", format!("-j {STAGE1}"));
    if host.forward6_policy_drop() {
        r.policy(Table::Filter, "FORWARD", "DROP");
    }
    for h in host.timeline(step) {
        match h {
            Happening::Network(n) => {
                if let Some((sub, n6)) = n.in_family(Family::V6) {
                    classic_network_in(&mut r, &n6, &sub, proxy, Family::V6);
                }
            }
            Happening::Container(c) => classic_container_in(&mut r, host, c, proxy, Family::V6),
        }
    }
    r.finish()
}

fn classic_icc(r: &mut Replay, br: &str, icc: bool) {
    let accept = format!("-i {br} -o {br} -j ACCEPT");
    let drop = format!("-i {br} -o {br} -j DROP");
    if icc {
        r.delete(Table::Filter, "FORWARD", &drop);
        r.insert(Table::Filter, "FORWARD", accept);
    } else {
        r.delete(Table::Filter, "FORWARD", &accept);
        r.append_unique(Table::Filter, "FORWARD", drop);
    }
}

fn classic_network(r: &mut Replay, n: &Network, proxy: bool) {
    classic_network_in(r, n, &n.subnet.to_string(), proxy, Family::V4)
}

/// A network's rules in one family's table (`sub`: its subnet there).
fn classic_network_in(r: &mut Replay, n: &Network, sub: &str, proxy: bool, fam: Family) {
    let br = n.bridge.as_str();
    if n.internal {
        // setupInternalNetworkRules: DROP INCOMING, DROP OUTGOING, then ICC.
        r.insert(Table::Filter, STAGE1, format!("! -d {sub} -i {br} -j DROP"));
        r.insert(Table::Filter, STAGE1, format!("! -s {sub} -o {br} -j DROP"));
        classic_icc(r, br, n.icc);
    } else {
        // setupIPTablesInternal.
        if n.ip_masq {
            r.insert(
                Table::Nat,
                "POSTROUTING",
                format!("-s {sub} ! -o {br} -j MASQUERADE"),
            );
        }
        if n.ip_masq && proxy {
            r.insert(Table::Nat, "DOCKER", format!("-i {br} -j RETURN"));
        }
        if !proxy {
            r.insert(
                Table::Nat,
                "POSTROUTING",
                format!("-o {br} -m addrtype --src-type LOCAL -j MASQUERADE"),
            );
        }
        classic_icc(r, br, n.icc);
        r.insert(
            Table::Filter,
            "FORWARD",
            format!("-i {br} ! -o {br} -j ACCEPT"),
        );
        // ProgramChain for the nat and filter DOCKER chains.
        nat_jumps_in(r, proxy, fam);
        r.insert(Table::Filter, "FORWARD", format!("-o {br} -j DOCKER"));
        r.insert(
            Table::Filter,
            "FORWARD",
            format!("-o {br} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"),
        );
    }
    r.ensure_top(Table::Filter, "FORWARD", format!("-j {STAGE1}"));
    if !n.internal {
        // setINC: inter-network isolation.
        r.insert(
            Table::Filter,
            STAGE1,
            format!("-i {br} ! -o {br} -j {STAGE2}"),
        );
        r.insert(Table::Filter, STAGE2, format!("-o {br} -j DROP"));
    }
}
