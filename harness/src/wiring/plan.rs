//! Validation of a [`Wiring`] into a [`Plan`]: every name, reference and
//! address checked, MACs allocated and neighbour entries computed — before
//! anything touches the kernel, so a bad input leaves nothing behind.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ipnet::IpNet;

use super::{Endpoint, NodeSpec, Route, Wiring};
use crate::error::{Error, Result, Subject};
use crate::net::{Mac, check_ifname, check_name, parse_cidr};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IfaceKind {
    Loopback,
    Bridge,
    /// A veth end; `link` is the index into `Plan::links`.
    Veth,
}

#[derive(Debug, Clone)]
pub(crate) struct PlannedIface {
    pub(crate) node: usize,
    pub(crate) name: String,
    pub(crate) kind: IfaceKind,
    pub(crate) addrs: Vec<IpNet>,
    pub(crate) mac: Mac,
    pub(crate) mtu: Option<u32>,
    /// The bridge (iface id) this is a port of.
    pub(crate) bridge: Option<usize>,
}

#[derive(Debug, Clone)]
pub(crate) struct PlannedNode {
    pub(crate) name: String,
    /// Keep IPv6 on.
    pub(crate) ipv6: bool,
    /// Sysctls written at creation, as `/proc/sys`-relative paths.
    pub(crate) sysctls: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub(crate) struct PlannedRoute {
    pub(crate) node: usize,
    pub(crate) dest: Option<IpNet>,
    pub(crate) via: Option<IpAddr>,
    pub(crate) dev: Option<usize>,
}

/// A validated lab, ready to build.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) name: String,
    pub(crate) nodes: Vec<PlannedNode>,
    pub(crate) names: BTreeMap<String, usize>,
    pub(crate) ifaces: Vec<PlannedIface>,
    /// veth pairs as (iface a, iface b).
    pub(crate) links: Vec<(usize, usize)>,
    pub(crate) routes: Vec<PlannedRoute>,
    /// (iface that gets the entry, neighbour address, its MAC).
    pub(crate) neighbours: Vec<(usize, IpAddr, Mac)>,
}

impl Plan {
    pub(crate) fn iface_id(&self, node: usize, name: &str) -> Option<usize> {
        self.ifaces
            .iter()
            .position(|i| i.node == node && i.name == name)
    }
}

struct Planner<'a> {
    spec: &'a Wiring,
    plan: Plan,
    mac_counter: u32,
    lab_tag: u16,
}

impl Planner<'_> {
    fn subject(&self) -> Subject {
        Subject::lab(&self.spec.name)
    }

    fn node_index(&self, node: &str, context: &str) -> Result<usize> {
        self.plan.names.get(node).copied().ok_or_else(|| {
            let known: Vec<&str> = self.plan.names.keys().map(String::as_str).collect();
            Error::invalid(
                self.subject(),
                "node",
                format!(
                    "{context} refers to unknown node {node:?} (known nodes: {})",
                    known.join(", ")
                ),
            )
        })
    }

    fn next_mac(&mut self) -> Mac {
        self.mac_counter += 1;
        let c = self.mac_counter.to_be_bytes();
        let t = self.lab_tag.to_be_bytes();
        [0x02, t[0], t[1], c[1], c[2], c[3]]
    }

    fn add_iface(
        &mut self,
        node: usize,
        name: &str,
        kind: IfaceKind,
        mac: Option<Mac>,
    ) -> Result<usize> {
        let subject = self.subject().node(&self.plan.nodes[node].name).link(name);
        check_ifname(name).map_err(|m| Error::invalid(subject.clone(), "interface name", m))?;
        if self.plan.iface_id(node, name).is_some() {
            return Err(Error::invalid(
                subject,
                "interface name",
                format!(
                    "{name:?} is used twice in node {}",
                    self.plan.nodes[node].name
                ),
            ));
        }
        let mac = mac.unwrap_or_else(|| self.next_mac());
        self.plan.ifaces.push(PlannedIface {
            node,
            name: name.to_string(),
            kind,
            addrs: Vec::new(),
            mac,
            mtu: None,
            bridge: None,
        });
        Ok(self.plan.ifaces.len() - 1)
    }

    fn add_addr(&mut self, iface: usize, cidr: &str) -> Result<()> {
        let i = &self.plan.ifaces[iface];
        let subject = self
            .subject()
            .node(&self.plan.nodes[i.node].name)
            .link(&i.name);
        let net = parse_cidr(cidr).map_err(|m| Error::invalid(subject.clone(), "address", m))?;
        if let IpNet::V6(_) = net
            && !self.plan.nodes[i.node].ipv6
        {
            return Err(Error::invalid(
                subject,
                "address",
                format!("{cidr} is IPv6 but the node has IPv6 off (use NodeSpec::ipv6(true))"),
            ));
        }
        self.plan.ifaces[iface].addrs.push(net);
        Ok(())
    }

    fn endpoint(&mut self, ep: &Endpoint) -> Result<usize> {
        let node = self.node_index(&ep.node, &format!("link end {}:{}", ep.node, ep.ifname))?;
        let id = self.add_iface(node, &ep.ifname, IfaceKind::Veth, ep.mac)?;
        self.plan.ifaces[id].mtu = ep.mtu;
        if let Some(br) = &ep.bridge {
            let bridge = self
                .plan
                .iface_id(node, br)
                .filter(|b| self.plan.ifaces[*b].kind == IfaceKind::Bridge)
                .ok_or_else(|| {
                    Error::invalid(
                        self.subject().node(&ep.node).link(&ep.ifname),
                        "bridge",
                        format!("no bridge named {br:?} in node {}", ep.node),
                    )
                })?;
            self.plan.ifaces[id].bridge = Some(bridge);
        }
        for a in &ep.addrs {
            self.add_addr(id, a)?;
        }
        Ok(id)
    }
}

