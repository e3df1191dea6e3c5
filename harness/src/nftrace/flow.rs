//! A flow and its trace: what a probe speaks and where it goes ([`Flow`]),
//! its verdict path ([`FlowTrace`], printed hook by hook like
//! iptables-tracer), and [`count_flow`], which attributes one probe by rule
//! counters where the kernel cannot trace (iptables-legacy).

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::counters::counter_trace;
use super::decode::Family;
use super::path::{Decision, Hook, PacketTrace, Step, decide};
use super::probe::{Keys, ProbeOutcome, bind_free, bound_socket, held_keys, send_probe};
use super::rules::RuleBook;
use super::sources::SourceMap;
use crate::Namespace;
use crate::error::{Error, Result};
use crate::{Backend, Proto};

/// What a traced flow's probe speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowProto {
    /// A TCP SYN (connect).
    Tcp,
    /// A UDP datagram.
    Udp,
    /// An ICMP (ICMPv6 for IPv6) echo request, from an ICMP datagram socket
    /// whose bound "port" is the request's identifier.
    Icmp,
}

impl FlowProto {
    /// `tcp`, `udp` or `icmp`.
    pub fn as_str(self) -> &'static str {
        match self {
            FlowProto::Tcp => "tcp",
            FlowProto::Udp => "udp",
            FlowProto::Icmp => "icmp",
        }
    }

    /// The IP protocol number of its packets (`ipv6`: ICMPv6 for echo).
    pub fn ip_proto(self, ipv6: bool) -> u8 {
        (match (self, ipv6) {
            (FlowProto::Tcp, _) => libc::IPPROTO_TCP,
            (FlowProto::Udp, _) => libc::IPPROTO_UDP,
            (FlowProto::Icmp, false) => libc::IPPROTO_ICMP,
            (FlowProto::Icmp, true) => libc::IPPROTO_ICMPV6,
        }) as u8
    }
}

impl From<Proto> for FlowProto {
    fn from(p: Proto) -> FlowProto {
        match p {
            Proto::Tcp => FlowProto::Tcp,
            Proto::Udp => FlowProto::Udp,
        }
    }
}

impl fmt::Display for FlowProto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A flow to trace: protocol, destination, and optionally the source address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    /// Protocol.
    pub proto: FlowProto,
    /// Destination address and port (port 0 for ICMP echo).
    pub dst: SocketAddr,
    /// Source address to bind (default: chosen by the source's routing).
    pub src: Option<IpAddr>,
}

/// Flows from text, for the tests (netrig builds its flows from a matrix's cells).
#[cfg(test)]
impl Flow {
    /// A TCP flow to `dst` (`"203.0.113.2:8080"`, `"[fd00::2]:80"`).
    pub fn tcp(dst: &str) -> Result<Flow> {
        Flow::new(FlowProto::Tcp, dst)
    }

    /// A UDP flow to `dst`.
    pub fn udp(dst: &str) -> Result<Flow> {
        Flow::new(FlowProto::Udp, dst)
    }

    /// An ICMP echo to address `dst` (`"198.51.100.10"`, `"fd00::2"`): an
    /// echo request whose identifier selects it in the trace.
    pub fn icmp(dst: &str) -> Result<Flow> {
        let ip: IpAddr = dst.parse().map_err(|_| {
            Error::invalid(
                crate::Subject::default(),
                "flow destination",
                format!("{dst:?} is not an address (an ICMP echo has no port)"),
            )
        })?;
        Ok(Flow {
            proto: FlowProto::Icmp,
            dst: SocketAddr::new(ip, 0),
            src: None,
        })
    }

    fn new(proto: FlowProto, dst: &str) -> Result<Flow> {
        let dst = dst.parse().map_err(|_| {
            Error::invalid(
                crate::Subject::default(),
                "flow destination",
                format!("{dst:?} is not an address:port"),
            )
        })?;
        Ok(Flow {
            proto,
            dst,
            src: None,
        })
    }

    /// The same flow from source address `src` (bound on the probe socket).
    pub fn source(mut self, src: &str) -> Result<Flow> {
        let addr: IpAddr = src.parse().map_err(|_| {
            Error::invalid(
                crate::Subject::default(),
                "flow source",
                format!("{src:?} is not an address"),
            )
        })?;
        self.src = Some(addr);
        Ok(self)
    }
}

