//! A userland port forwarder running inside a node — netrig's stand-in for
//! `docker-proxy`.
//!
//! It listens on `listen` inside the node and, for each TCP connection (or
//! each UDP client), opens a new socket from the same node to `target` and
//! copies bytes both ways. Because the outbound socket is the node's own,
//! the target sees the node's address on the route to it as the source (for
//! Docker: the bridge gateway, e.g. 172.17.0.1) — the proxy-vs-NAT difference
//! Docker users meet (docker-rules §2.3, §2.6).
//!
//! Guarantees: the listening socket is bound before [`Proxy::start`] (or
//! [`Proxy::start_all`]) returns;
//! all sockets are created on a thread inside the node; a finished TCP
//! connection's sockets are closed at once, a UDP client's upstream socket
//! after 90 s without a reply (docker-proxy's `UDPConnTrackTimeout`);
//! dropping the proxy stops it and closes every connection.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, SockaddrIn, SockaddrIn6, bind, setsockopt, socket,
    sockopt,
};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::namespace::Namespace;
use crate::net::Proto;
use crate::traffic::{OpenStreams, StopFd};

/// A running forwarder; stops on drop.
#[derive(Debug)]
pub(crate) struct Proxy {
    proto: Proto,
    listen: SocketAddr,
    target: SocketAddr,
    stop: StopFd,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    /// Starts forwarding `listen` (inside `ns`) to `target`; returns once
    /// the listening socket is bound.
    #[cfg(test)]
    pub(crate) fn start(
        ns: &Namespace,
        proto: Proto,
        listen: SocketAddr,
        target: SocketAddr,
    ) -> Result<Proxy> {
        let mut started = Proxy::start_all(ns, &[(proto, listen, target)])?;
        Ok(started.remove(0))
    }

    /// Starts one forwarder per `(protocol, listen, target)`, all at once:
    /// every forwarder's thread is started first, then each bind is awaited,
    /// so the binds overlap. Returns once every listening socket is bound; on
    /// an error the ones already started are stopped.
    pub fn start_all(
        ns: &Namespace,
        mappings: &[(Proto, SocketAddr, SocketAddr)],
    ) -> Result<Vec<Proxy>> {
        let launched = mappings
            .iter()
            .map(|&(proto, listen, target)| Proxy::launch(ns, proto, listen, target))
            .collect::<Result<Vec<_>>>()?;
        let mut out = Vec::with_capacity(launched.len());
        let mut failed = None;
        for (proxy, ready) in launched {
            let bound = ready
                .recv()
                .unwrap_or_else(|_| Err(io::Error::other("proxy thread ended early")));
            match bound {
                Ok(()) => {
                    tracing::debug!(subject = %ns.subject(), proto = %proxy.proto, listen = %proxy.listen, target = %proxy.target, "userland proxy listening");
                    out.push(proxy);
                }
                Err(e) if failed.is_none() => {
                    failed = Some(Error::io(
                        ns.subject().clone(),
                        format!(
                            "proxy {} {} -> {}: bind",
                            proxy.proto, proxy.listen, proxy.target
                        ),
                        e,
                    ));
                }
                Err(_) => {}
            }
        }
        match failed {
            Some(e) => Err(e), // `out` is dropped: every started proxy stops.
            None => Ok(out),
        }
    }

