//! UDP from inside a node: send, request/response with a timeout, and an
//! echo server that records what it received and from whom.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::time::Duration;

use super::server::{Log, Server};
use super::{StopFd, ToSocket, socket_addr};
use crate::error::{Error, Result, Subject};
use crate::namespace::Namespace;

/// A datagram a server received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// Who sent it, as the server saw it (after any NAT).
    pub from: SocketAddr,
    /// Its payload.
    pub payload: Vec<u8>,
}

/// What a UDP request met.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UdpOutcome {
    /// A reply came back from `from`.
    Reply {
        /// The reply's payload.
        data: Vec<u8>,
        /// Who sent it.
        from: SocketAddr,
    },
    /// An ICMP port unreachable came back (nothing listens, or a REJECT rule).
    Refused,
    /// Nothing came back before the timeout.
    NoAnswer,
    /// The network said no (the OS error).
    Unreachable(String),
}

fn unspecified_for(dst: &SocketAddr) -> SocketAddr {
    if dst.is_ipv4() {
        "0.0.0.0:0".parse().unwrap()
    } else {
        "[::]:0".parse().unwrap()
    }
}

impl Namespace {
    /// A UDP socket bound to `bind` inside the node (`"0.0.0.0:0"` for any).
    pub fn udp_socket(&self, bind: impl ToSocket) -> Result<UdpSocket> {
        let subject = self.subject().clone();
        let bind = socket_addr(&subject, &bind)?;
        self.run(|| UdpSocket::bind(bind))?
            .map_err(|e| Error::io(subject, format!("bind a UDP socket to {bind}"), e))
    }

    /// Sends one datagram to `dst` from an ephemeral port; returns the source address used.
    pub fn udp_send(&self, dst: impl ToSocket, payload: &[u8]) -> Result<SocketAddr> {
        let subject = self.subject().clone();
        let dst = socket_addr(&subject, &dst)?;
        let sock = self.udp_socket(unspecified_for(&dst))?;
        sock.connect(dst)
            .map_err(|e| Error::io(subject.clone(), format!("connect a UDP socket to {dst}"), e))?;
        sock.send(payload)
            .map_err(|e| Error::io(subject.clone(), format!("send a datagram to {dst}"), e))?;
        let local = sock
            .local_addr()
            .map_err(|e| Error::io(subject.clone(), "local_addr", e))?;
        tracing::debug!(%subject, %local, %dst, len = payload.len(), "udp send");
        Ok(local)
    }

    /// Sends one datagram to `dst` from the source `src` (`"10.0.0.5:0"` for
    /// an ephemeral port, or a fixed one); returns the source address used.
    pub fn udp_send_from(
        &self,
        src: impl ToSocket,
        dst: impl ToSocket,
        payload: &[u8],
    ) -> Result<SocketAddr> {
        let subject = self.subject().clone();
        let dst = socket_addr(&subject, &dst)?;
        let sock = self.udp_socket(src)?;
        sock.send_to(payload, dst)
            .map_err(|e| Error::io(subject.clone(), format!("send a datagram to {dst}"), e))?;
        let local = sock
            .local_addr()
            .map_err(|e| Error::io(subject.clone(), "local_addr", e))?;
        tracing::debug!(%subject, %local, %dst, len = payload.len(), "udp send from a chosen source");
        Ok(local)
    }

