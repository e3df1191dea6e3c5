//! Trace one flow on demand: send one probe from a source namespace, trace
//! it where the firewall is, and return its verdict path ([`FlowTrace`]),
//! printed hook by hook like iptables-tracer.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::sys::socket::{self as sock, AddressFamily, SockFlag, SockType, SockaddrStorage, sockopt};

use super::decode::{Family, TraceEvent, Verdict};
use super::path::{Decision, PacketTrace, decide, packet_traces};
use super::rules::RuleBook;
use super::tracer::{Tracer, run_in};
use crate::error::{Error, Result};
use crate::firewall::Backend;
use crate::netns::Netns;

/// The transport protocol of a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// One TCP connection attempt (a SYN).
    Tcp,
    /// One UDP datagram.
    Udp,
}

/// A flow to trace: protocol, destination, and optionally the source address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    /// Protocol.
    pub proto: Proto,
    /// Destination address and port.
    pub dst: SocketAddr,
    /// Source address to bind (default: chosen by the source's routing).
    pub src: Option<IpAddr>,
}

impl Flow {
    /// A TCP flow to `dst` (`"203.0.113.2:8080"`). Panics on a malformed literal.
    pub fn tcp(dst: &str) -> Flow {
        Flow::new(Proto::Tcp, dst)
    }

    /// A UDP flow to `dst`. Panics on a malformed literal.
    pub fn udp(dst: &str) -> Flow {
        Flow::new(Proto::Udp, dst)
    }

    fn new(proto: Proto, dst: &str) -> Flow {
        Flow {
            proto,
            dst: dst
                .parse()
                .unwrap_or_else(|_| panic!("{dst:?} is not an address:port")),
            src: None,
        }
    }

    /// The same flow from source address `src`. Panics on a malformed literal.
    pub fn from(mut self, src: &str) -> Flow {
        self.src = Some(
            src.parse()
                .unwrap_or_else(|_| panic!("{src:?} is not an address")),
        );
        self
    }

    /// The nft match selecting this flow's packets from source port `sport`.
    fn selector(&self, sport: u16) -> String {
        let (ip, proto) = (
            if self.dst.is_ipv4() { "ip" } else { "ip6" },
            match self.proto {
                Proto::Tcp => "tcp",
                Proto::Udp => "udp",
            },
        );
        let mut s = format!(
            "{ip} daddr {} {proto} sport {sport} {proto} dport {}",
            self.dst.ip(),
            self.dst.port()
        );
        if self.proto == Proto::Tcp {
            // The SYN only: the probe, not the rest of its connection.
            s.push_str(" tcp flags & (syn | ack) == syn");
        }
        if let Some(src) = self.src {
            s = format!("{ip} saddr {src} {s}");
        }
        s
    }
}

/// What the probe itself saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// TCP connected, or the UDP datagram was answered.
    Answered,
    /// Refused: TCP RST, or ICMP unreachable for UDP.
    Refused,
    /// An ICMP host or network unreachable came back.
    Unreachable,
    /// No answer before the timeout.
    NoAnswer,
}

/// One flow's trace: the probe, every traced packet, and the decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowTrace {
    /// The flow traced.
    pub flow: Flow,
    /// The probe's source port.
    pub sport: u16,
    /// The firewall backend of the traced namespace.
    pub backend: Backend,
    /// What the probe saw.
    pub probe: ProbeOutcome,
    /// The traced packets (one per kernel trace id), in arrival order.
    pub packets: Vec<PacketTrace>,
    /// The rule or policy that decided, `None` when no chain gave a verdict.
    pub decision: Option<Decision>,
}

impl fmt::Display for FlowTrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let proto = match self.flow.proto {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        };
        let first = self.packets.first().and_then(|p| p.hooks.first()?.packet);
        let src = match (self.flow.src, first) {
            (Some(s), _) => s.to_string(),
            (None, Some(p)) => p.src.to_string(),
            (None, None) => "*".to_string(),
        };
        writeln!(
            f,
            "flow {proto} {src}:{} -> {} ({} backend), probe: {:?}",
            self.sport, self.flow.dst, self.backend, self.probe
        )?;
        for p in &self.packets {
            writeln!(f, "{p}")?;
        }
        if self.packets.is_empty() {
            writeln!(
                f,
                "no traced packet reached a chain of the traced namespace"
            )?;
        }
        match &self.decision {
            Some(d) => write!(f, "decision: {d}"),
            None => write!(f, "decision: none seen (no chain gave a verdict)"),
        }
    }
}

