//! The probe of a traced flow: one socket in the source namespace, bound
//! first (so its source port can select the trace), then one TCP SYN, UDP
//! datagram or ICMP echo request, and what came back.
//!
//! An echo request goes out on an ICMP datagram socket (`SOCK_DGRAM`,
//! `IPPROTO_ICMP` or `IPPROTO_ICMPV6`): the kernel gives it an identifier as
//! it gives a UDP socket a port, unique in the namespace, and answers, and
//! ICMP errors about the request, to that socket only. Such sockets are
//! allowed to the groups in `net.ipv4.ping_group_range` of the *source*
//! namespace (none in a new namespace); when ours is not in it, the range is
//! widened there, never in the root namespace.
//!
//! A probe's key (port or identifier) must not be one an old conntrack
//! entry in a traced namespace holds (a previous matrix's probe, within its
//! timeout): a UDP or ICMP probe would join that entry, skip the NAT chains,
//! and its NAT rules would go untraced; any probe whose tuple clashes would
//! get another port from NAT and be lost to the next node's trace
//! ([`held_keys`], [`bind_free`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::sys::socket::{self as sock, AddressFamily, SockFlag, SockType, SockaddrStorage, sockopt};

use super::flow::{Flow, FlowProto};
use crate::Namespace;
use crate::error::{Error, Result};

/// The sysctl allowing ICMP datagram sockets (IPv4 and IPv6) to a range of groups.
const PING_GROUP_RANGE: &str = "net.ipv4.ping_group_range";

/// What the probe itself saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// TCP connected, or the UDP datagram was answered.
    Answered,
    /// Refused: TCP RST, or ICMP unreachable for UDP.
    Refused,
    /// An ICMP host or network unreachable came back.
    Unreachable,
    /// No answer before the timeout, or (when traced) the probe was seen
    /// dropped, so none can come.
    NoAnswer,
    /// The source's own firewall refused to send it (EPERM: an output drop).
    Blocked,
}

impl ProbeOutcome {
    /// Whether something came back (so the probe crossed the traced namespace).
    pub fn answered(self) -> bool {
        matches!(
            self,
            ProbeOutcome::Answered | ProbeOutcome::Refused | ProbeOutcome::Unreachable
        )
    }
}

/// A socket of the flow's protocol bound to its source (port, or echo
/// identifier, chosen by the kernel). Runs on a thread inside the source namespace.
pub(crate) fn bound_socket(flow: &Flow) -> std::io::Result<OwnedFd> {
    let (family, any) = if flow.dst.is_ipv4() {
        (AddressFamily::Inet, IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    } else {
        (AddressFamily::Inet6, IpAddr::V6(Ipv6Addr::UNSPECIFIED))
    };
    let fd = match flow.proto {
        FlowProto::Icmp => icmp_socket(flow.dst.is_ipv6())?,
        proto => sock::socket(
            family,
            if proto == FlowProto::Tcp {
                SockType::Stream
            } else {
                SockType::Datagram
            },
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            None,
        )?,
    };
    let src = SocketAddr::new(flow.src.unwrap_or(any), 0);
    sock::bind(fd.as_raw_fd(), &SockaddrStorage::from(src))?;
    Ok(fd)
}

/// An ICMP (ICMPv6) datagram socket in the calling thread's namespace,
/// allowing our group there first if `ping_group_range` does not.
fn icmp_socket(ipv6: bool) -> std::io::Result<OwnedFd> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockProtocol, SockType};
    let (family, protocol) = if ipv6 {
        (AddressFamily::Inet6, SockProtocol::IcmpV6)
    } else {
        (AddressFamily::Inet, SockProtocol::Icmp)
    };
    let open = || -> std::io::Result<OwnedFd> {
        Ok(nix::sys::socket::socket(
            family,
            SockType::Datagram,
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            protocol,
        )?)
    };
    match open() {
        Err(e) if e.raw_os_error() == Some(libc::EACCES) => {
            allow_ping_group()?;
            open()
        }
        r => r,
    }
}

