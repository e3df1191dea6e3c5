//! A witness namespace: a namespace outside any lab that hears, through the
//! kernel's own link notifications, when a link inside it disappears.

use std::os::fd::AsFd;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::link::LinkAttribute;

use crate::error::{Error, Result};
use crate::namespace::Namespace;
use crate::runtime::Runtime;

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
///
/// ```no_run
/// # fn demo(lab: netrig::Lab) -> netrig::Result<()> {
/// use std::time::Duration;
/// let mut witness = netrig::testing::Witness::new()?;
/// witness.attach(&lab.node("a")?, "w0", "seen0")?;
/// drop(lab);
/// assert!(witness.wait_link_removed("seen0", Duration::from_secs(10)));
/// # Ok(()) }
/// ```
pub struct Witness {
    ns: Namespace,
    handle: rtnetlink::Handle,
    events: Events,
    rt: Runtime,
}

impl std::fmt::Debug for Witness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Witness")
            .field("netns", &self.ns.inode())
            .finish()
    }
}

fn name_of(attrs: &[LinkAttribute]) -> Option<&str> {
    attrs.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.as_str()),
        _ => None,
    })
}

impl Witness {
    /// Creates the witness namespace, already subscribed to link events.
    pub fn new() -> Result<Witness> {
        let ns = Namespace::new("witness")?;
        let subject = ns.subject().clone();
        let rt = Runtime::new(&subject)?;
        let (conn, handle, events) = ns
            .run(|| {
                let _guard = rt.enter();
                rtnetlink::new_multicast_connection(&[rtnetlink::MulticastGroup::Link])
            })?
            .map_err(|e| Error::io(subject, "open a link-event socket", e))?;
        {
            let _guard = rt.enter();
            tokio::spawn(conn);
        }
        Ok(Witness {
            ns,
            handle,
            events,
            rt,
        })
    }

    /// A path naming the namespace for `ip link … netns PATH` (valid while this process lives).
    pub fn path(&self) -> String {
        format!(
            "/proc/{}/fd/{}",
            std::process::id(),
            self.ns.netns().raw_fd()
        )
    }

    /// Links `node` to the witness with a veth pair: `local` in the node,
    /// `seen` in the witness. When the node's namespace dies, so does `seen`.
    pub fn attach(&self, node: &crate::Node<'_>, local: &str, seen: &str) -> Result<()> {
        let end = |name: &str| crate::netlink::VethEnd {
            name: name.to_string(),
            index: 0, // the kernel picks
            mac: None,
            mtu: None,
            controller: None,
        };
        let (local, seen) = (end(local), end(seen));
        node.add_veth_to(&local, &seen, self.ns.netns().as_fd())
    }

    /// Names of the links in the witness now.
    pub fn links(&self) -> Result<Vec<String>> {
        let msgs: Vec<_> = self
            .rt
            .block_on(self.handle.link().get().execute().try_collect::<Vec<_>>())
            .map_err(|e| Error::Netlink {
                subject: self.ns.subject().clone(),
                op: "list links".into(),
                source: std::io::Error::other(e.to_string()),
                hint: "",
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
        let rt = &self.rt;
        rt.block_on(async {
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
