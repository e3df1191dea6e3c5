//! Bring-up events: a socket subscribed since the namespace was created to
//! link events (and, with IPv6 on, to IPv6 route events), and the waits
//! built on it — until every veth end is operationally up, and until every
//! IPv6 address is usable for receiving. Each wait re-reads the state when
//! events go quiet, since a burst can overflow the socket.
//!
//! The events are read straight off the socket and only the two facts the
//! waits need are taken from each message (a link's index and operational
//! state; a local IPv6 route's address): a lab's hub sees several link
//! events per veth, each carrying every attribute of the link, and decoding
//! them all into `netlink-packet-route` messages was about a quarter of the
//! bring-up thread's CPU time (perf, 32-spoke lab).

use std::collections::{BTreeSet, VecDeque};
use std::fmt::Debug;
use std::future::Future;
use std::io;
use std::net::Ipv6Addr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use futures::TryStreamExt;
use nix::sys::socket::MsgFlags;
use rtnetlink::RouteMessageBuilder;
use rtnetlink::packet_route::link::{LinkAttribute, LinkMessage, State};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteType};
use tokio::io::unix::AsyncFd;

use super::Netlink;
use crate::error::{Error, Result};

/// The groups a namespace's bring-up event socket joins at birth.
pub(crate) fn event_groups(ipv6: bool) -> u32 {
    let mut groups = libc::RTMGRP_LINK as u32;
    if ipv6 {
        groups |= libc::RTMGRP_IPV6_ROUTE as u32;
    }
    groups
}

/// What a bring-up wait can learn from one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    /// The link with this index is operationally up.
    LinkUp(u32),
    /// A `local` IPv6 route for this address exists: it accepts packets.
    LocalV6(Ipv6Addr),
}

/// A namespace's bring-up events (a socket subscribed to [`event_groups`]
/// before anything was created in it), read while a lab is being built.
/// Dropping it closes the socket.
pub(crate) struct BringUpEvents {
    /// The socket, until it is registered with the runtime on first read.
    fd: Option<OwnedFd>,
    watched: Option<AsyncFd<OwnedFd>>,
    buf: Vec<u8>,
    /// Events decoded from the last datagram and not yet handed out.
    ready: VecDeque<Event>,
}

impl BringUpEvents {
    /// Wraps the event socket (registered with the tokio runtime of
    /// whoever reads it first).
    pub(crate) fn from_socket(fd: OwnedFd) -> Self {
        BringUpEvents {
            fd: Some(fd),
            watched: None,
            buf: Vec::new(),
            ready: VecDeque::new(),
        }
    }

    /// The next event a wait can use; cancel-safe (an event decoded is kept
    /// until handed out).
    async fn next(&mut self) -> io::Result<Event> {
        loop {
            if let Some(e) = self.ready.pop_front() {
                return Ok(e);
            }
            if let Some(fd) = self.fd.take() {
                // SAFETY: the `OwnedFd` is open and moves into the `AsyncFd`,
                // which owns it (and its number) until dropped.
                let watched =
                    unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }?;
                self.watched = Some(watched);
                self.buf = vec![0; 64 * 1024];
            }
            let watched = self.watched.as_ref().expect("registered above");
            let mut guard = watched.readable().await?;
            let buf = &mut self.buf;
            let got = guard.try_io(|fd| {
                nix::sys::socket::recv(fd.get_ref().as_raw_fd(), buf, MsgFlags::MSG_DONTWAIT)
                    .map_err(io::Error::from)
            });
            match got {
                Ok(Ok(n)) => decode(&self.buf[..n], &mut self.ready),
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(Err(e)) => return Err(e),
                // Not readable after all: wait again.
                Err(_) => {}
            }
        }
    }
}

/// The attribute `kind` among the netlink attributes in `attrs`.
fn attribute(mut attrs: &[u8], kind: u16) -> Option<&[u8]> {
    while attrs.len() >= 4 {
        let len = u16::from_ne_bytes([attrs[0], attrs[1]]) as usize;
        let ty = u16::from_ne_bytes([attrs[2], attrs[3]]) & 0x3fff;
        if len < 4 || len > attrs.len() {
            return None;
        }
        if ty == kind {
            return Some(&attrs[4..len]);
        }
        attrs = &attrs[(len + 3) & !3..];
    }
    None
}

