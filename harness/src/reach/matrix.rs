//! Probing a lab into a [`Matrix`]: servers started for every destination,
//! the kernel's verdict per cell (nftrace, or rule counters on
//! iptables-legacy), then parallel probes for what the servers saw.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use super::cell::{Cell, Outcome, Row, Service, Why};
use super::defaults::default_cells;
use super::probe::{Seen, probe_all};
use super::server::Servers;
use crate::Proto;
use crate::backend::Backend;
use crate::docker::HOST_NODE;
use crate::dockerlab::DockerLab;
use crate::error::{Error, Result, Subject};
use crate::namespace::Namespace;
use crate::nftrace::{
    Flow, FlowProto, FlowTrace, Method, ProbeOutcome, Verdict, count_flow, trace_sources_in,
};

/// How long a probe waits for an answer no verdict settled (a drop that
/// nftrace saw settles at once; on iptables-legacy every drop waits this).
pub const DEFAULT_DEADLINE: Duration = Duration::from_millis(500);

/// How long a probe waits when the kernel's trace already saw it answered.
const ANSWERED_DEADLINE: Duration = Duration::from_secs(3);

/// The reachability matrix of a lab: one [`Row`] per cell, sorted by cell.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Matrix {
    /// The probed cells, in stable order (source, destination, service).
    pub rows: Vec<Row>,
}

impl Matrix {
    /// The default cells of a Docker host (see the module docs).
    pub fn default_cells(docker: &DockerLab) -> Result<Vec<Cell>> {
        default_cells(docker)
    }

    /// Probes the default cells of `docker`.
    ///
    /// ```no_run
    /// let docker = netrig::topology::load("topologies/docker-bridge.toml")?.up()?;
    /// let matrix = netrig::reach::Matrix::probe(&docker)?;
    /// println!("{}", matrix.to_text());
    /// # Ok::<_, netrig::Error>(())
    /// ```
    pub fn probe(docker: &DockerLab) -> Result<Matrix> {
        Matrix::probe_cells(docker, default_cells(docker)?, DEFAULT_DEADLINE)
    }

    /// Probes `cells` of `docker` (sources are lab nodes; the rules that
    /// decide are the host's), waiting at most `deadline` for an answer no
    /// verdict settled. The rows come back sorted, duplicates removed.
    pub fn probe_cells(
        docker: &DockerLab,
        mut cells: Vec<Cell>,
        deadline: Duration,
    ) -> Result<Matrix> {
        let _span =
            tracing::debug_span!("matrix", lab = %docker.name(), cells = cells.len()).entered();
        cells.sort();
        cells.dedup();
        let mut nodes: BTreeMap<&str, &Namespace> = BTreeMap::new();
        for c in &cells {
            let ns = docker
                .node(&c.from)
                .map_err(|_| unknown_source(docker, &c.from))?;
            nodes.insert(c.from.as_str(), ns.namespace());
        }
        let started = std::time::Instant::now();
        let _servers = Servers::start(&server_sites(docker, &cells)?)?;
        tracing::debug!(elapsed = ?started.elapsed(), "servers bound");
        let host = docker.host_node()?.namespace();
        let backend = docker.model().backend();
        let files = docker.model().rule_files().to_vec();
        // iptables-legacy rules cannot be traced; nf_tables tables beside them can.
        let traced_backend = match backend {
            Backend::IptablesLegacy => has_nft_tables(host)?.then_some(Backend::Nftables),
            b => Some(b),
        };
        let mut traces: Vec<Option<FlowTrace>> = match traced_backend {
            Some(b) => trace_cells(&cells, &nodes, host, b, deadline)?,
            None => vec![None; cells.len()],
        };
        tracing::debug!(elapsed = ?started.elapsed(), "cells traced");
        let probed: Vec<usize> = (0..cells.len())
            .filter(|&i| traces[i].as_ref().is_none_or(|t| needs_probe(&cells[i], t)))
            .collect();
        let pairs: Vec<(&Cell, &Namespace)> = probed
            .iter()
            .map(|&i| (&cells[i], nodes[cells[i].from.as_str()]))
            .collect();
        let mut seen: Vec<Option<Seen>> = vec![None; cells.len()];
        // A traced answer says the cell is reachable: its probe waits longer
        // than a drop would, so that a loaded machine cannot turn it into one.
        let wait = if traced_backend.is_some() {
            deadline.max(ANSWERED_DEADLINE)
        } else {
            deadline
        };
        for (k, s) in probe_all(&pairs, wait)?.into_iter().enumerate() {
            seen[probed[k]] = Some(s);
        }
        tracing::debug!(elapsed = ?started.elapsed(), probed = probed.len(), "cells probed");
        let mut rows = Vec::with_capacity(cells.len());
        for (i, cell) in cells.iter().enumerate() {
            let (outcome, addrs) = match (seen[i], &traces[i]) {
                (Some(s), _) => s,
                (None, Some(t)) => (outcome_of(t.probe), None),
                (None, None) => unreachable!("every cell is traced or probed"),
            };
            let mut why = match traces[i].as_mut() {
                Some(t) => {
                    t.attach_rule_files(&files)?;
                    why_of(t)
                }
                None => Vec::new(),
            };
            if backend == Backend::IptablesLegacy {
                // Beside the legacy counters, only an nf_tables drop tells more.
                why.retain(|w| w.verdict != "accept" && w.verdict != "nat");
                // A drop moves the counters at its first packet: no need to wait it out.
                let wait = if outcome == Outcome::Dropped {
                    deadline / 4
                } else {
                    deadline
                };
                let mut counted = count_flow(
                    nodes[cell.from.as_str()],
                    host,
                    backend,
                    &flow_of(cell),
                    wait,
                )?;
                counted.attach_rule_files(&files)?;
                let nft_dropped = !why.is_empty();
                // Under an nf_tables drop the counters' verdict means nothing; their NAT rules still do.
                why.extend(
                    why_of(&counted)
                        .into_iter()
                        .filter(|w| !nft_dropped || w.verdict == "nat"),
                );
            }
            rows.push(Row {
                cell: cell.clone(),
                outcome,
                seen_src: addrs.map(|a| a.0),
                seen_dst: addrs.map(|a| a.1),
                why,
            });
        }
        tracing::debug!(rows = rows.len(), "matrix probed");
        Ok(Matrix { rows })
    }

