//! Link events during bring-up: a socket subscribed to `RTMGRP_LINK` since
//! the namespace was created, and the wait until every veth end is
//! operationally up (re-reading the state when events go quiet, since a
//! burst can overflow the socket).

use std::os::fd::{IntoRawFd, OwnedFd};
use std::time::Duration;

use rtnetlink::packet_route::link::{LinkAttribute, LinkMessage};

use super::Netlink;
use crate::error::{Error, Result};

/// A namespace's link events (a socket subscribed to RTMGRP_LINK since the
/// namespace was created), read while a lab is being built. Dropping it
/// closes the socket.
pub(crate) struct LinkEvents {
    task: tokio::task::JoinHandle<()>,
    rx: futures::channel::mpsc::UnboundedReceiver<(
        rtnetlink::packet_core::NetlinkMessage<rtnetlink::packet_route::RouteNetlinkMessage>,
        rtnetlink::sys::SocketAddr,
    )>,
}

impl LinkEvents {
    /// Wraps the event socket; must be called within a tokio runtime context.
    pub(crate) fn from_socket(fd: OwnedFd) -> Self {
        // SAFETY: `fd` is an open NETLINK_ROUTE socket we own; ownership moves to the TokioSocket.
        let socket = unsafe {
            <rtnetlink::sys::TokioSocket as std::os::fd::FromRawFd>::from_raw_fd(fd.into_raw_fd())
        };
        let (conn, _handle, rx) = rtnetlink::from_socket(socket);
        LinkEvents {
            task: tokio::spawn(conn),
            rx,
        }
    }
}

impl LinkEvents {
    /// Stops reading and waits until the socket is closed.
    pub(crate) async fn close(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for LinkEvents {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Netlink {
    /// Waits until every link in `indexes` is operationally up.
    ///
    /// A veth only passes traffic once the kernel's link watcher has seen its
    /// carrier and activated its queueing discipline; that happens
    /// asynchronously after "set up" returns. This waits for the link events,
    /// with a deadline. Events can be lost when many arrive at once (the
    /// socket's buffer is finite), so when none has come for a while the
    /// state is read again rather than trusted to arrive.
    pub(crate) async fn wait_oper_up(
        &self,
        events: &mut LinkEvents,
        indexes: &[u32],
        deadline: Duration,
    ) -> Result<()> {
        use futures::StreamExt;
        use rtnetlink::packet_core::NetlinkPayload;
        use rtnetlink::packet_route::RouteNetlinkMessage;
        use rtnetlink::packet_route::link::State;
        const RECHECK: Duration = Duration::from_millis(10);
        let is_up = |m: &LinkMessage| {
            m.attributes
                .iter()
                .any(|a| matches!(a, LinkAttribute::OperState(State::Up)))
        };
        let until = tokio::time::Instant::now() + deadline;
        let mut pending: std::collections::BTreeSet<u32> = indexes.iter().copied().collect();
        let mut recheck = true;
        while !pending.is_empty() {
            if recheck {
                for l in self.link_messages().await? {
                    if is_up(&l) {
                        pending.remove(&l.header.index);
                    }
                }
                if pending.is_empty() {
                    break;
                }
            }
            let now = tokio::time::Instant::now();
            if now >= until {
                return Err(Error::Netlink {
                    subject: self.subject.clone(),
                    op: format!("wait for links {pending:?} to come up"),
                    source: std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("still not operationally up after {deadline:?}"),
                    ),
                    hint: " (no carrier: is the peer end up?)",
                });
            }
            match tokio::time::timeout((until - now).min(RECHECK), events.rx.next()).await {
                Ok(Some((msg, _))) => {
                    recheck = false;
                    if let NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l)) =
                        msg.payload
                        && is_up(&l)
                    {
                        pending.remove(&l.header.index);
                    }
                }
                // Quiet for a while, or the event socket is gone: read the state.
                Ok(None) | Err(_) => recheck = true,
            }
        }
        Ok(())
    }
}
