//! Containers, started in order: names, network modes, addresses on their
//! networks, host veths and port bindings, as Docker allocates and refuses
//! them.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::{Ctx, v6};
use crate::docker::container::{
    Attachment, Container, ContainerSpec, NetworkMode, Networking, mac_in,
};
use crate::docker::host::{DockerHostBuilder, Event, HOST_NODE, INTERNET_NODE, parse_ip};
use crate::docker::layout::{Daemon, Layout};
use crate::docker::network::{DEFAULT_NETWORK, Network, fnv1a};
use crate::docker::port::PortBinding;
use crate::error::Result;
use crate::net::check_name;

/// Node names a container cannot take.
pub(super) const NODE_RESERVED: [&str; 2] = [HOST_NODE, INTERNET_NODE];

/// What containers have taken so far: networks created, addresses per
/// network, host veth names.
struct Alloc {
    created_nets: BTreeSet<String>,
    used: Vec<BTreeSet<Ipv4Addr>>,
    used6: Vec<BTreeSet<std::net::Ipv6Addr>>,
    veths: BTreeSet<String>,
}

/// Starts the containers in the builder's order; each may only use what
/// exists before it.
pub(super) fn start(
    b: &DockerHostBuilder,
    d: &Daemon,
    cx: &Ctx,
    networks: &[Network],
) -> Result<Vec<Container>> {
    let d = *d;
    let mut alloc = Alloc {
        created_nets: [DEFAULT_NETWORK.to_string()].into(),
        used: networks.iter().map(|n| [n.gateway].into()).collect(),
        used6: networks
            .iter()
            .map(|n| n.gateway_v6.into_iter().collect())
            .collect(),
        veths: BTreeSet::new(),
    };
    let mut started: Vec<Container> = Vec::new();
    let mut bindings: Vec<(String, PortBinding)> = Vec::new();
    let mut auto = AutoPorts::new(b, &d).map_err(|(field, m)| cx.host(field, m))?;
    let mut stopped: BTreeSet<String> = BTreeSet::new();
    for ev in &b.order {
        let cname = match ev {
            Event::CreateNetwork(n) => {
                alloc.created_nets.insert(n.clone());
                continue;
            }
            Event::RestartDaemon | Event::StartExisting(_) => {
                crate::docker::restart::check(ev, &d, &started, &mut stopped).map_err(
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
        if NODE_RESERVED.contains(&cname.as_str()) {
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
                    // As `docker run --network host -p …`: a warning, and
                    // the bindings are dropped (the container already has
                    // the host's ports).
                    tracing::warn!(
                        lab = %cx.lab,
                        container = %cname,
                        "WARNING: Published ports are discarded when using host network mode"
                    );
                    ports.clear();
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
                Networking::Bridge(attach(cx, d, spec, nets, networks, &mut alloc)?)
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
        let ports = bind_ports(
            cx,
            d,
            cname,
            &ports,
            &networking,
            networks,
            &mut bindings,
            &mut auto,
        )?;
        started.push(Container {
            name: cname.clone(),
            networking,
            ports,
        });
    }

    Ok(started)
}

/// A bridge-mode container's attachments, one per network, in order.
fn attach(
    cx: &Ctx,
    d: Daemon,
    spec: &ContainerSpec,
    nets: &[String],
    networks: &[Network],
    alloc: &mut Alloc,
) -> Result<Vec<Attachment>> {
    let cname = &spec.name;
    if nets.is_empty() {
        return Err(cx.ctr(cname, "network", "bridge mode needs at least one network"));
    }
    let mut atts = Vec::new();
    for (i, net_name) in nets.iter().enumerate() {
        let Some(ni) = networks.iter().position(|n| &n.name == net_name) else {
            return Err(cx.ctr(cname, "network", format!("network {net_name} not found")));
        };
        if !alloc.created_nets.contains(net_name.as_str()) {
            return Err(cx.ctr(
                cname,
                "network",
                format!("network {net_name} not found (it is created after {cname} starts)"),
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
            .find(|(n, ip)| n == net_name && !v6::is_v6(ip))
            .map(|(_, ip)| ip);
        let fixed6 = spec
            .ips
            .iter()
            .find(|(n, ip)| n == net_name && v6::is_v6(ip))
            .map(|(_, ip)| ip.as_str());
        let ip = address(
            cx,
            cname,
            net,
            fixed.map(String::as_str),
            &mut alloc.used[ni],
        )?;
        let host_veth = format!("veth{:07x}", fnv1a(&["veth", cname, net_name]) & 0xfff_ffff);
        if !alloc.veths.insert(host_veth.clone()) {
            return Err(cx.ctr(
                cname,
                "network",
                format!("host veth name {host_veth} collides; rename the container"),
            ));
        }
        let mac = mac_in(d.layout, cname, net_name, ip);
        let ip6 = match (net.subnet_v6, net.gateway_v6) {
            (Some(sub), Some(gw)) => {
                let a = v6::address(cx, cname, &d, net, fixed6, mac, &mut alloc.used6[ni])?;
                Some((a, sub.prefix_len(), gw))
            }
            _ => match fixed6 {
                Some(a) => {
                    return Err(cx.ctr(
                        cname,
                        "ip6",
                        format!("invalid IPv6 address {a}: network {net_name} has no IPv6 (create it with ipv6 = true)"),
                    ));
                }
                None => None,
            },
        };
        atts.push(Attachment {
            network: net_name.clone(),
            bridge: net.bridge.clone(),
            ifname: format!("eth{i}"),
            ip,
            prefix: net.subnet.prefix_len(),
            ip6,
            gateway: net.gateway,
            mac,
            host_veth,
            internal: net.internal,
        });
    }
    for (n, _) in &spec.ips {
        if !nets.contains(n) {
            return Err(cx.ctr(
                cname,
                "ip",
                format!("an address is given for network {n}, which the container is not on"),
            ));
        }
    }
    Ok(atts)
}

/// A container's address on `net`: the one it asked for (checked as Docker
/// does), or the first free one.
fn address(
    cx: &Ctx,
    cname: &str,
    net: &Network,
    fixed: Option<&str>,
    used: &mut BTreeSet<Ipv4Addr>,
) -> Result<Ipv4Addr> {
    let net_name = &net.name;
    Ok(match fixed {
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
            if !used.insert(ip) {
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
                .find(|h| !used.contains(h))
                .ok_or_else(|| {
                    cx.ctr(
                        cname,
                        "ip",
                        format!("no available IPv4 addresses on network {net_name}"),
                    )
                })?;
            used.insert(ip);
            ip
        }
    })
}

/// Docker's port allocator for bindings without a host port
/// (`portallocator.go`): ports from `net.ipv4.ip_local_port_range` (the
/// host's, `[before] sysctls`; default 32768–60999), each request starting
/// after the last port it handed out for the protocol, from the range's
/// start; from 29.6 (moby #52818) skipping `net.ipv4.ip_local_reserved_ports`.
struct AutoPorts {
    begin: u16,
    end: u16,
    reserved: BTreeSet<u16>,
    /// The last port handed out, per protocol.
    last: Vec<(crate::net::Proto, u16)>,
}

impl AutoPorts {
    fn new(b: &DockerHostBuilder, d: &Daemon) -> std::result::Result<Self, (String, String)> {
        let sysctl = |key: &str| {
            b.existing_sysctls
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        let field = |key: &str| format!("before.sysctls {key:?}");
        let range_key = "net.ipv4.ip_local_port_range";
        let (begin, end) = match sysctl(range_key) {
            None => (32768, 60999),
            Some(v) => {
                let n: Vec<u16> = v
                    .split_whitespace()
                    .map(str::parse)
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|_| (field(range_key), format!("{v:?}: expected \"FIRST LAST\"")))?;
                match n.as_slice() {
                    [a, z] if a <= z && *a > 0 => (*a, *z),
                    _ => return Err((field(range_key), format!("{v:?}: expected \"FIRST LAST\""))),
                }
            }
        };
        let reserved_key = "net.ipv4.ip_local_reserved_ports";
        let mut reserved = BTreeSet::new();
        if let Some(v) = sysctl(reserved_key).filter(|_| d.skips_reserved_ports()) {
            for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let bad = || {
                    (
                        field(reserved_key),
                        format!("{part:?}: expected PORT or FIRST-LAST"),
                    )
                };
                let (a, z) = part.split_once('-').unwrap_or((part, part));
                let (a, z): (u16, u16) =
                    (a.parse().map_err(|_| bad())?, z.parse().map_err(|_| bad())?);
                reserved.extend(a..=z);
            }
        }
        Ok(AutoPorts {
            begin,
            end,
            reserved,
            last: Vec::new(),
        })
    }

    /// The port for `p` (which names none): the first after the last one
    /// handed out for its protocol that is free and not reserved.
    fn pick(
        &mut self,
        p: &PortBinding,
        eff: Option<std::net::IpAddr>,
        bindings: &[(String, PortBinding)],
    ) -> Option<u16> {
        let span = u32::from(self.end - self.begin) + 1;
        let last = self
            .last
            .iter()
            .find(|(pr, _)| *pr == p.proto)
            .map(|(_, l)| *l);
        let start = last.map_or(
            self.begin,
            |l| if l >= self.end { self.begin } else { l + 1 },
        );
        for i in 0..span {
            let port =
                (u32::from(start) - u32::from(self.begin) + i) % span + u32::from(self.begin);
            let port = port as u16;
            if self.reserved.contains(&port) {
                continue;
            }
            let taken = bindings.iter().any(|(_, q)| {
                q.proto == p.proto
                    && q.host_port == port
                    && (eff.is_none() || q.host_ip.is_none() || eff == q.host_ip)
            });
            if !taken {
                self.last.retain(|(pr, _)| *pr != p.proto);
                self.last.push((p.proto, port));
                return Some(port);
            }
        }
        None
    }
}

/// Checks that `ports` do not collide with bindings already made, picks the
/// host ports of those that name none, and records them: the container's
/// ports as bound.
#[allow(clippy::too_many_arguments)]
fn bind_ports(
    cx: &Ctx,
    d: Daemon,
    cname: &str,
    ports: &[PortBinding],
    networking: &Networking,
    networks: &[Network],
    bindings: &mut Vec<(String, PortBinding)>,
    auto: &mut AutoPorts,
) -> Result<Vec<PortBinding>> {
    let mut bound = Vec::new();
    // Port bindings on the host must not collide.
    for p in ports {
        let eff = effective_host_ip(p, networking, networks, d.layout);
        let mut p = *p;
        if p.host_port == 0 {
            let Some(port) = auto.pick(&p, eff, bindings) else {
                return Err(cx.ctr(cname, "ports", "no free host port in ip_local_port_range"));
            };
            p.host_port = port;
        }
        let p = &p;
        for (other, q) in bindings.iter() {
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
        bindings.push((cname.to_string(), PortBinding { host_ip: eff, ..*p }));
        bound.push(*p);
    }
    Ok(bound)
}

/// The host address a binding ends up on: its own, or its network's host binding.
fn effective_host_ip(
    p: &PortBinding,
    n: &Networking,
    networks: &[Network],
    layout: Layout,
) -> Option<std::net::IpAddr> {
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
        .map(std::net::IpAddr::V4)
}

pub(super) fn first_host(net: &Ipv4Net) -> Ipv4Addr {
    net.hosts().next().unwrap_or(net.network())
}
