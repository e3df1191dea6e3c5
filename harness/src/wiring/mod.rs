//! What a lab is made of, as plain data (pure layer): nodes, bridges, veth
//! links, addresses and routes, and their validation into a plan. Building a
//! spec touches nothing; `Wiring::up` validates it completely before the
//! first namespace is created.
//!
//! ```no_run
//! use netrig::{Endpoint, Lab, Route};
//! let lab = Lab::builder("pair")
//!     .node("a")
//!     .node("b")
//!     .link(Endpoint::new("a", "eth0").addr("10.0.0.1/24"), Endpoint::new("b", "eth0").addr("10.0.0.2/24"))
//!     .route("b", Route::to("default").via("10.0.0.1"))
//!     .up()?;
//! # Ok::<_, netrig::Error>(())
//! ```

mod plan;
#[cfg(test)]
mod tests;

pub(crate) use plan::{IfaceKind, Plan, creation_sysctls, parse_route, plan};

use crate::net::Mac;

/// A node: one network namespace, as plain data. `"a"` is a plain node
/// (`NodeSpec::from("a")`); options go in as fields:
///
/// ```
/// use netrig::{Lab, NodeSpec};
/// let spec = Lab::builder("routed")
///     .node("a")
///     .node(NodeSpec { forwarding: true, ipv6: true, ..NodeSpec::from("r") });
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeSpec {
    /// Unique name within the lab.
    pub name: String,
    /// Keep IPv6 on (default off, to keep captures quiet).
    pub ipv6: bool,
    /// Enable `net.ipv4.ip_forward` (a router).
    pub forwarding: bool,
    /// Extra sysctls set at creation, e.g. (`net.ipv4.ip_default_ttl`, `32`).
    pub sysctls: Vec<(String, String)>,
}

impl NodeSpec {
    /// A plain host: `lo` up, IPv6 off, no forwarding.
    pub(crate) fn new(name: impl Into<String>) -> Self {
        NodeSpec {
            name: name.into(),
            ipv6: false,
            forwarding: false,
            sysctls: Vec::new(),
        }
    }
    /// Keeps IPv6 enabled.
    pub(crate) fn ipv6(mut self, on: bool) -> Self {
        self.ipv6 = on;
        self
    }
    /// Makes the node forward IPv4 (`net.ipv4.ip_forward=1`).
    pub(crate) fn forwarding(mut self, on: bool) -> Self {
        self.forwarding = on;
        self
    }
    /// Sets a sysctl at creation.
    pub(crate) fn sysctl(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.sysctls.push((key.into(), value.into()));
        self
    }
}

impl From<&str> for NodeSpec {
    /// A plain node named `name`.
    fn from(name: &str) -> Self {
        NodeSpec::new(name)
    }
}

impl From<String> for NodeSpec {
    /// A plain node named `name`.
    fn from(name: String) -> Self {
        NodeSpec::new(name)
    }
}

impl From<&String> for NodeSpec {
    /// A plain node named `name`.
    fn from(name: &String) -> Self {
        NodeSpec::new(name)
    }
}

/// A bridge inside a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeSpec {
    /// The node holding it.
    pub node: String,
    /// Interface name (≤ 15 bytes).
    pub name: String,
    /// Addresses with prefix, e.g. `172.17.0.1/16`.
    pub addrs: Vec<String>,
    /// MAC (allocated when `None`).
    pub mac: Option<Mac>,
}

/// One end of a veth link, as plain data with a builder for the common
/// fields; the rest (MTU, shaping) are fields, as a topology file's
/// endpoint has them:
///
/// ```
/// use netrig::{Endpoint, Lab};
/// let spec = Lab::builder("slow").node("a").node("b").link(
///     Endpoint { delay: Some("20ms".into()), ..Endpoint::new("a", "eth0").addr("10.0.0.1/24") },
///     Endpoint::new("b", "eth0").addr("10.0.0.2/24"),
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The node it lives in.
    pub node: String,
    /// Interface name inside that node (≤ 15 bytes).
    pub ifname: String,
    /// Addresses with prefix.
    pub addrs: Vec<String>,
    /// Bridge in the same node this end is a port of.
    pub bridge: Option<String>,
    /// MAC (allocated when `None`).
    pub mac: Option<Mac>,
    /// MTU (kernel default when `None`).
    pub mtu: Option<u32>,
    /// Shaping: a tbf rate limit in tc's syntax (`"1mbit"`).
    pub rate: Option<String>,
    /// Shaping: netem delay (`"20ms"`).
    pub delay: Option<String>,
    /// Shaping: netem loss (`"1%"`).
    pub loss: Option<String>,
}

impl Endpoint {
    /// An end named `ifname` in `node`.
    pub fn new(node: impl Into<String>, ifname: impl Into<String>) -> Self {
        Endpoint {
            node: node.into(),
            ifname: ifname.into(),
            addrs: Vec::new(),
            bridge: None,
            mac: None,
            mtu: None,
            rate: None,
            delay: None,
            loss: None,
        }
    }
    /// Adds an address with prefix (`10.0.0.1/24`).
    pub fn addr(mut self, cidr: impl Into<String>) -> Self {
        self.addrs.push(cidr.into());
        self
    }
    /// Makes this end a port of `bridge` (a bridge in the same node).
    pub fn bridge(mut self, bridge: impl Into<String>) -> Self {
        self.bridge = Some(bridge.into());
        self
    }
    /// Fixes the MAC address.
    pub(crate) fn mac(mut self, mac: Mac) -> Self {
        self.mac = Some(mac);
        self
    }
}