/// The sysctls a node's namespace is created with: forwarding and, with
/// IPv6, no duplicate address detection, then the node's own.
pub(crate) fn creation_sysctls(n: &NodeSpec) -> Vec<(String, String)> {
    let mut sysctls = n.sysctls.clone();
    if n.forwarding {
        sysctls.insert(0, ("net/ipv4/ip_forward".into(), "1".into()));
    }
    if n.ipv6 {
        // No duplicate address detection: addresses are usable the moment
        // they are added, instead of "tentative" for a second or more.
        for key in [
            "net/ipv6/conf/all/accept_dad",
            "net/ipv6/conf/default/accept_dad",
        ] {
            sysctls.insert(0, (key.into(), "0".into()));
        }
    }
    sysctls
}

/// A short per-lab tag for MACs, from the lab name (stable across runs).
fn lab_tag(name: &str) -> u16 {
    name.bytes()
        .fold(0x6e72u16, |h, b| h.rotate_left(5) ^ b as u16)
}

/// Validates `spec` into a plan. Pure: touches nothing.
pub(crate) fn plan(spec: &Wiring) -> Result<Plan> {
    let lab = Subject::lab(&spec.name);
    check_name(&spec.name).map_err(|m| Error::invalid(lab.clone(), "lab name", m))?;
    let mut p = Planner {
        spec,
        plan: Plan {
            name: spec.name.clone(),
            nodes: Vec::new(),
            names: BTreeMap::new(),
            ifaces: Vec::new(),
            links: Vec::new(),
            routes: Vec::new(),
            neighbours: Vec::new(),
        },
        mac_counter: 0,
        lab_tag: lab_tag(&spec.name),
    };
    for n in &spec.nodes {
        let subject = lab.clone().node(&n.name);
        check_name(&n.name).map_err(|m| Error::invalid(subject.clone(), "node name", m))?;
        if p.plan.names.contains_key(&n.name) {
            return Err(Error::invalid(
                subject,
                "node name",
                format!("duplicate node name {:?}", n.name),
            ));
        }
        let sysctls = creation_sysctls(n);
        let idx = p.plan.nodes.len();
        p.plan.nodes.push(PlannedNode {
            name: n.name.clone(),
            ipv6: n.ipv6,
            sysctls,
        });
        p.plan.names.insert(n.name.clone(), idx);
        p.add_iface(idx, "lo", IfaceKind::Loopback, Some([0; 6]))?;
    }
    for (alias, target) in &spec.aliases {
        let subject = lab.clone().node(alias);
        check_name(alias).map_err(|m| Error::invalid(subject.clone(), "node name", m))?;
        if p.plan.names.contains_key(alias) {
            return Err(Error::invalid(
                subject,
                "node name",
                format!("duplicate node name {alias:?}"),
            ));
        }
        let t = p.node_index(target, &format!("alias {alias}"))?;
        p.plan.names.insert(alias.clone(), t);
    }
    for b in &spec.bridges {
        let node = p.node_index(&b.node, &format!("bridge {}", b.name))?;
        let id = p.add_iface(node, &b.name, IfaceKind::Bridge, b.mac)?;
        for a in &b.addrs {
            p.add_addr(id, a)?;
        }
    }
    for l in &spec.links {
        let a = p.endpoint(&l.a)?;
        let b = p.endpoint(&l.b)?;
        p.plan.links.push((a, b));
    }
    for a in &spec.addresses {
        let node = p.node_index(&a.node, &format!("address {}", a.cidr))?;
        let id = p.plan.iface_id(node, &a.ifname).ok_or_else(|| {
            Error::invalid(
                lab.clone().node(&a.node).link(&a.ifname),
                "interface",
                format!("no interface named {:?} in node {}", a.ifname, a.node),
            )
        })?;
        p.add_addr(id, &a.cidr)?;
    }
    check_addresses_unique(&p.plan, &lab)?;
    for r in &spec.routes {
        let node = p.node_index(&r.node, "route")?;
        let subject = lab.clone().node(&r.node);
        let (dest, via) = parse_route(&subject, &r.route)?;
        let dev = match r.route.dev.as_deref() {
            Some(d) => Some(p.plan.iface_id(node, d).ok_or_else(|| {
                Error::invalid(
                    subject.clone(),
                    "route device",
                    format!("no interface named {d:?} in node {}", r.node),
                )
            })?),
            None => None,
        };
        p.plan.routes.push(PlannedRoute {
            node,
            dest,
            via,
            dev,
        });
    }
    if spec.static_neighbours {
        p.plan.neighbours = neighbours(&p.plan);
    }
    Ok(p.plan)
}