impl Flow {
    /// The nft match selecting this flow's probe sent from source port
    /// `sport` (for ICMP: the echo request with identifier `sport`).
    pub(super) fn selector(&self, sport: u16) -> String {
        let ip = if self.dst.is_ipv4() { "ip" } else { "ip6" };
        let proto = self.proto.as_str();
        let mut s = match self.proto {
            FlowProto::Icmp => {
                let icmp = if self.dst.is_ipv4() { "icmp" } else { "icmpv6" };
                format!(
                    "{ip} daddr {} {icmp} type echo-request {icmp} id {sport}",
                    self.dst.ip()
                )
            }
            _ => format!(
                "{ip} daddr {} {proto} sport {sport} {proto} dport {}",
                self.dst.ip(),
                self.dst.port()
            ),
        };
        if self.proto == FlowProto::Tcp {
            // The SYN only: the probe, not the rest of its connection.
            s.push_str(" tcp flags & (syn | ack) == syn");
        }
        if let Some(src) = self.src {
            s = format!("{ip} saddr {src} {s}");
        }
        s
    }
}

impl FlowTrace {
    /// Every hook of the flow's packets, in order. Prefer this to one
    /// [`PacketTrace`]: the kernel's trace id can change mid-path (a packet
    /// bridged in through br_netfilter, then routed, gets a new one).
    pub fn hooks(&self) -> impl Iterator<Item = &Hook> {
        self.packets.iter().flat_map(|p| &p.hooks)
    }

    /// The rule or policy that dropped (rejected, …) the answer, when one did:
    /// the probe passed, its answer did not.
    pub fn answer_drop(&self) -> Option<Decision> {
        decide(&self.answers).filter(|d| d.verdict != super::Verdict::Accept)
    }

    /// The NAT rules that acted on the flow, over all its packets (see [`PacketTrace::nat_rules`]).
    pub fn nat_rules(&self) -> Vec<(&Hook, &Step)> {
        self.packets.iter().flat_map(|p| p.nat_rules()).collect()
    }

    /// Marks the steps (and the decision) whose rule came from one of the
    /// user's iptables rule `files` with `file:line`, matching rules by their
    /// iptables-save text (a `.v6` file's by ip6tables-save's, in the `ip6`
    /// tables). `.nft` files are skipped (not matched by text).
    pub fn attach_rule_files<P: AsRef<std::path::Path>>(&mut self, files: &[P]) -> Result<()> {
        let mut map = SourceMap::default();
        for file in files.iter().map(AsRef::as_ref) {
            if file.extension().is_some_and(|e| e == "nft") {
                continue;
            }
            let text = std::fs::read_to_string(file).map_err(|e| Error::Topology {
                file: file.to_path_buf(),
                message: format!("cannot read rule file: {e}"),
            })?;
            let family = if crate::backend::is_ip6_rules_file(file) {
                super::decode::Family::Ip6
            } else {
                super::decode::Family::Ip
            };
            map.add_iptables_file(&file.display().to_string(), &text, family);
        }
        map.annotate(&mut self.packets, &mut self.decision);
        map.annotate(&mut self.answers, &mut None);
        Ok(())
    }
}

/// How a [`FlowTrace`] was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The kernel's trace events (nftables, iptables-nft): exact, per packet, with headers.
    Nftrace,
    /// Rule-counter deltas over the probe (iptables-legacy): every packet of
    /// the exchange counts, answers included; no addresses per hook.
    Counters,
}

/// One flow's trace: the probe, every traced packet, and the decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowTrace {
    /// The flow traced.
    pub flow: Flow,
    /// The probe's source port (for ICMP: the echo request's identifier).
    pub sport: u16,
    /// The firewall backend of the traced namespace.
    pub backend: Backend,
    /// How the path was found.
    pub method: Method,
    /// What the probe saw.
    pub probe: ProbeOutcome,
    /// The traced packets, in arrival order (split by kernel trace id, which
    /// can change mid-path: [`FlowTrace::hooks`] sees them all).
    pub packets: Vec<PacketTrace>,
    /// The traced packets of the answer (TCP SYN-ACK, UDP reply, ICMP echo
    /// reply), likewise; empty with rule counters (their deltas count the
    /// answer among [`FlowTrace::packets`]).
    pub answers: Vec<PacketTrace>,
    /// The rule or policy that decided, `None` when no chain gave a verdict.
    pub decision: Option<Decision>,
    /// What the method could not see here (e.g. iptables-legacy rules beside a trace).
    pub notes: Vec<String>,
}

