//! Probing a lab into a [`Matrix`]: servers started for every destination,
//! the kernel's verdict per cell (nftrace, or rule counters on
//! iptables-legacy), then parallel probes for what the servers saw.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::cell::{Cell, Outcome, Row, Service, Why};
use super::defaults::default_cells;
use super::probe::{Seen, probe_all};
use super::server::Servers;
use super::target::{Decider, Target};
use crate::backend::Backend;
use crate::error::Result;
use crate::graph::Graph;
use crate::namespace::Namespace;
use crate::nftrace::{
    Decision, Flow, FlowProto, FlowTrace, Keys, Method, ProbeOutcome, Step, Verdict, count_flow,
    count_flow_avoiding, held_keys, trace_sources_at,
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
    /// The probed lab's picture, for the HTML page.
    pub(crate) topology: Option<Arc<Graph>>,
}

impl Matrix {
    /// The default cells of a lab (see the module docs).
    pub fn default_cells(lab: &crate::Lab) -> Result<Vec<Cell>> {
        default_cells(&lab.into())
    }

    /// Probes the default cells of a lab (a Docker host file's, or a
    /// generic lab's).
    ///
    /// ```no_run
    /// let docker = netrig::topology::load("topologies/docker-bridge.toml")?.up()?;
    /// let matrix = netrig::reach::Matrix::probe(&docker)?;
    /// println!("{matrix}");
    /// # Ok::<_, netrig::Error>(())
    /// ```
    pub fn probe(lab: &crate::Lab) -> Result<Matrix> {
        let target = Target::from(lab);
        Matrix::probe_cells(lab, default_cells(&target)?, DEFAULT_DEADLINE)
    }

