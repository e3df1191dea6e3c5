//! Validation and settlement of a [`DockerHostBuilder`] into a [`DockerHost`]:
//! every name, reference, subnet, address and port binding is checked, and
//! subnets, addresses and interface names are allocated the way Docker would.
//! Rejections use Docker's own wording where Docker has one.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::container::{Attachment, Container, NetworkMode, Networking, mac_in};
use super::host::{
    DEFAULT_SERVER, DockerHost, DockerHostBuilder, Event, HOST_NODE, INTERNET_NODE, LAN_BRIDGE,
    LAN_HOST, LAN_SUBNET, LanPeer, parse_ip, parse_subnet,
};
use super::layout::Layout;
use super::network::{
    DEFAULT_BRIDGE, DEFAULT_NETWORK, DEFAULT_SUBNET, Network, bridge_name_for, fnv1a,
};
use super::port::PortBinding;
use crate::backend::Backend;
use crate::error::{Error, Result, Subject};
use crate::net::{check_ifname, check_name};

struct Ctx {
    lab: String,
}

impl Ctx {
    fn host(&self, field: impl Into<String>, msg: impl Into<String>) -> Error {
        Error::invalid(Subject::lab(&self.lab), field, msg)
    }
    fn net(&self, net: &str, field: &str, msg: impl Into<String>) -> Error {
        Error::invalid(
            Subject::lab(&self.lab),
            format!("network {net:?} {field}"),
            msg,
        )
    }
    fn ctr(&self, ctr: &str, field: &str, msg: impl Into<String>) -> Error {
        Error::invalid(
            Subject::lab(&self.lab).node(ctr),
            format!("container {ctr:?} {field}"),
            msg,
        )
    }
}

/// Address pools Docker allocates bridge subnets from, in order.
fn default_pools() -> impl Iterator<Item = Ipv4Net> {
    let big =
        (17u8..=31).map(|b| Ipv4Net::new(Ipv4Addr::new(172, b, 0, 0), 16).expect("valid /16"));
    let small = (0u16..16)
        .map(|i| Ipv4Net::new(Ipv4Addr::new(192, 168, (i * 16) as u8, 0), 20).expect("valid /20"));
    big.chain(small)
}

fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

impl DockerHostBuilder {
    /// Validates everything and settles names and addresses.
    pub fn build(self) -> Result<DockerHost> {
        resolve(self)
    }
}

