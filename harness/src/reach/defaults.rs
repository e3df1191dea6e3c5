//! The default cells of a lab. A Docker host's, derived from its model:
//! every source (internet, LAN peers, the host, every bridge-mode container)
//! to every destination (each published port on each host address,
//! 127.0.0.1 — and `::1` on a host with IPv6 networks — from the host;
//! each container address, IPv4 and IPv6, × its published container ports
//! and one port it does not publish; the internet's servers, with ICMP
//! echo). On a host with IPv6 networks the host's IPv6 addresses and the
//! internet's IPv6 server are destinations too. A generic lab's: every node to every destination of each
//! Docker part (as above, on the part host's addresses) and to each echo
//! server the topology starts (its port, and ICMP echo to its address),
//! over both families where the server's node is dual-stack: a server on
//! `10.1.0.2:80` is probed on the IPv6 addresses of the same interface
//! too (the matrix's own server answers there), one on `[::]:80` on every
//! address of its node, one on `0.0.0.0:80` on every IPv4 address.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::cell::{Cell, Service};
use super::target::{Host, Target};
use crate::docker::{DockerHost, HOST_NODE, INTERNET_NODE, Networking};
use crate::error::Result;
use crate::lab::DockerPart;
use crate::lab::Lab;

/// The port the internet's servers listen on for the default cells.
const INTERNET_PORT: u16 = 80;

/// The default cells of `target`, sorted (see the module docs).
pub(crate) fn default_cells(target: &Target<'_>) -> Result<Vec<Cell>> {
    match target.lab().single_host() {
        Some(docker) => docker_cells(target.lab(), docker),
        None => lab_cells(target),
    }
}

/// The default cells of a generic lab: every node (its namespaces, in lab
/// order) to each Docker part's destinations and each declared server.
fn lab_cells(target: &Target<'_>) -> Result<Vec<Cell>> {
    let lab = target.lab();
    let mut dests: BTreeSet<(IpAddr, Service)> = BTreeSet::new();
    let mut cells = Vec::new();
    for h in target.hosts() {
        let (published, loopback) = host_destinations(lab, &h)?;
        dests.extend(published);
        cells.extend(loopback.into_iter().map(|(to, service)| Cell {
            from: h.node.clone(),
            to,
            service,
        }));
    }
    for (node, ip, service) in target.declared_servers() {
        for ip in server_addresses(lab, &node, ip)? {
            dests.insert((ip, service));
            dests.insert((ip, Service::Icmp));
        }
    }
    for from in lab.namespace_names() {
        for (to, service) in &dests {
            cells.push(Cell {
                from: from.clone(),
                to: *to,
                service: *service,
            });
        }
    }
    cells.sort();
    cells.dedup();
    Ok(cells)
}

/// The addresses a declared server of `node` bound to `bind` is probed on:
/// an unspecified address's family (both for `::`, which takes IPv4 too)
/// on every interface; else `bind` and the other family's addresses of
/// its interface. Loopback and link-local addresses are left out.
fn server_addresses(lab: &Lab, node: &str, bind: IpAddr) -> Result<BTreeSet<IpAddr>> {
    let usable = |ip: &IpAddr| {
        !ip.is_loopback()
            && match ip {
                IpAddr::V4(v4) => !v4.is_link_local(),
                IpAddr::V6(v6) => !v6.is_unicast_link_local(),
            }
    };
    let interfaces = lab.node(node)?.interfaces();
    let mut out = BTreeSet::new();
    if bind.is_unspecified() {
        out.extend(
            interfaces
                .iter()
                .flat_map(|i| i.addrs.iter().map(|a| a.addr()))
                .filter(|ip| usable(ip) && (bind.is_ipv6() || ip.is_ipv4())),
        );
        return Ok(out);
    }
    out.insert(bind);
    for i in interfaces
        .iter()
        .filter(|i| i.addrs.iter().any(|a| a.addr() == bind))
    {
        out.extend(
            i.addrs
                .iter()
                .map(|a| a.addr())
                .filter(|ip| usable(ip) && ip.is_ipv6() != bind.is_ipv6()),
        );
    }
    Ok(out)
}

/// Destinations: address and service.
type Destinations = BTreeSet<(IpAddr, Service)>;

