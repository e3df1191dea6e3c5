//! Parallel probes: every TCP and UDP cell's socket is created inside its
//! source namespace, then one poll loop drives them all at once (connect,
//! request, the server's answer) until each settles or the deadline passes;
//! ICMP cells are pinged on threads of their own.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{self as sock, AddressFamily, SockFlag, SockType, SockaddrStorage, sockopt};

use super::cell::{Cell, Outcome, Service};
use crate::PingOutcome;
use crate::error::{Error, Result};
use crate::namespace::Namespace;
use crate::traffic::{REQUEST, parse_answer};

/// What a probe found: the outcome and the addresses the server saw.
pub(crate) type Seen = (Outcome, Option<(IpAddr, IpAddr)>);

enum State {
    Connecting,
    Awaiting,
    Done(Seen),
}

/// Probes `cells` (each with its source namespace) in parallel, waiting at
/// most `deadline` for any of them. Results are in the order of `cells`.
pub(crate) fn probe_all(cells: &[(&Cell, &Namespace)], deadline: Duration) -> Result<Vec<Seen>> {
    let end = Instant::now() + deadline;
    let mut results: Vec<Option<Seen>> = vec![None; cells.len()];
    let pings: Vec<usize> = (0..cells.len())
        .filter(|&i| cells[i].0.service == Service::Icmp)
        .collect();
    let streams: Vec<usize> = (0..cells.len())
        .filter(|&i| cells[i].0.service != Service::Icmp)
        .collect();
    let sockets: Vec<(usize, OwnedFd, State)> = sockets_in_sources(cells, &streams)?
        .into_iter()
        .zip(&streams)
        .map(|(fd, &i)| {
            let state = start(cells[i].0, &fd);
            (i, fd, state)
        })
        .collect();
    std::thread::scope(|s| -> Result<()> {
        let pinged: Vec<_> = pings
            .iter()
            .map(|&i| (i, s.spawn(move || ping(cells[i].0, cells[i].1, deadline))))
            .collect();
        for (i, seen) in drive(sockets, end)? {
            results[i] = Some(seen);
        }
        for (i, h) in pinged {
            results[i] = Some(h.join().expect("ping thread panicked")?);
        }
        Ok(())
    })?;
    Ok(results
        .into_iter()
        .map(|r| r.expect("every cell probed"))
        .collect())
}

/// The kind of socket a TCP or UDP cell's probe needs.
fn socket_kind(cell: &Cell) -> (AddressFamily, SockType) {
    match (cell.to.is_ipv4(), cell.service) {
        (true, Service::Tcp(_)) => (AddressFamily::Inet, SockType::Stream),
        (false, Service::Tcp(_)) => (AddressFamily::Inet6, SockType::Stream),
        (true, _) => (AddressFamily::Inet, SockType::Datagram),
        (false, _) => (AddressFamily::Inet6, SockType::Datagram),
    }
}

/// Creates the nonblocking sockets of cells `which`, each in its source
/// namespace, with one trip into each namespace (entering one costs a
/// thread and a `setns`). In the order of `which`.
fn sockets_in_sources(cells: &[(&Cell, &Namespace)], which: &[usize]) -> Result<Vec<OwnedFd>> {
    let mut by_ns: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (k, &i) in which.iter().enumerate() {
        by_ns.entry(cells[i].1.inode()).or_default().push(k);
    }
    let mut out: Vec<Option<OwnedFd>> = (0..which.len()).map(|_| None).collect();
    for ks in by_ns.values() {
        let ns = cells[which[ks[0]]].1;
        let fds = ns
            .run(|| {
                ks.iter()
                    .map(|&k| {
                        let (family, ty) = socket_kind(cells[which[k]].0);
                        sock::socket(
                            family,
                            ty,
                            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
                            None,
                        )
                    })
                    .collect::<nix::Result<Vec<_>>>()
            })?
            .map_err(|e| Error::io(ns.subject().clone(), "open a probe socket", e.into()))?;
        for (&k, fd) in ks.iter().zip(fds) {
            out[k] = Some(fd);
        }
    }
    Ok(out
        .into_iter()
        .map(|fd| fd.expect("a socket per cell"))
        .collect())
}

/// Starts the cell's probe on its socket: TCP connect in progress, or the
/// UDP request sent.
fn start(cell: &Cell, fd: &OwnedFd) -> State {
    let ty = socket_kind(cell).1;
    match sock::connect(fd.as_raw_fd(), &SockaddrStorage::from(cell.socket_addr())) {
        Ok(()) | Err(Errno::EINPROGRESS) if ty == SockType::Stream => State::Connecting,
        Ok(()) => match sock::send(fd.as_raw_fd(), REQUEST, sock::MsgFlags::empty()) {
            Ok(_) => State::Awaiting,
            Err(e) => State::Done((errno_outcome(e as i32), None)),
        },
        Err(e) => State::Done((errno_outcome(e as i32), None)),
    }
}