/// Sends one probe of `flow` from namespace `from` and traces it in namespace
/// `at` (where the rules are; the same namespace for locally generated
/// traffic). Returns the packets' paths and the decision.
///
/// Completion is causal: an answered or refused probe means the traced
/// packet has passed every hook on its way; a probe without answer waits for
/// a non-accept verdict until `timeout` passes again.
/// Fails with [`Error::Invalid`] for [`Backend::IptablesLegacy`], whose
/// rules the kernel cannot trace.
pub fn trace_flow(
    from: &Netns,
    at: &Netns,
    backend: Backend,
    flow: &Flow,
    timeout: Duration,
) -> Result<FlowTrace> {
    if backend == Backend::IptablesLegacy {
        return Err(Error::invalid(
            at.subject().clone(),
            "firewall backend",
            "iptables-legacy rules are not nf_tables rules, so the kernel emits no trace \
             events (nftrace) for them; trace with the iptables-nft or nftables backend",
        ));
    }
    let socket = from
        .run(|| bound_socket(flow))?
        .map_err(|e| Error::io(from.subject().clone(), "bind the probe socket", e))?;
    let sport = local_port(&socket)
        .map_err(|e| Error::io(from.subject().clone(), "read the probe's port", e))?;
    let mut tracer = Tracer::start(at, &flow.selector(sport))?;
    let probe = send_probe(socket, flow, timeout)
        .map_err(|e| Error::io(from.subject().clone(), "send the probe", e))?;
    if probe == ProbeOutcome::NoAnswer {
        let not_accepted = |evs: &[TraceEvent]| {
            evs.iter().any(|e| {
                e.outcome()
                    .is_some_and(|v| v.is_terminal() && *v != Verdict::Accept)
            })
        };
        tracer.wait_until(Instant::now() + timeout, not_accepted)?;
    }
    let table = tracer.table().to_string();
    let events = tracer.stop()?;
    let book = read_rules(at, backend)?;
    let ifnames = at
        .run(interface_names)?
        .map_err(|e| Error::io(at.subject().clone(), "list interfaces", e))?;
    let packets = packet_traces(&events, &book, &ifnames, Some(&table));
    let trace = FlowTrace {
        flow: flow.clone(),
        sport,
        backend,
        probe,
        decision: decide(&packets),
        packets,
    };
    tracing::debug!(subject = %at.subject(), events = events.len(), packets = trace.packets.len(),
        decision = ?trace.decision.as_ref().map(|d| d.to_string()), "flow traced");
    Ok(trace)
}

/// Reads the ruleset of `ns` as text and builds its [`RuleBook`]: `nft -a list
/// ruleset`, plus `iptables-nft-save` and `ip6tables-nft-save` for the iptables-nft backend.
pub fn read_rules(ns: &Netns, backend: Backend) -> Result<RuleBook> {
    let nft = run_in(ns, "nft", &["-a", "list", "ruleset"], None)?;
    let mut saves = Vec::new();
    if backend == Backend::IptablesNft {
        saves.push((Family::Ip, run_in(ns, "iptables-nft-save", &[], None)?));
        if crate::firewall::program_on_path("ip6tables-nft-save") {
            saves.push((Family::Ip6, run_in(ns, "ip6tables-nft-save", &[], None)?));
        }
    }
    let refs: Vec<(Family, &str)> = saves.iter().map(|(f, t)| (*f, t.as_str())).collect();
    Ok(RuleBook::parse(&nft, &refs))
}

fn interface_names() -> std::io::Result<BTreeMap<u32, String>> {
    Ok(nix::net::if_::if_nameindex()?
        .iter()
        .map(|i| (i.index(), i.name().to_string_lossy().into_owned()))
        .collect())
}

/// A socket of the flow's protocol bound to its source (port chosen by the kernel).
fn bound_socket(flow: &Flow) -> std::io::Result<OwnedFd> {
    let (family, any) = if flow.dst.is_ipv4() {
        (AddressFamily::Inet, IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    } else {
        (AddressFamily::Inet6, IpAddr::V6(Ipv6Addr::UNSPECIFIED))
    };
    let ty = match flow.proto {
        Proto::Tcp => SockType::Stream,
        Proto::Udp => SockType::Datagram,
    };
    let fd = sock::socket(
        family,
        ty,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )?;
    let src = SocketAddr::new(flow.src.unwrap_or(any), 0);
    sock::bind(fd.as_raw_fd(), &SockaddrStorage::from(src))?;
    Ok(fd)
}

fn local_port(fd: &OwnedFd) -> std::io::Result<u16> {
    let addr: SockaddrStorage = sock::getsockname(fd.as_raw_fd())?;
    addr.as_sockaddr_in()
        .map(|a| a.port())
        .or_else(|| addr.as_sockaddr_in6().map(|a| a.port()))
        .ok_or_else(|| std::io::Error::other("the probe socket has no IP address"))
}

/// Sends the probe on the already bound, nonblocking socket and waits for its outcome.
fn send_probe(fd: OwnedFd, flow: &Flow, timeout: Duration) -> std::io::Result<ProbeOutcome> {
    let raw = fd.as_raw_fd();
    let dst = SockaddrStorage::from(flow.dst);
    match sock::connect(raw, &dst) {
        Ok(()) | Err(nix::errno::Errno::EINPROGRESS) => {}
        Err(nix::errno::Errno::ECONNREFUSED) => return Ok(ProbeOutcome::Refused),
        Err(e) => return Err(e.into()),
    }
    let event = match flow.proto {
        Proto::Tcp => nix::poll::PollFlags::POLLOUT,
        Proto::Udp => {
            sock::send(raw, b"netrig-trace", sock::MsgFlags::empty())?;
            nix::poll::PollFlags::POLLIN
        }
    };
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [nix::poll::PollFd::new(fd.as_fd(), event)];
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms)) {
            Ok(0) if left.is_zero() => return Ok(ProbeOutcome::NoAnswer),
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => break,
            Err(e) => return Err(e.into()),
        }
    }
    let err = sock::getsockopt(&fd, sockopt::SocketError)?;
    Ok(match err {
        0 if flow.proto == Proto::Tcp => ProbeOutcome::Answered,
        0 => {
            let mut buf = [0u8; 64];
            match sock::recv(raw, &mut buf, sock::MsgFlags::MSG_DONTWAIT) {
                Ok(_) => ProbeOutcome::Answered,
                Err(nix::errno::Errno::ECONNREFUSED) => ProbeOutcome::Refused,
                Err(e) => return Err(e.into()),
            }
        }
        e if e == libc::ECONNREFUSED => ProbeOutcome::Refused,
        libc::EHOSTUNREACH | libc::ENETUNREACH => ProbeOutcome::Unreachable,
        libc::ETIMEDOUT => ProbeOutcome::NoAnswer,
        e => return Err(std::io::Error::from_raw_os_error(e)),
    })
}