/// A Docker host's destinations: each published port on each of its
/// node's addresses and each container's targets; and, apart, the
/// published ports on 127.0.0.1 (from the host alone).
fn host_destinations(lab: &Lab, h: &Host<'_>) -> Result<(Destinations, Destinations)> {
    // Docker binds a published port on both families (`[::]` beside
    // `0.0.0.0`), so a host with IPv6 networks is probed on its IPv6
    // addresses too.
    let ipv6 = h.model.has_ipv6();
    let host_addrs = node_addresses(lab, &h.node, ipv6)?;
    let mut dests = BTreeSet::new();
    let mut loopback = BTreeSet::new();
    for c in h.model.containers() {
        for p in &c.ports {
            let service = Service::of(p.proto, p.host_port);
            for ip in &host_addrs {
                dests.insert((*ip, service));
            }
            loopback.insert((IpAddr::V4(Ipv4Addr::LOCALHOST), service));
            if ipv6 {
                loopback.insert((IpAddr::V6(Ipv6Addr::LOCALHOST), service));
            }
        }
        dests.extend(container_targets(h.model, &c.name));
    }
    Ok((dests, loopback))
}

/// The default cells of a Docker host's lab, with the topology's own
/// (`[matrix] cells`) added, or in their place with `replace_defaults`.
fn docker_cells(lab: &Lab, docker: DockerPart<'_>) -> Result<Vec<Cell>> {
    let extra = &docker.model().matrix_cells();
    let mut cells = if extra.replace_defaults {
        Vec::new()
    } else {
        derived_cells(lab, docker)?
    };
    for text in &extra.cells {
        let (from, to) = text.split_once(" -> ").unwrap_or((text, ""));
        cells.push(Cell::parse(from.trim(), to.trim())?);
    }
    cells.sort();
    cells.dedup();
    Ok(cells)
}

/// The cells derived from the model.
fn derived_cells(lab: &Lab, docker: DockerPart<'_>) -> Result<Vec<Cell>> {
    let model = docker.model();
    let mut sources: Vec<String> = vec![INTERNET_NODE.to_string()];
    sources.extend(model.lan_peers().iter().map(|p| p.name.clone()));
    sources.push(HOST_NODE.to_string());
    for c in model.containers() {
        if matches!(c.networking, Networking::Bridge(_)) && !sources.contains(&c.name) {
            sources.push(c.name.clone());
        }
    }
    let host = Target::from(lab).hosts().remove(0);
    let (mut dests, loopback) = host_destinations(lab, &host)?;
    let servers = model.servers().iter().map(|s| IpAddr::V4(*s));
    for server in servers.chain(model.server6().map(IpAddr::V6)) {
        dests.insert((server, Service::Tcp(INTERNET_PORT)));
        dests.insert((server, Service::Icmp));
    }
    let mut cells = Vec::new();
    for from in &sources {
        for (to, service) in &dests {
            cells.push(Cell {
                from: from.clone(),
                to: *to,
                service: *service,
            });
        }
    }
    for (to, service) in loopback {
        cells.push(Cell {
            from: HOST_NODE.to_string(),
            to,
            service,
        });
    }
    cells.sort();
    cells.dedup();
    Ok(cells)
}

/// Each of a container's addresses × its published container ports, plus
/// the first TCP port from 9000 up that it does not publish.
pub(crate) fn container_targets(model: &DockerHost, name: &str) -> Vec<(IpAddr, Service)> {
    let Some(c) = model.container(name) else {
        return Vec::new();
    };
    let mut services: BTreeSet<Service> = c
        .ports
        .iter()
        .map(|p| Service::of(p.proto, p.container_port))
        .collect();
    let unpublished = (9000..)
        .find(|port| !services.contains(&Service::Tcp(*port)))
        .unwrap_or(9000);
    services.insert(Service::Tcp(unpublished));
    c.attachments()
        .iter()
        .flat_map(|a| {
            let v6 = a.ip6.map(|(ip, _, _)| IpAddr::V6(ip));
            std::iter::once(IpAddr::V4(a.ip)).chain(v6)
        })
        .flat_map(|ip| services.iter().map(move |s| (ip, *s)))
        .collect()
}

/// A node's addresses, loopback and link-local excepted, sorted: IPv4,
/// and IPv6 too with `ipv6`.
pub(crate) fn node_addresses(lab: &Lab, node: &str, ipv6: bool) -> Result<Vec<IpAddr>> {
    let mut out: Vec<IpAddr> = lab
        .node(node)?
        .interfaces()
        .iter()
        .filter(|i| i.name != "lo")
        .flat_map(|i| i.addrs.iter())
        .map(|a| a.addr())
        .filter(|ip| match ip {
            IpAddr::V4(v4) => !v4.is_loopback() && !v4.is_link_local(),
            IpAddr::V6(v6) => ipv6 && !v6.is_loopback() && !v6.is_unicast_link_local(),
        })
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}
