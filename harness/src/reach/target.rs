//! What a matrix probes: a Docker host's lab or a generic lab, seen as its
//! nodes (where probes start and servers listen), its Docker hosts (whose
//! published ports and containers the default cells and the servers come
//! from) and its deciders (the nodes with rules, whose traces say why).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::PathBuf;

use super::cell::{Cell, Service};
use crate::backend::Backend;
use crate::docker::DockerHost;
use crate::error::{Error, Result, Subject};
use crate::lab::Lab;
use crate::namespace::Namespace;

/// A running lab a matrix probes (`Matrix::probe(&lab)`).
///
/// In a Docker host file's lab the host's rules decide every cell. In a
/// generic lab every node with rules decides the cells whose probes cross
/// it (each Docker part's host, each node with rule files): its `why` names
/// the node.
#[derive(Clone, Copy)]
pub(crate) struct Target<'a> {
    lab: &'a Lab,
}

impl<'a> From<&'a Lab> for Target<'a> {
    fn from(lab: &'a Lab) -> Self {
        Target { lab }
    }
}

/// A node whose rules decide cells: its namespace, backend and the user's
/// rule files loaded there (for `file:line`).
pub(crate) struct Decider<'a> {
    pub(crate) node: String,
    pub(crate) ns: &'a Namespace,
    pub(crate) backend: Backend,
    pub(crate) files: Vec<PathBuf>,
}

/// A Docker host of the target: its model and the lab node of each of its nodes.
pub(crate) struct Host<'a> {
    /// The host's own node.
    pub(crate) node: String,
    pub(crate) model: &'a DockerHost,
    part: crate::DockerPart<'a>,
}

impl Host<'_> {
    /// The lab node of a container's traffic (or of the host).
    pub(crate) fn node_of(&self, container: &str) -> String {
        self.part.node_of(container)
    }
}

impl<'a> Target<'a> {
    pub(crate) fn lab(&self) -> &'a Lab {
        self.lab
    }

    /// Whether this is a generic lab (its whys name the node that decided).
    pub(crate) fn is_generic(&self) -> bool {
        self.lab.single_host().is_none()
    }

    /// The namespace of source node `name`.
    pub(crate) fn source(&self, name: &str) -> Result<&'a Namespace> {
        let lab = self.lab();
        lab.node(name).map(|n| n.ns()).map_err(|_| {
            Error::invalid(
                Subject::lab(lab.name()),
                "cell source",
                format!(
                    "no node named {name:?} (nodes: {})",
                    lab.node_names().join(", ")
                ),
            )
        })
    }

    /// The Docker hosts: the lab's own, or each part of a generic lab.
    pub(crate) fn hosts(&self) -> Vec<Host<'a>> {
        self.lab
            .dockers()
            .map(|part| Host {
                node: part.name().to_string(),
                model: part.model(),
                part,
            })
            .collect()
    }

    /// The echo servers the lab's spec started: node, address and service.
    pub(crate) fn declared_servers(&self) -> Vec<(String, IpAddr, Service)> {
        self.lab
            .spec()
            .servers
            .iter()
            .map(|s| {
                (
                    s.node.clone(),
                    s.bind.ip(),
                    Service::of(s.proto, s.bind.port()),
                )
            })
            .collect()
    }

    /// The nodes whose rules decide (each Docker host's node, every node
    /// with rule files), in the lab's node order. A node's backend is its
    /// Docker host's, else the [`widest`] of its files'.
    pub(crate) fn deciders(&self) -> Result<Vec<Decider<'a>>> {
        let lab = self.lab();
        let hosts = self.hosts();
        let mut by_node: BTreeMap<String, (Backend, Vec<PathBuf>)> = BTreeMap::new();
        for h in &hosts {
            // ufw's rules are named by the command that made them (its
            // labelled `sources.rules`) before any file line.
            let ufw = crate::confined::ufw::sources_file(lab.node(&h.node)?.ns());
            let files = ufw
                .iter()
                .map(std::path::PathBuf::as_path)
                .chain(
                    h.model
                        .existing_rule_files()
                        .iter()
                        .map(std::path::PathBuf::as_path),
                )
                .chain(h.model.ruleset_file())
                .chain(h.model.rule_files().iter().map(std::path::PathBuf::as_path));
            by_node.insert(
                h.node.clone(),
                (
                    h.model.backend(),
                    files.map(std::path::Path::to_path_buf).collect(),
                ),
            );
        }
        {
            for r in &self.lab.spec().rules {
                let (backend, files) = by_node
                    .entry(r.node.clone())
                    .or_insert((Backend::Nftables, Vec::new()));
                files.push(r.path.clone());
                if !hosts.iter().any(|h| h.node == r.node) {
                    *backend = widest(*backend, r.backend);
                }
            }
        }
        let mut out = Vec::new();
        for name in lab.namespace_names() {
            if let Some((backend, files)) = by_node.remove(&name) {
                out.push(Decider {
                    ns: lab.node(&name)?.ns(),
                    node: name,
                    backend,
                    files,
                });
            }
        }
        Ok(out)
    }

    /// Where the servers go: each published binding's container addresses
    /// (IPv4, and IPv6 where it has one) and port, and each cell's destination in every node that owns the
    /// address (unless it is loopback, or a published port on a Docker
    /// host: Docker forwards that to its container).
    pub(crate) fn server_sites(
        &self,
        cells: &[Cell],
    ) -> Result<Vec<(&'a Namespace, IpAddr, Service)>> {
        let lab = self.lab();
        let mut sites = BTreeSet::new();
        let mut published: BTreeSet<(String, Service)> = BTreeSet::new();
        for h in self.hosts() {
            for c in h.model.containers() {
                let Some(a) = c.gateway_attachment(h.model.layout()) else {
                    continue;
                };
                for p in &c.ports {
                    let host_s = Service::of(p.proto, p.host_port);
                    let cont_s = Service::of(p.proto, p.container_port);
                    published.insert((h.node.clone(), host_s));
                    sites.insert((h.node_of(&c.name), IpAddr::V4(a.ip), cont_s));
                    // Docker forwards an IPv6 published port to the
                    // container's IPv6 address where it has one.
                    if let Some((ip6, _, _)) = a.ip6 {
                        sites.insert((h.node_of(&c.name), IpAddr::V6(ip6), cont_s));
                    }
                }
            }
        }
        let mut owners: BTreeMap<IpAddr, Vec<String>> = BTreeMap::new();
        for name in lab.namespace_names() {
            for i in lab.node(&name)?.interfaces() {
                for a in i.addrs {
                    owners.entry(a.addr()).or_default().push(name.clone());
                }
            }
        }
        for cell in cells.iter().filter(|c| !c.to.is_loopback()) {
            for owner in owners.get(&cell.to).into_iter().flatten() {
                if !published.contains(&(owner.clone(), cell.service)) {
                    sites.insert((owner.clone(), cell.to, cell.service));
                }
            }
        }
        sites
            .into_iter()
            .map(|(node, ip, s)| Ok((lab.node(&node)?.ns(), ip, s)))
            .collect()
    }
}

/// The backend a node with files of backends `a` and `b` is read with: one
/// with iptables-legacy rules is counted, one with iptables-nft rules traced
/// with them (its nft tables too), one with nft files alone as nftables.
fn widest(a: Backend, b: Backend) -> Backend {
    let rank = |x: Backend| match x {
        Backend::Nftables => 0,
        Backend::IptablesNft => 1,
        Backend::IptablesLegacy => 2,
    };
    if rank(b) > rank(a) { b } else { a }
}
