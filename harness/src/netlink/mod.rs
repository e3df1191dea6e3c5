//! rtnetlink plumbing for one namespace: links, bridges, veth pairs,
//! addresses, routes and neighbour entries.
//!
//! A [`Netlink`] wraps an rtnetlink handle whose socket was created inside
//! its namespace, so every request acts there whichever thread sends it.
//! Requests are async and can be pipelined (many in flight on one socket).
//! Every kernel refusal becomes an [`Error::Netlink`] naming the lab, node and
//! link, with a hint for the common errnos.
//!
//! Interface indexes are chosen by netrig, not the kernel: each namespace
//! hands out indexes from a counter ([`IfIndexes`]), so a link can be
//! referenced (as a bridge controller, for an address) in the same batch that
//! creates it, without a lookup round trip.

use std::net::IpAddr;
use std::os::fd::{BorrowedFd, IntoRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};

use futures::TryStreamExt;
use ipnet::IpNet;
use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags};
use rtnetlink::packet_route::link::{InfoData, InfoVeth};
use rtnetlink::packet_route::neighbour::NeighbourState;
use rtnetlink::{Handle, LinkBridge, LinkUnspec, LinkVeth, RouteMessageBuilder};

mod events;
mod read;

pub(crate) use events::{BringUpEvents, event_groups};
pub use read::{LinkInfo, RouteInfo};

use crate::error::{Error, Result, Subject};
use crate::net::{Mac, fmt_mac};

/// Hands out interface indexes for one namespace.
#[derive(Debug)]
pub struct IfIndexes(AtomicU32);

impl IfIndexes {
    /// A counter whose first index is `highest_in_use + 1`.
    pub fn after(highest_in_use: u32) -> Self {
        IfIndexes(AtomicU32::new(highest_in_use + 1))
    }
    /// The next free index.
    pub fn next(&self) -> u32 {
        self.0.fetch_add(1, Ordering::Relaxed)
    }
}

/// One end of a veth pair, as created.
#[derive(Debug, Clone)]
pub struct VethEnd {
    /// Interface name inside its namespace.
    pub name: String,
    /// Interface index chosen by netrig.
    pub index: u32,
    /// MAC address, if fixed.
    pub mac: Option<Mac>,
    /// MTU, if not the default.
    pub mtu: Option<u32>,
    /// Bridge (controller) index, if the end is a bridge port in its namespace.
    pub controller: Option<u32>,
}

/// An rtnetlink connection bound to one namespace.
#[derive(Clone, Debug)]
pub struct Netlink {
    handle: Handle,
    subject: Subject,
}

impl Netlink {
    /// Wraps a raw `NETLINK_ROUTE` socket fd (created inside the namespace)
    /// and spawns its connection on the current tokio runtime.
    ///
    /// Must be called from within a tokio runtime context.
    pub(crate) fn from_socket(fd: OwnedFd, subject: Subject) -> Self {
        // SAFETY: `fd` is an open NETLINK_ROUTE socket we own; ownership moves to the TokioSocket.
        let socket = unsafe {
            <rtnetlink::sys::TokioSocket as std::os::fd::FromRawFd>::from_raw_fd(fd.into_raw_fd())
        };
        let (conn, handle, _unsolicited) = rtnetlink::from_socket(socket);
        tokio::spawn(conn);
        Netlink { handle, subject }
    }

    fn fail(&self, link: Option<&str>, op: String, e: rtnetlink::Error) -> Error {
        let mut subject = self.subject.clone();
        if let Some(l) = link {
            subject = subject.link(l);
        }
        let (source, hint) = describe(e);
        tracing::debug!(%subject, %op, error = %source, "netlink request refused");
        Error::Netlink {
            subject,
            op,
            source,
            hint,
        }
    }

    /// `ip link add NAME type bridge` with a chosen index and MAC, up.
    pub async fn add_bridge(&self, name: &str, index: u32, mac: Option<Mac>) -> Result<()> {
        tracing::debug!(subject = %self.subject, bridge = name, index, "add bridge");
        let mut b = LinkBridge::new(name).index(index).up();
        if let Some(mac) = mac {
            b = b.address(mac.to_vec());
        }
        self.handle
            .link()
            .add(b.build())
            .execute()
            .await
            .map_err(|e| self.fail(Some(name), format!("create bridge {name}"), e))
    }