    /// Sends `payload` to `dst` and waits up to `timeout` for one reply.
    pub fn udp_request(
        &self,
        dst: impl ToSocket,
        payload: &[u8],
        timeout: Duration,
    ) -> Result<UdpOutcome> {
        let subject = self.subject().clone();
        let dst = socket_addr(&subject, &dst)?;
        let sock = self.udp_socket(unspecified_for(&dst))?;
        let io = |what: &str| {
            let (s, w) = (subject.clone(), what.to_string());
            move |e| Error::io(s, w, e)
        };
        sock.connect(dst).map_err(io("connect a UDP socket"))?;
        sock.set_read_timeout(Some(timeout.max(Duration::from_millis(1))))
            .map_err(io("set a read timeout"))?;
        if let Err(e) = sock.send(payload) {
            return Ok(UdpOutcome::Unreachable(e.to_string()));
        }
        let mut buf = vec![0u8; 65536];
        let outcome = match sock.recv_from(&mut buf) {
            Ok((n, from)) => UdpOutcome::Reply {
                data: buf[..n].to_vec(),
                from,
            },
            Err(e) => match e.kind() {
                std::io::ErrorKind::ConnectionRefused => UdpOutcome::Refused,
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                    UdpOutcome::NoAnswer
                }
                _ => UdpOutcome::Unreachable(e.to_string()),
            },
        };
        tracing::debug!(%subject, %dst, %outcome, "udp request");
        Ok(outcome)
    }

    /// Starts a UDP echo server bound to `bind` inside the node; it is bound
    /// when this returns, and stops when dropped.
    pub fn udp_echo_server(&self, bind: impl ToSocket) -> Result<UdpEchoServer> {
        let subject = self.subject().clone();
        let bind = socket_addr(&subject, &bind)?;
        // SO_REUSEADDR: a stopped server's socket still held by a forked
        // child must not keep the address (see `serve`).
        let sock = self
            .run(|| super::bind_reusable_udp(bind))?
            .map_err(|e| Error::io(subject.clone(), format!("bind a UDP socket to {bind}"), e))?;
        UdpEchoServer::start(sock, subject)
    }
}

/// A UDP echo server inside a node. See [`Node::udp_echo_server`](crate::Node::udp_echo_server).
///
/// Each datagram is recorded before it is echoed, so once a client has its
/// echo, [`UdpEchoServer::peers`] includes that client.
pub struct UdpEchoServer(Server<Datagram>);

impl std::fmt::Debug for UdpEchoServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UdpEchoServer({}, {})", self.0.subject, self.0.addr)
    }
}

impl UdpEchoServer {
    fn start(sock: UdpSocket, subject: Subject) -> Result<UdpEchoServer> {
        let addr = sock
            .local_addr()
            .map_err(|e| Error::io(subject.clone(), "local_addr", e))?;
        sock.set_nonblocking(true)
            .map_err(|e| Error::io(subject.clone(), "set the socket nonblocking", e))?;
        Server::start("udp-echo", addr, subject, move |log, stop| {
            serve(sock, log, stop)
        })
        .map(UdpEchoServer)
    }

    /// Every datagram received so far, in order.
    pub(crate) fn datagrams(&self) -> Vec<Datagram> {
        self.0.seen()
    }

    /// The senders of every datagram received so far, in order.
    pub fn peers(&self) -> Vec<SocketAddr> {
        self.datagrams().into_iter().map(|d| d.from).collect()
    }

    /// Waits up to `timeout` until `n` datagrams arrived; returns them.
    pub fn wait_for_datagrams(&self, n: usize, timeout: Duration) -> Result<Vec<Datagram>> {
        self.0.wait_for(n, timeout, "datagram(s)", |d| {
            format!("from {} ({} bytes)", d.from, d.payload.len())
        })
    }
}

fn serve(sock: UdpSocket, log: &Log<Datagram>, stop: &StopFd) {
    let mut buf = vec![0u8; 65536];
    let local = sock.local_addr().ok();
    while let Ok(true) = stop.wait_readable(sock.as_fd(), None) {
        loop {
            match sock.recv_from(&mut buf) {
                Ok((n, from)) => {
                    // Record before replying: whoever got the echo can rely on `peers()`.
                    log.push(Datagram {
                        from,
                        payload: buf[..n].to_vec(),
                    });
                    let _ = sock.send_to(&super::seen::echo_reply(&buf[..n], from, local), from);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => break,
            }
        }
    }
    // Matching no client before the close: a forked child's copy of the fd
    // must not receive the next server's datagrams.
    super::retire_udp(&sock);
}
