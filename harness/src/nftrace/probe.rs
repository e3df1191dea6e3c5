//! The probe of a traced flow: one socket in the source namespace, bound
//! first (so its source port can select the trace), then one TCP SYN or UDP
//! datagram, and what came back.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::sys::socket::{self as sock, AddressFamily, SockFlag, SockType, SockaddrStorage, sockopt};

use super::flow::Flow;
use crate::Proto;

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

/// A socket of the flow's protocol bound to its source (port chosen by the kernel).
pub(crate) fn bound_socket(flow: &Flow) -> std::io::Result<OwnedFd> {
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

pub(crate) fn local_port(fd: &OwnedFd) -> std::io::Result<u16> {
    let addr: SockaddrStorage = sock::getsockname(fd.as_raw_fd())?;
    addr.as_sockaddr_in()
        .map(|a| a.port())
        .or_else(|| addr.as_sockaddr_in6().map(|a| a.port()))
        .ok_or_else(|| std::io::Error::other("the probe socket has no IP address"))
}

/// Something else to watch while the probe waits: an fd and what to do
/// when it is readable (true: the outcome is known to be "no answer").
pub(crate) type Watch<'a> = (BorrowedFd<'a>, &'a mut dyn FnMut() -> std::io::Result<bool>);

/// Sends the probe on the already bound, nonblocking socket and waits for
/// its outcome, or until `watch` says no answer can come (a traced drop).
pub(crate) fn send_probe(
    fd: &OwnedFd,
    flow: &Flow,
    timeout: Duration,
    mut watch: Option<Watch<'_>>,
) -> std::io::Result<ProbeOutcome> {
    let raw = fd.as_raw_fd();
    let dst = SockaddrStorage::from(flow.dst);
    match sock::connect(raw, &dst) {
        Ok(()) | Err(nix::errno::Errno::EINPROGRESS) => {}
        Err(nix::errno::Errno::ECONNREFUSED) => return Ok(ProbeOutcome::Refused),
        Err(nix::errno::Errno::EPERM) => return Ok(ProbeOutcome::Blocked),
        // No route from the source: the probe never left it.
        Err(nix::errno::Errno::ENETUNREACH | nix::errno::Errno::EHOSTUNREACH) => {
            return Ok(ProbeOutcome::Unreachable);
        }
        Err(e) => return Err(e.into()),
    }
    let event = match flow.proto {
        Proto::Tcp => nix::poll::PollFlags::POLLOUT,
        Proto::Udp => {
            match sock::send(raw, b"netrig-trace", sock::MsgFlags::empty()) {
                Ok(_) => {}
                Err(nix::errno::Errno::EPERM) => return Ok(ProbeOutcome::Blocked),
                Err(e) => return Err(e.into()),
            }
            nix::poll::PollFlags::POLLIN
        }
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
        let ready = |p: &nix::poll::PollFd<'_>| p.revents().is_some_and(|r| !r.is_empty());
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
    let err = sock::getsockopt(fd, sockopt::SocketError)?;
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
        libc::EPERM => ProbeOutcome::Blocked,
        e => return Err(std::io::Error::from_raw_os_error(e)),
    })
}
