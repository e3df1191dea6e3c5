//! A handle on one node of a lab: run code or commands inside it, read and
//! change its links, addresses, routes and sysctls.

use std::ffi::OsStr;
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd};

use ipnet::IpNet;

use super::{Lab, NodeState};
use crate::error::{Error, Result, Subject};
use crate::netlink::{LinkInfo, Mac, Netlink, RouteInfo};
use crate::netns::Netns;
use crate::process::{ExecContext, NodeCommand};

/// An interface netrig created, as planned (name, index, MAC, addresses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Name inside the node.
    pub name: String,
    /// Interface index.
    pub index: u32,
    /// MAC address (all zero for `lo`).
    pub mac: Mac,
    /// Addresses assigned at build time.
    pub addrs: Vec<IpNet>,
}

/// A node of a [`Lab`] (borrowed from it).
#[derive(Clone, Copy)]
pub struct Node<'lab> {
    lab: &'lab Lab,
    idx: usize,
    name: &'lab str,
}

impl std::fmt::Debug for Node<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Node({}/{})", self.lab.name(), self.name)
    }
}

impl<'lab> Node<'lab> {
    pub(crate) fn new(lab: &'lab Lab, idx: usize, name: &str) -> Self {
        // The name is one of the lab's keys, so it lives as long as the lab.
        let name = lab
            .names
            .get_key_value(name)
            .map(|(k, _)| k.as_str())
            .unwrap_or("?");
        Node { lab, idx, name }
    }

    fn state(&self) -> &'lab NodeState {
        self.lab.state(self.idx)
    }

    /// The name this handle was obtained with (may be an alias).
    pub fn name(&self) -> &'lab str {
        self.name
    }

    /// The lab.
    pub fn lab(&self) -> &'lab Lab {
        self.lab
    }

    /// The subject for messages: lab and node.
    pub fn subject(&self) -> Subject {
        Subject::lab(self.lab.name()).node(self.name)
    }

    /// The node's namespace.
    pub fn netns(&self) -> &'lab Netns {
        &self.state().netns
    }

    /// The node's netlink connection.
    pub fn netlink(&self) -> &'lab Netlink {
        &self.state().netlink
    }

    /// Runs `f` on a thread inside the node (see [`Netns::run`]).
    pub fn run<F, R>(&self, f: F) -> Result<R>
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        self.netns().run(f)
    }

    /// A command that will run inside the node.
    pub fn command(&self, program: impl AsRef<OsStr>) -> NodeCommand {
        NodeCommand::new(
            program,
            ExecContext {
                netns_fd: self.netns().as_fd().as_raw_fd(),
                subject: self.subject(),
                registry: self.lab.registry().clone(),
                spawner: self.lab.spawner().clone(),
            },
        )
    }

    /// Writes a sysctl inside the node.
    pub fn sysctl_set(&self, key: &str, value: &str) -> Result<()> {
        self.netns().sysctl_set(key, value)
    }

    /// Reads a sysctl inside the node.
    pub fn sysctl_get(&self, key: &str) -> Result<String> {
        self.netns().sysctl_get(key)
    }

    /// An interface netrig created in this node (`lo` included).
    pub fn interface(&self, name: &str) -> Result<Interface> {
        let map = self
            .state()
            .interfaces
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        map.get(name).cloned().ok_or_else(|| {
            Error::invalid(
                self.subject().link(name),
                "interface",
                format!(
                    "no interface named {name:?} in node {} (interfaces: {})",
                    self.name,
                    map.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )
        })
    }

    /// The interfaces netrig created in this node.
    pub fn interfaces(&self) -> Vec<Interface> {
        let map = self
            .state()
            .interfaces
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        map.values().cloned().collect()
    }

    /// The first IPv4 address of `ifname`.
    pub fn ipv4(&self, ifname: &str) -> Result<IpAddr> {
        let i = self.interface(ifname)?;
        i.addrs
            .iter()
            .map(|a| a.addr())
            .find(IpAddr::is_ipv4)
            .ok_or_else(|| {
                Error::invalid(
                    self.subject().link(ifname),
                    "address",
                    "the interface has no IPv4 address",
                )
            })
    }

    /// Links as the kernel reports them now.
    pub fn links(&self) -> Result<Vec<LinkInfo>> {
        self.lab.block_on(self.netlink().links())
    }

    /// Addresses as the kernel reports them now, as (interface name, address).
    pub fn addresses(&self) -> Result<Vec<(String, IpNet)>> {
        let links = self.links()?;
        let addrs = self.lab.block_on(self.netlink().addresses())?;
        Ok(addrs
            .into_iter()
            .map(|(idx, a)| {
                let name = links
                    .iter()
                    .find(|l| l.index == idx)
                    .map(|l| l.name.clone())
                    .unwrap_or_else(|| format!("if{idx}"));
                (name, a)
            })
            .collect())
    }

    /// IPv4 routes of the main table now, with device names resolved.
    pub fn routes(&self) -> Result<Vec<RouteInfo>> {
        let links = self.links()?;
        let mut routes = self.lab.block_on(self.netlink().routes_v4())?;
        for r in &mut routes {
            r.dev = r
                .oif
                .and_then(|i| links.iter().find(|l| l.index == i).map(|l| l.name.clone()));
        }
        Ok(routes)
    }

    /// Adds an address to an interface.
    pub fn add_address(&self, ifname: &str, cidr: &str) -> Result<()> {
        let net = super::parse_cidr(cidr)
            .map_err(|m| Error::invalid(self.subject().link(ifname), "address", m))?;
        let link = self.lab.block_on(self.netlink().link(ifname))?;
        self.lab
            .block_on(self.netlink().add_address(ifname, link.index, net))
    }

    /// Adds a route (`dest = None`: default route).
    pub fn add_route(&self, route: &super::Route) -> Result<()> {
        let subject = self.subject();
        let dest = route
            .dest
            .as_deref()
            .map(|d| super::parse_cidr(d).map(|n| n.trunc()))
            .transpose()
            .map_err(|m| Error::invalid(subject.clone(), "route destination", m))?;
        let via = route
            .via
            .as_deref()
            .map(|g| {
                g.parse::<IpAddr>()
                    .map_err(|_| format!("{g:?} is not an IP address"))
            })
            .transpose()
            .map_err(|m| Error::invalid(subject.clone(), "route gateway", m))?;
        let dev = match route.dev.as_deref() {
            Some(d) => Some((d, self.lab.block_on(self.netlink().link(d))?.index)),
            None => None,
        };
        self.lab.block_on(self.netlink().add_route(dest, via, dev))
    }

    /// Sets a link up or down.
    pub fn set_link_up(&self, ifname: &str, up: bool) -> Result<()> {
        self.lab.block_on(self.netlink().set_up(ifname, up))
    }

    /// Sets `hairpin_mode` on a bridge port of this node.
    pub fn set_hairpin(&self, ifname: &str, on: bool) -> Result<()> {
        let link = self.lab.block_on(self.netlink().link(ifname))?;
        self.lab
            .block_on(self.netlink().set_hairpin(ifname, link.index, on))
    }

    /// Deletes a link (its veth peer goes with it).
    pub fn delete_link(&self, ifname: &str) -> Result<()> {
        self.lab.block_on(self.netlink().delete_link(ifname))
    }
}