/// The poll loop over every socket until all settle or `end` passes.
fn drive(mut sockets: Vec<(usize, OwnedFd, State)>, end: Instant) -> Result<Vec<(usize, Seen)>> {
    loop {
        let open: Vec<usize> = (0..sockets.len())
            .filter(|&k| !matches!(sockets[k].2, State::Done(_)))
            .collect();
        let left = end.saturating_duration_since(Instant::now());
        if open.is_empty() || left.is_zero() {
            break;
        }
        let mut fds: Vec<PollFd<'_>> = open
            .iter()
            .map(|&k| {
                let ev = match sockets[k].2 {
                    State::Connecting => PollFlags::POLLOUT,
                    _ => PollFlags::POLLIN,
                };
                PollFd::new(sockets[k].1.as_fd(), ev)
            })
            .collect();
        let ms = u16::try_from(left.as_millis().max(1)).unwrap_or(u16::MAX);
        match nix::poll::poll(&mut fds, PollTimeout::from(ms)) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(Error::io(Default::default(), "poll the probes", e.into())),
        }
        let ready: Vec<usize> = open
            .iter()
            .zip(&fds)
            .filter(|(_, p)| p.revents().is_some_and(|r| !r.is_empty()))
            .map(|(&k, _)| k)
            .collect();
        drop(fds);
        for k in ready {
            let (_, fd, state) = &mut sockets[k];
            *state = step(fd, state);
        }
    }
    Ok(sockets
        .into_iter()
        .map(|(i, _, st)| match st {
            State::Done(seen) => (i, seen),
            _ => (i, (Outcome::Dropped, None)),
        })
        .collect())
}

/// One readiness event of one socket.
fn step(fd: &OwnedFd, state: &State) -> State {
    let raw = fd.as_raw_fd();
    match state {
        State::Connecting => match sock::getsockopt(fd, sockopt::SocketError) {
            Ok(0) => match sock::send(raw, REQUEST, sock::MsgFlags::MSG_NOSIGNAL) {
                Ok(_) => State::Awaiting,
                Err(e) => State::Done((errno_outcome(e as i32), None)),
            },
            Ok(e) => State::Done((errno_outcome(e), None)),
            Err(e) => State::Done((errno_outcome(e as i32), None)),
        },
        State::Awaiting => {
            let mut buf = [0u8; 128];
            match sock::recv(raw, &mut buf, sock::MsgFlags::MSG_DONTWAIT) {
                Ok(n) => match parse_answer(&buf[..n]) {
                    Some(seen) => State::Done((Outcome::Delivered, Some(seen))),
                    // Something else answered, or closed (a proxy with no backend).
                    None => State::Done((Outcome::Refused, None)),
                },
                Err(Errno::EAGAIN) => State::Awaiting,
                Err(e) => State::Done((errno_outcome(e as i32), None)),
            }
        }
        State::Done(seen) => State::Done(*seen),
    }
}

fn errno_outcome(errno: i32) -> Outcome {
    match errno {
        libc::ECONNREFUSED | libc::ECONNRESET | libc::EPIPE => Outcome::Refused,
        libc::EHOSTUNREACH | libc::ENETUNREACH | libc::EADDRNOTAVAIL => Outcome::Unreachable,
        // EPERM: the source's own output chain dropped it.
        _ => Outcome::Dropped,
    }
}

fn ping(cell: &Cell, ns: &Namespace, deadline: Duration) -> Result<Seen> {
    Ok(match ns.ping(cell.to, deadline)? {
        PingOutcome::Reply { .. } => (Outcome::Delivered, None),
        // Port unreachable and the "prohibited" codes are a REJECT: ICMP
        // 3/3, 3/9, 3/10, 3/13; ICMPv6 1/1 (prohibited), 1/4 (port
        // unreachable, ip6tables' default reject), 1/5 (policy), 1/6 (reject route).
        PingOutcome::Error {
            icmp_type: 3,
            code: 3 | 9 | 10 | 13,
            ..
        } if cell.to.is_ipv4() => (Outcome::Refused, None),
        PingOutcome::Error {
            icmp_type: 1,
            code: 1 | 4 | 5 | 6,
            ..
        } if cell.to.is_ipv6() => (Outcome::Refused, None),
        PingOutcome::Error { .. } | PingOutcome::Unreachable(_) => (Outcome::Unreachable, None),
        PingOutcome::NoAnswer => (Outcome::Dropped, None),
    })
}