/// Widens `net.ipv4.ping_group_range` of the calling thread's namespace to
/// include our effective group, if it does not yet (a new namespace allows
/// none: `1 0`).
fn allow_ping_group() -> std::io::Result<()> {
    let gid = nix::unistd::getegid().as_raw();
    let now = crate::sysctl::read_on_this_thread(PING_GROUP_RANGE)?;
    let range: Vec<u32> = now
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let value = match range[..] {
        [lo, hi] if lo <= gid && gid <= hi => return Ok(()),
        [lo, hi] if lo <= hi => format!("{} {}", lo.min(gid), hi.max(gid)),
        _ => format!("{gid} {gid}"),
    };
    let write = |value: &str| -> std::io::Result<()> {
        crate::sysctl::write_on_this_thread(PING_GROUP_RANGE, value).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("allow ICMP echo sockets in the source namespace ({PING_GROUP_RANGE} {now:?} -> {value:?}): {e}"),
            )
        })?;
        tracing::debug!(sysctl = PING_GROUP_RANGE, was = %now, value, "allowed ICMP datagram sockets in the source namespace");
        Ok(())
    };
    // In a user namespace the range read back may name unmapped groups
    // (shown as the overflow gid), which the kernel refuses: then our own
    // group alone.
    let ours = format!("{gid} {gid}");
    write(&value).or_else(|e| match e.kind() {
        std::io::ErrorKind::InvalidInput if value != ours => write(&ours),
        _ => Err(e),
    })
}

pub(crate) fn local_port(fd: &OwnedFd) -> std::io::Result<u16> {
    let addr: SockaddrStorage = sock::getsockname(fd.as_raw_fd())?;
    addr.as_sockaddr_in()
        .map(|a| a.port())
        .or_else(|| addr.as_sockaddr_in6().map(|a| a.port()))
        .ok_or_else(|| std::io::Error::other("the probe socket has no IP address"))
}

/// How many times a probe socket is bound again when its key is taken.
const REBINDS: usize = 64;

/// Probe keys: (IP protocol, UDP or TCP port, or ICMP echo identifier).
pub(crate) type Keys = std::collections::HashSet<(u8, u16)>;

/// The TCP and UDP ports and ICMP echo identifiers that conntrack entries
/// in `ns` hold, in either direction. A UDP or ICMP probe reusing one would
/// join that entry, so no NAT chain would see it and its NAT rules would be
/// neither traced nor counted; a probe of any protocol whose tuple clashes
/// with an entry's is given another port by NAT on its way (a masquerade, or
/// the null binding of a host with NAT rules), and a node further on no
/// longer knows it by its key.
pub(crate) fn held_keys(ns: &Namespace) -> Result<Keys> {
    Ok(keys_in(&ns.conntrack_text()?))
}

/// The TCP and UDP ports and ICMP identifiers of a conntrack table's text (proc or
/// `conntrack -L` format): a scan for the few fields needed, since a table
/// a few matrices old holds thousands of entries.
fn keys_in(table: &str) -> Keys {
    let mut keys = Keys::new();
    for line in table.lines() {
        let mut words = line.split_whitespace();
        let protocol = words.by_ref().find_map(|w| match w {
            "tcp" => Some(libc::IPPROTO_TCP),
            "udp" => Some(libc::IPPROTO_UDP),
            "icmp" => Some(libc::IPPROTO_ICMP),
            "icmpv6" => Some(libc::IPPROTO_ICMPV6),
            "sctp" | "dccp" | "gre" | "unknown" => Some(-1),
            _ => None,
        });
        let Some(protocol) = protocol.and_then(|p| u8::try_from(p).ok()) else {
            continue;
        };
        for w in words {
            let value = ["sport=", "dport=", "id="]
                .iter()
                .find_map(|k| w.strip_prefix(k));
            if let Some(id) = value.and_then(|v| v.parse::<u16>().ok()) {
                keys.insert((protocol, id));
            }
        }
    }
    keys
}