    /// Probes `cells` of a lab (sources are lab nodes; the rules that decide
    /// are its deciders': a Docker host's, or in a generic lab every node
    /// with rules), waiting at most `deadline` for an answer no verdict
    /// settled. The rows come back sorted, duplicates removed.
    pub fn probe_cells(
        lab: &crate::Lab,
        mut cells: Vec<Cell>,
        deadline: Duration,
    ) -> Result<Matrix> {
        let target = Target::from(lab);
        let _span = tracing::debug_span!("matrix", lab = %target.lab().name(), cells = cells.len())
            .entered();
        cells.sort();
        cells.dedup();
        let mut nodes: BTreeMap<&str, &Namespace> = BTreeMap::new();
        for c in &cells {
            nodes.insert(c.from.as_str(), target.source(&c.from)?);
        }
        let started = std::time::Instant::now();
        let _servers = Servers::start(&target.server_sites(&cells)?)?;
        tracing::debug!(elapsed = ?started.elapsed(), "servers bound");
        let deciders = target.deciders()?;
        // iptables-legacy rules cannot be traced; nf_tables tables beside them can.
        let mut traced = Vec::new();
        for (k, d) in deciders.iter().enumerate() {
            match d.backend {
                Backend::IptablesLegacy if has_nft_tables(d.ns)? => {
                    traced.push((k, Backend::Nftables))
                }
                Backend::IptablesLegacy => {}
                b => traced.push((k, b)),
            }
        }
        let mut traces: Vec<Vec<Option<FlowTrace>>> =
            deciders.iter().map(|_| vec![None; cells.len()]).collect();
        let ats: Vec<(&Namespace, Backend)> =
            traced.iter().map(|&(k, b)| (deciders[k].ns, b)).collect();
        for ((k, _), per_cell) in traced
            .iter()
            .zip(trace_cells(&cells, &nodes, &ats, deadline)?)
        {
            traces[*k] = per_cell;
        }
        tracing::debug!(elapsed = ?started.elapsed(), traced = ats.len(), "cells traced");
        // Every traced namespace saw the same probe: the first tells its outcome.
        let first = traced.first().map(|&(k, _)| k);
        let probe_of = |traces: &[Vec<Option<FlowTrace>>], i: usize| -> Option<ProbeOutcome> {
            traces[first?][i].as_ref().map(|t| t.probe)
        };
        // A REJECT is traced as a drop, and its answer (RST, ICMP or ICMPv6
        // unreachable) may come after the trace settled the probe: such a
        // cell is probed again, and its socket tells the refusal.
        let rejected = |traces: &[Vec<Option<FlowTrace>>], i: usize| {
            traced.iter().any(|&(k, _)| {
                traces[k][i]
                    .as_ref()
                    .and_then(|t| t.decision.as_ref())
                    .and_then(|d| d.rule.as_deref())
                    .is_some_and(is_reject)
            })
        };
        let probed: Vec<usize> = (0..cells.len())
            .filter(|&i| {
                probe_of(&traces, i).is_none_or(|p| needs_probe(&cells[i], p))
                    || rejected(&traces, i)
            })
            .collect();
        let pairs: Vec<(&Cell, &Namespace)> = probed
            .iter()
            .map(|&i| (&cells[i], nodes[cells[i].from.as_str()]))
            .collect();
        let mut seen: Vec<Option<Seen>> = vec![None; cells.len()];
        // A traced answer says the cell is reachable: its probe waits longer
        // than a drop would, so that a loaded machine cannot turn it into one.
        let wait = if traced.is_empty() {
            deadline
        } else {
            deadline.max(ANSWERED_DEADLINE)
        };
        for (k, s) in probe_all(&pairs, wait)?.into_iter().enumerate() {
            seen[probed[k]] = Some(s);
        }
        tracing::debug!(elapsed = ?started.elapsed(), probed = probed.len(), "cells probed");
        // Counted (iptables-legacy) probes avoid the keys old conntrack entries hold.
        let held = deciders
            .iter()
            .map(|d| {
                (d.backend == Backend::IptablesLegacy)
                    .then(|| held_keys(d.ns))
                    .transpose()
            })
            .collect::<Result<Vec<Option<Keys>>>>()?;
        let mut rows = Vec::with_capacity(cells.len());
        for (i, cell) in cells.iter().enumerate() {
            let (outcome, addrs) = match (seen[i], probe_of(&traces, i)) {
                (Some(s), _) => s,
                (None, Some(p)) => (outcome_of(p), None),
                (None, None) => unreachable!("every cell is traced or probed"),
            };
            let mut per_decider = Vec::with_capacity(deciders.len());
            for (k, d) in deciders.iter().enumerate() {
                let from = nodes[cell.from.as_str()];
                let probe = Counted {
                    from,
                    held: held[k].as_ref(),
                    deadline,
                };
                let why = decider_why(d, traces[k][i].as_mut(), cell, outcome, &probe)?;
                per_decider.push(labelled(why, target.is_generic().then_some(&d.node)));
            }
            rows.push(Row {
                cell: cell.clone(),
                outcome,
                seen_src: addrs.map(|a| a.0),
                seen_dst: addrs.map(|a| a.1),
                why: merged(per_decider),
            });
        }
        // A REJECT only counted (iptables-legacy) looked like a drop to a
        // probe that gave up first: the ICMPv6 error about an IPv6 SYN can
        // come back while connect() still holds the socket, when the kernel
        // only notes it (TcpExtLockDroppedIcmps), and the refusal comes with
        // the retransmitted SYN's error, a second later.
        let recheck: Vec<usize> = (0..rows.len())
            .filter(|&i| {
                rows[i].outcome == Outcome::Dropped
                    && seen[i].is_some()
                    && rows[i]
                        .why
                        .iter()
                        .any(|w| w.verdict == "drop" && is_reject(&w.rule))
            })
            .collect();
        if !recheck.is_empty() {
            let pairs: Vec<(&Cell, &Namespace)> = recheck
                .iter()
                .map(|&i| (&cells[i], nodes[cells[i].from.as_str()]))
                .collect();
            let wait = deadline.max(ANSWERED_DEADLINE);
            for (&i, (outcome, addrs)) in recheck.iter().zip(probe_all(&pairs, wait)?) {
                rows[i].outcome = outcome;
                rows[i].seen_src = addrs.map(|a| a.0);
                rows[i].seen_dst = addrs.map(|a| a.1);
            }
        }
        tracing::debug!(
            rows = rows.len(),
            rechecked = recheck.len(),
            "matrix probed"
        );
        Ok(Matrix {
            rows,
            topology: Some(Arc::new(Graph::of(lab.spec()))),
        })
    }

    /// The row of `cell`, if it was probed.
    pub fn row(&self, cell: &Cell) -> Option<&Row> {
        self.rows
            .binary_search_by(|r| r.cell.cmp(cell))
            .ok()
            .map(|i| &self.rows[i])
    }
}

