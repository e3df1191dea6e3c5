//! A handle on one node of a lab: its links, addresses, routes and rules,
//! read and changed over the lab's netlink connection and the firewall tools
//! (what it does with traffic is in `node_io`).

use ipnet::IpNet;

use super::{Lab, NodeState};
use crate::error::{Error, Result};
use crate::namespace::Namespace;
use crate::net::{Mac, parse_cidr};
use crate::netlink::{LinkInfo, RouteInfo};
use crate::wiring::{Route, parse_route};

/// An interface netrig created, as planned (name, index, MAC, addresses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Interface {
    /// Name inside the node.
    pub(crate) name: String,
    /// Interface index.
    pub(crate) index: u32,
    /// MAC address (all zero for `lo`).
    pub(crate) mac: Mac,
    /// Addresses assigned at build time.
    pub(crate) addrs: Vec<IpNet>,
}

/// A node of a [`Lab`] (borrowed from it): commands, sysctls, captures,
/// probes and servers inside it, its links, addresses, routes and rules.
#[derive(Clone, Copy)]
pub struct Node<'lab> {
    lab: &'lab Lab,
    idx: usize,
    name: &'lab str,
}

/// Two handles are equal when they name the same node (an alias and its
/// target, a `container:` container and the container it shares).
impl PartialEq for Node<'_> {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.lab, other.lab) && self.idx == other.idx
    }
}