    /// Creates a veth pair: `local` in this namespace, `peer` born directly in
    /// `peer_ns` (or here when `None`), with their indexes, MACs, MTUs and the
    /// local end's controller set in one request. The local end is up; bring
    /// the peer up with [`Netlink::set_index_up`] on the peer's namespace.
    pub async fn add_veth(
        &self,
        local: &VethEnd,
        peer: &VethEnd,
        peer_ns: Option<BorrowedFd<'_>>,
    ) -> Result<()> {
        use std::os::fd::AsRawFd;
        tracing::debug!(subject = %self.subject, local = %local.name, peer = %peer.name, "add veth pair");
        // The peer cannot be set up in this request: the kernel configures it before
        // the pair is linked, and veth_open then fails with ENOTCONN.
        let mut p = LinkUnspec::new_with_name(&peer.name).index(peer.index);
        if let Some(fd) = peer_ns {
            p = p.setns_by_fd(fd.as_raw_fd());
        }
        if let Some(mac) = peer.mac {
            p = p.address(mac.to_vec());
        }
        if let Some(mtu) = peer.mtu {
            p = p.mtu(mtu);
        }
        let mut l = LinkVeth::new(&local.name, &peer.name)
            .set_info_data(InfoData::Veth(InfoVeth::Peer(p.build())))
            .index(local.index)
            .up();
        if let Some(mac) = local.mac {
            l = l.address(mac.to_vec());
        }
        if let Some(mtu) = local.mtu {
            l = l.mtu(mtu);
        }
        if let Some(c) = local.controller {
            l = l.controller(c);
        }
        self.handle
            .link()
            .add(l.build())
            .execute()
            .await
            .map_err(|e| {
                self.fail(
                    Some(&local.name),
                    format!("create veth pair {} <-> {}", local.name, peer.name),
                    e,
                )
            })
    }

    /// `ip link set INDEX master CONTROLLER up`.
    pub async fn set_controller(&self, name: &str, index: u32, controller: u32) -> Result<()> {
        tracing::debug!(subject = %self.subject, link = name, controller, "attach to bridge");
        self.handle
            .link()
            .set(
                LinkUnspec::new_with_index(index)
                    .controller(controller)
                    .up()
                    .build(),
            )
            .execute()
            .await
            .map_err(|e| {
                self.fail(
                    Some(name),
                    format!("attach {name} to bridge index {controller}"),
                    e,
                )
            })
    }

    /// `ip link set INDEX up`.
    pub async fn set_index_up(&self, name: &str, index: u32) -> Result<()> {
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(|e| self.fail(Some(name), format!("set {name} up"), e))
    }

    /// Sets `hairpin_mode` on a bridge port (`bridge link set dev NAME hairpin on`).
    pub async fn set_hairpin(&self, name: &str, index: u32, on: bool) -> Result<()> {
        tracing::debug!(subject = %self.subject, link = name, on, "set hairpin mode");
        let msg = rtnetlink::LinkBridgePort::new(index).hairpin(on).build();
        self.handle
            .link()
            .set_port(msg)
            .execute()
            .await
            .map_err(|e| {
                self.fail(
                    Some(name),
                    format!("set hairpin {} on {name}", if on { "on" } else { "off" }),
                    e,
                )
            })
    }

