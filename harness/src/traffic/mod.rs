//! Traffic from inside nodes: socket probes with clear outcomes, echo
//! servers that are listening before the call returns, ICMP echo, and raw
//! frames injected on an interface.
//!
//! Guarantees:
//! - every socket is created by a thread inside the node ([`Namespace::run`]), so
//!   it belongs to the node's namespace whichever thread uses it later;
//! - probes return an outcome value ([`TcpOutcome`], [`UdpOutcome`],
//!   [`PingOutcome`]) rather than an error for what the network did — a
//!   refusal or a timeout is a result a test asserts on; `Err` is for the
//!   harness failing;
//! - servers ([`TcpEchoServer`], [`UdpEchoServer`]) are bound when the call
//!   returns, serve on their own thread, record the peers they saw and stop
//!   when dropped;
//! - waits have deadlines (socket timeouts, `poll`), never sleeps.
//!
//! [`Namespace::run`]: crate::Namespace::run

mod display;
mod frame;
mod icmp;
mod seen;
mod server;
mod tcp;
mod udp;

use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

pub use icmp::PingOutcome;
pub(crate) use seen::{REQUEST, answer, parse_answer};
pub use tcp::{TcpEchoServer, TcpOutcome};
pub use udp::{Datagram, UdpEchoServer, UdpOutcome};

use crate::error::{Error, Result, Subject};

/// Something that names a socket address without a DNS lookup:
/// `"10.0.0.2:7000"`, a [`SocketAddr`], or `(ip, port)`.
pub trait ToSocket {
    /// The address, or why this is not one.
    fn to_socket(&self) -> std::result::Result<SocketAddr, String>;
}

impl ToSocket for str {
    fn to_socket(&self) -> std::result::Result<SocketAddr, String> {
        self.trim()
            .parse()
            .map_err(|_| format!("{self:?} is not ip:port"))
    }
}
impl ToSocket for String {
    fn to_socket(&self) -> std::result::Result<SocketAddr, String> {
        self.as_str().to_socket()
    }
}
impl ToSocket for SocketAddr {
    fn to_socket(&self) -> std::result::Result<SocketAddr, String> {
        Ok(*self)
    }
}
impl ToSocket for std::net::SocketAddrV4 {
    fn to_socket(&self) -> std::result::Result<SocketAddr, String> {
        Ok(SocketAddr::V4(*self))
    }
}
impl ToSocket for std::net::SocketAddrV6 {
    fn to_socket(&self) -> std::result::Result<SocketAddr, String> {
        Ok(SocketAddr::V6(*self))
    }
}
impl ToSocket for (std::net::Ipv4Addr, u16) {
    fn to_socket(&self) -> std::result::Result<SocketAddr, String> {
        Ok(SocketAddr::from(*self))
    }
}
impl<T: ToSocket + ?Sized> ToSocket for &T {
    fn to_socket(&self) -> std::result::Result<SocketAddr, String> {
        (**self).to_socket()
    }
}
impl ToSocket for (IpAddr, u16) {
    fn to_socket(&self) -> std::result::Result<SocketAddr, String> {
        Ok(SocketAddr::new(self.0, self.1))
    }
}

pub(crate) fn socket_addr(subject: &Subject, a: &dyn ToSocket) -> Result<SocketAddr> {
    a.to_socket()
        .map_err(|e| Error::invalid(subject.clone(), "socket address", e))
}

/// Takes a long-lived server socket out of service before its fd is closed.
///
/// Closing the fd is not enough: a child forked at that moment by any
/// thread of the process (every `nft`, `iptables`, `ip` netrig runs) holds
/// a copy of every fd until it execs (`O_CLOEXEC` acts only then), so the
/// socket would outlive the close, still bound: a TCP listener would still
/// complete handshakes nobody serves, and a new server on the same address
/// could not bind (`EADDRINUSE`). `shutdown` acts on the socket itself,
/// whoever holds an fd: a TCP listener leaves LISTEN at once (its queued
/// connections are reset, as a close would), so a new `SO_REUSEADDR` bind
/// succeeds. A UDP socket cannot be unbound, so it is connected to its own
/// address: it then matches no client's datagram, and a new server (bound
/// with `SO_REUSEADDR`, as [`bind_reusable_udp`] does) receives them all.
pub(crate) fn retire_tcp_listener(listener: &std::net::TcpListener) {
    let _ = nix::sys::socket::shutdown(listener.as_raw_fd(), nix::sys::socket::Shutdown::Both);
}