/// Decodes the events a wait can use from one datagram of netlink messages
/// (`struct nlmsghdr`, then `struct ifinfomsg` or `struct rtmsg` and their
/// attributes); anything else, or anything malformed, is skipped.
fn decode(mut d: &[u8], out: &mut VecDeque<Event>) {
    const NLMSG_HDR: usize = 16;
    const IFINFOMSG: usize = 16;
    const RTMSG: usize = 12;
    while d.len() >= NLMSG_HDR {
        let len = u32::from_ne_bytes([d[0], d[1], d[2], d[3]]) as usize;
        if len < NLMSG_HDR || len > d.len() {
            return;
        }
        let kind = u16::from_ne_bytes([d[4], d[5]]);
        let body = &d[NLMSG_HDR..len];
        if kind == libc::RTM_NEWLINK && body.len() >= IFINFOMSG {
            let index = u32::from_ne_bytes([body[4], body[5], body[6], body[7]]);
            let oper = attribute(&body[IFINFOMSG..], libc::IFLA_OPERSTATE);
            if oper == Some(&[IF_OPER_UP][..]) {
                out.push_back(Event::LinkUp(index));
            }
        } else if kind == libc::RTM_NEWROUTE
            && body.len() >= RTMSG
            && body[0] == libc::AF_INET6 as u8
            && body[7] == libc::RTN_LOCAL
            && let Some(dst) = attribute(&body[RTMSG..], libc::RTA_DST)
            && let Ok(octets) = <[u8; 16]>::try_from(dst)
        {
            out.push_back(Event::LocalV6(Ipv6Addr::from(octets)));
        }
        d = &d[((len + 3) & !3).min(d.len())..];
    }
}

/// `IF_OPER_UP` (RFC 2863 "up", `enum if_oper` in `linux/if.h`).
const IF_OPER_UP: u8 = 6;

/// What a timed-out wait reports: the operation, the reason, a hint.
struct Waiting {
    op: String,
    reason: String,
    hint: &'static str,
}

fn is_up(m: &LinkMessage) -> bool {
    m.attributes
        .iter()
        .any(|a| matches!(a, LinkAttribute::OperState(State::Up)))
}

/// The address of an IPv6 `local` route (the one that makes the kernel
/// accept packets sent to it), if `m` is one.
fn local_v6(m: &RouteMessage) -> Option<Ipv6Addr> {
    if m.header.kind != RouteType::Local {
        return None;
    }
    m.attributes.iter().find_map(|a| match a {
        RouteAttribute::Destination(RouteAddress::Inet6(ip)) => Some(*ip),
        _ => None,
    })
}

impl Netlink {
    /// Waits until every link in `indexes` is operationally up.
    ///
    /// A veth only passes traffic once the kernel's link watcher has seen its
    /// carrier and activated its queueing discipline; that happens
    /// asynchronously after "set up" returns.
    pub(crate) async fn wait_oper_up(
        &self,
        events: &mut BringUpEvents,
        indexes: &[u32],
        deadline: Duration,
    ) -> Result<()> {
        self.wait_for(
            events,
            indexes.iter().copied().collect(),
            deadline,
            || async {
                let links = self.link_messages().await?;
                Ok(links
                    .iter()
                    .filter(|l| is_up(l))
                    .map(|l| l.header.index)
                    .collect())
            },
            |e| match e {
                Event::LinkUp(index) => Some(index),
                _ => None,
            },
            |pending| Waiting {
                op: format!("wait for links {pending:?} to come up"),
                reason: format!("still not operationally up after {deadline:?}"),
                hint: " (no carrier: is the peer end up?)",
            },
        )
        .await
    }

