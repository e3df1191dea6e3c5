//! ICMP echo from inside a node, on a raw ICMP or ICMPv6 socket created there.
//!
//! The IPv4 request is built with etherparse; the ICMPv6 one is eight bytes
//! whose checksum the kernel fills in (RFC 3542: an ICMPv6 raw socket always
//! computes it over the pseudo-header). Replies are recognised by identifier
//! and sequence number, and ICMP errors about our request (unreachable,
//! administratively prohibited, time exceeded) by the request they quote.
//! An IPv4 raw socket delivers the IP header with the message; an IPv6 one
//! the message alone, with the sender from `recvmsg` and the hop limit from
//! an `IPV6_HOPLIMIT` control message.

use std::io::IoSliceMut;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use etherparse::{IcmpEchoHeader, Icmpv4Header, Icmpv4Type, LaxSlicedPacket, TransportSlice};
use nix::sys::socket::{
    AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockProtocol, SockType, SockaddrIn,
    SockaddrIn6, SockaddrStorage, recvfrom, recvmsg, sendto, setsockopt, socket, sockopt,
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
        /// TTL (IPv6: hop limit) of the reply.
        ttl: u8,
    },
    /// An ICMP error about the request (type 3 unreachable, 11 time
    /// exceeded; ICMPv6 type 1 unreachable, 3 time exceeded).
    Error {
        /// The router or host that sent the error.
        from: IpAddr,
        /// ICMP type.
        icmp_type: u8,
        /// ICMP code (3/1 host unreachable, 3/13 admin prohibited; ICMPv6
        /// 1/1 administratively prohibited, 1/4 port unreachable, …).
        code: u8,
    },
    /// Nothing came back before the timeout.
    NoAnswer,
    /// The request could not be sent (e.g. no route; the OS error).
    Unreachable(String),
}

static ECHO_ID: AtomicU16 = AtomicU16::new(0);

/// ICMPv6 echo request and reply types.
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;

/// One echo request in flight: where to, its identifier and sequence number.
#[derive(Clone, Copy)]
struct Echo {
    dst: IpAddr,
    id: u16,
    seq: u16,
    started: Instant,
}

impl Namespace {
    /// Sends one ICMP (IPv4) or ICMPv6 (IPv6) echo request to `dst` and waits up to `timeout`.
    pub(crate) fn ping(&self, dst: IpAddr, timeout: Duration) -> Result<PingOutcome> {
        let subject = self.subject().clone();
        let (family, protocol, what) = match dst {
            IpAddr::V4(_) => (AddressFamily::Inet, SockProtocol::Icmp, "ICMP"),
            IpAddr::V6(_) => (AddressFamily::Inet6, SockProtocol::IcmpV6, "ICMPv6"),
        };
        let sock: OwnedFd = self
            .run(|| socket(family, SockType::Raw, SockFlag::SOCK_CLOEXEC, protocol))?
            .map_err(|e| {
                Error::io(
                    subject.clone(),
                    format!("open a raw {what} socket (needs CAP_NET_RAW)"),
                    e.into(),
                )
            })?;
        if dst.is_ipv6() {
            setsockopt(&sock, sockopt::Ipv6RecvHopLimit, &true).map_err(|e| {
                Error::io(
                    subject.clone(),
                    "ask for the hop limit of ICMPv6 replies",
                    e.into(),
                )
            })?;
        }
        let id = (std::process::id() as u16)
            ^ ECHO_ID.fetch_add(1, Ordering::Relaxed).wrapping_mul(7919);
        let payload = b"netrig-ping";
        let msg = echo_request(dst.is_ipv6(), id, 1, payload);
        let to = SockaddrStorage::from(SocketAddr::new(dst, 0));
        let echo = Echo {
            dst,
            id,
            seq: 1,
            started: Instant::now(),
        };
        if let Err(e) = sendto(sock.as_raw_fd(), &msg, &to, MsgFlags::empty()) {
            return Ok(PingOutcome::Unreachable(
                std::io::Error::from(e).to_string(),
            ));
        }
        let deadline = echo.started + timeout;
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
                Err(e) => {
                    return Err(Error::io(
                        subject,
                        format!("poll a raw {what} socket"),
                        e.into(),
                    ));
                }
            }
            let seen = match dst {
                IpAddr::V4(_) => receive_v4(&sock, &echo),
                IpAddr::V6(_) => receive_v6(&sock, &echo),
            };
            match seen {
                Ok(Some(o)) => break o,
                Ok(None) | Err(nix::errno::Errno::EAGAIN) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => {
                    return Err(Error::io(
                        subject,
                        format!("receive on a raw {what} socket"),
                        e.into(),
                    ));
                }
            }
        };
        tracing::debug!(%subject, %dst, %outcome, "ping");
        Ok(outcome)
    }
}