/// How a cell is counted on iptables-legacy: from its source, avoiding the
/// keys conntrack entries of the decider hold, waiting at most `deadline`.
struct Counted<'a> {
    from: &'a Namespace,
    held: Option<&'a Keys>,
    deadline: Duration,
}

/// The whys one decider gives a cell: from its trace, and on
/// iptables-legacy from its rule counters (beside which only an nf_tables
/// drop tells more).
fn decider_why(
    d: &Decider<'_>,
    trace: Option<&mut FlowTrace>,
    cell: &Cell,
    outcome: Outcome,
    probe: &Counted<'_>,
) -> Result<Vec<Why>> {
    let mut why = match trace {
        Some(t) => {
            t.attach_rule_files(&d.files)?;
            why_of(t)
        }
        None => Vec::new(),
    };
    if let Some(held) = probe.held {
        why.retain(|w| w.verdict != "accept" && w.verdict != "nat");
        // A drop moves the counters at its first packet: no need to wait it out.
        let wait = if outcome == Outcome::Dropped {
            probe.deadline / 4
        } else {
            probe.deadline
        };
        let flow = flow_of(cell);
        let mut counted = count_flow_avoiding(probe.from, d.ns, d.backend, &flow, wait, held)?;
        // A probe whose first packet had not crossed yet (a starved machine,
        // a neighbour still being resolved) leaves only other packets'
        // counts: counted again, waiting the whole deadline. Not when
        // nothing moved on its path (it was dropped elsewhere, or an
        // nf_tables drop here decided it already): waiting longer tells no more.
        if wait < probe.deadline && why.is_empty() && counted_inconclusively(&counted) {
            tracing::debug!(cell = %cell, "counters inconclusive; counting the cell again");
            counted =
                count_flow_avoiding(probe.from, d.ns, d.backend, &flow, probe.deadline, held)?;
        }
        counted.attach_rule_files(&d.files)?;
        let nft_dropped = !why.is_empty();
        // Under an nf_tables drop the counters' verdict means nothing; their NAT rules still do.
        why.extend(
            why_of(&counted)
                .into_iter()
                .filter(|w| !nft_dropped || w.verdict == "nat"),
        );
    }
    Ok(why)
}

/// `why` with each rule's node set (in a generic lab).
fn labelled(mut why: Vec<Why>, node: Option<&String>) -> Vec<Why> {
    for w in &mut why {
        w.node = node.cloned();
    }
    why
}

/// One cell's whys over every decider (in lab order): the first decision
/// that is not an accept alone (the packet went no further), else every
/// decider's accept; then every NAT rule that rewrote the cell.
fn merged(per_decider: Vec<Vec<Why>>) -> Vec<Why> {
    let (nat, mut decisions): (Vec<Why>, Vec<Why>) = per_decider
        .into_iter()
        .flatten()
        .partition(|w| w.verdict == "nat");
    if let Some(k) = decisions.iter().position(|w| w.verdict != "accept") {
        decisions = vec![decisions.swap_remove(k)];
    }
    for w in nat {
        if !decisions.contains(&w) {
            decisions.push(w);
        }
    }
    decisions
}

/// Whether `ns` has nf_tables tables (beyond iptables-legacy's, which are not).
fn has_nft_tables(ns: &Namespace) -> Result<bool> {
    let out = ns.command("nft").args(["list", "tables"]).output()?;
    Ok(out.status.success() && !out.stdout.trim_ascii().is_empty())
}

/// Whether a traced cell is probed again for its outcome and what the
/// server saw: when its trace probe was answered (a refusal or an error of
/// an echo too: [`crate::Node::ping`] tells a REJECT's codes apart, ICMP's
/// and ICMPv6's).
fn needs_probe(cell: &Cell, probe: ProbeOutcome) -> bool {
    match cell.service {
        Service::Icmp => probe.answered(),
        _ => probe == ProbeOutcome::Answered,
    }
}