    /// The row of `cell`, if it was probed.
    pub fn row(&self, cell: &Cell) -> Option<&Row> {
        self.rows
            .binary_search_by(|r| r.cell.cmp(cell))
            .ok()
            .map(|i| &self.rows[i])
    }
}

/// Whether `ns` has nf_tables tables (beyond iptables-legacy's, which are not).
fn has_nft_tables(ns: &Namespace) -> Result<bool> {
    let out = ns.command("nft").args(["list", "tables"]).output()?;
    Ok(out.status.success() && !out.stdout.trim_ascii().is_empty())
}

fn unknown_source(docker: &DockerLab, from: &str) -> Error {
    Error::invalid(
        Subject::lab(docker.name()),
        "cell source",
        format!(
            "no node named {from:?} (nodes: {})",
            docker.node_names().join(", ")
        ),
    )
}

/// Whether a traced cell is probed again for its outcome and what the
/// server saw: when its trace probe was answered (a refusal or an error of
/// an IPv4 echo too: [`Namespace::ping`] tells a REJECT's codes apart).
fn needs_probe(cell: &Cell, t: &FlowTrace) -> bool {
    match cell.service {
        Service::Icmp if cell.to.is_ipv4() => t.probe.answered(),
        _ => t.probe == ProbeOutcome::Answered,
    }
}

fn flow_of(cell: &Cell) -> Flow {
    let proto = match cell.service {
        Service::Tcp(_) => FlowProto::Tcp,
        Service::Udp(_) => FlowProto::Udp,
        Service::Icmp => FlowProto::Icmp,
    };
    Flow {
        proto,
        dst: cell.socket_addr(),
        src: None,
    }
}

fn outcome_of(probe: ProbeOutcome) -> Outcome {
    match probe {
        ProbeOutcome::Answered => Outcome::Delivered,
        ProbeOutcome::Refused => Outcome::Refused,
        ProbeOutcome::Unreachable => Outcome::Unreachable,
        ProbeOutcome::NoAnswer | ProbeOutcome::Blocked => Outcome::Dropped,
    }
}

/// Traces every cell in the host at once: one trace table whose selectors
/// cover every source's probes (their keys made unique across sources),
/// every probe sent together.
fn trace_cells(
    cells: &[Cell],
    nodes: &BTreeMap<&str, &Namespace>,
    host: &Namespace,
    backend: Backend,
    deadline: Duration,
) -> Result<Vec<Option<FlowTrace>>> {
    let mut out: Vec<Option<FlowTrace>> = vec![None; cells.len()];
    let mut index = Vec::new();
    let mut sources = Vec::new();
    for (from, ns) in nodes {
        let idx: Vec<usize> = (0..cells.len())
            .filter(|&i| cells[i].from == *from)
            .collect();
        sources.push((
            *ns,
            idx.iter().map(|&i| flow_of(&cells[i])).collect::<Vec<_>>(),
        ));
        index.push(idx);
    }
    let refs: Vec<(&Namespace, &[Flow])> =
        sources.iter().map(|(ns, f)| (*ns, f.as_slice())).collect();
    let traced = trace_sources_in(&refs, host, backend, deadline, &mut None)?;
    for (idx, traces) in index.into_iter().zip(traced) {
        for (i, t) in idx.into_iter().zip(traces) {
            out[i] = Some(t);
        }
    }
    Ok(out)
}