impl Eq for Node<'_> {}

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

    pub(super) fn state(&self) -> &'lab NodeState {
        self.lab.state(self.idx)
    }

    /// The name this handle was obtained with (may be an alias).
    pub fn name(&self) -> &'lab str {
        self.name
    }

    /// What the kernel and tools seen from inside this node offer: kernel
    /// version, br_netfilter, conntrack, the x_tables matches Docker uses,
    /// netem, tool versions and which backends can list a ruleset here
    /// (read-only: nothing is loaded).
    ///
    /// ```no_run
    /// # fn demo(lab: &netrig::Lab) -> netrig::Result<()> {
    /// println!("{}", lab.node("probe")?.fingerprint());
    /// # Ok(()) }
    /// ```
    pub fn fingerprint(&self) -> crate::Fingerprint {
        crate::Fingerprint::probe(self.ns())
    }

    /// Lab, node, for messages.
    pub(crate) fn subject(&self) -> &'lab crate::error::Subject {
        self.ns().subject()
    }

    /// The node's namespace handle (it outlives this borrow).
    pub(crate) fn ns(&self) -> &'lab Namespace {
        &self.state().ns
    }

    /// An interface netrig created in this node (`lo` included).
    pub(crate) fn interface(&self, name: &str) -> Result<Interface> {
        let map = self
            .state()
            .interfaces
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        map.get(name).cloned().ok_or_else(|| {
            Error::invalid(
                self.subject().clone().link(name),
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
    pub(crate) fn interfaces(&self) -> Vec<Interface> {
        let map = self
            .state()
            .interfaces
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        map.values().cloned().collect()
    }

    pub(super) fn netlink(&self) -> &'lab crate::netlink::Netlink {
        &self.state().netlink
    }

    /// Links as the kernel reports them now (name, index, MAC, MTU, state,
    /// bridge); their addresses: [`Node::addresses`].
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

    /// The main table's routes now, IPv4 then IPv6 (`ip route` and
    /// `ip -6 route`: the IPv6 ones include each interface's `fe80::/64`),
    /// with device names resolved.
    pub fn routes(&self) -> Result<Vec<RouteInfo>> {
        let links = self.links()?;
        let mut routes = self.lab.block_on(self.netlink().routes())?;
        for r in &mut routes {
            r.dev = r
                .oif
                .and_then(|i| links.iter().find(|l| l.index == i).map(|l| l.name.clone()));
        }
        Ok(routes)
    }

    /// Adds an address (`10.0.0.5/24`, `2001:db8::5/64`) to an interface;
    /// returns once the address accepts packets.
    pub fn add_address(&self, ifname: &str, cidr: &str) -> Result<()> {
        let net = parse_cidr(cidr)
            .map_err(|m| Error::invalid(self.subject().clone().link(ifname), "address", m))?;
        let link = self.lab.block_on(self.netlink().link(ifname))?;
        let std::net::IpAddr::V6(ip) = net.addr() else {
            return self
                .lab
                .block_on(self.netlink().add_address(ifname, link.index, net));
        };
        // Subscribed before the address exists, so its local route's event is seen.
        let events = self
            .run(|| crate::netns::netlink_socket(Some(crate::netlink::event_groups(true))))?
            .map_err(|source| Error::Namespace {
                subject: self.subject().clone(),
                op: "subscribe to route events".into(),
                source,
            })?;
        self.lab.block_on(async {
            let mut events = crate::netlink::BringUpEvents::from_socket(events);
            self.netlink().add_address(ifname, link.index, net).await?;
            let usable = self
                .netlink()
                .wait_addresses_usable(&mut events, &[ip], std::time::Duration::from_secs(10))
                .await;
            drop(events);
            usable
        })
    }

    /// Removes an address (`10.0.0.5/24`) from an interface.
    pub fn remove_address(&self, ifname: &str, cidr: &str) -> Result<()> {
        let net = parse_cidr(cidr)
            .map_err(|m| Error::invalid(self.subject().clone().link(ifname), "address", m))?;
        let link = self.lab.block_on(self.netlink().link(ifname))?;
        self.lab
            .block_on(self.netlink().remove_address(ifname, link.index, net))
    }

    /// Adds a route (`Route::default_via(..)`, `Route::to(..).via(..)`).
    pub fn add_route(&self, route: &Route) -> Result<()> {
        let (dest, via) = parse_route(&self.subject().clone(), route)?;
        let dev = match route.dev.as_deref() {
            Some(d) => Some((d, self.lab.block_on(self.netlink().link(d))?.index)),
            None => None,
        };
        self.lab.block_on(self.netlink().add_route(dest, via, dev))
    }

    /// Sets `hairpin_mode` on several bridge ports, as concurrent requests.
    pub(crate) fn set_hairpins(&self, ifnames: &[&str], on: bool) -> Result<()> {
        let netlink = self.netlink();
        self.lab
            .block_on(futures::future::try_join_all(ifnames.iter().map(
                |&ifname| async move {
                    let link = netlink.link(ifname).await?;
                    netlink.set_hairpin(ifname, link.index, on).await
                },
            )))
            .map(|_| ())
    }

    /// Loads `text` into this node's `backend` after what is there: an
    /// iptables-save fragment (`*filter … COMMIT`, restored with `--noflush`:
    /// rules and chains are added, nothing is removed) or an nft file. A
    /// malformed text fails with [`Error::Rules`], naming the offending line
    /// and the tool's words. (At build time: [`crate::LabSpec::rules_file`];
    /// on a Docker host: [`crate::DockerPart::apply_rules_file`].)
    ///
    /// ```no_run
    /// # fn demo(lab: &netrig::Lab) -> netrig::Result<()> {
    /// use netrig::Backend;
    /// let gw = lab.node("gw")?;
    /// gw.load_rules(Backend::IptablesNft, "*filter\n-A FORWARD -p tcp --dport 23 -j DROP\nCOMMIT\n")?;
    /// let telnet = gw.counters(Backend::IptablesNft)?.rule("filter", "FORWARD", "--dport 23").map(|r| r.packets);
    /// # Ok(()) }
    /// ```
    pub fn load_rules(&self, backend: crate::Backend, text: &str) -> Result<()> {
        backend.append(self.ns(), text)
    }

    /// This node's `backend` ruleset as its tool prints it, with counters
    /// (`iptables-*-save -c`, `nft list ruleset`; IPv4 for the iptables backends).
    pub fn rules(&self, backend: crate::Backend) -> Result<String> {
        backend.save(self.ns())
    }

    /// Per-rule packet and byte counters, and chain policies, of this node's
    /// `backend` ruleset: for the iptables backends, ip6tables' after
    /// iptables', in tables named `ip6 filter`, `ip6 nat` ….
    pub fn counters(&self, backend: crate::Backend) -> Result<crate::Counters> {
        backend.counters(self.ns())
    }

    /// Deletes a link (its veth peer goes with it).
    pub fn delete_link(&self, ifname: &str) -> Result<()> {
        self.lab.block_on(self.netlink().delete_link(ifname))
    }
}
