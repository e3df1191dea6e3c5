//! The floor: the least the kernel must do for the bench's lab, asked as
//! directly as this machine allows — no netrig code, no runtime, no
//! bookkeeping.
//!
//! Namespaces are made by `unshare(CLONE_NEWNET)` on one thread per core,
//! each with one rtnetlink socket created inside it and subscribed to link
//! events at birth. Then one `send` per namespace carries all of that
//! namespace's requests at once (the kernel's rtnetlink handles a buffer of
//! several messages in one call): the hub's bridge, its address and every
//! veth (each born with its peer `eth0` in the spoke's namespace, at a chosen
//! interface index, enslaved and up); then each spoke's `lo` up, `eth0` up
//! and its address. The acknowledgements are read after all the sends, and
//! the floor returns once every veth end is operationally up — a guarantee
//! netrig's `up` gives, so its floor pays for it too. Teardown is closing
//! the fds.

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use rtnetlink::packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage,
    NetlinkPayload,
};
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::packet_route::link::{InfoData, InfoVeth, LinkAttribute, LinkMessage, State};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
use rtnetlink::{LinkBridge, LinkUnspec, LinkVeth};

/// Where a floor run's time went.
pub struct FloorTimes {
    /// Namespaces created, each with its socket.
    pub namespaces: Duration,
    /// Every request sent and acknowledged.
    pub acked: Duration,
    /// Every veth end operationally up (the floor's `up`).
    pub up: Duration,
    /// The fds closed.
    pub down: Duration,
}

/// One namespace of the floor: its fd and its rtnetlink socket.
struct Ns {
    fd: OwnedFd,
    sock: Socket,
    /// Requests sent and not yet acknowledged.
    pending: usize,
    /// Interface indexes seen operationally up.
    up: Vec<u32>,
}

/// Makes `count` namespaces on one thread per core.
fn namespaces(count: usize) -> Vec<Ns> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = (count / 8).clamp(1, cores);
    let per = count.div_ceil(threads);
    let parts: Vec<usize> = (0..threads)
        .map(|t| per.min(count.saturating_sub(t * per)))
        .collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|n| {
                s.spawn(move || {
                    (0..n)
                        .map(|_| {
                            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
                                .expect("unshare(CLONE_NEWNET)");
                            let file = std::fs::File::open("/proc/thread-self/ns/net")
                                .expect("open the namespace");
                            let mut sock = Socket::new(NETLINK_ROUTE).expect("netlink socket");
                            sock.bind(&SocketAddr::new(0, libc::RTMGRP_LINK as u32))
                                .expect("bind the netlink socket");
                            force_rcvbuf(&sock);
                            Ns {
                                fd: OwnedFd::from(file),
                                sock,
                                pending: 0,
                                up: Vec::new(),
                            }
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("namespace thread"))
            .collect()
    })
}

/// Room for a burst of link events (the hub sees several per veth); as
/// root, past `net.core.rmem_max`.
fn force_rcvbuf(sock: &Socket) {
    let size: libc::c_int = 8 << 20;
    // SAFETY: setsockopt on an fd this function borrows, with an int option.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_RCVBUFFORCE: {}", std::io::Error::last_os_error());
}

/// Appends one request to `buf`.
fn push(buf: &mut Vec<u8>, seq: u32, flags: u16, msg: RouteNetlinkMessage) {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
    header.sequence_number = seq;
    let mut m = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
    m.finalize();
    let at = buf.len();
    buf.resize(at + m.buffer_len(), 0);
    m.serialize(&mut buf[at..]);
}

fn set_up(index: u32) -> RouteNetlinkMessage {
    RouteNetlinkMessage::SetLink(LinkUnspec::new_with_index(index).up().build())
}

fn address(index: u32, ip: Ipv4Addr, prefix: u8) -> RouteNetlinkMessage {
    let mut a = AddressMessage::default();
    a.header.family = AddressFamily::Inet;
    a.header.prefix_len = prefix;
    a.header.index = index;
    a.attributes.push(AddressAttribute::Local(IpAddr::V4(ip)));
    a.attributes.push(AddressAttribute::Address(IpAddr::V4(ip)));
    RouteNetlinkMessage::NewAddress(a)
}

/// Sends `buf` (requests `count` acknowledgements).
fn send(ns: &mut Ns, buf: &[u8], count: usize) {
    let sent = ns.sock.send(buf, 0).expect("send the batch");
    assert_eq!(sent, buf.len(), "the batch went out whole");
    ns.pending += count;
}

/// Reads until every pending request is acknowledged and, with `want`,
/// until those interface indexes are operationally up.
fn drain(ns: &mut Ns, want: &[u32]) {
    let mut buf = vec![0u8; 64 * 1024];
    while ns.pending > 0 || want.iter().any(|i| !ns.up.contains(i)) {
        let n = ns.sock.recv(&mut &mut buf[..], 0).expect("recv");
        let mut at = 0;
        while at < n {
            let m = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&buf[at..n])
                .expect("a netlink message");
            at += m.header.length as usize;
            match m.payload {
                NetlinkPayload::Error(e) => {
                    if let Some(code) = e.code {
                        panic!(
                            "floor request {} refused: {}",
                            m.header.sequence_number,
                            std::io::Error::from_raw_os_error(-code.get())
                        );
                    }
                    ns.pending -= 1;
                }
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l)) => note(ns, &l),
                _ => {}
            }
        }
    }
}