    /// Waits until every address in `addrs` has its `local` route.
    ///
    /// An IPv6 address added without duplicate address detection can be bound
    /// at once, but the kernel installs the route that makes it *accept*
    /// packets sent to the address later, from a work queue: until then a
    /// datagram to it is dropped (`Ip6InAddrErrors`). The events socket must
    /// have joined the IPv6 route group ([`event_groups`]).
    pub(crate) async fn wait_addresses_usable(
        &self,
        events: &mut BringUpEvents,
        addrs: &[Ipv6Addr],
        deadline: Duration,
    ) -> Result<()> {
        self.wait_for(
            events,
            addrs.iter().copied().collect(),
            deadline,
            || async { self.local_v6_routes().await },
            |e| match e {
                Event::LocalV6(ip) => Some(ip),
                _ => None,
            },
            |pending| Waiting {
                op: format!("wait for IPv6 addresses {pending:?} to accept packets"),
                reason: format!("no local route after {deadline:?}"),
                hint: " (was the address removed, or IPv6 disabled on its link?)",
            },
        )
        .await
    }

    /// The addresses of every IPv6 `local` route (all tables).
    async fn local_v6_routes(&self) -> Result<Vec<Ipv6Addr>> {
        let msgs: Vec<RouteMessage> = self
            .handle
            .route()
            .get(RouteMessageBuilder::<Ipv6Addr>::new().build())
            .execute()
            .try_collect()
            .await
            .map_err(|e| self.fail(None, "list IPv6 routes".into(), e))?;
        Ok(msgs.iter().filter_map(local_v6).collect())
    }