impl fmt::Display for FlowTrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let proto = self.flow.proto.as_str();
        let first = self.packets.first().and_then(|p| p.hooks.first()?.packet);
        let src = match (self.flow.src, first) {
            (Some(s), _) => s.to_string(),
            (None, Some(p)) => p.src.to_string(),
            (None, None) => "*".to_string(),
        };
        match self.flow.proto {
            FlowProto::Icmp => writeln!(
                f,
                "flow icmp echo {src} -> {} id {} ({} backend), probe: {:?}",
                self.flow.dst.ip(),
                self.sport,
                self.backend,
                self.probe
            )?,
            _ => {
                // An IPv6 source with a port is bracketed, as the destination is.
                let src = match src.parse::<std::net::IpAddr>() {
                    Ok(ip) => std::net::SocketAddr::new(ip, self.sport).to_string(),
                    Err(_) => format!("{src}:{}", self.sport),
                };
                writeln!(
                    f,
                    "flow {proto} {src} -> {} ({} backend), probe: {:?}",
                    self.flow.dst, self.backend, self.probe
                )?
            }
        }
        if self.method == Method::Counters {
            writeln!(
                f,
                "(from rule-counter deltas: the rules any packet of the exchange matched, answers included; no addresses per hook)"
            )?;
        }
        for p in &self.packets {
            match self.method {
                Method::Nftrace => writeln!(f, "{p}")?,
                Method::Counters => {
                    f.write_str("rule counters that moved")?;
                    p.write_hooks(f)?;
                    writeln!(f)?;
                }
            }
        }
        for p in &self.answers {
            writeln!(f, "answer {p}")?;
        }
        for n in &self.notes {
            writeln!(f, "note: {n}")?;
        }
        match &self.decision {
            Some(d) => write!(f, "decision: {d}"),
            None => write!(f, "decision: none seen (no chain gave a verdict)"),
        }?;
        match self.answer_drop() {
            Some(d) => write!(f, "\nthe answer was stopped: {d}"),
            None => Ok(()),
        }
    }
}

/// What a trace reads of a traced namespace after its probes: the rules,
/// interface names and notes.
pub(crate) struct TraceContext {
    pub(super) book: RuleBook,
    pub(super) ifnames: BTreeMap<u32, String>,
    pub(super) notes: Vec<String>,
}

impl TraceContext {
    pub(super) fn read(at: &Namespace, backend: Backend) -> Result<TraceContext> {
        Ok(TraceContext {
            book: read_rules(at, backend)?,
            ifnames: at
                .run(interface_names)?
                .map_err(|e| Error::io(at.subject().clone(), "list interfaces", e))?,
            notes: legacy_rules_note(at),
        })
    }
}

/// Sends one probe of `flow` from `from` and attributes it by the packet
/// counters of the iptables rules in `at` (`iptables-*-save -c` before and
/// after, `ip6tables-*-save -c` for an IPv6 flow, the probe's socket held
/// open until after): the fallback for
/// [`Backend::IptablesLegacy`], which the kernel cannot trace. Every packet
/// that crossed meanwhile counts (answers too): see [`Method::Counters`].
pub fn count_flow(
    from: &Namespace,
    at: &Namespace,
    backend: Backend,
    flow: &Flow,
    timeout: Duration,
) -> Result<FlowTrace> {
    count_flow_avoiding(from, at, backend, flow, timeout, &held_keys(at)?)
}