fn resolve(b: DockerHostBuilder) -> Result<DockerHost> {
    let lab = b.name.clone().unwrap_or_else(|| "docker".to_string());
    let cx = Ctx { lab: lab.clone() };
    check_name(&lab).map_err(|m| cx.host("host name", m))?;
    let d = b.daemon;
    super::layout::check_daemon(&d).map_err(|(field, m)| cx.host(field, m))?;
    if d.backend == Backend::Nftables && d.layout != Layout::V29 {
        return Err(cx.host(
            "backend",
            "the nftables firewall backend exists only from Docker 29 (use layout v29, or an iptables backend)",
        ));
    }
    if d.backend == Backend::Nftables && d.ip_forward && !d.ip_forward_was_on {
        return Err(cx.host(
            "ip_forward",
            "IPv4 forwarding is disabled and the nftables backend never enables it: Docker refuses to start \
             (set ip_forward_was_on = true, or ip_forward = false)",
        ));
    }

    // Fixed reserved segments: the uplink, and the LAN if there are peers.
    let uplink: Ipv4Net = "203.0.113.0/24".parse().expect("valid");
    let lan: Ipv4Net = LAN_SUBNET.parse().expect("valid");
    let mut reserved: Vec<(String, Ipv4Net)> = vec![("the host uplink".into(), uplink)];
    if !b.lan_peers.is_empty() {
        reserved.push(("the LAN".into(), lan));
    }

    // Networks, default first.
    let default_subnet = match &b.default_subnet {
        Some(s) => parse_subnet(s).map_err(|m| cx.net(DEFAULT_NETWORK, "subnet", m))?,
        None => DEFAULT_SUBNET.parse().expect("valid"),
    };
    let mut networks = vec![Network {
        name: DEFAULT_NETWORK.into(),
        bridge: DEFAULT_BRIDGE.into(),
        subnet: default_subnet,
        gateway: first_host(&default_subnet),
        icc: d.icc,
        ip_masq: d.ip_masq,
        internal: false,
        host_binding: None,
        is_default: true,
        gateway_mode: Default::default(),
    }];
    // Subnets given explicitly are never handed out by the allocator.
    let mut given: Vec<Ipv4Net> = Vec::new();
    for n in &b.networks {
        if let Some(s) = &n.subnet
            && let Ok(s) = parse_subnet(s)
        {
            given.push(s);
        }
    }
    let mut net_names: BTreeSet<String> = BTreeSet::new();
    let mut bridges: BTreeSet<String> = [
        DEFAULT_BRIDGE.to_string(),
        LAN_BRIDGE.to_string(),
        "eth0".into(),
        "lo".into(),
    ]
    .into();
    for spec in &b.networks {
        let name = &spec.name;
        check_name(name).map_err(|m| cx.net(name, "name", m))?;
        if ["bridge", "host", "none", "default"].contains(&name.as_str()) {
            return Err(cx.net(
                name,
                "name",
                format!("{name:?} is a pre-defined network name and cannot be created"),
            ));
        }
        if !net_names.insert(name.clone()) {
            return Err(cx.net(
                name,
                "name",
                format!("network with name {name} already exists"),
            ));
        }
        super::network::check_gateway_mode(spec, &d)
            .map_err(|m| cx.net(name, "gateway_mode_ipv4", m))?;
        let bridge = spec.bridge.clone().unwrap_or_else(|| bridge_name_for(name));
        check_ifname(&bridge).map_err(|m| cx.net(name, "bridge", format!("bridge name {m}")))?;
        if !bridges.insert(bridge.clone()) {
            return Err(cx.net(
                name,
                "bridge",
                format!("bridge name {bridge:?} is already in use on the host"),
            ));
        }
        let subnet = match &spec.subnet {
            Some(s) => parse_subnet(s).map_err(|m| cx.net(name, "subnet", m))?,
            None => default_pools()
                .find(|p| {
                    !networks.iter().any(|n| overlaps(&n.subnet, p))
                        && !given.iter().any(|g| overlaps(g, p))
                        && !reserved.iter().any(|(_, r)| overlaps(r, p))
                })
                .ok_or_else(|| {
                    cx.net(
                        name,
                        "subnet",
                        "could not find an available, non-overlapping IPv4 address pool",
                    )
                })?,
        };
        if let Some(other) = networks.iter().find(|n| overlaps(&n.subnet, &subnet)) {
            return Err(cx.net(
                name,
                "subnet",
                format!(
                    "{subnet} overlaps network {:?} ({}): Pool overlaps with other one on this address space",
                    other.name, other.subnet
                ),
            ));
        }
        if let Some((what, r)) = reserved.iter().find(|(_, r)| overlaps(r, &subnet)) {
            return Err(cx.net(name, "subnet", format!("{subnet} overlaps {what} ({r})")));
        }
        let gateway = match &spec.gateway {
            Some(g) => {
                let g = parse_ip(g).map_err(|m| cx.net(name, "gateway", m))?;
                if !subnet.contains(&g) || g == subnet.network() || g == subnet.broadcast() {
                    return Err(cx.net(
                        name,
                        "gateway",
                        format!("{g} is not a usable address of subnet {subnet}"),
                    ));
                }
                g
            }
            None => first_host(&subnet),
        };
        let host_binding = match &spec.host_binding {
            Some(h) => Some(parse_ip(h).map_err(|m| cx.net(name, "host_binding", m))?),
            None => None,
        };
        networks.push(Network {
            name: name.clone(),
            bridge,
            subnet,
            gateway,
            icc: spec.icc,
            ip_masq: spec.ip_masq,
            internal: spec.internal,
            host_binding,
            is_default: false,
            gateway_mode: spec.gateway_mode_ipv4,
        });
    }

    // Containers, in start order; each may only use what exists before it.
    let mut created_nets: BTreeSet<&str> = [DEFAULT_NETWORK].into();
    let mut started: Vec<Container> = Vec::new();
    let mut used: Vec<BTreeSet<Ipv4Addr>> = networks.iter().map(|n| [n.gateway].into()).collect();
    let mut veths: BTreeSet<String> = BTreeSet::new();
    let mut bindings: Vec<(String, PortBinding)> = Vec::new();
    let node_reserved = [HOST_NODE, INTERNET_NODE];
    let mut stopped: BTreeSet<String> = BTreeSet::new();
    for ev in &b.order {
        let cname = match ev {
            Event::CreateNetwork(n) => {
                created_nets.insert(n.as_str());
                continue;
            }
            Event::RestartDaemon | Event::StartExisting(_) => {
                super::restart::check(ev, &d, &started, &mut stopped).map_err(
                    |(c, m)| match c {
                        Some(c) => cx.ctr(&c, "start", m),
                        None => cx.host("restart", m),
                    },
                )?;
                continue;
            }
            Event::StartContainer(c) => c,
        };
        let spec = b
            .containers
            .iter()
            .find(|c| &c.name == cname)
            .expect("order lists containers");
        check_name(cname).map_err(|m| cx.ctr(cname, "name", m))?;
        if node_reserved.contains(&cname.as_str()) {
            return Err(cx.ctr(
                cname,
                "name",
                format!("{cname:?} is the name of a lab node of the Docker host; choose another"),
            ));
        }
        if started.iter().any(|c| &c.name == cname) {
            return Err(cx.ctr(
                cname,
                "name",
                format!("Conflict. The container name \"/{cname}\" is already in use"),
            ));
        }
        let mut ports = Vec::new();
        for p in &spec.ports {
            ports.push(PortBinding::parse(p).map_err(|m| cx.ctr(cname, "ports", m))?);
        }
        let networking = match &spec.mode {
            NetworkMode::Host => {
                if !ports.is_empty() {
                    return Err(cx.ctr(
                        cname,
                        "ports",
                        "Published ports are discarded when using host network mode",
                    ));
                }
                Networking::Host
            }
            NetworkMode::None => Networking::None,
            NetworkMode::Container(other) => {
                if !ports.is_empty() {
                    return Err(cx.ctr(
                        cname,
                        "ports",
                        "conflicting options: port publishing and the container type network mode",
                    ));
                }
                if other == cname {
                    return Err(cx.ctr(
                        cname,
                        "network",
                        "cannot join own network namespace (container:self)",
                    ));
                }
                if !started.iter().any(|c| &c.name == other) {
                    return Err(cx.ctr(
                        cname,
                        "network",
                        format!("No such container: {other} (it must be started before {cname})"),
                    ));
                }
                Networking::Container(other.clone())
            }
            NetworkMode::Bridge(nets) => {
                if nets.is_empty() {
                    return Err(cx.ctr(cname, "network", "bridge mode needs at least one network"));
                }
                let mut atts = Vec::new();
                for (i, net_name) in nets.iter().enumerate() {
                    let Some(ni) = networks.iter().position(|n| &n.name == net_name) else {
                        return Err(cx.ctr(
                            cname,
                            "network",
                            format!("network {net_name} not found"),
                        ));
                    };
                    if !created_nets.contains(net_name.as_str()) {
                        return Err(cx.ctr(
                            cname,
                            "network",
                            format!(
                                "network {net_name} not found (it is created after {cname} starts)"
                            ),
                        ));
                    }
                    if atts.iter().any(|a: &Attachment| &a.network == net_name) {
                        return Err(cx.ctr(
                            cname,
                            "network",
                            format!("network {net_name} is listed twice"),
                        ));
                    }
                    let net = &networks[ni];
                    let fixed = spec
                        .ips
                        .iter()
                        .find(|(n, _)| n == net_name)
                        .map(|(_, ip)| ip);
                    let ip = match fixed {
                        Some(ip) => {
                            let ip = parse_ip(ip).map_err(|m| cx.ctr(cname, "ip", m))?;
                            if net.is_default {
                                return Err(cx.ctr(
                                    cname,
                                    "ip",
                                    "user specified IP address is supported on user defined networks only",
                                ));
                            }
                            if !net.subnet.contains(&ip)
                                || ip == net.subnet.network()
                                || ip == net.subnet.broadcast()
                            {
                                return Err(cx.ctr(
                                    cname,
                                    "ip",
                                    format!("no configured subnet contains the IP address {ip} (network {net_name} is {})", net.subnet),
                                ));
                            }
                            if !used[ni].insert(ip) {
                                return Err(cx.ctr(
                                    cname,
                                    "ip",
                                    format!("Address already in use: {ip} on network {net_name}"),
                                ));
                            }
                            ip
                        }
                        None => {
                            let ip = net
                                .subnet
                                .hosts()
                                .find(|h| !used[ni].contains(h))
                                .ok_or_else(|| {
                                    cx.ctr(
                                        cname,
                                        "ip",
                                        format!(
                                            "no available IPv4 addresses on network {net_name}"
                                        ),
                                    )
                                })?;
                            used[ni].insert(ip);
                            ip
                        }
                    };
                    let host_veth =
                        format!("veth{:07x}", fnv1a(&["veth", cname, net_name]) & 0xfff_ffff);
                    if !veths.insert(host_veth.clone()) {
                        return Err(cx.ctr(
                            cname,
                            "network",
                            format!("host veth name {host_veth} collides; rename the container"),
                        ));
                    }
                    atts.push(Attachment {
                        network: net_name.clone(),
                        bridge: net.bridge.clone(),
                        ifname: format!("eth{i}"),
                        ip,
                        prefix: net.subnet.prefix_len(),
                        gateway: net.gateway,
                        mac: mac_in(d.layout, cname, net_name, ip),
                        host_veth,
                        internal: net.internal,
                    });
                }
                for (n, _) in &spec.ips {
                    if !nets.contains(n) {
                        return Err(cx.ctr(
                            cname,
                            "ip",
                            format!(
                                "an address is given for network {n}, which the container is not on"
                            ),
                        ));
                    }
                }
                Networking::Bridge(atts)
            }
        };
        if !spec.ips.is_empty() && !matches!(networking, Networking::Bridge(_)) {
            return Err(cx.ctr(
                cname,
                "ip",
                format!(
                    "fixed addresses need bridge networks, not network mode {}",
                    spec.mode
                ),
            ));
        }
        // Port bindings on the host must not collide.
        for p in &ports {
            let eff = effective_host_ip(p, &networking, &networks, d.layout);
            for (other, q) in &bindings {
                let qeff = q.host_ip;
                let clash = q.proto == p.proto
                    && q.host_port == p.host_port
                    && (eff.is_none() || qeff.is_none() || eff == qeff);
                if clash {
                    let shown = eff
                        .map(|i| i.to_string())
                        .unwrap_or_else(|| "0.0.0.0".into());
                    return Err(cx.ctr(
                        cname,
                        "ports",
                        format!(
                            "Bind for {shown}:{} failed: port is already allocated (by {other})",
                            p.host_port
                        ),
                    ));
                }
            }
            bindings.push((cname.clone(), PortBinding { host_ip: eff, ..*p }));
        }
        started.push(Container {
            name: cname.clone(),
            networking,
            ports,
        });
    }

    // The internet's servers.
    let servers = match &b.servers {
        None => vec![DEFAULT_SERVER.parse().expect("valid")],
        Some(list) => {
            let mut out = Vec::new();
            for s in list {
                let ip = parse_ip(s).map_err(|m| cx.host("internet servers", m))?;
                if let Some(n) = networks.iter().find(|n| n.subnet.contains(&ip)) {
                    return Err(cx.host(
                        "internet servers",
                        format!("{ip} is inside network {:?} ({})", n.name, n.subnet),
                    ));
                }
                if let Some((what, _)) = reserved.iter().find(|(_, r)| r.contains(&ip)) {
                    return Err(cx.host("internet servers", format!("{ip} is inside {what}")));
                }
                out.push(ip);
            }
            out
        }
    };

    // LAN peers.
    let mut lan_peers: Vec<LanPeer> = Vec::new();
    let lan_host: Ipv4Addr = LAN_HOST.parse().expect("valid");
    let mut lan_used: BTreeSet<Ipv4Addr> = [lan_host].into();
    for (name, ip) in &b.lan_peers {
        if let Some(ip) = ip {
            let ip = parse_ip(ip).map_err(|m| cx.host(format!("LAN peer {name:?} address"), m))?;
            if !lan.contains(&ip)
                || ip == lan.network()
                || ip == lan.broadcast()
                || !lan_used.insert(ip)
            {
                return Err(cx.host(
                    format!("LAN peer {name:?} address"),
                    format!("{ip} is not a free address of the LAN {lan} (the host is {lan_host})"),
                ));
            }
        }
    }
    let mut next = 10u8;
    for (name, ip) in &b.lan_peers {
        check_name(name).map_err(|m| cx.host(format!("LAN peer {name:?} name"), m))?;
        if node_reserved.contains(&name.as_str())
            || started.iter().any(|c| &c.name == name)
            || lan_peers.iter().any(|p| &p.name == name)
        {
            return Err(cx.host(
                format!("LAN peer {name:?} name"),
                format!("{name:?} is already a node name"),
            ));
        }
        let ip = match ip {
            Some(ip) => parse_ip(ip).expect("checked above"),
            None => loop {
                let cand = Ipv4Addr::from(u32::from(lan.network()) + u32::from(next));
                next = next
                    .checked_add(1)
                    .ok_or_else(|| cx.host("LAN peers", "the LAN is full"))?;
                if lan_used.insert(cand) {
                    break cand;
                }
            },
        };
        lan_peers.push(LanPeer {
            name: name.clone(),
            ip,
        });
    }

    Ok(DockerHost {
        name: lab,
        daemon: d,
        networks,
        containers: started,
        events: b.order,
        servers,
        lan_peers,
        rule_files: b.rule_files,
        matrix_cells: b.matrix_cells,
    })
}

/// The host address a binding ends up on: its own, or its network's host binding.
fn effective_host_ip(
    p: &PortBinding,
    n: &Networking,
    networks: &[Network],
    layout: Layout,
) -> Option<Ipv4Addr> {
    if p.host_ip.is_some() {
        return p.host_ip;
    }
    let Networking::Bridge(atts) = n else {
        return None;
    };
    let att = if layout.is_modern() {
        atts.iter().find(|a| !a.internal)
    } else {
        atts.first()
    }?;
    networks
        .iter()
        .find(|x| x.name == att.network)
        .and_then(|x| x.host_binding)
}

fn first_host(net: &Ipv4Net) -> Ipv4Addr {
    net.hosts().next().unwrap_or(net.network())
}