/// Whether a rule's text (iptables-save's or nft's) is a REJECT, whose
/// drop answers the sender.
fn is_reject(rule: &str) -> bool {
    rule.split_whitespace()
        .any(|w| w == "REJECT" || w == "reject")
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

/// Traces every cell in each namespace of `ats` at once: one trace table
/// in each whose selectors cover every source's probes (their keys made
/// unique across sources), every probe sent together. Per namespace, per cell.
fn trace_cells(
    cells: &[Cell],
    nodes: &BTreeMap<&str, &Namespace>,
    ats: &[(&Namespace, Backend)],
    deadline: Duration,
) -> Result<Vec<Vec<Option<FlowTrace>>>> {
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
    let traced = trace_sources_at(&refs, ats, deadline)?;
    Ok(traced
        .into_iter()
        .map(|per_source| {
            let mut out: Vec<Option<FlowTrace>> = vec![None; cells.len()];
            for (idx, traces) in index.iter().zip(per_source) {
                for (&i, t) in idx.iter().zip(traces) {
                    out[i] = Some(t);
                }
            }
            out
        })
        .collect())
}

/// The deciding rule first, then the NAT rules that rewrote the flow.
fn why_of(t: &FlowTrace) -> Vec<Why> {
    let mut out = Vec::new();
    if t.method == Method::Counters
        && let Some(w) = counted_drop(t).or_else(|| counted_accept(t))
    {
        out.push(w);
    } else if let Some(d) = &t.decision {
        out.extend(decision_why(d, false));
    }
    // The probe passed (or nothing decided it here), its answer did not.
    if out.iter().all(|w| w.verdict == "accept")
        && let Some(d) = t.answer_drop()
    {
        out.extend(decision_why(&d, true));
    }
    for (hook, step) in t.nat_rules() {
        let Some(rule) = step.rule.clone().filter(|r| is_nat_rule(r)) else {
            continue;
        };
        let why = Why {
            node: None,
            table: format!("{} {}", hook.family, hook.table),
            chain: step.chain.clone(),
            rule,
            verdict: "nat".to_string(),
            source: step.source.clone(),
            answer: false,
        };
        if !out.contains(&why) {
            out.push(why);
        }
    }
    out
}

/// The [`Why`] of a decision (of the probe, or of its `answer`); none for
/// a NAT rule's accept, which only ends its own chain (no filter decided;
/// the rule is listed as what rewrote the flow).
fn decision_why(d: &Decision, answer: bool) -> Option<Why> {
    let rule = match (&d.rule, d.by_policy()) {
        (_, true) => format!("policy {}", d.verdict.to_string().to_uppercase()),
        (Some(r), false) => r.clone(),
        (None, false) => format!("rule {}", d.handle.unwrap_or(0)),
    };
    (!(d.verdict == Verdict::Accept && is_nat_rule(&rule))).then(|| Why {
        node: None,
        table: format!("{} {}", d.family, d.table),
        chain: d.chain.clone(),
        rule,
        verdict: d.verdict.to_string(),
        source: d.source.clone(),
        answer,
    })
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

/// Whether counters moved on a probe's path without naming what decided
/// it: only a conntrack ESTABLISHED accept (which other flows' late packets
/// take), no drop and no accept a new flow's first packet can take.
fn counted_inconclusively(t: &FlowTrace) -> bool {
    t.decision
        .as_ref()
        .is_some_and(|d| d.verdict == Verdict::Accept)
        && counted_drop(t).is_none()
        && counted_accept(t).is_none()
}

/// With counters, the rule or policy that dropped an unanswered probe: the
/// first filter step in chain order that dropped (a REJECT too), even when
/// an accept moved in the same chain — another flow's late packet taking
/// the conntrack ESTABLISHED rule, counted in the same window.
fn counted_drop(t: &FlowTrace) -> Option<Why> {
    if t.probe == ProbeOutcome::Answered {
        return None;
    }
    counted_step(t, |s| s.verdict == Verdict::Drop)
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
    counted_step(t, |s| {
        s.verdict == Verdict::Accept && s.rule.as_deref().is_none_or(|r| !r.contains("ESTABLISHED"))
    })
}

/// The [`Why`] of the first counted filter step (in hook and chain order)
/// that `pick` takes; a policy is named `policy <VERDICT>`.
fn counted_step(t: &FlowTrace, pick: impl Fn(&Step) -> bool) -> Option<Why> {
    t.hooks().filter(|h| !h.is_nat()).find_map(|h| {
        let step = h.steps.iter().find(|s| pick(s))?;
        Some(Why {
            node: None,
            table: format!("{} {}", h.family, h.table),
            chain: step.chain.clone(),
            rule: step
                .rule
                .clone()
                .unwrap_or_else(|| format!("policy {}", step.verdict.to_string().to_uppercase())),
            verdict: step.verdict.to_string(),
            source: step.source.clone(),
            answer: false,
        })
    })
}

/// One cell traced hook by hook in each node whose rules decide
/// (see [`trace_cell`]); its text (`Display`) is the trace in each node,
/// and [`CellTrace::why`] what a matrix row would say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellTrace {
    /// The cell.
    pub cell: Cell,
    /// The trace in each deciding node, in lab order: (node, trace). A
    /// Docker host's lab has one, the host's.
    traces: Vec<(String, FlowTrace)>,
    /// Whether the lab is a generic one (whys name their node).
    generic: bool,
    /// The lab's picture, for the HTML page.
    pub(crate) topology: Option<Arc<Graph>>,
}

impl CellTrace {
    /// The rules that decided the cell, as a matrix row gives them.
    pub fn why(&self) -> Vec<Why> {
        merged(
            self.traces
                .iter()
                .map(|(node, t)| labelled(why_of(t), self.generic.then_some(node)))
                .collect(),
        )
    }

    /// What the probe saw (the first trace's: one probe was sent for all
    /// nodes traced by nftrace), `None` without any trace.
    pub(crate) fn probe(&self) -> Option<ProbeOutcome> {
        self.traces.first().map(|(_, t)| t.probe)
    }

    /// The traces of the nodes the probe reached (every node's if it reached none).
    fn shown(&self) -> Vec<&(String, FlowTrace)> {
        let reached: Vec<_> = self
            .traces
            .iter()
            .filter(|(_, t)| t.hooks().next().is_some())
            .collect();
        if reached.is_empty() {
            self.traces.iter().collect()
        } else {
            reached
        }
    }
}

/// The trace as text: the flow (its source port, or echo identifier, and
/// what the probe saw), then each traced packet hook by hook (each rule it
/// met with its verdict, the addresses after each NAT step), the answer's
/// path, and the decision; in a generic lab, each node's under
/// `== in node NAME ==` (the nodes the probe reached).
impl std::fmt::Display for CellTrace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.generic
            && let Some((_, t)) = self.traces.first()
        {
            return write!(f, "{t}");
        }
        if self.traces.is_empty() {
            return write!(f, "{}: no node of the lab has rules to trace", self.cell);
        }
        for (k, (node, t)) in self.shown().into_iter().enumerate() {
            if k > 0 {
                writeln!(f)?;
            }
            writeln!(f, "== in node {node} ==")?;
            write!(f, "{t}")?;
        }
        Ok(())
    }
}