fn note(ns: &mut Ns, l: &LinkMessage) {
    let up = l
        .attributes
        .iter()
        .any(|a| matches!(a, LinkAttribute::OperState(State::Up)));
    if up && !ns.up.contains(&l.header.index) {
        ns.up.push(l.header.index);
    }
}

/// The hub's bridge (index 2) and the veth to spoke `i` (index 3 + i).
const BRIDGE: u32 = 2;
/// A spoke's `eth0`: born at index 2 in its namespace.
const ETH0: u32 = 2;

/// Builds the lab of `hub_and_spokes(n)` at the floor, attaches the witness
/// link (untimed) and tears it down.
pub fn once(n: usize, witness_path: &str) -> FloorTimes {
    let t = Instant::now();
    let mut all = namespaces(n + 1);
    let namespaces_done = t.elapsed();
    let (hub, spokes) = all.split_first_mut().expect("the hub");

    // The hub: lo up, the bridge, its address, every veth — one send.
    let mut buf = Vec::new();
    let mut seq = 0;
    let mut next = |buf: &mut Vec<u8>, flags, msg| {
        seq += 1;
        push(buf, seq, flags, msg);
    };
    next(&mut buf, 0, set_up(1));
    next(
        &mut buf,
        NLM_F_CREATE | NLM_F_EXCL,
        RouteNetlinkMessage::NewLink(LinkBridge::new("br0").index(BRIDGE).up().build()),
    );
    next(
        &mut buf,
        NLM_F_CREATE | NLM_F_EXCL,
        address(BRIDGE, Ipv4Addr::new(10, 0, 0, 1), 16),
    );
    for (i, spoke) in spokes.iter().enumerate() {
        let peer = LinkUnspec::new_with_name("eth0")
            .index(ETH0)
            .setns_by_fd(spoke.fd.as_raw_fd())
            .build();
        let veth = LinkVeth::new(&format!("v{i}"), "eth0")
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
            .index(3 + i as u32)
            .controller(BRIDGE)
            .up()
            .build();
        next(
            &mut buf,
            NLM_F_CREATE | NLM_F_EXCL,
            RouteNetlinkMessage::NewLink(veth),
        );
    }
    send(hub, &buf, 3 + spokes.len());
    drain(hub, &[]);

    // Each spoke: lo up, eth0 up, its address — one send each, all sent
    // before any acknowledgement is read.
    for (i, spoke) in spokes.iter_mut().enumerate() {
        let mut buf = Vec::new();
        push(&mut buf, 1, 0, set_up(1));
        push(&mut buf, 2, 0, set_up(ETH0));
        let host = i + 2;
        push(
            &mut buf,
            3,
            NLM_F_CREATE | NLM_F_EXCL,
            address(
                ETH0,
                Ipv4Addr::new(10, 0, (host / 256) as u8, (host % 256) as u8),
                16,
            ),
        );
        send(spoke, &buf, 3);
    }
    for spoke in spokes.iter_mut() {
        drain(spoke, &[]);
    }
    let acked = t.elapsed();
    for spoke in spokes.iter_mut() {
        drain(spoke, &[ETH0]);
    }
    let veths: Vec<u32> = (0..spokes.len() as u32).map(|i| 3 + i).collect();
    drain(hub, &veths);
    let up = t.elapsed();

    witness(hub, witness_path);
    let t = Instant::now();
    drop(all);
    FloorTimes {
        namespaces: namespaces_done,
        acked,
        up,
        down: t.elapsed(),
    }
}

/// The witness link from the hub (`tow`) to the witness namespace (`wit`).
fn witness(hub: &mut Ns, path: &str) {
    let file = std::fs::File::open(path).expect("open the witness namespace");
    let peer = LinkUnspec::new_with_name("wit")
        .setns_by_fd(file.as_raw_fd())
        .build();
    let veth = LinkVeth::new("tow", "wit")
        .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
        .build();
    let mut buf = Vec::new();
    push(
        &mut buf,
        1000,
        NLM_F_CREATE | NLM_F_EXCL,
        RouteNetlinkMessage::NewLink(veth),
    );
    send(hub, &buf, 1);
    drain(hub, &[]);
}
