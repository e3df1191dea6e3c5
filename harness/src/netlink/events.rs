//! Bring-up events: a socket subscribed since the namespace was created to
//! link events (and, with IPv6 on, to IPv6 route events), and the waits
//! built on it — until every veth end is operationally up, and until every
//! IPv6 address is usable for receiving. Each wait re-reads the state when
//! events go quiet, since a burst can overflow the socket.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::future::Future;
use std::net::Ipv6Addr;
use std::os::fd::{IntoRawFd, OwnedFd};
use std::time::Duration;

use futures::TryStreamExt;
use rtnetlink::RouteMessageBuilder;
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::link::{LinkAttribute, LinkMessage, State};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteType};

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

/// A namespace's bring-up events (a socket subscribed to [`event_groups`]
/// before anything was created in it), read while a lab is being built.
/// Dropping it closes the socket.
pub(crate) struct BringUpEvents {
    task: tokio::task::JoinHandle<()>,
    rx: futures::channel::mpsc::UnboundedReceiver<(
        rtnetlink::packet_core::NetlinkMessage<RouteNetlinkMessage>,
        rtnetlink::sys::SocketAddr,
    )>,
}

impl BringUpEvents {
    /// Wraps the event socket; must be called within a tokio runtime context.
    pub(crate) fn from_socket(fd: OwnedFd) -> Self {
        // SAFETY: `fd` is an open NETLINK_ROUTE socket we own; ownership moves to the TokioSocket.
        let socket = unsafe {
            <rtnetlink::sys::TokioSocket as std::os::fd::FromRawFd>::from_raw_fd(fd.into_raw_fd())
        };
        let (conn, _handle, rx) = rtnetlink::from_socket(socket);
        BringUpEvents {
            task: tokio::spawn(conn),
            rx,
        }
    }

    /// Stops reading and waits until the socket is closed.
    pub(crate) async fn close(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for BringUpEvents {
    fn drop(&mut self) {
        self.task.abort();
    }
}

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
            |msg| match msg {
                RouteNetlinkMessage::NewLink(l) if is_up(l) => Some(l.header.index),
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
            |msg| match msg {
                RouteNetlinkMessage::NewRoute(r) => local_v6(r),
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
    /// Events can be lost when many arrive at once (the socket's buffer is
    /// finite), so when none has come for a while the state is read again
    /// rather than trusted to arrive.
    async fn wait_for<K, R, F>(
        &self,
        events: &mut BringUpEvents,
        mut pending: BTreeSet<K>,
        deadline: Duration,
        read: R,
        from_event: impl Fn(&RouteNetlinkMessage) -> Option<K>,
        waiting: impl Fn(&BTreeSet<K>) -> Waiting,
    ) -> Result<()>
    where
        K: Ord + Debug,
        R: Fn() -> F,
        F: Future<Output = Result<Vec<K>>>,
    {
        use futures::StreamExt;
        use rtnetlink::packet_core::NetlinkPayload;
        const RECHECK: Duration = Duration::from_millis(10);
        let until = tokio::time::Instant::now() + deadline;
        let mut recheck = true;
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
            match tokio::time::timeout((until - now).min(RECHECK), events.rx.next()).await {
                Ok(Some((msg, _))) => {
                    recheck = false;
                    if let NetlinkPayload::InnerMessage(m) = &msg.payload
                        && let Some(k) = from_event(m)
                    {
                        pending.remove(&k);
                    }
                }
                // Quiet for a while, or the event socket is gone: read the state.
                Ok(None) | Err(_) => recheck = true,
            }
        }
        Ok(())
    }
}