/// The probe `socket` bound in `from` for `flow`, or one bound again (up
/// to [`REBINDS`] times, the spares held so that each gets another port)
/// until `free(port)`; with its port (or echo identifier).
pub(crate) fn bind_free(
    from: &Namespace,
    flow: &Flow,
    mut socket: OwnedFd,
    mut free: impl FnMut(u16) -> bool,
) -> Result<(OwnedFd, u16)> {
    let bind_err = |e| Error::io(from.subject().clone(), "bind the probe socket", e);
    let port_err = |e| Error::io(from.subject().clone(), "read the probe's port", e);
    let mut sport = local_port(&socket).map_err(port_err)?;
    let mut spare = Vec::new();
    while !free(sport) {
        if spare.len() == REBINDS {
            return Err(Error::invalid(
                from.subject().clone(),
                "probe socket",
                format!(
                    "no source port unused by the other probes and by conntrack entries \
                     after {REBINDS} binds"
                ),
            ));
        }
        let again = from.run(|| bound_socket(flow))?.map_err(bind_err)?;
        spare.push(std::mem::replace(&mut socket, again));
        sport = local_port(&socket).map_err(port_err)?;
    }
    if !spare.is_empty() {
        tracing::debug!(subject = %from.subject(), rebinds = spare.len(), sport, "probe key taken: bound again");
    }
    Ok((socket, sport))
}

/// Something else to watch while the probe waits: an fd and what to do
/// when it is readable (true: the outcome is known to be "no answer").
pub(crate) type Watch<'a> = (BorrowedFd<'a>, &'a mut dyn FnMut() -> std::io::Result<bool>);

/// Something else to watch while many probes wait: fds and what to do
/// when one is readable, given the probes still waiting (their indices):
/// those now known to get no answer (a traced drop).
pub(crate) type WatchMany<'a> = (
    Vec<BorrowedFd<'a>>,
    &'a mut dyn FnMut(&[usize]) -> std::io::Result<Vec<usize>>,
);

/// A probe sent: settled at once, or waiting for these poll events.
enum Started {
    Done(ProbeOutcome),
    Waiting(nix::poll::PollFlags),
}

/// Connects the bound, nonblocking socket and sends the UDP datagram or
/// ICMP echo request (a TCP connect sends its SYN).
fn start(fd: &OwnedFd, flow: &Flow) -> std::io::Result<Started> {
    let raw = fd.as_raw_fd();
    let dst = SockaddrStorage::from(flow.dst);
    match sock::connect(raw, &dst) {
        Ok(()) | Err(nix::errno::Errno::EINPROGRESS) => {}
        Err(nix::errno::Errno::ECONNREFUSED) => return Ok(Started::Done(ProbeOutcome::Refused)),
        Err(nix::errno::Errno::EPERM) => return Ok(Started::Done(ProbeOutcome::Blocked)),
        // No route from the source: the probe never left it.
        Err(nix::errno::Errno::ENETUNREACH | nix::errno::Errno::EHOSTUNREACH) => {
            return Ok(Started::Done(ProbeOutcome::Unreachable));
        }
        Err(e) => return Err(e.into()),
    }
    Ok(Started::Waiting(match flow.proto {
        FlowProto::Tcp => nix::poll::PollFlags::POLLOUT,
        FlowProto::Udp | FlowProto::Icmp => {
            let message = match flow.proto {
                FlowProto::Icmp => echo_request(flow.dst.is_ipv6()),
                _ => b"netrig-trace".to_vec(),
            };
            match sock::send(raw, &message, sock::MsgFlags::empty()) {
                Ok(_) => {}
                Err(nix::errno::Errno::EPERM) => return Ok(Started::Done(ProbeOutcome::Blocked)),
                Err(e) => return Err(e.into()),
            }
            nix::poll::PollFlags::POLLIN
        }
    }))
}