/// [`count_flow`] with the probe keys `held` by conntrack entries in `at`
/// read already (a matrix reads them once for all its cells).
pub(crate) fn count_flow_avoiding(
    from: &Namespace,
    at: &Namespace,
    backend: Backend,
    flow: &Flow,
    timeout: Duration,
    held: &Keys,
) -> Result<FlowTrace> {
    if !backend.is_iptables() {
        return Err(Error::invalid(
            at.subject().clone(),
            "firewall backend",
            "rule counters are read with iptables-save; nftables rules are traced (nftrace)",
        ));
    }
    // An IPv6 flow crosses the ip6tables rules: their counters tell.
    let (family, save): (Family, &dyn Fn() -> Result<String>) = if flow.dst.is_ipv6() {
        (Family::Ip6, &|| backend.save_ip6(at))
    } else {
        (Family::Ip, &|| backend.save(at))
    };
    let socket = from
        .run(|| bound_socket(flow))?
        .map_err(|e| Error::io(from.subject().clone(), "bind the probe socket", e))?;
    // A key an old conntrack entry holds would skip the NAT chains' counters.
    let protocol = flow.proto.ip_proto(flow.dst.is_ipv6());
    let (socket, sport) = bind_free(from, flow, socket, |sport| {
        !held.contains(&(protocol, sport))
    })?;
    let before = save()?;
    let probe = send_probe(&socket, flow, timeout, None)
        .map_err(|e| Error::io(from.subject().clone(), "send the probe", e))?;
    let after = save()?;
    drop(socket); // after the snapshot: its FIN is not part of the probe
    let mut moved = counter_trace(family, &before, &after);
    let mut notes = Vec::new();
    if from.inode() != at.inode() {
        // A probe from another namespace never crosses this one's OUTPUT
        // chains: what moved there (the node's own packets) cannot have
        // decided it, and is left out of its path.
        let own: Vec<String> = moved
            .hooks
            .iter()
            .filter(|h| h.chain == "OUTPUT")
            .map(|h| format!("{} {} OUTPUT", h.family, h.table))
            .collect();
        if !own.is_empty() {
            notes.push(format!(
                "the node's own packets moved {} meanwhile: not on the probe's path",
                own.join(", ")
            ));
        }
        moved.hooks.retain(|h| h.chain != "OUTPUT");
    } else {
        // A local probe leaves by OUTPUT and POSTROUTING; what came back
        // (INPUT) is its answer: the probe's own hooks come first.
        moved
            .hooks
            .sort_by_key(|h| !matches!(h.chain.as_str(), "OUTPUT" | "POSTROUTING"));
    }
    let packets = vec![moved];
    let trace = FlowTrace {
        flow: flow.clone(),
        sport,
        backend,
        method: Method::Counters,
        probe,
        decision: decide(&packets),
        packets,
        answers: Vec::new(),
        notes,
    };
    tracing::debug!(subject = %at.subject(), hooks = trace.packets[0].hooks.len(),
        decision = ?trace.decision.as_ref().map(|d| d.to_string()), "flow attributed by counters");
    Ok(trace)
}

/// Reads the ruleset of `ns` as text and builds its [`RuleBook`]: `nft -a list
/// ruleset`, plus `iptables-nft-save` and `ip6tables-nft-save` for the iptables-nft backend.
pub fn read_rules(ns: &Namespace, backend: Backend) -> Result<RuleBook> {
    // Every nf_tables rule, iptables-nft's too, with its handle.
    let nft = Backend::Nftables.list(ns)?;
    let mut saves = Vec::new();
    if backend == Backend::IptablesNft {
        saves.push((Family::Ip, backend.list(ns)?));
        if let Some(six) = backend.list_ip6(ns) {
            saves.push((Family::Ip6, six?));
        }
    }
    let refs: Vec<(Family, &str)> = saves.iter().map(|(f, t)| (*f, t.as_str())).collect();
    Ok(RuleBook::parse(&nft, &refs))
}

/// A note when iptables-legacy rules are loaded in `ns` too (the "split
/// brain" state): the kernel evaluates them, but they never appear in a trace.
fn legacy_rules_note(ns: &Namespace) -> Vec<String> {
    let legacy = Backend::IptablesLegacy;
    if !crate::process::program_on_path(legacy.list_argv()[0]) {
        return Vec::new();
    }
    match legacy.list(ns) {
        Ok(text)
            if text
                .lines()
                .any(|l| l.starts_with("-A ") || legacy_policy_drops(l)) =>
        {
            vec![
                "iptables-legacy rules are loaded here too: the kernel applies them, but \
                 only nf_tables chains are traced, so they are missing from this path"
                    .into(),
            ]
        }
        Ok(_) => Vec::new(),
        Err(e) => {
            tracing::debug!(error = %e, "could not read iptables-legacy rules");
            Vec::new()
        }
    }
}

/// `:FORWARD DROP [0:0]`: a legacy built-in chain that drops by policy.
fn legacy_policy_drops(line: &str) -> bool {
    line.starts_with(':') && line.split_whitespace().nth(1) == Some("DROP")
}

fn interface_names() -> std::io::Result<BTreeMap<u32, String>> {
    Ok(nix::net::if_::if_nameindex()?
        .iter()
        .map(|i| (i.index(), i.name().to_string_lossy().into_owned()))
        .collect())
}
