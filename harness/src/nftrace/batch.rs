//! Many probes traced at once: every source's flows under one trace table
//! in the namespace holding the rules (one set element per probe, looked up
//! by one rule per family and protocol), probe keys unique across sources,
//! every probe sent together, and the events split by key into one
//! [`FlowTrace`] per flow.

use std::os::fd::AsFd;
use std::time::Duration;

use super::decode::{TraceEvent, Verdict};
use super::flow::{Flow, FlowProto, FlowTrace, Method, TraceContext};
use super::path::{decide, packet_traces};
use super::probe::{Keys, bind_free, bound_socket, held_keys, send_probes};
use super::tracer::Tracer;
use crate::Backend;
use crate::Namespace;
use crate::error::{Error, Result};

/// [`trace_flows`](super::trace_flows) from several sources at once, into one namespace `at`:
/// one trace table whose selectors cover every probe, every probe sent at
/// once and awaited together, the ruleset read once. Probe keys (protocol
/// and source port, or echo identifier) are made unique across the sources
/// (a source's socket whose key another source already has is bound
/// again), so every packet is assigned to its own flow. Traces come back
/// per source, in the order of `sources` and of each source's flows.
///
/// ```no_run
/// use std::time::Duration;
/// use netrig::Backend;
/// use netrig::nftrace::{trace_sources, Flow};
/// let docker = netrig::topology::load("topologies/docker-bridge.toml")?.up()?;
/// let flows = vec![Flow::tcp("203.0.113.2:8080")?, Flow::icmp("198.51.100.10")?];
/// let (internet, web) = (docker.internet()?, docker.node("web")?);
/// let sources = [(internet.namespace(), flows.clone()), (web.namespace(), flows)];
/// let per_source = trace_sources(&sources, docker.host_node()?.namespace(),
///     Backend::IptablesNft, Duration::from_millis(500))?;
/// assert_eq!(per_source.len(), 2);
/// # Ok::<_, netrig::Error>(())
/// ```
pub fn trace_sources(
    sources: &[(&Namespace, Vec<Flow>)],
    at: &Namespace,
    backend: Backend,
    timeout: Duration,
) -> Result<Vec<Vec<FlowTrace>>> {
    let refs: Vec<(&Namespace, &[Flow])> =
        sources.iter().map(|(ns, f)| (*ns, f.as_slice())).collect();
    trace_sources_in(&refs, at, backend, timeout, &mut None)
}

/// [`trace_flows`](super::trace_flows) reusing `context` (read by the first call that needs it).
pub(crate) fn trace_flows_in(
    from: &Namespace,
    at: &Namespace,
    backend: Backend,
    flows: &[Flow],
    timeout: Duration,
    context: &mut Option<TraceContext>,
) -> Result<Vec<FlowTrace>> {
    let mut per_source = trace_sources_in(&[(from, flows)], at, backend, timeout, context)?;
    Ok(per_source.pop().unwrap_or_default())
}

/// One probe: its source, flow, bound socket and key (port or echo id).
struct Probe<'a> {
    source: usize,
    flow: &'a Flow,
    socket: std::os::fd::OwnedFd,
    sport: u16,
}

/// Binds every flow's socket in its source, with keys unique over all
/// sources and not `held` by a conntrack entry.
fn bind_probes<'a>(sources: &[(&Namespace, &'a [Flow])], held: &Keys) -> Result<Vec<Probe<'a>>> {
    let mut probes = Vec::new();
    let mut taken = std::collections::HashSet::new();
    for (source, (from, flows)) in sources.iter().enumerate() {
        // One trip into the source namespace for every socket (entering one costs).
        let sockets = from
            .run(|| {
                flows
                    .iter()
                    .map(bound_socket)
                    .collect::<std::io::Result<Vec<_>>>()
            })?
            .map_err(|e| Error::io(from.subject().clone(), "bind the probe socket", e))?;
        for (flow, socket) in flows.iter().zip(sockets) {
            let (socket, sport) = bind_free(from, flow, socket, |sport| {
                let key = key_of(flow, sport);
                !held.contains(&(key.protocol, key.id)) && taken.insert(key)
            })?;
            probes.push(Probe {
                source,
                flow,
                socket,
                sport,
            });
        }
    }
    Ok(probes)
}

