//! Reading a namespace's links, addresses and routes back from the kernel.

use std::net::IpAddr;

use futures::TryStreamExt;
use ipnet::IpNet;
use rtnetlink::RouteMessageBuilder;
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::packet_route::link::{LinkAttribute, LinkMessage};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};

use super::Netlink;
use crate::error::{Error, Result};
use crate::net::Mac;

/// A link as read back from the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    /// Index.
    pub index: u32,
    /// Name.
    pub name: String,
    /// MAC, when the link has one.
    pub mac: Option<Mac>,
    /// MTU.
    pub mtu: Option<u32>,
    /// Administratively up.
    pub up: bool,
    /// Controller (bridge) index.
    pub controller: Option<u32>,
}

impl Netlink {
    /// Looks a link up by name.
    pub async fn link(&self, name: &str) -> Result<LinkInfo> {
        let mut stream = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match stream.try_next().await {
            Ok(Some(msg)) => Ok(link_info(msg)),
            Ok(None) => Err(self.no_such_link(name)),
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code().abs() == libc::ENODEV => {
                Err(self.no_such_link(name))
            }
            Err(e) => Err(self.fail(Some(name), format!("look up {name}"), e)),
        }
    }

    fn no_such_link(&self, name: &str) -> Error {
        Error::invalid(
            self.subject.clone().link(name),
            "interface",
            format!("no interface named {name:?} in this node"),
        )
    }

    pub(super) async fn link_messages(&self) -> Result<Vec<LinkMessage>> {
        self.handle
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(|e| self.fail(None, "list links".into(), e))
    }

    /// All links of the namespace.
    pub async fn links(&self) -> Result<Vec<LinkInfo>> {
        Ok(self
            .link_messages()
            .await?
            .into_iter()
            .map(link_info)
            .collect())
    }

    /// All addresses of the namespace, as (interface index, address/prefix).
    pub async fn addresses(&self) -> Result<Vec<(u32, IpNet)>> {
        let msgs: Vec<AddressMessage> = self
            .handle
            .address()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(|e| self.fail(None, "list addresses".into(), e))?;
        let mut out = Vec::new();
        for m in msgs {
            // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the
            // peer on point-to-point links and the same otherwise.
            let attr = |want_local: bool| {
                m.attributes.iter().find_map(|a| match a {
                    AddressAttribute::Local(ip) if want_local => Some(*ip),
                    AddressAttribute::Address(ip) if !want_local => Some(*ip),
                    _ => None,
                })
            };
            let addr = attr(true).or_else(|| attr(false));
            if let Some(ip) = addr
                && let Ok(net) = IpNet::new(ip, m.header.prefix_len)
            {
                out.push((m.header.index, net));
            }
        }
        Ok(out)
    }

    /// The main table's routes, IPv4 then IPv6 (`0.0.0.0/0` and `::/0`
    /// for the defaults); device names left to the caller.
    pub async fn routes(&self) -> Result<Vec<RouteInfo>> {
        let mut out = self
            .main_routes(RouteMessageBuilder::<std::net::Ipv4Addr>::new().build())
            .await?;
        out.extend(
            self.main_routes(RouteMessageBuilder::<std::net::Ipv6Addr>::new().build())
                .await?,
        );
        Ok(out)
    }

    /// The main table's routes of one family (`request`'s).
    async fn main_routes(&self, request: RouteMessage) -> Result<Vec<RouteInfo>> {
        let (family, unspecified) = match request.header.address_family {
            AddressFamily::Inet6 => ("IPv6", IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)),
            _ => ("IPv4", IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)),
        };
        let msgs: Vec<RouteMessage> = self
            .handle
            .route()
            .get(request)
            .execute()
            .try_collect()
            .await
            .map_err(|e| self.fail(None, format!("list {family} routes"), e))?;
        let mut out = Vec::new();
        for m in msgs {
            if m.header.table != 254 {
                continue;
            }
            let mut dest = None;
            let mut gw = None;
            let mut oif = None;
            for a in &m.attributes {
                match a {
                    RouteAttribute::Destination(d) => dest = ip(d),
                    RouteAttribute::Gateway(g) => gw = ip(g),
                    RouteAttribute::Oif(i) => oif = Some(*i),
                    _ => {}
                }
            }
            let dest = dest.unwrap_or(unspecified);
            if let Ok(dest) = IpNet::new(dest, m.header.destination_prefix_length) {
                out.push(RouteInfo {
                    dest,
                    via: gw,
                    oif,
                    dev: None,
                });
            }
        }
        Ok(out)
    }
}

/// A route attribute's address, when it is an IP address.
fn ip(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

/// A route as read back from the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    /// Destination (`0.0.0.0/0` for the default route).
    pub dest: IpNet,
    /// Gateway.
    pub via: Option<IpAddr>,
    /// Output interface index.
    pub oif: Option<u32>,
    /// Output interface name, when resolved (by [`crate::Node::routes`]).
    pub dev: Option<String>,
}

fn link_info(msg: LinkMessage) -> LinkInfo {
    let mut info = LinkInfo {
        index: msg.header.index,
        name: String::new(),
        mac: None,
        mtu: None,
        up: msg
            .header
            .flags
            .contains(rtnetlink::packet_route::link::LinkFlags::Up),
        controller: None,
    };
    for a in msg.attributes {
        match a {
            LinkAttribute::IfName(n) => info.name = n,
            LinkAttribute::Address(m) if m.len() == 6 => {
                let mut mac = [0u8; 6];
                mac.copy_from_slice(&m);
                info.mac = Some(mac);
            }
            LinkAttribute::Mtu(m) => info.mtu = Some(m),
            LinkAttribute::Controller(c) => info.controller = Some(c),
            _ => {}
        }
    }
    info
}
