//! Networks: the default bridge first, then the user's, with Docker's
//! subnet allocation (its address pools, skipping what is given or reserved)
//! and its refusals.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::containers::first_host;
use super::{Ctx, v6};
use crate::docker::host::{DockerHostBuilder, LAN_BRIDGE, parse_ip, parse_subnet};
use crate::docker::layout::Daemon;
use crate::docker::network::{
    DEFAULT_BRIDGE, DEFAULT_NETWORK, DEFAULT_SUBNET, Network, check_network_id, network_id_for,
};
use crate::error::Result;
use crate::net::{check_ifname, check_name};

/// Address pools Docker allocates bridge subnets from, in order.
fn default_pools() -> impl Iterator<Item = Ipv4Net> {
    let big =
        (17u8..=31).map(|b| Ipv4Net::new(Ipv4Addr::new(172, b, 0, 0), 16).expect("valid /16"));
    let small = (0u16..16)
        .map(|i| Ipv4Net::new(Ipv4Addr::new(192, 168, (i * 16) as u8, 0), 20).expect("valid /20"));
    big.chain(small)
}

pub(super) fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The host's networks, default first; `reserved` are segments no network
/// may overlap (the uplink, the LAN).
pub(super) fn resolve(
    b: &DockerHostBuilder,
    d: &Daemon,
    cx: &Ctx,
    reserved: &[(String, Ipv4Net)],
) -> Result<Vec<Network>> {
    let default_subnet = match &b.default_subnet {
        Some(s) => parse_subnet(s).map_err(|m| cx.net(DEFAULT_NETWORK, "subnet", m))?,
        None => DEFAULT_SUBNET,
    };
    let mut networks = vec![Network {
        name: DEFAULT_NETWORK.into(),
        id: network_id_for(DEFAULT_NETWORK),
        bridge: DEFAULT_BRIDGE.into(),
        subnet: default_subnet,
        gateway: first_host(&default_subnet),
        icc: d.icc,
        ip_masq: d.ip_masq,
        internal: false,
        host_binding: None,
        is_default: true,
        gateway_mode: Default::default(),
        host_ipv4: None,
        host_ipv6: None,
        subnet_v6: None,
        gateway_v6: None,
        gateway_mode_v6: Default::default(),
    }];
    let given6: Vec<ipnet::Ipv6Net> = b
        .networks
        .iter()
        .filter_map(|n| n.subnet_v6.as_deref())
        .chain(b.fixed_cidr_v6.as_deref())
        .filter_map(|s| v6::parse_subnet6(s).ok())
        .collect();
    if b.fixed_cidr_v6.is_some() && !d.ipv6 {
        return Err(cx.host(
            "fixed_cidr_v6",
            "fixed-cidr-v6 is set but IPv6 is not enabled (set [daemon] ipv6 = true)",
        ));
    }
    let ask = v6::Ask {
        ipv6: d.ipv6,
        subnet: b.fixed_cidr_v6.as_deref(),
        gateway: None,
        subnet_field: "fixed_cidr_v6",
    };
    if let Some((s, g)) = v6::network(cx, DEFAULT_NETWORK, ask, d, &[], &[])? {
        (networks[0].subnet_v6, networks[0].gateway_v6) = (Some(s), Some(g));
    }
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
    let mut ids: BTreeSet<String> = [networks[0].id.clone()].into();
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
        crate::docker::network::check_gateway_mode(spec, d)
            .map_err(|(field, m)| cx.net(name, field, m))?;
        let id = match &spec.id {
            Some(id) => {
                check_network_id(id).map_err(|m| cx.net(name, "id", m))?;
                id.clone()
            }
            None => network_id_for(name),
        };
        if !ids.insert(id.clone()) {
            return Err(cx.net(
                name,
                "id",
                format!("network id {id} is already in use on the host"),
            ));
        }
        let bridge = spec
            .bridge
            .clone()
            .unwrap_or_else(|| format!("br-{}", &id[..12]));
        check_ifname(&bridge).map_err(|m| cx.net(name, "bridge", format!("bridge name {m}")))?;
        if !bridges.insert(bridge.clone()) {
            return Err(cx.net(
                name,
                "bridge",
                format!("bridge name {bridge:?} is already in use on the host"),
            ));
        }
        let subnet = subnet_for(
            cx,
            name,
            spec.subnet.as_deref(),
            &networks,
            &given,
            reserved,
        )?;
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
        let host_ipv4 = match &spec.host_ipv4 {
            Some(h) if !d.layout.is_modern() => {
                return Err(cx.net(
                    name,
                    "host_ipv4",
                    format!(
                        "com.docker.network.host_ipv4={h} is emulated for layouts v28 and v29 (layout {})",
                        d.layout
                    ),
                ));
            }
            Some(h) => Some(parse_ip(h).map_err(|m| cx.net(name, "host_ipv4", m))?),
            None => None,
        };
        let ask = v6::Ask {
            ipv6: spec.ipv6,
            subnet: spec.subnet_v6.as_deref(),
            gateway: spec.gateway_v6.as_deref(),
            subnet_field: "subnet_v6",
        };
        let others: Vec<ipnet::Ipv6Net> = given6
            .iter()
            .filter(|g| {
                spec.subnet_v6
                    .as_deref()
                    .and_then(|s| v6::parse_subnet6(s).ok())
                    != Some(**g)
            })
            .copied()
            .collect();
        let six = v6::network(cx, name, ask, d, &networks, &others)?;
        networks.push(Network {
            name: name.clone(),
            id,
            bridge,
            subnet,
            gateway,
            icc: spec.icc,
            ip_masq: spec.ip_masq,
            internal: spec.internal,
            host_binding,
            is_default: false,
            gateway_mode: spec.gateway_mode_ipv4,
            host_ipv4,
            host_ipv6: match &spec.host_ipv6 {
                Some(h) if !d.layout.is_modern() => {
                    return Err(cx.net(
                        name,
                        "host_ipv6",
                        format!("com.docker.network.host_ipv6={h} is emulated for layouts v28 and v29 (layout {})", d.layout),
                    ));
                }
                Some(h) => Some(h.trim().parse().map_err(|_| {
                    cx.net(name, "host_ipv6", format!("{h:?} is not an IPv6 address"))
                })?),
                None => None,
            },
            subnet_v6: six.map(|(s, _)| s),
            gateway_v6: six.map(|(_, g)| g),
            gateway_mode_v6: spec.gateway_mode_ipv6,
        });
    }

    Ok(networks)
}

/// A user network's subnet: the one given, or the first of Docker's pools
/// that overlaps nothing; refused when it overlaps a network or a reserved
/// segment.
fn subnet_for(
    cx: &Ctx,
    name: &str,
    given_here: Option<&str>,
    networks: &[Network],
    given: &[Ipv4Net],
    reserved: &[(String, Ipv4Net)],
) -> Result<Ipv4Net> {
    let subnet = match given_here {
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
    Ok(subnet)
}