/// Which probes a traced drop (a terminal verdict other than accept) has
/// settled, read incrementally as events arrive.
#[derive(Default)]
struct Drops {
    /// Trace id -> the key of its first packet headers.
    ids: std::collections::HashMap<u32, Option<ProbeKey>>,
    dropped: std::collections::HashSet<ProbeKey>,
    read: usize,
}

impl Drops {
    fn update(&mut self, events: &[TraceEvent]) {
        for e in &events[self.read.min(events.len())..] {
            if let Some(p) = e.packet {
                self.ids.entry(e.id).or_insert_with(|| packet_key(&p));
            }
            if e.outcome()
                .is_some_and(|v| v.is_terminal() && *v != Verdict::Accept)
                && let Some(Some(key)) = self.ids.get(&e.id)
            {
                self.dropped.insert(*key);
            }
        }
        self.read = events.len();
    }
}

/// The trace table's sets and selectors for `probes`: flows without a
/// source address go into one set per family and protocol, keyed by
/// destination, ports (or echo identifier), looked up by one rule each;
/// a flow with a source address gets a rule of its own.
fn trace_rules(probes: &[Probe<'_>]) -> (Vec<String>, Vec<String>) {
    // (set name, typeof, lookup rule) per family and protocol.
    const SETS: [(&str, bool, FlowProto, &str, &str); 6] = [
        (
            "tcp4",
            false,
            FlowProto::Tcp,
            "ip daddr . tcp sport . tcp dport",
            "tcp flags & (syn | ack) == syn",
        ),
        (
            "udp4",
            false,
            FlowProto::Udp,
            "ip daddr . udp sport . udp dport",
            "meta l4proto udp",
        ),
        (
            "icmp4",
            false,
            FlowProto::Icmp,
            "ip daddr . icmp id",
            "icmp type echo-request",
        ),
        (
            "tcp6",
            true,
            FlowProto::Tcp,
            "ip6 daddr . tcp sport . tcp dport",
            "tcp flags & (syn | ack) == syn",
        ),
        (
            "udp6",
            true,
            FlowProto::Udp,
            "ip6 daddr . udp sport . udp dport",
            "meta l4proto udp",
        ),
        (
            "icmp6",
            true,
            FlowProto::Icmp,
            "ip6 daddr . icmpv6 id",
            "icmpv6 type echo-request",
        ),
    ];
    let mut sets = Vec::new();
    let mut selectors: Vec<String> = probes
        .iter()
        .filter(|p| p.flow.src.is_some())
        .map(|p| p.flow.selector(p.sport))
        .collect();
    for (name, ipv6, proto, key, matches) in SETS {
        let elements: Vec<String> = probes
            .iter()
            .filter(|p| {
                p.flow.src.is_none() && p.flow.proto == proto && p.flow.dst.is_ipv6() == ipv6
            })
            .map(|p| match proto {
                FlowProto::Icmp => format!("{} . {}", p.flow.dst.ip(), p.sport),
                _ => format!("{} . {} . {}", p.flow.dst.ip(), p.sport, p.flow.dst.port()),
            })
            .collect();
        if elements.is_empty() {
            continue;
        }
        sets.push(format!(
            "set {name} {{ typeof {key}; elements = {{ {} }} }}",
            elements.join(", ")
        ));
        selectors.push(format!("{matches} {key} @{name}"));
    }
    (sets, selectors)
}

/// The traces of `sources`' flows into `at` (see [`trace_sources`]).
pub(crate) fn trace_sources_in(
    sources: &[(&Namespace, &[Flow])],
    at: &Namespace,
    backend: Backend,
    timeout: Duration,
    context: &mut Option<TraceContext>,
) -> Result<Vec<Vec<FlowTrace>>> {
    let mut contexts = [context.take()];
    let mut per_at = trace_sources_at(sources, &[(at, backend)], timeout, &mut contexts)?;
    *context = contexts[0].take();
    Ok(per_at.pop().unwrap_or_default())
}

/// The traces of `sources`' flows in each namespace of `ats` at once (the
/// nodes with rules along the probes' paths, each with its backend): one
/// trace table in each, the probes sent once, a drop traced in any of them
/// settling its probe. Traces come back per namespace of `ats`, then per
/// source and flow as [`trace_sources`] returns them; `contexts` (one per
/// namespace) are read by the first call that needs them.
pub(crate) fn trace_sources_at(
    sources: &[(&Namespace, &[Flow])],
    ats: &[(&Namespace, Backend)],
    timeout: Duration,
    contexts: &mut [Option<TraceContext>],
) -> Result<Vec<Vec<Vec<FlowTrace>>>> {
    assert_eq!(ats.len(), contexts.len(), "a context per traced namespace");
    if let Some((at, _)) = ats.iter().find(|(_, b)| *b == Backend::IptablesLegacy) {
        return Err(Error::invalid(
            at.subject().clone(),
            "firewall backend",
            "iptables-legacy rules are not nf_tables rules, so the kernel emits no trace \
             events (nftrace) for them; trace with the iptables-nft or nftables backend, \
             or attribute by rule counters with netrig::nftrace::count_flow",
        ));
    }
    let empty = || -> Vec<Vec<FlowTrace>> { sources.iter().map(|_| Vec::new()).collect() };
    if ats.is_empty() || sources.iter().all(|(_, f)| f.is_empty()) {
        return Ok(ats.iter().map(|_| empty()).collect()); // (no selectors would trace every packet)
    }
    let started = std::time::Instant::now();
    let mut held = Keys::new();
    for (at, _) in ats {
        held.extend(held_keys(at)?);
    }
    let probes = bind_probes(sources, &held)?;
    tracing::debug!(elapsed = ?started.elapsed(), probes = probes.len(), "probe sockets bound");
    let (sets, selectors) = trace_rules(&probes);
    let mut tracers = Vec::with_capacity(ats.len());
    for (at, _) in ats {
        tracers.push(Tracer::start_with_sets(at, &sets, &selectors)?);
    }
    tracing::debug!(elapsed = ?started.elapsed(), tables = tracers.len(), "trace tables added");
    let wakeups = tracers
        .iter()
        .zip(ats)
        .map(|(t, (at, _))| {
            t.wakeup_fd()
                .map_err(|e| Error::io(at.subject().clone(), "duplicate the trace socket", e))
        })
        .collect::<Result<Vec<_>>>()?;
    let keys: Vec<ProbeKey> = probes.iter().map(|p| key_of(p.flow, p.sport)).collect();
    let mut drops: Vec<Drops> = ats.iter().map(|_| Drops::default()).collect();
    // A drop traced (in any namespace) while the probes wait for their answers settles them now.
    let mut dropped = |waiting: &[usize]| -> std::io::Result<Vec<usize>> {
        for (tracer, drops) in tracers.iter_mut().zip(&mut drops) {
            tracer
                .drain()
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            drops.update(tracer.events());
        }
        Ok(waiting
            .iter()
            .copied()
            .filter(|&i| drops.iter().any(|d| d.dropped.contains(&keys[i])))
            .collect())
    };
    let sockets: Vec<(&std::os::fd::OwnedFd, &Flow)> =
        probes.iter().map(|p| (&p.socket, p.flow)).collect();
    // Events are queued synchronously as a packet crosses each hook, so an
    // answered (or refused, or blocked) probe has every event of its path
    // queued already; a probe without answer has waited `timeout`, or seen
    // its drop.
    let fds = wakeups.iter().map(|w| w.as_fd()).collect();
    let outcomes = send_probes(&sockets, timeout, Some((fds, &mut dropped)))
        .map_err(|e| Error::io(ats[0].0.subject().clone(), "send the probes", e))?;
    drop(sockets);
    tracing::debug!(elapsed = ?started.elapsed(), "probes settled");
    let mut out = Vec::with_capacity(ats.len());
    for ((tracer, (at, backend)), context) in tracers.into_iter().zip(ats).zip(contexts.iter_mut())
    {
        let table = tracer.table().to_string();
        let events = tracer.stop()?;
        tracing::debug!(subject = %at.subject(), elapsed = ?started.elapsed(), events = events.len(), "trace table removed");
        if context.is_none() {
            *context = Some(TraceContext::read(at, *backend)?);
            tracing::debug!(elapsed = ?started.elapsed(), "ruleset read");
        }
        let context = context.as_ref().expect("read above");
        out.push(split_events(
            &probes,
            &outcomes,
            &events,
            &table,
            context,
            *backend,
            sources.len(),
        ));
        tracing::debug!(subject = %at.subject(), elapsed = ?started.elapsed(), sources = sources.len(), flows = keys.len(), events = events.len(), "flows traced");
    }
    Ok(out)
}

/// One namespace's events split by probe key into a [`FlowTrace`] per
/// probe, grouped per source.
fn split_events(
    probes: &[Probe<'_>],
    outcomes: &[super::ProbeOutcome],
    events: &[TraceEvent],
    table: &str,
    context: &TraceContext,
    backend: Backend,
    sources: usize,
) -> Vec<Vec<FlowTrace>> {
    let TraceContext {
        book,
        ifnames,
        notes,
    } = context;
    let mut out: Vec<Vec<FlowTrace>> = (0..sources).map(|_| Vec::new()).collect();
    let mut by_key = events_by_key(events);
    for (probe, outcome) in probes.iter().zip(outcomes) {
        let own = by_key
            .remove(&key_of(probe.flow, probe.sport))
            .unwrap_or_default();
        let packets = packet_traces(&own, book, ifnames, Some(table));
        let mut notes = notes.clone();
        if packets.iter().all(|p| p.hooks.is_empty()) {
            notes.push(if own.is_empty() {
                "the probe never reached a netfilter hook of the traced namespace \
                 (not routed there, or lost before it)"
                    .to_string()
            } else {
                "the probe reached the traced namespace, but no nf_tables chain other than \
                 netrig's trace chain saw it: no rule here filtered it"
                    .to_string()
            });
        }
        out[probe.source].push(FlowTrace {
            flow: probe.flow.clone(),
            sport: probe.sport,
            backend,
            method: Method::Nftrace,
            probe: *outcome,
            decision: decide(&packets),
            packets,
            notes,
        });
    }
    out
}

/// What tells a probe's packets from every other traced packet: the IP
/// protocol and the source port, or for an ICMP echo request its identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct ProbeKey {
    protocol: u8,
    id: u16,
}

fn key_of(flow: &Flow, sport: u16) -> ProbeKey {
    ProbeKey {
        protocol: flow.proto.ip_proto(flow.dst.is_ipv6()),
        id: sport,
    }
}

/// The key of a traced packet, if it is a TCP/UDP packet or an echo request.
fn packet_key(p: &super::PacketHeaders) -> Option<ProbeKey> {
    let id = match p.protocol as i32 {
        libc::IPPROTO_ICMP => p.echo.filter(|_| p.icmp.is_some_and(|t| t.0 == 8))?.0,
        libc::IPPROTO_ICMPV6 => p.echo.filter(|_| p.icmp.is_some_and(|t| t.0 == 128))?.0,
        _ => p.sport?,
    };
    Some(ProbeKey {
        protocol: p.protocol,
        id,
    })
}

/// The events of each probe key: those of the trace ids whose packet
/// headers, where first reported for the id, have that key.
fn events_by_key(events: &[TraceEvent]) -> std::collections::HashMap<ProbeKey, Vec<TraceEvent>> {
    let mut ids: std::collections::HashMap<u32, Option<ProbeKey>> = Default::default();
    for e in events {
        if let Some(p) = e.packet {
            ids.entry(e.id).or_insert_with(|| packet_key(&p));
        }
    }
    let mut out: std::collections::HashMap<ProbeKey, Vec<TraceEvent>> = Default::default();
    for e in events {
        if let Some(Some(key)) = ids.get(&e.id) {
            out.entry(*key).or_default().push(e.clone());
        }
    }
    out
}