    /// Waits until every key in `pending` has been seen, in an event
    /// (`from_event`) or in the state read by `read`, or the deadline passes.
    /// The events socket was subscribed before anything it waits for was
    /// made, so the events are read first (no dump of the state up front:
    /// the hub of a big lab would pay a full link dump for nothing). Events
    /// can be lost when many arrive at once (the socket's buffer is finite),
    /// so when none has come for a while the state is read rather than
    /// trusted to arrive.
    async fn wait_for<K, R, F>(
        &self,
        events: &mut BringUpEvents,
        mut pending: BTreeSet<K>,
        deadline: Duration,
        read: R,
        from_event: impl Fn(Event) -> Option<K>,
        waiting: impl Fn(&BTreeSet<K>) -> Waiting,
    ) -> Result<()>
    where
        K: Ord + Debug,
        R: Fn() -> F,
        F: Future<Output = Result<Vec<K>>>,
    {
        const RECHECK: Duration = Duration::from_millis(10);
        let until = tokio::time::Instant::now() + deadline;
        let mut recheck = false;
        while !pending.is_empty() {
            if recheck {
                for k in read().await? {
                    pending.remove(&k);
                }
                if pending.is_empty() {
                    break;
                }
            }
            let now = tokio::time::Instant::now();
            if now >= until {
                let w = waiting(&pending);
                return Err(Error::Netlink {
                    subject: self.subject.clone(),
                    op: w.op,
                    source: std::io::Error::new(std::io::ErrorKind::TimedOut, w.reason),
                    hint: w.hint,
                });
            }
            match tokio::time::timeout((until - now).min(RECHECK), events.next()).await {
                Ok(Ok(e)) => {
                    recheck = false;
                    if let Some(k) = from_event(e) {
                        pending.remove(&k);
                    }
                }
                Ok(Err(e)) => {
                    return Err(Error::Netlink {
                        subject: self.subject.clone(),
                        op: "read bring-up events".into(),
                        source: e,
                        hint: "",
                    });
                }
                // Quiet for a while: read the state.
                Err(_) => recheck = true,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtnetlink::packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload};
    use rtnetlink::packet_route::RouteNetlinkMessage;
    use rtnetlink::packet_route::link::LinkFlags;
    use rtnetlink::packet_route::route::RouteScope;

    /// One datagram holding `msgs` as the kernel sends them.
    fn datagram(msgs: Vec<RouteNetlinkMessage>) -> Vec<u8> {
        let mut buf = Vec::new();
        for m in msgs {
            let mut m =
                NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::InnerMessage(m));
            m.finalize();
            let at = buf.len();
            buf.resize(at + m.buffer_len(), 0);
            m.serialize(&mut buf[at..]);
            buf.resize(buf.len().next_multiple_of(4), 0);
        }
        buf
    }

    fn link(index: u32, state: State) -> RouteNetlinkMessage {
        let mut l = LinkMessage::default();
        l.header.index = index;
        l.header.flags = LinkFlags::Up;
        l.attributes
            .push(LinkAttribute::IfName(format!("eth{index}")));
        l.attributes.push(LinkAttribute::Mtu(1500));
        l.attributes.push(LinkAttribute::OperState(state));
        RouteNetlinkMessage::NewLink(l)
    }

    fn route(kind: RouteType, ip: Ipv6Addr) -> RouteNetlinkMessage {
        let mut r = RouteMessage::default();
        r.header.address_family = rtnetlink::packet_route::AddressFamily::Inet6;
        r.header.destination_prefix_length = 128;
        r.header.kind = kind;
        r.header.scope = RouteScope::Host;
        r.attributes.push(RouteAttribute::Table(255));
        r.attributes
            .push(RouteAttribute::Destination(RouteAddress::Inet6(ip)));
        RouteNetlinkMessage::NewRoute(r)
    }

    /// Only links operationally up and local IPv6 routes are events; the
    /// rest of a datagram (links down or dormant, other routes, deletions)
    /// is skipped, and a truncated message ends the datagram.
    #[test]
    fn decodes_what_the_waits_need() {
        let a: Ipv6Addr = "fd00::5".parse().unwrap();
        let b: Ipv6Addr = "fd00::6".parse().unwrap();
        let mut d = datagram(vec![
            link(3, State::Down),
            link(7, State::Up),
            route(RouteType::Unicast, b),
            route(RouteType::Local, a),
            RouteNetlinkMessage::DelLink(match link(8, State::Up) {
                RouteNetlinkMessage::NewLink(l) => l,
                _ => unreachable!(),
            }),
            link(9, State::Dormant),
            link(12, State::Up),
        ]);
        let mut out = VecDeque::new();
        decode(&d, &mut out);
        assert_eq!(
            Vec::from(out.clone()),
            [Event::LinkUp(7), Event::LocalV6(a), Event::LinkUp(12)]
        );
        // Cut into the last message: it is dropped, the others kept.
        d.truncate(d.len() - 3);
        out.clear();
        decode(&d, &mut out);
        assert_eq!(Vec::from(out), [Event::LinkUp(7), Event::LocalV6(a)]);
    }

    /// The kernel's own link events decode: a veth pair made and set up in
    /// a fresh namespace is seen operationally up, both ends, from the
    /// events alone (no state read).
    #[test]
    fn real_link_events_decode() {
        if !crate::privilege::should_run("real_link_events_decode").unwrap() {
            return;
        }
        let subject = crate::error::Subject::lab("events").node("a");
        let seed = crate::netns::Netns::create_batch(&[(subject.clone(), Default::default())])
            .unwrap()
            .remove(0);
        let rt = crate::runtime::Runtime::new(&subject).unwrap();
        let netlink = {
            let _guard = rt.enter();
            Netlink::from_socket(seed.netlink, subject)
        };
        let mut events = BringUpEvents::from_socket(seed.events);
        let end = |name: &str, index| super::super::VethEnd {
            name: name.into(),
            index,
            mac: None,
            mtu: None,
            controller: None,
        };
        let seen = rt.block_on(async {
            netlink
                .add_veth(&end("x0", 40), &end("x1", 41), None)
                .await
                .unwrap();
            netlink.set_index_up("x1", 41).await.unwrap();
            let mut up = BTreeSet::new();
            let read = async {
                while !(up.contains(&40) && up.contains(&41)) {
                    if let Event::LinkUp(i) = events.next().await.unwrap() {
                        up.insert(i);
                    }
                }
            };
            tokio::time::timeout(Duration::from_secs(10), read).await
        });
        assert!(seen.is_ok(), "no event said both veth ends are up");
    }
}