/// The echo request's bytes: an ICMP header with its checksum, or an ICMPv6
/// header whose checksum the kernel computes.
fn echo_request(v6: bool, id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut msg = if v6 {
        let mut h = vec![ECHO_REQUEST_V6, 0, 0, 0];
        h.extend_from_slice(&id.to_be_bytes());
        h.extend_from_slice(&seq.to_be_bytes());
        h
    } else {
        Icmpv4Header::with_checksum(Icmpv4Type::EchoRequest(IcmpEchoHeader { id, seq }), payload)
            .to_bytes()
            .to_vec()
    };
    msg.extend_from_slice(payload);
    msg
}

/// Reads one IPv4 packet from the raw ICMP socket and classifies it.
fn receive_v4(sock: &OwnedFd, echo: &Echo) -> nix::Result<Option<PingOutcome>> {
    let mut buf = [0u8; 2048];
    let (n, _) = recvfrom::<SockaddrIn>(sock.as_raw_fd(), &mut buf)?;
    Ok(classify_v4(&buf[..n], echo))
}

/// Reads one ICMPv6 message (sender and hop limit beside it) and classifies it.
fn receive_v6(sock: &OwnedFd, echo: &Echo) -> nix::Result<Option<PingOutcome>> {
    let mut buf = [0u8; 2048];
    let mut cmsg = nix::cmsg_space!(libc::c_int);
    let (n, from, hops) = {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<SockaddrIn6>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::empty(),
        )?;
        let hops = msg.cmsgs()?.find_map(|c| match c {
            ControlMessageOwned::Ipv6HopLimit(h) => u8::try_from(h).ok(),
            _ => None,
        });
        (msg.bytes, msg.address.map(|a| IpAddr::V6(a.ip())), hops)
    };
    Ok(from.and_then(|from| classify_v6(&buf[..n], from, hops.unwrap_or(0), echo)))
}

/// Recognises a reply to (or an error about) our request in an IPv4 packet.
fn classify_v4(ip_packet: &[u8], echo: &Echo) -> Option<PingOutcome> {
    let p = LaxSlicedPacket::from_ip(ip_packet).ok()?;
    let (from, ttl) = match &p.net {
        Some(etherparse::LaxNetSlice::Ipv4(ip)) => (ip.header().source_addr(), ip.header().ttl()),
        _ => return None,
    };
    let Some(TransportSlice::Icmpv4(icmp)) = &p.transport else {
        return None;
    };
    match icmp.icmp_type() {
        Icmpv4Type::EchoReply(h)
            if h.id == echo.id && h.seq == echo.seq && IpAddr::V4(from) == echo.dst =>
        {
            Some(PingOutcome::Reply {
                from: from.into(),
                rtt: echo.started.elapsed(),
                ttl,
            })
        }
        Icmpv4Type::DestinationUnreachable(_) | Icmpv4Type::TimeExceeded(_) => {
            quotes_our_request(icmp.payload(), echo).then(|| PingOutcome::Error {
                from: from.into(),
                icmp_type: icmp.type_u8(),
                code: icmp.code_u8(),
            })
        }
        _ => None,
    }
}