/// What came back, once the started probe's socket is ready.
fn finish(fd: &OwnedFd, flow: &Flow) -> std::io::Result<ProbeOutcome> {
    let err = sock::getsockopt(fd, sockopt::SocketError)?;
    Ok(match err {
        0 if flow.proto == FlowProto::Tcp => ProbeOutcome::Answered,
        0 => {
            let mut buf = [0u8; 64];
            match sock::recv(fd.as_raw_fd(), &mut buf, sock::MsgFlags::MSG_DONTWAIT) {
                Ok(_) => ProbeOutcome::Answered,
                Err(nix::errno::Errno::ECONNREFUSED) => ProbeOutcome::Refused,
                // An ICMP error about an echo request (a connected ping socket reports it).
                Err(nix::errno::Errno::EHOSTUNREACH | nix::errno::Errno::ENETUNREACH) => {
                    ProbeOutcome::Unreachable
                }
                Err(e) => return Err(e.into()),
            }
        }
        e if e == libc::ECONNREFUSED => ProbeOutcome::Refused,
        libc::EHOSTUNREACH | libc::ENETUNREACH => ProbeOutcome::Unreachable,
        libc::ETIMEDOUT => ProbeOutcome::NoAnswer,
        libc::EPERM => ProbeOutcome::Blocked,
        e => return Err(std::io::Error::from_raw_os_error(e)),
    })
}

fn ready(p: &nix::poll::PollFd<'_>) -> bool {
    p.revents().is_some_and(|r| !r.is_empty())
}

/// Sends the probe on the already bound, nonblocking socket and waits for
/// its outcome, or until `watch` says no answer can come (a traced drop).
pub(crate) fn send_probe(
    fd: &OwnedFd,
    flow: &Flow,
    timeout: Duration,
    mut watch: Option<Watch<'_>>,
) -> std::io::Result<ProbeOutcome> {
    let event = match start(fd, flow)? {
        Started::Done(outcome) => return Ok(outcome),
        Started::Waiting(event) => event,
    };
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        let mut fds = vec![nix::poll::PollFd::new(fd.as_fd(), event)];
        if let Some((w, _)) = &watch {
            fds.push(nix::poll::PollFd::new(*w, nix::poll::PollFlags::POLLIN));
        }
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms)) {
            Ok(0) if left.is_zero() => return Ok(ProbeOutcome::NoAnswer),
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => {}
            Err(e) => return Err(e.into()),
        }
        if ready(&fds[0]) {
            break;
        }
        if let (Some(p), Some((_, on_ready))) = (fds.get(1), watch.as_mut())
            && ready(p)
            && on_ready()?
        {
            return Ok(ProbeOutcome::NoAnswer);
        }
    }
    finish(fd, flow)
}

/// How many probes are sent before the watched fds are read.
const WAVE: usize = 32;