/// A veth pair between two endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSpec {
    /// One end.
    pub a: Endpoint,
    /// The other end.
    pub b: Endpoint,
}

/// An extra address on an existing interface (e.g. `lo` of the internet node).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressSpec {
    /// Node.
    pub node: String,
    /// Interface.
    pub ifname: String,
    /// Address with prefix.
    pub cidr: String,
}

/// A route in a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Destination with prefix; `None` for the default route.
    pub dest: Option<String>,
    /// Gateway address.
    pub via: Option<String>,
    /// Output interface.
    pub dev: Option<String>,
}

impl Route {
    /// `default via GW`.
    pub(crate) fn default_via(gw: impl Into<String>) -> Self {
        Route {
            dest: None,
            via: Some(gw.into()),
            dev: None,
        }
    }
    /// A route to `dest`, a prefix (`"10.1.0.0/16"`) or `"default"`, as
    /// `ip route` takes it; give it a gateway with [`Route::via`]:
    /// `Route::to("default").via("10.0.0.1")`.
    pub fn to(dest: impl Into<String>) -> Self {
        let dest: String = dest.into();
        Route {
            dest: (dest.trim() != "default").then_some(dest),
            via: None,
            dev: None,
        }
    }
    /// Sets the gateway.
    pub fn via(mut self, gw: impl Into<String>) -> Self {
        self.via = Some(gw.into());
        self
    }
    /// Sets the output interface.
    pub(crate) fn dev(mut self, dev: impl Into<String>) -> Self {
        self.dev = Some(dev.into());
        self
    }
}

/// A route bound to its node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    /// Node.
    pub node: String,
    /// The route.
    pub route: Route,
}

/// A whole lab, as data. Build one with [`crate::Lab::builder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wiring {
    /// The lab's name (used in messages, artifacts and pins).
    pub name: String,
    /// Nodes, in creation order.
    pub nodes: Vec<NodeSpec>,
    /// Extra names for existing nodes (name, target): both reach one namespace.
    pub aliases: Vec<(String, String)>,
    /// Bridges.
    pub bridges: Vec<BridgeSpec>,
    /// veth links.
    pub links: Vec<LinkSpec>,
    /// Extra addresses.
    pub addresses: Vec<AddressSpec>,
    /// Routes.
    pub routes: Vec<RouteSpec>,
    /// Add PERMANENT neighbour entries between every pair of addressed
    /// interfaces on one L2 segment (default on; see platform notes G3).
    pub static_neighbours: bool,
}

impl Wiring {
    /// An empty lab named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Wiring {
            name: name.into(),
            nodes: Vec::new(),
            aliases: Vec::new(),
            bridges: Vec::new(),
            links: Vec::new(),
            addresses: Vec::new(),
            routes: Vec::new(),
            static_neighbours: true,
        }
    }
    /// Adds a node (a name: a plain one).
    pub fn node(self, node: impl Into<NodeSpec>) -> Self {
        self.node_with(node.into())
    }
    /// Adds a node with options.
    pub fn node_with(mut self, node: NodeSpec) -> Self {
        self.nodes.push(node);
        self
    }
    /// Gives node `target` a second name (Docker's `host` and `container:` modes).
    pub fn alias(mut self, name: impl Into<String>, target: impl Into<String>) -> Self {
        self.aliases.push((name.into(), target.into()));
        self
    }
    /// Adds a bridge in `node` with addresses.
    pub fn bridge<I, S>(
        mut self,
        node: impl Into<String>,
        name: impl Into<String>,
        addrs: I,
    ) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.bridges.push(BridgeSpec {
            node: node.into(),
            name: name.into(),
            addrs: addrs.into_iter().map(Into::into).collect(),
            mac: None,
        });
        self
    }
    /// Adds a bridge described in full.
    pub fn bridge_with(mut self, bridge: BridgeSpec) -> Self {
        self.bridges.push(bridge);
        self
    }
    /// Adds a veth link.
    pub fn link(mut self, a: Endpoint, b: Endpoint) -> Self {
        self.links.push(LinkSpec { a, b });
        self
    }
    /// Adds an address to an interface (`lo` included).
    pub fn address(
        mut self,
        node: impl Into<String>,
        ifname: impl Into<String>,
        cidr: impl Into<String>,
    ) -> Self {
        self.addresses.push(AddressSpec {
            node: node.into(),
            ifname: ifname.into(),
            cidr: cidr.into(),
        });
        self
    }
    /// Adds a route to `node`.
    pub fn route(mut self, node: impl Into<String>, route: Route) -> Self {
        self.routes.push(RouteSpec {
            node: node.into(),
            route,
        });
        self
    }
    /// Turns automatic permanent neighbour entries on or off.
    pub fn static_neighbours(mut self, on: bool) -> Self {
        self.static_neighbours = on;
        self
    }
}