    /// `ip addr add ADDR dev NAME`.
    pub async fn add_address(&self, name: &str, index: u32, addr: IpNet) -> Result<()> {
        tracing::debug!(subject = %self.subject, link = name, %addr, "add address");
        let mut req = self
            .handle
            .address()
            .add(index, addr.addr(), addr.prefix_len());
        if addr.addr().is_ipv6() {
            // No duplicate address detection: the address is usable (not
            // "tentative") the moment the kernel acknowledges it, so a socket
            // can bind it as soon as the lab is returned.
            req.message_mut()
                .attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        req.execute()
            .await
            .map_err(|e| self.fail(Some(name), format!("add address {addr} to {name}"), e))
    }

    /// `ip addr del ADDR dev NAME`.
    pub async fn remove_address(&self, name: &str, index: u32, addr: IpNet) -> Result<()> {
        tracing::debug!(subject = %self.subject, link = name, %addr, "remove address");
        let mut found = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .set_address_filter(addr.addr())
            .execute();
        let Some(msg) = found
            .try_next()
            .await
            .map_err(|e| self.fail(Some(name), format!("look up address {addr} on {name}"), e))?
        else {
            return Err(self.fail_no_such(name, format!("remove address {addr} from {name}")));
        };
        self.handle
            .address()
            .del(msg)
            .execute()
            .await
            .map_err(|e| self.fail(Some(name), format!("remove address {addr} from {name}"), e))
    }

    fn fail_no_such(&self, link: &str, op: String) -> Error {
        Error::Netlink {
            subject: self.subject.clone().link(link),
            op,
            source: std::io::Error::from_raw_os_error(libc::EADDRNOTAVAIL),
            hint: " (the interface has no such address)",
        }
    }

    /// `ip route add DEST [via GW] [dev INDEX]`; `dest = None` is the default route.
    pub async fn add_route(
        &self,
        dest: Option<IpNet>,
        via: Option<IpAddr>,
        dev: Option<(&str, u32)>,
    ) -> Result<()> {
        let what = format!(
            "add route {}{}{}",
            dest.map(|d| d.to_string())
                .unwrap_or_else(|| "default".into()),
            via.map(|g| format!(" via {g}")).unwrap_or_default(),
            dev.map(|(n, _)| format!(" dev {n}")).unwrap_or_default()
        );
        tracing::debug!(subject = %self.subject, "{what}");
        let is_v6 = matches!(dest.map(|d| d.addr()).or(via), Some(IpAddr::V6(_)));
        let msg = if is_v6 {
            let mut b = RouteMessageBuilder::<std::net::Ipv6Addr>::new();
            if let Some(IpNet::V6(d)) = dest {
                b = b.destination_prefix(d.network(), d.prefix_len());
            }
            if let Some(IpAddr::V6(g)) = via {
                b = b.gateway(g);
            }
            if let Some((_, i)) = dev {
                b = b.output_interface(i);
            }
            b.build()
        } else {
            let mut b = RouteMessageBuilder::<std::net::Ipv4Addr>::new();
            if let Some(IpNet::V4(d)) = dest {
                b = b.destination_prefix(d.network(), d.prefix_len());
            }
            if let Some(IpAddr::V4(g)) = via {
                b = b.gateway(g);
            }
            if let Some((_, i)) = dev {
                b = b.output_interface(i);
            }
            b.build()
        };
        self.handle
            .route()
            .add(msg)
            .execute()
            .await
            .map_err(|e| self.fail(dev.map(|(n, _)| n), what, e))
    }

    /// `ip neigh replace IP lladdr MAC dev NAME nud permanent`.
    ///
    /// Permanent entries are exempt from the kernel's global neighbour-table
    /// limit (shared by all namespaces) and keep ARP out of captures.
    pub async fn add_permanent_neighbour(
        &self,
        name: &str,
        index: u32,
        ip: IpAddr,
        mac: Mac,
    ) -> Result<()> {
        tracing::debug!(subject = %self.subject, link = name, %ip, mac = %fmt_mac(&mac), "add permanent neighbour");
        self.handle
            .neighbours()
            .add(index, ip)
            .link_layer_address(&mac)
            .state(NeighbourState::Permanent)
            .replace()
            .execute()
            .await
            .map_err(|e| {
                self.fail(
                    Some(name),
                    format!("add neighbour {ip} lladdr {}", fmt_mac(&mac)),
                    e,
                )
            })
    }

    /// `ip link del NAME`.
    pub async fn delete_link(&self, name: &str) -> Result<()> {
        let info = self.link(name).await?;
        tracing::debug!(subject = %self.subject, link = name, "delete link");
        self.handle
            .link()
            .del(info.index)
            .execute()
            .await
            .map_err(|e| self.fail(Some(name), format!("delete {name}"), e))
    }
}

/// The kernel's answer as an OS error (errno kept), with a hint for errnos
/// people meet.
fn describe(e: rtnetlink::Error) -> (std::io::Error, &'static str) {
    let rtnetlink::Error::NetlinkError(msg) = &e else {
        return (std::io::Error::other(e.to_string()), "");
    };
    let code = msg.raw_code().abs();
    let hint = match code {
        libc::EEXIST => {
            " (a link, address or route with that name/value already exists in this namespace)"
        }
        libc::EPERM => " (missing CAP_NET_ADMIN: run as root)",
        libc::ENODEV => " (no such interface in this namespace)",
        libc::ENETUNREACH => {
            " (the gateway is not on a directly connected subnet: add an address in its subnet first)"
        }
        libc::EOPNOTSUPP => " (this kernel does not support it)",
        libc::ERANGE => " (value out of range, e.g. an MTU too large for the link)",
        _ => "",
    };
    (std::io::Error::from_raw_os_error(code), hint)
}