/// Takes a UDP server socket out of service before its fd is closed (see
/// [`retire_tcp_listener`]).
pub(crate) fn retire_udp(socket: &std::net::UdpSocket) {
    if let Ok(local) = socket.local_addr() {
        let _ = socket.connect(local);
    }
}

/// A UDP server socket bound with `SO_REUSEADDR`, so that a retired server
/// still held by a forked child (see [`retire_tcp_listener`]) does not block
/// it (a socket bound without it, such as a user's own, still does).
pub(crate) fn bind_reusable_udp(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    use nix::sys::socket as sock;
    let family = match addr {
        SocketAddr::V4(_) => sock::AddressFamily::Inet,
        SocketAddr::V6(_) => sock::AddressFamily::Inet6,
    };
    let fd = sock::socket(
        family,
        sock::SockType::Datagram,
        sock::SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    sock::setsockopt(&fd, sock::sockopt::ReuseAddr, &true)?;
    sock::bind(fd.as_raw_fd(), &sock::SockaddrStorage::from(addr))?;
    Ok(std::net::UdpSocket::from(fd))
}

/// The TCP streams a server has open, so that stopping it can shut every
/// connection down; each connection's are removed (and closed) when it
/// ends, so a long-lived server holds only its open connections' fds.
#[derive(Debug, Clone, Default)]
pub(crate) struct OpenStreams {
    streams:
        std::sync::Arc<std::sync::Mutex<std::collections::HashMap<u64, Vec<std::net::TcpStream>>>>,
    next: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl OpenStreams {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<u64, Vec<std::net::TcpStream>>> {
        self.streams.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a connection's streams (clones of them); its id.
    pub(crate) fn add(&self, streams: &[&std::net::TcpStream]) -> u64 {
        let id = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let clones = streams.iter().filter_map(|s| s.try_clone().ok()).collect();
        self.lock().insert(id, clones);
        id
    }

    /// Forgets (closes the clones of) connection `id`, which has ended.
    pub(crate) fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Shuts every open connection down (both ways).
    pub(crate) fn shutdown_all(&self) {
        for s in self.lock().values().flatten() {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// An eventfd that tells a serving thread to stop.
#[derive(Debug)]
pub(crate) struct StopFd(OwnedFd);

impl StopFd {
    pub(crate) fn new(subject: &Subject) -> Result<StopFd> {
        // SAFETY: plain syscall; the fd is owned below.
        let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if raw < 0 {
            return Err(Error::io(
                subject.clone(),
                "create an eventfd",
                std::io::Error::last_os_error(),
            ));
        }
        // SAFETY: eventfd returned a new fd that we own.
        Ok(StopFd(unsafe { OwnedFd::from_raw_fd(raw) }))
    }

    pub(crate) fn try_clone(&self, subject: &Subject) -> Result<StopFd> {
        self.0
            .try_clone()
            .map(StopFd)
            .map_err(|e| Error::io(subject.clone(), "duplicate an eventfd", e))
    }

    pub(crate) fn signal(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a valid u64 to an eventfd we own.
        unsafe { libc::write(self.0.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// Waits until `fd` is readable (`Ok(true)`), this is signalled
    /// (`Ok(false)`), or `timeout` passes (`Ok(true)` too: the caller retries).
    pub(crate) fn wait_readable(
        &self,
        fd: BorrowedFd<'_>,
        timeout: Option<Duration>,
    ) -> std::io::Result<bool> {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        let mut fds = [
            PollFd::new(fd, PollFlags::POLLIN),
            PollFd::new(self.0.as_fd(), PollFlags::POLLIN),
        ];
        let t = match timeout {
            None => PollTimeout::NONE,
            Some(d) => PollTimeout::from(u16::try_from(d.as_millis()).unwrap_or(u16::MAX)),
        };
        match poll(&mut fds, t) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(fds[1].revents().is_none_or(|r| r.is_empty()))
    }
}
