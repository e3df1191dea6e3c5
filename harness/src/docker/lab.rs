//! Mapping a [`DockerHost`] onto a [`Wiring`] (pure): node `host` holding the
//! bridges and host-side veths, node `internet` beside it, one node per
//! bridge-mode or none-mode container, aliases for `host` and `container:`
//! modes, optional LAN peers, and a stub node per substituted interface.

use super::container::{Container, Networking};
use super::host::{
    DockerHost, HOST_NODE, HOST_UPLINK, HOST_UPLINK6, INTERNET_NODE, INTERNET_UPLINK,
    INTERNET_UPLINK6, LAN_BRIDGE, LAN_HOST, LAN_SUBNET, SERVER6,
};
use crate::wiring::{Endpoint, NodeSpec, Route, Wiring};

/// The lab node a container's traffic comes from: itself, `host` for host
/// mode, or the owner of the namespace it joined (followed to the end).
pub(crate) fn node_of(host: &DockerHost, name: &str) -> String {
    let mut cur = name.to_string();
    for _ in 0..=host.containers().len() {
        match host.container(&cur).map(|c| &c.networking) {
            Some(Networking::Host) => return HOST_NODE.into(),
            Some(Networking::Container(owner)) => cur = owner.clone(),
            _ => return cur,
        }
    }
    cur
}

pub(crate) fn lab_spec(host: &DockerHost) -> Wiring {
    let d = host.daemon();
    let v6 = host.has_ipv6();
    let mut spec = Wiring::new(host.name())
        // 28+: IPv6 on in the host (Docker's [::] docker-proxy listeners, ip6tables).
        .node_with(
            NodeSpec::new(HOST_NODE)
                .forwarding(d.host_forwards())
                .ipv6(d.host_ipv6() || v6),
        )
        .node_with(NodeSpec::new(INTERNET_NODE).ipv6(v6));
    for c in host.containers() {
        if let Some(n) = container_node(c) {
            spec = spec.node_with(n);
        }
    }
    for p in host.lan_peers() {
        spec = spec.node(&p.name);
    }
    for c in host.containers() {
        if matches!(c.networking, Networking::Host | Networking::Container(_)) {
            spec = spec.alias(&c.name, node_of(host, &c.name));
        }
    }
    for n in host.networks() {
        let addrs = std::iter::once(n.gateway_cidr()).chain(n.gateway6_cidr());
        spec = spec.bridge(HOST_NODE, &n.bridge, addrs);
    }
    let (mut up, mut inet) = (
        Endpoint::new(HOST_NODE, "eth0").addr(HOST_UPLINK.to_string()),
        Endpoint::new(INTERNET_NODE, "eth0").addr(INTERNET_UPLINK.to_string()),
    );
    if v6 {
        (up, inet) = (up.addr(HOST_UPLINK6), inet.addr(INTERNET_UPLINK6));
    }
    spec = spec.link(up, inet);
    for s in host.servers() {
        spec = spec.address(INTERNET_NODE, "lo", format!("{s}/32"));
    }
    if v6 {
        spec = spec.address(INTERNET_NODE, "lo", format!("{SERVER6}/128"));
    }
    spec = spec.route(
        HOST_NODE,
        Route::default_via(INTERNET_UPLINK.addr().to_string()),
    );
    if v6 {
        let gw = INTERNET_UPLINK6.split('/').next().unwrap_or_default();
        spec = spec.route(HOST_NODE, Route::default_via(gw));
    }
    for c in host.containers() {
        for (a, b) in container_links(c) {
            spec = spec.link(a, b);
        }
        for gw in container_gateway(host, c) {
            spec = spec.route(&c.name, gw);
        }
    }
    // A real host's interfaces the kernel here cannot make: a veth each,
    // its peer in a stub node, the routes the host sent through it.
    for i in host.interfaces() {
        let node = i.node();
        let mut end = Endpoint::new(HOST_NODE, &i.name);
        end.addrs = i.addresses.clone();
        spec = spec.node(&node).link(end, Endpoint::new(&node, "eth0"));
        for r in &i.routes {
            spec = spec.route(HOST_NODE, Route::to(r.clone()).dev(i.name.clone()));
        }
    }
    if !host.lan_peers().is_empty() {
        let prefix = LAN_SUBNET.prefix_len();
        spec = spec.bridge(HOST_NODE, LAN_BRIDGE, [format!("{LAN_HOST}/{prefix}")]);
        for (i, p) in host.lan_peers().iter().enumerate() {
            spec = spec.link(
                Endpoint::new(&p.name, "eth0").addr(format!("{}/{prefix}", p.ip)),
                Endpoint::new(HOST_NODE, format!("lanp{i}")).bridge(LAN_BRIDGE),
            );
            for n in host.networks() {
                spec = spec.route(
                    &p.name,
                    Route::to(n.subnet.to_string()).via(LAN_HOST.to_string()),
                );
            }
        }
    }
    spec
}