/// Sends every probe at once (each on its bound, nonblocking socket; in
/// waves of [`WAVE`], the watched fds read after each) and
/// waits for them together, each until its socket says what came back,
/// `watch` says no answer can come, or `timeout` passes. Outcomes are in
/// the order of `probes`.
pub(crate) fn send_probes(
    probes: &[(&OwnedFd, &Flow)],
    timeout: Duration,
    mut watch: Option<WatchMany<'_>>,
) -> std::io::Result<Vec<ProbeOutcome>> {
    let mut outcomes: Vec<Option<ProbeOutcome>> = vec![None; probes.len()];
    let mut events = vec![nix::poll::PollFlags::empty(); probes.len()];
    for wave in (0..probes.len()).collect::<Vec<_>>().chunks(WAVE) {
        for &i in wave {
            let (fd, flow) = probes[i];
            match start(fd, flow)? {
                Started::Done(o) => outcomes[i] = Some(o),
                Started::Waiting(ev) => events[i] = ev,
            }
        }
        // What the wave made the watched fds queue (trace events of the
        // probes and their answers) is read before the next wave is sent,
        // so that a burst of hundreds of probes cannot overflow them.
        if let Some((_, on_ready)) = watch.as_mut() {
            on_ready(&[])?;
        }
    }
    let deadline = Instant::now() + timeout;
    loop {
        let waiting: Vec<usize> = (0..probes.len())
            .filter(|&i| outcomes[i].is_none())
            .collect();
        let left = deadline.saturating_duration_since(Instant::now());
        if waiting.is_empty() {
            break;
        }
        if left.is_zero() {
            for i in waiting {
                outcomes[i] = Some(ProbeOutcome::NoAnswer);
            }
            break;
        }
        let ms = u16::try_from(left.as_millis().max(1)).unwrap_or(u16::MAX);
        let mut fds: Vec<nix::poll::PollFd<'_>> = waiting
            .iter()
            .map(|&i| nix::poll::PollFd::new(probes[i].0.as_fd(), events[i]))
            .collect();
        if let Some((ws, _)) = &watch {
            fds.extend(
                ws.iter()
                    .map(|w| nix::poll::PollFd::new(*w, nix::poll::PollFlags::POLLIN)),
            );
        }
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms)) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
        let answered: Vec<usize> = waiting
            .iter()
            .zip(&fds)
            .filter(|(_, p)| ready(p))
            .map(|(&i, _)| i)
            .collect();
        let woken = fds[waiting.len()..].iter().any(ready);
        drop(fds);
        for i in answered {
            outcomes[i] = Some(finish(probes[i].0, probes[i].1)?);
        }
        if woken && let Some((_, on_ready)) = watch.as_mut() {
            let still: Vec<usize> = waiting
                .into_iter()
                .filter(|&i| outcomes[i].is_none())
                .collect();
            for i in on_ready(&still)? {
                outcomes[i] = Some(ProbeOutcome::NoAnswer);
            }
        }
    }
    Ok(outcomes
        .into_iter()
        .map(|o| o.expect("every probe settled"))
        .collect())
}

/// An echo request for an ICMP datagram socket: type 8 (ICMPv6: 128), code 0;
/// the kernel fills in the identifier and the checksum.
fn echo_request(ipv6: bool) -> Vec<u8> {
    let mut m = vec![if ipv6 { 128 } else { 8 }, 0, 0, 0, 0, 0, 0, 1];
    m.extend_from_slice(b"netrig-trace");
    m
}

#[cfg(test)]
mod held_tests {
    use super::keys_in;

    #[test]
    fn ports_and_icmp_ids_of_both_directions_are_held() {
        let table = "ipv4     2 udp      17 25 src=172.17.0.2 dst=198.51.100.10 sport=40001 dport=53 \
                     src=198.51.100.10 dst=203.0.113.2 sport=53 dport=40002 mark=0 zone=0 use=2\n\
                     ipv4     2 icmp     1 29 src=172.17.0.2 dst=198.51.100.10 type=8 code=0 id=77 \
                     src=198.51.100.10 dst=203.0.113.2 type=0 code=0 id=78 mark=0 use=1\n\
                     ipv4     2 tcp      6 110 TIME_WAIT src=10.0.0.1 dst=10.0.0.2 sport=40003 dport=80 \
                     src=10.0.0.2 dst=10.0.0.1 sport=80 dport=40003 [ASSURED] mark=0 use=1\n";
        let keys = keys_in(table);
        for key in [
            (17, 40001),
            (17, 53),
            (17, 40002),
            (1, 77),
            (1, 78),
            (6, 40003),
            (6, 80),
        ] {
            assert!(keys.contains(&key), "{key:?} in {keys:?}");
        }
        assert_eq!(keys.len(), 7, "{keys:?}");
    }
}