/// Traces one cell hook by hook, for reproducing a bug: netrig's servers
/// started as for a matrix, then the cell's probe traced by the kernel
/// (nftrace) in every deciding node with the nftables or iptables-nft
/// backend (one probe for all), and attributed by rule-counter deltas in
/// each iptables-legacy one, with `file:line` for rules from the topology's
/// rule files. An ICMP cell's echo request is selected by its identifier.
/// `deadline` bounds the wait for an answer no verdict settled
/// ([`DEFAULT_DEADLINE`] as a matrix).
///
/// ```no_run
/// use netrig::reach::{Cell, DEFAULT_DEADLINE, trace_cell};
/// let lab = netrig::topology::load("topologies/docker-user-rules.toml")?.up()?;
/// let cell = Cell::parse("internet", "203.0.113.2:8080/tcp")?;
/// let trace = trace_cell(&lab, &cell, DEFAULT_DEADLINE)?;
/// println!("{trace}"); // hook by hook, then "decision: ip filter DOCKER-USER rule …"
/// println!("because {}", trace.why()[0]);
/// # Ok::<_, netrig::Error>(())
/// ```
pub fn trace_cell(lab: &crate::Lab, cell: &Cell, deadline: Duration) -> Result<CellTrace> {
    let target = Target::from(lab);
    let from = target.source(&cell.from)?;
    let _servers = Servers::start(&target.server_sites(std::slice::from_ref(cell))?)?;
    let deciders = target.deciders()?;
    let flow = flow_of(cell);
    let traced: Vec<usize> = (0..deciders.len())
        .filter(|&k| deciders[k].backend != Backend::IptablesLegacy)
        .collect();
    let ats: Vec<(&Namespace, Backend)> = traced
        .iter()
        .map(|&k| (deciders[k].ns, deciders[k].backend))
        .collect();
    let sources = [(from, std::slice::from_ref(&flow))];
    let mut by_decider: Vec<Option<FlowTrace>> = vec![None; deciders.len()];
    for (&k, mut per_source) in traced
        .iter()
        .zip(trace_sources_at(&sources, &ats, deadline)?)
    {
        by_decider[k] = per_source.pop().and_then(|mut flows| flows.pop());
    }
    let mut traces = Vec::new();
    for (d, t) in deciders.iter().zip(by_decider) {
        let mut t = match t {
            Some(t) => t,
            None => count_flow(from, d.ns, d.backend, &flow, deadline)?,
        };
        t.attach_rule_files(&d.files)?;
        traces.push((d.node.clone(), t));
    }
    Ok(CellTrace {
        cell: cell.clone(),
        traces,
        generic: target.is_generic(),
        topology: Some(Arc::new(Graph::of(lab.spec()))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn why(node: &str, chain: &str, verdict: &str) -> Why {
        Why {
            node: Some(node.into()),
            table: "ip filter".into(),
            chain: chain.into(),
            rule: format!("-A {chain} -j X"),
            verdict: verdict.into(),
            source: None,
            answer: false,
        }
    }

    #[test]
    fn the_first_drop_on_a_path_decides_alone_and_nat_is_kept() {
        let masq = why("h1", "POSTROUTING", "nat");
        let merged_drop = merged(vec![
            vec![why("h1", "FORWARD", "accept"), masq.clone()],
            vec![why("h2", "DOCKER-USER", "drop"), masq.clone()],
        ]);
        assert_eq!(
            merged_drop,
            vec![why("h2", "DOCKER-USER", "drop"), masq.clone()]
        );
        let dnat = why("h2", "DOCKER", "nat");
        let accepted = merged(vec![
            vec![why("h1", "FORWARD", "accept"), masq.clone()],
            vec![],
            vec![why("h2", "DOCKER", "accept"), dnat.clone()],
        ]);
        assert_eq!(
            accepted,
            vec![
                why("h1", "FORWARD", "accept"),
                why("h2", "DOCKER", "accept"),
                masq,
                dnat
            ]
        );
        assert!(merged(vec![vec![], vec![]]).is_empty());
    }

    /// A counted trace of a forwarded IPv6 flow, from ip6tables-save
    /// counters before and after.
    fn counted(after: &str) -> FlowTrace {
        use crate::nftrace::{Family, counter_trace, decide};
        let packets = vec![counter_trace(Family::Ip6, COUNTED, after)];
        FlowTrace {
            flow: Flow::tcp("[2001:db8:61:2::2]:81").unwrap(),
            sport: 40000,
            backend: Backend::IptablesLegacy,
            method: Method::Counters,
            probe: ProbeOutcome::NoAnswer,
            decision: decide(&packets),
            packets,
            answers: Vec::new(),
            notes: Vec::new(),
        }
    }

    const COUNTED: &str = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n\
        [0:0] -A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n\
        [0:0] -A FORWARD -p tcp -m tcp --dport 81 -j REJECT --reject-with tcp-reset\nCOMMIT\n";

    #[test]
    fn only_other_flows_late_packets_counted_is_inconclusive() {
        // An earlier cell's FIN crossed (ESTABLISHED), the probe's SYN not yet.
        let late = counted(&COUNTED.replacen("[0:0] -A FORWARD -m", "[1:72] -A FORWARD -m", 1));
        assert!(counted_inconclusively(&late), "{late}");
        // Nothing moved at all: dropped before this node, nothing to wait for.
        assert!(!counted_inconclusively(&counted(COUNTED)));
        // The SYN met the REJECT: that decides, whatever else moved.
        let rejected = counted(
            &COUNTED
                .replacen("[0:0] -A FORWARD -m", "[1:72] -A FORWARD -m", 1)
                .replacen("[0:0] -A FORWARD -p", "[1:80] -A FORWARD -p", 1),
        );
        assert!(!counted_inconclusively(&rejected), "{rejected}");
        let why = why_of(&rejected);
        assert_eq!(why.len(), 1, "{why:?}");
        assert!(why[0].rule.contains("REJECT"), "{why:?}");
        assert_eq!(
            (why[0].chain.as_str(), why[0].verdict.as_str()),
            ("FORWARD", "drop")
        );
    }
}