/// Recognises a reply to (or an error about) our request in an ICMPv6
/// message from `from` (type 1 destination unreachable, 2 packet too big
/// and 3 time exceeded quote the request).
fn classify_v6(msg: &[u8], from: IpAddr, hops: u8, echo: &Echo) -> Option<PingOutcome> {
    let (&kind, &code) = (msg.first()?, msg.get(1)?);
    let id_seq = |b: &[u8]| -> Option<(u16, u16)> {
        Some((
            u16::from_be_bytes([*b.get(4)?, *b.get(5)?]),
            u16::from_be_bytes([*b.get(6)?, *b.get(7)?]),
        ))
    };
    match kind {
        ECHO_REPLY_V6 if id_seq(msg) == Some((echo.id, echo.seq)) && from == echo.dst => {
            Some(PingOutcome::Reply {
                from,
                rtt: echo.started.elapsed(),
                ttl: hops,
            })
        }
        1..=3 => quotes_our_request(msg.get(8..)?, echo).then_some(PingOutcome::Error {
            from,
            icmp_type: kind,
            code,
        }),
        _ => None,
    }
}

/// Whether the IP packet an ICMP error quotes is our echo request.
fn quotes_our_request(quoted: &[u8], echo: &Echo) -> bool {
    let Ok(q) = LaxSlicedPacket::from_ip(quoted) else {
        return false;
    };
    match q.transport {
        Some(TransportSlice::Icmpv4(q)) => matches!(
            q.icmp_type(),
            Icmpv4Type::EchoRequest(h) if h.id == echo.id && h.seq == echo.seq
        ),
        Some(TransportSlice::Icmpv6(q)) => {
            let b = q.slice();
            b.first() == Some(&ECHO_REQUEST_V6)
                && b.len() >= 8
                && u16::from_be_bytes([b[4], b[5]]) == echo.id
                && u16::from_be_bytes([b[6], b[7]]) == echo.seq
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo() -> Echo {
        Echo {
            dst: "2001:db8::2".parse().unwrap(),
            id: 0x1234,
            seq: 1,
            started: Instant::now(),
        }
    }

    /// An ICMPv6 echo reply from the destination with our id and sequence is the reply; others are not.
    #[test]
    fn v6_reply_is_ours_only() {
        let e = echo();
        let mut reply = echo_request(true, e.id, e.seq, b"x");
        reply[0] = ECHO_REPLY_V6;
        let dst = e.dst;
        assert!(matches!(
            classify_v6(&reply, dst, 63, &e),
            Some(PingOutcome::Reply { ttl: 63, .. })
        ));
        let other: IpAddr = "2001:db8::9".parse().unwrap();
        assert_eq!(classify_v6(&reply, other, 63, &e), None);
        let mut theirs = reply.clone();
        theirs[5] ^= 1;
        assert_eq!(classify_v6(&theirs, dst, 63, &e), None);
        // Our own request (a raw socket hears it on loopback) is not a reply.
        assert_eq!(
            classify_v6(&echo_request(true, e.id, 1, b"x"), dst, 64, &e),
            None
        );
    }

    /// An ICMPv6 unreachable quoting our request is an error with its type and code.
    #[test]
    fn v6_error_quotes_the_request() {
        let e = echo();
        let mut quoted = Vec::new();
        etherparse::PacketBuilder::ipv6(
            "2001:db8::1"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
            "2001:db8::2"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
            64,
        )
        .icmpv6_echo_request(e.id, e.seq)
        .write(&mut quoted, b"netrig-ping")
        .unwrap();
        let mut err = vec![1, 4, 0, 0, 0, 0, 0, 0];
        err.extend_from_slice(&quoted);
        let router: IpAddr = "2001:db8::ff".parse().unwrap();
        assert_eq!(
            classify_v6(&err, router, 64, &e),
            Some(PingOutcome::Error {
                from: router,
                icmp_type: 1,
                code: 4
            })
        );
        let other = Echo { id: e.id ^ 1, ..e };
        assert_eq!(classify_v6(&err, router, 64, &other), None);
    }
}