/// A container's own node (bridge and none modes: a namespace of its own,
/// with the sysctls Docker sets there); `None` for host and `container:` modes.
pub(crate) fn container_node(c: &Container) -> Option<NodeSpec> {
    match &c.networking {
        Networking::Bridge(_) | Networking::None => Some(
            NodeSpec::new(&c.name)
                .sysctl("net.ipv4.ip_unprivileged_port_start", "0")
                .sysctl("net.ipv4.ping_group_range", "0 2147483647")
                .ipv6(c.attachments().iter().any(|a| a.ip6.is_some())),
        ),
        Networking::Host | Networking::Container(_) => None,
    }
}

/// A container's veths: its end, and the host's end on the network's bridge.
pub(crate) fn container_links(c: &Container) -> Vec<(Endpoint, Endpoint)> {
    c.attachments()
        .iter()
        .map(|a| {
            let mut end = Endpoint::new(&c.name, &a.ifname).addr(a.cidr()).mac(a.mac);
            if let Some(cidr6) = a.cidr6() {
                end = end.addr(cidr6);
            }
            (
                end,
                Endpoint::new(HOST_NODE, &a.host_veth).bridge(&a.bridge),
            )
        })
        .collect()
}

/// A container's default routes, via the gateway of the network that
/// carries it: IPv4, and IPv6 where that network has IPv6.
pub(crate) fn container_gateway(host: &DockerHost, c: &Container) -> Vec<Route> {
    let Some(gw) = c.gateway_attachment(host.layout()) else {
        return Vec::new();
    };
    let mut routes = vec![Route::default_via(gw.gateway.to_string())];
    if let Some((_, _, gw6)) = gw.ip6 {
        routes.push(Route::default_via(gw6.to_string()));
    }
    routes
}

/// The name node `node` of a Docker host's lab takes when the host is the
/// part named `part` of a larger lab: `part` for the host itself, `part-NODE`
/// for every other node (containers, LAN peers).
pub(crate) fn part_node(part: &str, node: &str) -> String {
    if node == HOST_NODE {
        part.to_string()
    } else {
        format!("{part}-{node}")
    }
}

/// The host's lab as the part `part` of a larger lab: every node renamed
/// with [`part_node`], and no internet node — the larger lab gives the host
/// its uplink, addresses and routes (its interface `eth0` is left free).
pub(crate) fn part_spec(host: &DockerHost, part: &str) -> Wiring {
    let whole = lab_spec(host);
    let name = |n: &str| part_node(part, n);
    let outside = |n: &str| n == INTERNET_NODE;
    let end = |e: &Endpoint| Endpoint {
        node: name(&e.node),
        ..e.clone()
    };
    let mut spec = Wiring::new(part).static_neighbours(whole.static_neighbours);
    spec.nodes = whole
        .nodes
        .iter()
        .filter(|n| !outside(&n.name))
        .map(|n| {
            let mut n = n.clone();
            n.name = name(&n.name);
            n
        })
        .collect();
    spec.aliases = whole
        .aliases
        .iter()
        .map(|(a, t)| (name(a), name(t)))
        .collect();
    spec.bridges = whole
        .bridges
        .iter()
        .map(|b| {
            let mut b = b.clone();
            b.node = name(&b.node);
            b
        })
        .collect();
    spec.links = whole
        .links
        .iter()
        .filter(|l| !outside(&l.a.node) && !outside(&l.b.node))
        .map(|l| crate::wiring::LinkSpec {
            a: end(&l.a),
            b: end(&l.b),
        })
        .collect();
    spec.addresses = whole
        .addresses
        .iter()
        .filter(|a| !outside(&a.node))
        .map(|a| {
            let mut a = a.clone();
            a.node = name(&a.node);
            a
        })
        .collect();
    spec.routes = whole
        .routes
        .iter()
        .filter(|r| !(r.node == HOST_NODE && r.route.dest.is_none()))
        .map(|r| {
            let mut r = r.clone();
            r.node = name(&r.node);
            r
        })
        .collect();
    spec
}
