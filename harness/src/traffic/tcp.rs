//! TCP from inside a node: a connect probe with a clear outcome, and an echo
//! server that records its peers.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::time::Duration;

use super::server::{Log, Server};
use super::{StopFd, ToSocket, socket_addr};
use crate::error::{Error, Result, Subject};
use crate::namespace::Namespace;

/// What a TCP connection attempt met.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpOutcome {
    /// The handshake completed (from this local address).
    Connected(SocketAddr),
    /// A RST (or ICMP port unreachable) answered the SYN: nothing listens, or a REJECT rule.
    Refused,
    /// Nothing answered before the timeout: a DROP rule, or a black hole.
    NoAnswer,
    /// The network said no: no route, host or net unreachable, admin prohibited (the OS error).
    Unreachable(String),
}

impl TcpOutcome {
    /// Whether the connection was established.
    pub fn is_connected(&self) -> bool {
        matches!(self, TcpOutcome::Connected(_))
    }
}

impl Namespace {
    /// Tries to connect to `dst` from inside the node and reports the outcome;
    /// the connection, if made, is closed again.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use netrig::TcpOutcome;
    /// # fn demo(lab: &netrig::Lab) -> netrig::Result<()> {
    /// let out = lab.node("a")?.tcp_connect("10.0.0.2:22", Duration::from_millis(300))?;
    /// assert_eq!(out, TcpOutcome::Refused);
    /// # Ok(()) }
    /// ```
    pub fn tcp_connect(&self, dst: impl ToSocket, timeout: Duration) -> Result<TcpOutcome> {
        let subject = self.subject().clone();
        let dst = socket_addr(&subject, &dst)?;
        let r = self.run(|| TcpStream::connect_timeout(&dst, timeout))?;
        let outcome = match r {
            Ok(s) => TcpOutcome::Connected(
                s.local_addr()
                    .map_err(|e| Error::io(subject.clone(), "local_addr", e))?,
            ),
            Err(e) => match e.kind() {
                std::io::ErrorKind::ConnectionRefused => TcpOutcome::Refused,
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                    TcpOutcome::NoAnswer
                }
                _ => TcpOutcome::Unreachable(e.to_string()),
            },
        };
        tracing::debug!(%subject, %dst, %outcome, "tcp connect probe");
        Ok(outcome)
    }

    /// Like [`Namespace::tcp_connect`], from the source address `src` (one of
    /// this namespace's addresses, or any with `ip_nonlocal_bind`): what a
    /// rule matching `-s` sees, without a raw socket in the test.
    pub fn tcp_connect_from(
        &self,
        src: IpAddr,
        dst: impl ToSocket,
        timeout: Duration,
    ) -> Result<TcpOutcome> {
        let subject = self.subject().clone();
        let dst = socket_addr(&subject, &dst)?;
        let r = self.run(|| connect_from(src, dst, timeout))?;
        let outcome = match r {
            Ok(local) => TcpOutcome::Connected(local),
            Err(e) => match e {
                nix::errno::Errno::ECONNREFUSED => TcpOutcome::Refused,
                nix::errno::Errno::EINPROGRESS
                | nix::errno::Errno::ETIMEDOUT
                | nix::errno::Errno::EAGAIN => TcpOutcome::NoAnswer,
                nix::errno::Errno::EADDRNOTAVAIL => {
                    return Err(Error::invalid(
                        subject,
                        "source address",
                        format!("{src} is not an address of this node"),
                    ));
                }
                other => TcpOutcome::Unreachable(std::io::Error::from(other).to_string()),
            },
        };
        tracing::debug!(%subject, %src, %dst, %outcome, "tcp connect probe from a chosen source");
        Ok(outcome)
    }

    /// Connects to `dst` from inside the node and returns the stream (a
    /// failure to connect is an error naming the outcome).
    #[cfg(test)]
    pub fn tcp_stream(&self, dst: impl ToSocket, timeout: Duration) -> Result<TcpStream> {
        let subject = self.subject().clone();
        let dst = socket_addr(&subject, &dst)?;
        self.run(|| TcpStream::connect_timeout(&dst, timeout))?
            .map_err(|e| Error::io(subject, format!("connect to {dst}"), e))
    }

    /// Starts a TCP echo server bound to `bind` (`"0.0.0.0:7000"`) inside the
    /// node; it is listening when this returns, and stops when dropped.
    pub fn tcp_echo_server(&self, bind: impl ToSocket) -> Result<TcpEchoServer> {
        let subject = self.subject().clone();
        let bind = socket_addr(&subject, &bind)?;
        let listener = self
            .run(|| TcpListener::bind(bind))?
            .map_err(|e| Error::io(subject.clone(), format!("bind a TCP listener to {bind}"), e))?;
        TcpEchoServer::start(listener, subject)
    }
}