    /// Starts a forwarder's thread; the receiver says whether it bound.
    fn launch(
        ns: &Namespace,
        proto: Proto,
        listen: SocketAddr,
        target: SocketAddr,
    ) -> Result<(Proxy, std::sync::mpsc::Receiver<io::Result<()>>)> {
        let subject = ns.subject().clone();
        let stop = StopFd::new(&subject)?;
        let stop_in = stop.try_clone(&subject)?;
        let inside = ns.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<io::Result<()>>();
        let thread = std::thread::Builder::new()
            .name(format!("netrig-proxy-{listen}"))
            .spawn(move || {
                // This thread belongs to the proxy: it lives in the node for good.
                if let Err(e) = inside.netns().enter_current_thread() {
                    let _ = ready_tx.send(Err(io::Error::other(e.to_string())));
                    return;
                }
                match proto {
                    Proto::Tcp => match bind_tcp(listen) {
                        Ok(l) => {
                            let _ = ready_tx.send(Ok(()));
                            serve_tcp(l, target, stop_in);
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    },
                    Proto::Udp => match bind_udp(listen) {
                        Ok(s) => {
                            let _ = ready_tx.send(Ok(()));
                            serve_udp(s, target, stop_in);
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    },
                }
            })
            .map_err(|e| Error::io(subject.clone(), "start a proxy thread", e))?;
        let proxy = Proxy {
            proto,
            listen,
            target,
            stop,
            thread: Some(thread),
        };
        Ok((proxy, ready_rx))
    }
}

impl Proxy {
    /// Tells the forwarder's thread to stop, without waiting for it (drop
    /// waits): stopping many proxies, signal them all first, so their
    /// threads wind down together rather than one after another.
    pub(crate) fn signal_stop(&self) {
        self.stop.signal();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.signal();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Waits until `fd` is readable (true) or the proxy is stopping (false).
/// The stop eventfd is never drained, so once signalled every waiter sees it.
fn wait_readable(fd: &impl AsFd, stop: &StopFd) -> bool {
    stop.wait_readable(fd.as_fd(), None).unwrap_or(false)
}

/// A socket for `listen`; an IPv6 one is IPv6-only (`IPV6_V6ONLY`, as
/// docker-proxy makes its `[::]` listener), so `0.0.0.0` and `[::]` on the
/// same port can both be bound.
fn bound_socket(listen: SocketAddr, ty: SockType) -> io::Result<OwnedFd> {
    let family = match listen {
        SocketAddr::V4(_) => AddressFamily::Inet,
        SocketAddr::V6(_) => AddressFamily::Inet6,
    };
    let fd = socket(family, ty, SockFlag::SOCK_CLOEXEC, None)?;
    setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    match listen {
        SocketAddr::V4(a) => bind(fd.as_raw_fd(), &SockaddrIn::from(a))?,
        SocketAddr::V6(a) => {
            setsockopt(&fd, sockopt::Ipv6V6Only, &true)?;
            bind(fd.as_raw_fd(), &SockaddrIn6::from(a))?
        }
    }
    Ok(fd)
}

/// A listening TCP socket on `listen` (IPv6: IPv6-only, [`bound_socket`]).
pub(crate) fn bind_tcp(listen: SocketAddr) -> io::Result<TcpListener> {
    let fd = bound_socket(listen, SockType::Stream)?;
    nix::sys::socket::listen(&fd, Backlog::new(128).map_err(io::Error::from)?)?;
    Ok(TcpListener::from(fd))
}

/// A bound UDP socket on `listen` (IPv6: IPv6-only, [`bound_socket`]).
pub(crate) fn bind_udp(listen: SocketAddr) -> io::Result<UdpSocket> {
    Ok(UdpSocket::from(bound_socket(listen, SockType::Datagram)?))
}

fn serve_tcp(listener: TcpListener, target: SocketAddr, stop: StopFd) {
    let open = OpenStreams::default();
    let mut workers: Vec<std::thread::JoinHandle<()>> = Vec::new();
    while wait_readable(&listener, &stop) {
        let Ok((client, peer)) = listener.accept() else {
            continue;
        };
        // Threads spawned here inherit the node's namespace: the outbound
        // connection is made from the node.
        let Ok(upstream) = TcpStream::connect_timeout(&target, Duration::from_secs(5)) else {
            tracing::debug!(%peer, %target, "proxy: upstream connect failed");
            let _ = client.shutdown(Shutdown::Both);
            continue;
        };
        tracing::debug!(%peer, %target, "proxy: connection");
        let (c2, u2) = match (client.try_clone(), upstream.try_clone()) {
            (Ok(c), Ok(u)) => (c, u),
            _ => continue,
        };
        let id = open.add(&[&client, &upstream]);
        let open = open.clone();
        workers.retain(|w| !w.is_finished());
        // One thread a connection: it copies one way, a second the other;
        // once both ends are done the connection's fds are closed.
        workers.push(std::thread::spawn(move || {
            let back = std::thread::spawn(move || pump(u2, c2));
            pump(client, upstream);
            let _ = back.join();
            open.remove(id);
        }));
    }
    // Out of LISTEN before the close: a forked child's copy of the fd must
    // not keep accepting, nor hold the address against the next proxy.
    crate::traffic::retire_tcp_listener(&listener);
    open.shutdown_all();
    for w in workers {
        let _ = w.join();
    }
}

/// Copies `from` to `to` until EOF, then half-closes `to`.
fn pump(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// How long a UDP client's upstream socket lives without a reply, as
/// docker-proxy's `UDPConnTrackTimeout`.
const UDP_IDLE: Duration = Duration::from_secs(90);

fn serve_udp(socket: UdpSocket, target: SocketAddr, stop: StopFd) {
    let socket = Arc::new(socket);
    let clients: Arc<std::sync::Mutex<HashMap<SocketAddr, UdpSocket>>> = Arc::default();
    let mut workers: Vec<std::thread::JoinHandle<()>> = Vec::new();
    let stop = Arc::new(stop);
    let mut buf = [0u8; 65535];
    while wait_readable(&*socket, &stop) {
        let Ok((n, client)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let mut map = clients.lock().unwrap_or_else(|p| p.into_inner());
        let upstream = match map.entry(client) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let Some((u, reader)) = upstream_for(target) else {
                    continue;
                };
                let (listener, stop2, clients2) = (socket.clone(), stop.clone(), clients.clone());
                workers.retain(|w| !w.is_finished());
                workers.push(std::thread::spawn(move || {
                    relay_replies(&reader, &listener, client, &stop2);
                    clients2
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&client);
                }));
                e.insert(u)
            }
        };
        let _ = upstream.send(&buf[..n]);
    }
    // Matching no client before the close (the next proxy binds with
    // SO_REUSEADDR too): a forked child's copy must not take its datagrams.
    crate::traffic::retire_udp(&socket);
    for w in workers {
        let _ = w.join();
    }
}

/// A UDP socket connected to `target` (from the node), and a nonblocking
/// clone of it to read the replies.
fn upstream_for(target: SocketAddr) -> Option<(UdpSocket, UdpSocket)> {
    let bind = if target.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let u = UdpSocket::bind(bind).ok()?;
    u.connect(target).ok()?;
    let reader = u.try_clone().ok()?;
    reader.set_nonblocking(true).ok()?;
    Some((u, reader))
}

/// Sends each reply on `reader` back to `client` from the proxy's
/// listening socket, until the proxy stops or no reply came for [`UDP_IDLE`].
fn relay_replies(reader: &UdpSocket, listener: &UdpSocket, client: SocketAddr, stop: &StopFd) {
    let mut buf = [0u8; 65535];
    let mut last = std::time::Instant::now();
    loop {
        let left = UDP_IDLE.saturating_sub(last.elapsed());
        if left.is_zero() {
            return;
        }
        if !stop
            .wait_readable(reader.as_fd(), Some(left))
            .unwrap_or(false)
        {
            return; // stopping
        }
        while let Ok(n) = reader.recv(&mut buf) {
            let _ = listener.send_to(&buf[..n], client);
            last = std::time::Instant::now();
        }
    }
}

#[cfg(test)]
mod lab_tests;