/// Parses a route's destination (truncated to its network) and gateway; the
/// one parser for routes in specs and routes added at run time.
pub(crate) fn parse_route(
    subject: &Subject,
    route: &Route,
) -> Result<(Option<IpNet>, Option<IpAddr>)> {
    let dest = route
        .dest
        .as_deref()
        .map(|d| parse_cidr(d).map(|n| n.trunc()))
        .transpose()
        .map_err(|m| Error::invalid(subject.clone(), "route destination", m))?;
    let via = route
        .via
        .as_deref()
        .map(|g| {
            g.trim()
                .parse::<IpAddr>()
                .map_err(|_| format!("{g:?} is not an IP address"))
        })
        .transpose()
        .map_err(|m| Error::invalid(subject.clone(), "route gateway", m))?;
    if via.is_none() && route.dev.is_none() {
        return Err(Error::invalid(
            subject.clone(),
            "route",
            "a route needs a gateway (via) or a device (dev)",
        ));
    }
    Ok((dest, via))
}

fn check_addresses_unique(plan: &Plan, lab: &Subject) -> Result<()> {
    let mut seen: BTreeMap<IpAddr, (usize, &str)> = BTreeMap::new();
    for i in &plan.ifaces {
        for a in &i.addrs {
            // The same address in two different nodes is fine (separate namespaces);
            // twice in one node is an error the kernel would report less clearly.
            if let Some((node, other)) = seen.get(&a.addr())
                && *node == i.node
            {
                return Err(Error::invalid(
                    lab.clone().node(&plan.nodes[i.node].name).link(&i.name),
                    "address",
                    format!("{} is already assigned to {other} in this node", a.addr()),
                ));
            }
            seen.insert(a.addr(), (i.node, &i.name));
        }
    }
    Ok(())
}

/// Permanent neighbour entries for every pair of addressed (L3) interfaces
/// on one L2 segment, both ways.
fn neighbours(plan: &Plan) -> Vec<(usize, IpAddr, Mac)> {
    // Union-find over interfaces: veth peers and bridge ports share a segment.
    let mut parent: Vec<usize> = (0..plan.ifaces.len()).collect();
    fn find(p: &mut [usize], x: usize) -> usize {
        let mut r = x;
        while p[r] != r {
            r = p[r];
        }
        let mut c = x;
        while p[c] != r {
            let n = p[c];
            p[c] = r;
            c = n;
        }
        r
    }
    let union = |p: &mut Vec<usize>, a: usize, b: usize| {
        let (ra, rb) = (find(p, a), find(p, b));
        if ra != rb {
            p[ra] = rb;
        }
    };
    for &(a, b) in &plan.links {
        union(&mut parent, a, b);
    }
    for (id, i) in plan.ifaces.iter().enumerate() {
        if let Some(b) = i.bridge {
            union(&mut parent, id, b);
        }
    }
    let mut segments: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (id, i) in plan.ifaces.iter().enumerate() {
        if i.kind == IfaceKind::Loopback {
            continue;
        }
        let root = find(&mut parent, id);
        segments.entry(root).or_default().push(id);
    }
    let mut out = Vec::new();
    let mut done = BTreeSet::new();
    for members in segments.values() {
        // L3 interfaces: not enslaved to a bridge.
        let l3: Vec<usize> = members
            .iter()
            .copied()
            .filter(|m| plan.ifaces[*m].bridge.is_none())
            .collect();
        for &holder in &l3 {
            for &other in &l3 {
                if holder == other {
                    continue;
                }
                let o = &plan.ifaces[other];
                let h = &plan.ifaces[holder];
                for a in &o.addrs {
                    let same_family = h
                        .addrs
                        .iter()
                        .any(|x| x.addr().is_ipv4() == a.addr().is_ipv4());
                    let reachable = h.addrs.iter().any(|x| x.contains(&a.addr()));
                    if same_family && reachable && done.insert((holder, a.addr())) {
                        out.push((holder, a.addr(), o.mac));
                    }
                }
            }
        }
    }
    out
}