/// The deciding rule first, then the NAT rules that rewrote the flow.
fn why_of(t: &FlowTrace) -> Vec<Why> {
    let mut out = Vec::new();
    if t.method == Method::Counters
        && let Some(w) = counted_accept(t)
    {
        out.push(w);
    } else if let Some(d) = &t.decision {
        let rule = match (&d.rule, d.by_policy()) {
            (_, true) => format!("policy {}", d.verdict.to_string().to_uppercase()),
            (Some(r), false) => r.clone(),
            (None, false) => format!("rule {}", d.handle.unwrap_or(0)),
        };
        out.push(Why {
            table: format!("{} {}", d.family, d.table),
            chain: d.chain.clone(),
            rule,
            verdict: d.verdict.to_string(),
            source: d.source.clone(),
        });
    }
    for (hook, step) in t.nat_rules() {
        let Some(rule) = step.rule.clone().filter(|r| is_nat_rule(r)) else {
            continue;
        };
        let why = Why {
            table: format!("{} {}", hook.family, hook.table),
            chain: step.chain.clone(),
            rule,
            verdict: "nat".to_string(),
            source: step.source.clone(),
        };
        if !out.contains(&why) {
            out.push(why);
        }
    }
    out
}

/// A rule that rewrites addresses (iptables target or nft statement).
fn is_nat_rule(rule: &str) -> bool {
    [
        "DNAT",
        "SNAT",
        "MASQUERADE",
        "REDIRECT",
        "dnat ",
        "snat ",
        "masquerade",
        "redirect",
    ]
    .iter()
    .any(|t| rule.contains(t))
}

/// With counters every packet of the exchange counts, answers too. When
/// the decision is an accept, the one that let the probe's first packet
/// through is the first accepting filter rule (or policy) in chain order
/// that is not a conntrack ESTABLISHED rule: those match answers and later
/// packets, never a new flow's first one.
fn counted_accept(t: &FlowTrace) -> Option<Why> {
    if t.decision.as_ref()?.verdict != Verdict::Accept {
        return None;
    }
    t.hooks().filter(|h| !h.is_nat()).find_map(|h| {
        let step = h.steps.iter().find(|s| {
            s.verdict == Verdict::Accept
                && s.rule.as_deref().is_none_or(|r| !r.contains("ESTABLISHED"))
        })?;
        Some(Why {
            table: format!("{} {}", h.family, h.table),
            chain: step.chain.clone(),
            rule: step
                .rule
                .clone()
                .unwrap_or_else(|| "policy ACCEPT".to_string()),
            verdict: step.verdict.to_string(),
            source: step.source.clone(),
        })
    })
}

/// Where the servers go: each published binding's container address and
/// port, and each cell's destination in the node that owns the address
/// (unless a published port there belongs to a container, or it is loopback).
fn server_sites<'a>(
    docker: &'a DockerLab,
    cells: &[Cell],
) -> Result<Vec<(&'a Namespace, IpAddr, Service)>> {
    let model = docker.model();
    let mut sites = std::collections::BTreeSet::new();
    let mut published = std::collections::BTreeSet::new();
    for c in model.containers() {
        let Some(a) = c.gateway_attachment(model.layout()) else {
            continue;
        };
        for p in &c.ports {
            let (host_s, cont_s) = match p.proto {
                Proto::Tcp => (Service::Tcp(p.host_port), Service::Tcp(p.container_port)),
                Proto::Udp => (Service::Udp(p.host_port), Service::Udp(p.container_port)),
            };
            published.insert(host_s);
            sites.insert((model.node_of(&c.name), IpAddr::V4(a.ip), cont_s));
        }
    }
    let mut owners: BTreeMap<IpAddr, String> = BTreeMap::new();
    for name in docker.node_names() {
        for i in docker.node(&name)?.interfaces() {
            for a in i.addrs {
                owners.entry(a.addr()).or_insert_with(|| name.clone());
            }
        }
    }
    for cell in cells {
        let Some(owner) = owners.get(&cell.to) else {
            continue;
        };
        if cell.to.is_loopback() || (owner == HOST_NODE && published.contains(&cell.service)) {
            continue;
        }
        sites.insert((owner.clone(), cell.to, cell.service));
    }
    sites
        .into_iter()
        .map(|(node, ip, s)| Ok((docker.node(&node)?.namespace(), ip, s)))
        .collect()
}

/// Traces one cell hook by hook, for reproducing a bug: netrig's servers
/// started as for a matrix, then [`crate::nftrace::trace_flow`] (nftables,
/// iptables-nft) or [`count_flow`] (iptables-legacy) from the cell's source
/// to the host, with `file:line` for rules from the topology's rule files.
/// An ICMP cell's echo request is selected by its identifier.
pub fn trace_cell(docker: &DockerLab, cell: &Cell, deadline: Duration) -> Result<FlowTrace> {
    let from = docker
        .node(&cell.from)
        .map_err(|_| unknown_source(docker, &cell.from))?;
    let _servers = Servers::start(&server_sites(docker, std::slice::from_ref(cell))?)?;
    let host = docker.host_node()?.namespace();
    let backend = docker.model().backend();
    let flow = flow_of(cell);
    let mut t = match backend {
        Backend::IptablesLegacy => count_flow(from.namespace(), host, backend, &flow, deadline)?,
        b => crate::nftrace::trace_flow(from.namespace(), host, b, &flow, deadline)?,
    };
    t.attach_rule_files(docker.model().rule_files())?;
    Ok(t)
}

/// The [`Why`]s of a trace: the deciding rule or policy, then the NAT rules.
pub fn why_of_trace(t: &FlowTrace) -> Vec<Why> {
    why_of(t)
}