/// A TCP echo server inside a node. See [`Node::tcp_echo_server`](crate::Node::tcp_echo_server).
///
/// A connection is recorded when the server accepts it, which may be after
/// the client's `connect` has returned (the kernel completes the handshake
/// first): use [`TcpEchoServer::wait_for_peers`] rather than
/// [`TcpEchoServer::peers`] right after connecting.
pub struct TcpEchoServer(Server<SocketAddr>);

impl std::fmt::Debug for TcpEchoServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TcpEchoServer({}, {})", self.0.subject, self.0.addr)
    }
}

impl TcpEchoServer {
    fn start(listener: TcpListener, subject: Subject) -> Result<TcpEchoServer> {
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io(subject.clone(), "local_addr", e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::io(subject.clone(), "set the listener nonblocking", e))?;
        Server::start("tcp-echo", addr, subject, move |log, stop| {
            accept_loop(listener, log, stop)
        })
        .map(TcpEchoServer)
    }

    /// The peers of every connection accepted so far, in order.
    pub fn peers(&self) -> Vec<SocketAddr> {
        self.0.seen()
    }

    /// Waits up to `timeout` until a connection from `ip` was accepted;
    /// returns whether one was (for "did this client arrive, un-NATed?").
    pub fn wait_for_peer_from(&self, ip: IpAddr, timeout: Duration) -> bool {
        self.0.wait_until(timeout, |p| p.ip() == ip)
    }

    /// Waits up to `timeout` until `n` connections were accepted; returns their peers.
    pub fn wait_for_peers(&self, n: usize, timeout: Duration) -> Result<Vec<SocketAddr>> {
        self.0
            .wait_for(n, timeout, "TCP connection(s)", |p| format!("{p:?}"))
    }
}

fn accept_loop(listener: TcpListener, log: &Log<SocketAddr>, stop: &StopFd) {
    let mut workers: Vec<std::thread::JoinHandle<()>> = Vec::new();
    let open = super::OpenStreams::default();
    while let Ok(true) = stop.wait_readable(listener.as_fd(), None) {
        // Accept until WouldBlock, then wait again.
        while let Ok((stream, peer)) = listener.accept() {
            let _ = stream.set_nonblocking(false);
            log.push(peer);
            let id = open.add(&[&stream]);
            let open = open.clone();
            workers.retain(|w| !w.is_finished());
            workers.push(std::thread::spawn(move || {
                echo(stream);
                open.remove(id);
            }));
        }
    }
    // Out of LISTEN before the close: a forked child's copy of the fd must
    // not keep accepting, nor hold the address against the next server.
    super::retire_tcp_listener(&listener);
    open.shutdown_all();
    for w in workers {
        let _ = w.join();
    }
}

fn echo(mut stream: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    let (peer, local) = (stream.peer_addr().ok(), stream.local_addr().ok());
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let reply = match peer {
                    Some(peer) => super::seen::echo_reply(&buf[..n], peer, local),
                    None => buf[..n].into(),
                };
                if stream.write_all(&reply).is_err() {
                    return;
                }
            }
        }
    }
}

/// A blocking connect from `src` (port chosen by the kernel) that gives up
/// after `timeout` (SO_SNDTIMEO), on the calling thread's namespace.
fn connect_from(src: IpAddr, dst: SocketAddr, timeout: Duration) -> nix::Result<SocketAddr> {
    use nix::sys::socket::{
        AddressFamily, SockFlag, SockType, SockaddrStorage, bind, connect, getsockname, setsockopt,
        socket, sockopt,
    };
    use nix::sys::time::{TimeVal, TimeValLike};
    use std::os::fd::AsRawFd;
    let family = if dst.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let fd = socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)?;
    let ms = i64::try_from(timeout.as_millis())
        .unwrap_or(i64::MAX)
        .max(1);
    setsockopt(&fd, sockopt::SendTimeout, &TimeVal::milliseconds(ms))?;
    bind(
        fd.as_raw_fd(),
        &SockaddrStorage::from(SocketAddr::new(src, 0)),
    )?;
    connect(fd.as_raw_fd(), &SockaddrStorage::from(dst))?;
    let local: SockaddrStorage = getsockname(fd.as_raw_fd())?;
    local
        .as_sockaddr_in()
        .map(|a| SocketAddr::from((a.ip(), a.port())))
        .or_else(|| {
            local
                .as_sockaddr_in6()
                .map(|a| SocketAddr::from((a.ip(), a.port())))
        })
        .ok_or(nix::errno::Errno::EAFNOSUPPORT)
}
