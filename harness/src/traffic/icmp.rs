//! ICMP echo from inside a node, on a raw ICMP socket created there.
//!
//! The request is built with etherparse; replies are recognised by
//! identifier and sequence number, and ICMP errors about our request (host
//! unreachable, admin prohibited, time exceeded) by the request they quote.

use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use etherparse::{IcmpEchoHeader, Icmpv4Header, Icmpv4Type, LaxSlicedPacket, TransportSlice};
use nix::sys::socket::{
    AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType, SockaddrIn, recvfrom, sendto, socket,
};

use crate::error::{Error, Result};
use crate::namespace::Namespace;

/// What an ICMP echo request met.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PingOutcome {
    /// An echo reply.
    Reply {
        /// Who answered.
        from: IpAddr,
        /// Round-trip time.
        rtt: Duration,
        /// TTL of the reply.
        ttl: u8,
    },
    /// An ICMP error about the request (type 3 unreachable, 11 time exceeded).
    Error {
        /// The router or host that sent the error.
        from: IpAddr,
        /// ICMP type.
        icmp_type: u8,
        /// ICMP code (3/1 host unreachable, 3/13 admin prohibited, …).
        code: u8,
    },
    /// Nothing came back before the timeout.
    NoAnswer,
    /// The request could not be sent (e.g. no route; the OS error).
    Unreachable(String),
}

static ECHO_ID: AtomicU16 = AtomicU16::new(0);

impl Namespace {
    /// Sends one ICMP echo request to `dst` (IPv4) and waits up to `timeout`.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// # fn demo(lab: &netrig::Lab) -> netrig::Result<()> {
    /// let out = lab.node("a")?.ping("10.0.0.2".parse().unwrap(), Duration::from_secs(1))?;
    /// assert!(matches!(out, netrig::PingOutcome::Reply { .. }));
    /// # Ok(()) }
    /// ```
    pub fn ping(&self, dst: Ipv4Addr, timeout: Duration) -> Result<PingOutcome> {
        let subject = self.subject().clone();
        let sock: OwnedFd = self
            .run(|| {
                socket(
                    AddressFamily::Inet,
                    SockType::Raw,
                    SockFlag::SOCK_CLOEXEC,
                    SockProtocol::Icmp,
                )
            })?
            .map_err(|e| {
                Error::io(
                    subject.clone(),
                    "open a raw ICMP socket (needs CAP_NET_RAW)",
                    e.into(),
                )
            })?;
        let id = (std::process::id() as u16)
            ^ ECHO_ID.fetch_add(1, Ordering::Relaxed).wrapping_mul(7919);
        let seq = 1u16;
        let payload = b"netrig-ping";
        let header = Icmpv4Header::with_checksum(
            Icmpv4Type::EchoRequest(IcmpEchoHeader { id, seq }),
            payload,
        );
        let mut msg = header.to_bytes().to_vec();
        msg.extend_from_slice(payload);
        let to = SockaddrIn::from(SocketAddrV4::new(dst, 0));
        let started = Instant::now();
        if let Err(e) = sendto(
            std::os::fd::AsRawFd::as_raw_fd(&sock),
            &msg,
            &to,
            MsgFlags::empty(),
        ) {
            return Ok(PingOutcome::Unreachable(
                std::io::Error::from(e).to_string(),
            ));
        }
        let deadline = started + timeout;
        let mut buf = [0u8; 2048];
        let outcome = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break PingOutcome::NoAnswer;
            }
            let mut fds = [nix::poll::PollFd::new(
                sock.as_fd(),
                nix::poll::PollFlags::POLLIN,
            )];
            let ms = u16::try_from(left.as_millis().max(1)).unwrap_or(u16::MAX);
            match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms)) {
                Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
                Ok(_) => {}
                Err(e) => return Err(Error::io(subject, "poll a raw ICMP socket", e.into())),
            }
            let n = match recvfrom::<SockaddrIn>(std::os::fd::AsRawFd::as_raw_fd(&sock), &mut buf) {
                Ok((n, _)) => n,
                Err(nix::errno::Errno::EAGAIN) | Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(Error::io(subject, "receive on a raw ICMP socket", e.into())),
            };
            if let Some(o) = classify(&buf[..n], dst, id, seq, started) {
                break o;
            }
        };
        tracing::debug!(%subject, %dst, %outcome, "ping");
        Ok(outcome)
    }
}

/// Recognises a reply to (or an error about) our request in an IPv4 packet.
fn classify(
    ip_packet: &[u8],
    dst: Ipv4Addr,
    id: u16,
    seq: u16,
    started: Instant,
) -> Option<PingOutcome> {
    let p = LaxSlicedPacket::from_ip(ip_packet).ok()?;
    let (from, ttl) = match &p.net {
        Some(etherparse::LaxNetSlice::Ipv4(ip)) => (ip.header().source_addr(), ip.header().ttl()),
        _ => return None,
    };
    let Some(TransportSlice::Icmpv4(icmp)) = &p.transport else {
        return None;
    };
    match icmp.icmp_type() {
        Icmpv4Type::EchoReply(h) if h.id == id && h.seq == seq && from == dst => {
            Some(PingOutcome::Reply {
                from: from.into(),
                rtt: started.elapsed(),
                ttl,
            })
        }
        Icmpv4Type::DestinationUnreachable(_) | Icmpv4Type::TimeExceeded(_) => {
            let quoted = LaxSlicedPacket::from_ip(icmp.payload()).ok()?;
            match quoted.transport {
                Some(TransportSlice::Icmpv4(q)) => match q.icmp_type() {
                    Icmpv4Type::EchoRequest(h) if h.id == id && h.seq == seq => {
                        Some(PingOutcome::Error {
                            from: from.into(),
                            icmp_type: icmp.type_u8(),
                            code: icmp.code_u8(),
                        })
                    }
                    _ => None,
                },
                _ => None,
            }
        }
        _ => None,
    }
}
