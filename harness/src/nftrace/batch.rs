//! Many probes traced at once: every source's flows under one trace table
//! in each namespace holding rules (one set element per probe, looked up
//! by one rule per family and protocol; the answers by one set of keys per
//! protocol), probe keys unique across sources and unused by conntrack
//! entries there, every probe sent together, and the events split by key
//! and way (probe or answer) into one [`FlowTrace`] per flow and namespace.

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

/// Which probes a traced drop (a terminal verdict other than accept, of
/// the probe or of its answer) has settled, read incrementally as events arrive.
struct Drops<'k> {
    keys: &'k Keys,
    /// Trace id -> the key of its latest packet headers.
    ids: std::collections::HashMap<u32, Option<ProbeKey>>,
    dropped: std::collections::HashSet<ProbeKey>,
    read: usize,
}

impl<'k> Drops<'k> {
    fn new(keys: &'k Keys) -> Self {
        Drops {
            keys,
            ids: Default::default(),
            dropped: Default::default(),
            read: 0,
        }
    }

    fn update(&mut self, events: &[TraceEvent]) {
        for e in &events[self.read.min(events.len())..] {
            if let Some(p) = e.packet {
                self.ids
                    .insert(e.id, packet_key(&p, self.keys).map(|(k, _)| k));
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
    // The answers, by the probe's key as their destination port (or echo id):
    // a rule can drop an answer too (a conntrack match meant for the probe).
    const ANSWERS: [(&str, FlowProto, bool, &str, &str); 4] = [
        (
            "tcp_answers",
            FlowProto::Tcp,
            false,
            "tcp dport",
            "tcp flags & (syn | ack) == syn | ack",
        ),
        (
            "udp_answers",
            FlowProto::Udp,
            false,
            "udp dport",
            "meta l4proto udp",
        ),
        (
            "icmp_answers",
            FlowProto::Icmp,
            false,
            "icmp id",
            "icmp type echo-reply",
        ),
        (
            "icmp6_answers",
            FlowProto::Icmp,
            true,
            "icmpv6 id",
            "icmpv6 type echo-reply",
        ),
    ];
    for (name, proto, ipv6, key, matches) in ANSWERS {
        let mut ids: Vec<u16> = probes
            .iter()
            .filter(|p| {
                p.flow.proto == proto && (proto != FlowProto::Icmp || p.flow.dst.is_ipv6() == ipv6)
            })
            .map(|p| p.sport)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            continue;
        }
        let ids: Vec<String> = ids.iter().map(u16::to_string).collect();
        sets.push(format!(
            "set {name} {{ typeof {key}; elements = {{ {} }} }}",
            ids.join(", ")
        ));
        selectors.push(format!("{matches} {key} @{name}"));
    }
    (sets, selectors)
}

/// The traces of `sources`' flows in each namespace of `ats` at once (the
/// nodes with rules along the probes' paths, each with its backend): one
/// trace table in each whose selectors cover every probe, the probes sent
/// once and awaited together, a drop traced in any of them settling its
/// probe, the ruleset read once per namespace. Probe keys (protocol and
/// source port, or echo identifier) are made unique across the sources (a
/// source's socket whose key another source already has is bound again),
/// so every packet is assigned to its own flow. Traces come back per
/// namespace of `ats`, then per source and flow, in the order of `sources`
/// and of each source's flows.
///
/// Completion is causal: an answered or refused probe means the traced
/// packet has passed every hook on its way (events are queued on the socket
/// as the packet crosses each hook), so only a probe without answer waits:
/// for a non-accept verdict, at most `timeout`. Fails with
/// [`Error::Invalid`] for [`Backend::IptablesLegacy`], whose rules the
/// kernel cannot trace.
pub(crate) fn trace_sources_at(
    sources: &[(&Namespace, &[Flow])],
    ats: &[(&Namespace, Backend)],
    timeout: Duration,
) -> Result<Vec<Vec<Vec<FlowTrace>>>> {
    if let Some((at, _)) = ats.iter().find(|(_, b)| *b == Backend::IptablesLegacy) {
        return Err(Error::invalid(
            at.subject().clone(),
            "firewall backend",
            "iptables-legacy rules are not nf_tables rules, so the kernel emits no trace \
             events (nftrace) for them; trace with the iptables-nft or nftables backend, \
             or attribute by rule counters (as a matrix and trace_cell do on iptables-legacy)",
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
    let all: Keys = keys.iter().map(|k| (k.protocol, k.id)).collect();
    let mut drops: Vec<Drops> = ats.iter().map(|_| Drops::new(&all)).collect();
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
    for (tracer, (at, backend)) in tracers.into_iter().zip(ats) {
        let table = tracer.table().to_string();
        let events = tracer.stop()?;
        tracing::debug!(subject = %at.subject(), elapsed = ?started.elapsed(), events = events.len(), "trace table removed");
        let context = TraceContext::read(at, *backend)?;
        tracing::debug!(elapsed = ?started.elapsed(), "ruleset read");
        out.push(split_events(
            &probes,
            &outcomes,
            &events_by_key(&events, &all),
            &table,
            &context,
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
    by_key: &ByKey,
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
    for (probe, outcome) in probes.iter().zip(outcomes) {
        let key = key_of(probe.flow, probe.sport);
        let none = Vec::new();
        let own = by_key.get(&(key, Way::Probe)).unwrap_or(&none);
        let answer = by_key.get(&(key, Way::Answer)).unwrap_or(&none);
        let packets = packet_traces(own, book, ifnames, Some(table));
        let answers = packet_traces(answer, book, ifnames, Some(table));
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
            answers,
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

/// Which way a traced packet went: the probe's, or its answer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Way {
    Probe,
    Answer,
}

/// The probe a traced packet belongs to, and which way it went: a TCP or
/// UDP packet from a probe's key (port), or to it (its answer); an echo
/// request or reply with a probe's identifier.
fn packet_key(p: &super::headers::PacketHeaders, keys: &Keys) -> Option<(ProbeKey, Way)> {
    let ours = |id: u16| keys.contains(&(p.protocol, id));
    let (id, way) = match (p.protocol as i32, p.icmp.map(|t| t.0)) {
        (libc::IPPROTO_ICMP, Some(8)) | (libc::IPPROTO_ICMPV6, Some(128)) => {
            (p.echo?.0, Way::Probe)
        }
        (libc::IPPROTO_ICMP, Some(0)) | (libc::IPPROTO_ICMPV6, Some(129)) => {
            (p.echo?.0, Way::Answer)
        }
        (libc::IPPROTO_ICMP | libc::IPPROTO_ICMPV6, _) => return None,
        _ => match (p.sport, p.dport) {
            (Some(s), _) if ours(s) => (s, Way::Probe),
            (_, Some(d)) if ours(d) => (d, Way::Answer),
            _ => return None,
        },
    };
    ours(id).then_some((
        ProbeKey {
            protocol: p.protocol,
            id,
        },
        way,
    ))
}

/// Trace events per probe key and way.
type ByKey = std::collections::HashMap<(ProbeKey, Way), Vec<TraceEvent>>;

/// The events of each probe key and way: an event belongs to the packet
/// whose headers its trace id last reported (the kernel sends them with
/// the first event of each base chain; a later packet may reuse an id).
fn events_by_key(events: &[TraceEvent], keys: &Keys) -> ByKey {
    let mut ids: std::collections::HashMap<u32, Option<(ProbeKey, Way)>> = Default::default();
    let mut out = ByKey::default();
    for e in events {
        if let Some(p) = e.packet {
            ids.insert(e.id, packet_key(&p, keys));
        }
        if let Some(Some(key)) = ids.get(&e.id) {
            out.entry(*key).or_default().push(e.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nftrace::headers::PacketHeaders;

    fn packet(protocol: u8, ports: Option<(u16, u16)>, icmp: Option<(u8, u16)>) -> PacketHeaders {
        PacketHeaders {
            src: "198.51.100.1".parse().unwrap(),
            dst: "198.51.100.2".parse().unwrap(),
            protocol,
            sport: ports.map(|p| p.0),
            dport: ports.map(|p| p.1),
            icmp: icmp.map(|(t, _)| (t, 0)),
            echo: icmp.map(|(_, id)| (id, 1)),
            tcp_flags: None,
        }
    }

    #[test]
    fn a_packet_is_its_probes_or_that_probes_answer() {
        let keys: Keys = [(6, 40000), (17, 40001), (1, 7)].into_iter().collect();
        let key = |protocol, id| ProbeKey { protocol, id };
        let cases = [
            (
                packet(6, Some((40000, 8080)), None),
                Some((key(6, 40000), Way::Probe)),
            ),
            (
                packet(6, Some((80, 40000)), None),
                Some((key(6, 40000), Way::Answer)),
            ),
            (
                packet(17, Some((53, 40001)), None),
                Some((key(17, 40001), Way::Answer)),
            ),
            (packet(17, Some((40000, 53)), None), None), // another protocol's key
            (packet(1, None, Some((8, 7))), Some((key(1, 7), Way::Probe))),
            (
                packet(1, None, Some((0, 7))),
                Some((key(1, 7), Way::Answer)),
            ),
            (packet(1, None, Some((3, 7))), None), // an ICMP error is neither
            (packet(6, Some((1234, 80)), None), None),
        ];
        for (p, want) in cases {
            assert_eq!(packet_key(&p, &keys), want, "{p}");
        }
    }
}
