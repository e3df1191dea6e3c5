//! Rendering a [`DockerHost`] at a step into the iptables [`Ruleset`] Docker
//! leaves behind, for both layouts, by replaying Docker's operations in
//! creation order:
//!
//! - Classic (20.10–27.x, docker-rules §1.1, libnetwork `setupIPChains`,
//!   `setupIPTablesInternal`, `ProgramChain`, `setINC`, `Forward`,
//!   `arrangeUserFilterRule`): per-network rules are *inserted* (newest network
//!   on top), per-port rules *appended*, `icc=false` DROPs appended to FORWARD.
//! - V28 and V29: in `modern.rs`, which shares these helpers.

use std::net::Ipv4Addr;

use super::container::{Attachment, Container};
use super::host::{DockerHost, Happening};
use super::network::Network;
use super::port::PortBinding;
use super::ruleset::{Replay, Ruleset, Table};

pub(crate) const STAGE1: &str = "DOCKER-ISOLATION-STAGE-1";
pub(crate) const STAGE2: &str = "DOCKER-ISOLATION-STAGE-2";

/// A published port as programmed: the binding with its effective host
/// address, and the attachment it forwards to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mapping<'a> {
    pub(crate) port: PortBinding,
    pub(crate) host_ip: Option<Ipv4Addr>,
    pub(crate) att: &'a Attachment,
}

/// The port mappings Docker programs for a container: its ports, on the
/// attachment that carries them (none on internal networks).
pub(crate) fn mappings<'a>(host: &'a DockerHost, c: &'a Container) -> Vec<Mapping<'a>> {
    let Some(att) = c.gateway_attachment(host.layout()) else {
        return Vec::new();
    };
    if att.internal {
        return Vec::new();
    }
    let binding = host.network(&att.network).and_then(|n| n.host_binding);
    c.ports
        .iter()
        .map(|p| Mapping {
            port: *p,
            host_ip: p.host_ip.or(binding).filter(|ip| !ip.is_unspecified()),
            att,
        })
        .collect()
}

pub(crate) fn dport(p: &PortBinding, port: u16) -> String {
    format!("-p {0} -m {0} --dport {port}", p.proto)
}

pub(crate) fn dnat_rule(m: &Mapping, proxy: bool) -> String {
    let d = m
        .host_ip
        .map(|ip| format!("-d {ip}/32 "))
        .unwrap_or_default();
    let i = if proxy {
        format!("! -i {} ", m.att.bridge)
    } else {
        String::new()
    };
    format!(
        "{d}{i}{} -j DNAT --to-destination {}:{}",
        dport(&m.port, m.port.host_port),
        m.att.ip,
        m.port.container_port
    )
}

pub(crate) fn accept_rule(m: &Mapping) -> String {
    format!(
        "-d {}/32 ! -i {br} -o {br} {} -j ACCEPT",
        m.att.ip,
        dport(&m.port, m.port.container_port),
        br = m.att.bridge
    )
}

pub(crate) fn hairpin_masq_rule(m: &Mapping) -> String {
    format!(
        "-s {ip}/32 -d {ip}/32 {} -j MASQUERADE",
        dport(&m.port, m.port.container_port),
        ip = m.att.ip
    )
}

pub(crate) fn nat_jumps(r: &mut Replay, proxy: bool) {
    r.append_unique(
        Table::Nat,
        "PREROUTING",
        "-m addrtype --dst-type LOCAL -j DOCKER",
    );
    let out = if proxy {
        "! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER"
    } else {
        "-m addrtype --dst-type LOCAL -j DOCKER"
    };
    r.append_unique(Table::Nat, "OUTPUT", out);
}

/// Renders the classic (20.10 – 27.x) ruleset at `step`.
pub(crate) fn classic(host: &DockerHost, step: usize) -> Ruleset {
    let d = host.daemon();
    let proxy = d.userland_proxy;
    let mut r = Replay::new(&[Table::Nat, Table::Filter], host.existing_rules());
    // Driver init: setupIPChains.
    r.new_chain(Table::Nat, "DOCKER");
    r.new_chain(Table::Filter, "DOCKER");
    r.new_chain(Table::Filter, STAGE1);
    r.new_chain(Table::Filter, STAGE2);
    r.append_unique(Table::Filter, STAGE1, "-j RETURN");
    r.append_unique(Table::Filter, STAGE2, "-j RETURN");
    r.ensure_top(Table::Filter, "FORWARD", format!("-j {STAGE1}"));
    if d.forward_policy_drop() {
        r.policy(Table::Filter, "FORWARD", "DROP");
    }
    for h in host.timeline(step) {
        match h {
            Happening::Network(n) => {
                classic_network(&mut r, n, proxy);
                // arrangeUserFilterRule, after every network creation.
                r.new_chain(Table::Filter, "DOCKER-USER");
                r.append_unique(Table::Filter, "DOCKER-USER", "-j RETURN");
                r.ensure_top(Table::Filter, "FORWARD", "-j DOCKER-USER");
            }
            Happening::Container(c) => classic_container(&mut r, host, c, proxy),
        }
    }
    r.finish()
}

/// A container start (classic): per published port, a DNAT, an ACCEPT and
/// the hairpin MASQUERADE, each appended.
pub(crate) fn classic_container(r: &mut Replay, host: &DockerHost, c: &Container, proxy: bool) {
    for m in mappings(host, c) {
        r.append(Table::Nat, "DOCKER", dnat_rule(&m, proxy));
        r.append(Table::Filter, "DOCKER", accept_rule(&m));
        r.append(Table::Nat, "POSTROUTING", hairpin_masq_rule(&m));
    }
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
    let br = n.bridge.as_str();
    let sub = n.subnet;
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
        nat_jumps(r, proxy);
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
