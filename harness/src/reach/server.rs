//! The servers a matrix probes: one per (node, address, service), bound
//! before any probe is sent, answering each probe with the source and
//! destination address it saw (`netrig-reach SRC DST`), so that every
//! parallel probe learns its own view of NAT in-band.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsFd;

use std::time::Duration;

use super::cell::Service;
use crate::error::{Error, Result};
use crate::namespace::Namespace;
use crate::traffic::{REQUEST, StopFd, answer, bind_reusable_udp, retire_tcp_listener, retire_udp};

/// Running servers; they stop (and their threads end) on drop.
pub(crate) struct Servers {
    running: Vec<(StopFd, std::thread::JoinHandle<()>)>,
}

impl Servers {
    /// Binds one server per `(namespace, address, service)` (ICMP needs
    /// none: the kernel answers echo requests). An address already in use
    /// (a userland proxy, a user's own server) is left to its owner.
    pub(crate) fn start(wanted: &[(&Namespace, IpAddr, Service)]) -> Result<Servers> {
        let mut running = Vec::new();
        for (ns, ip, service) in wanted {
            let subject = ns.subject().clone();
            let bound = match *service {
                Service::Tcp(port) => ns
                    .run(|| TcpListener::bind((*ip, port)).map(Socket::Tcp))?
                    .map_err(|e| (e, format!("bind a TCP server to {ip}:{port}"))),
                Service::Udp(port) => ns
                    .run(|| bind_reusable_udp(SocketAddr::new(*ip, port)).map(Socket::Udp))?
                    .map_err(|e| (e, format!("bind a UDP server to {ip}:{port}"))),
                Service::Icmp => continue,
            };
            let socket = match bound {
                Ok(s) => s,
                Err((e, _)) if e.kind() == std::io::ErrorKind::AddrInUse => {
                    tracing::debug!(%subject, %ip, ?service, "address in use: its owner answers");
                    continue;
                }
                Err((e, what)) => return Err(Error::io(subject, what, e)),
            };
            let stop = StopFd::new(&subject)?;
            let theirs = stop.try_clone(&subject)?;
            let thread = std::thread::Builder::new()
                .name("netrig-reach-server".into())
                .spawn(move || socket.serve(&theirs))
                .map_err(|e| Error::io(subject.clone(), "start a server thread", e))?;
            tracing::debug!(%subject, %ip, ?service, "reach server listening");
            running.push((stop, thread));
        }
        Ok(Servers { running })
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        for (stop, _) in &self.running {
            stop.signal();
        }
        for (_, thread) in self.running.drain(..) {
            let _ = thread.join();
        }
    }
}

enum Socket {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

impl Socket {
    /// Serves until `stop`, then retires the socket (see [`Socket::retire`]).
    fn serve(self, stop: &StopFd) {
        match &self {
            Socket::Tcp(l) => {
                // Connections are answered in turn on this thread (no thread
                // per connection: a probe sends its request as it connects).
                let _ = l.set_nonblocking(true);
                while let Ok(true) = stop.wait_readable(l.as_fd(), None) {
                    while let Ok((stream, peer)) = l.accept() {
                        answer_tcp(stream, peer);
                    }
                }
            }
            Socket::Udp(s) => {
                let _ = s.set_nonblocking(true);
                let local = s.local_addr().ok();
                let mut buf = [0u8; 2048];
                while let Ok(true) = stop.wait_readable(s.as_fd(), None) {
                    while let Ok((_, peer)) = s.recv_from(&mut buf) {
                        if let Some(local) = local {
                            let _ = s.send_to(&answer(peer, local), peer);
                        }
                    }
                }
            }
        }
        self.retire();
    }

    /// Takes the socket out of service before its fd is closed, so that a
    /// forked child's copy of the fd cannot keep it serving (see
    /// [`retire_tcp_listener`]): the next matrix's server on the same
    /// address then binds (before, it failed with `EADDRINUSE`, taken for
    /// "its owner answers", and every probe to that address read refused).
    fn retire(self) {
        match self {
            Socket::Tcp(l) => retire_tcp_listener(&l),
            Socket::Udp(s) => retire_udp(&s),
        }
    }
}

/// Answers at once with what the server saw (the answer needs nothing from
/// the request, so a probe's timing cannot turn a delivery into a refusal),
/// then reads the request (bounded: a probe that only connects, like a
/// trace's, sends none) so the close does not reset a request still in
/// flight.
fn answer_tcp(mut stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nonblocking(false);
    if let Ok(local) = stream.local_addr() {
        let _ = stream.write_all(&answer(peer, local));
    }
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = [0u8; 64];
    let mut got = 0;
    while got < REQUEST.len() {
        match stream.read(&mut buf[got..]) {
            Ok(0) | Err(_) => return,
            Ok(n) => got += n,
        }
    }
}
