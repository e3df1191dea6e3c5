//! A witness namespace: a one-node lab outside the lab under test that
//! hears, through the kernel's own link notifications, when a link inside it
//! disappears. Built on netrig's public API (`Node::run`) and rtnetlink;
//! shared by the integration tests, the CLI's tests and the benches.
// Each includer uses part of it.
#![allow(dead_code)]

use std::fs::File;
use std::os::fd::AsRawFd;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use netrig::{Error, Lab, Node, Result, Subject};
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::link::{InfoData, InfoVeth, LinkAttribute};
use rtnetlink::{LinkUnspec, LinkVeth};

type Events = futures::channel::mpsc::UnboundedReceiver<(
    NetlinkMessage<RouteNetlinkMessage>,
    rtnetlink::sys::SocketAddr,
)>;

/// A namespace that watches its links.
///
/// Link one end of a veth into the witness from a lab node; when the lab's
/// namespace is destroyed the kernel deletes the pair and tells the witness.
/// That is how netrig's own tests and benches prove teardown through the
/// kernel rather than through the lab's bookkeeping — and wait for it
/// without sleeping.
pub struct Witness {
    /// The witness's own link-event subscription and request handle.
    handle: rtnetlink::Handle,
    events: Events,
    rt: tokio::runtime::Runtime,
    /// The witness namespace, held open (its path is `/proc/PID/fd/FD`).
    netns: File,
    lab: Lab,
}

impl std::fmt::Debug for Witness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Witness")
            .field("lab", &self.lab.name())
            .finish()
    }
}

fn name_of(attrs: &[LinkAttribute]) -> Option<&str> {
    attrs.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.as_str()),
        _ => None,
    })
}

/// A current-thread runtime for rtnetlink's connection task.
fn runtime(subject: &Subject) -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| Error::io(subject.clone(), "start a tokio runtime", e))
}

impl Witness {
    /// Creates the witness namespace, already subscribed to link events.
    pub fn new() -> Result<Witness> {
        let lab = Lab::builder(netrig::unique_lab_name("witness"))
            .node("w")
            .up()?;
        let subject = Subject::lab(lab.name()).node("w");
        let rt = runtime(&subject)?;
        let on_rt = rt.handle().clone();
        let (conn, netns) = lab.node("w")?.run(move || {
            let _guard = on_rt.enter();
            let conn = rtnetlink::new_multicast_connection(&[rtnetlink::MulticastGroup::Link]);
            (conn, File::open("/proc/thread-self/ns/net"))
        })?;
        let (conn, handle, events) =
            conn.map_err(|e| Error::io(subject.clone(), "open a link-event socket", e))?;
        let netns = netns.map_err(|e| Error::io(subject, "open the namespace", e))?;
        rt.spawn(conn);
        Ok(Witness {
            handle,
            events,
            rt,
            netns,
            lab,
        })
    }

    /// A path naming the namespace for `ip link … netns PATH` (valid while this process lives).
    pub fn path(&self) -> String {
        format!("/proc/{}/fd/{}", std::process::id(), self.netns.as_raw_fd())
    }

    /// Links `node` to the witness with a veth pair: `local` in the node,
    /// `seen` in the witness. When the node's namespace dies, so does `seen`.
    pub fn attach(&self, node: &Node<'_>, local: &str, seen: &str) -> Result<()> {
        let subject = Subject::lab(self.lab.name()).node(node.name()).link(local);
        let rt = runtime(&subject)?;
        let peer_ns = self.netns.as_raw_fd();
        let (local, seen) = (local.to_string(), seen.to_string());
        node.run(move || {
            rt.block_on(async {
                let (conn, handle, _) = rtnetlink::new_connection()?;
                tokio::spawn(conn);
                // The peer cannot be set up in this request (the kernel
                // configures it before the pair is linked): it stays down.
                let peer = LinkUnspec::new_with_name(&seen)
                    .setns_by_fd(peer_ns)
                    .build();
                let pair = LinkVeth::new(&local, &seen)
                    .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
                    .up()
                    .build();
                handle
                    .link()
                    .add(pair)
                    .execute()
                    .await
                    .map_err(|e| std::io::Error::other(e.to_string()))
            })
        })?
        .map_err(|e| Error::io(subject, "add a veth pair into the witness", e))
    }

    /// Names of the links in the witness now.
    pub fn links(&self) -> Result<Vec<String>> {
        let msgs: Vec<_> = self
            .rt
            .block_on(self.handle.link().get().execute().try_collect::<Vec<_>>())
            .map_err(|e| {
                Error::io(
                    Subject::lab(self.lab.name()).node("w"),
                    "list links",
                    std::io::Error::other(e.to_string()),
                )
            })?;
        Ok(msgs
            .iter()
            .filter_map(|m| name_of(&m.attributes).map(str::to_string))
            .collect())
    }

    /// Waits until the kernel announces that link `name` left the witness;
    /// false if it did not within `deadline`.
    pub fn wait_link_removed(&mut self, name: &str, deadline: Duration) -> bool {
        let events = &mut self.events;
        self.rt.block_on(async {
            tokio::time::timeout(deadline, async {
                while let Some((msg, _)) = events.next().await {
                    if let NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(l)) =
                        msg.payload
                        && name_of(&l.attributes) == Some(name)
                    {
                        return true;
                    }
                }
                false
            })
            .await
            .unwrap_or(false)
        })
    }
}
