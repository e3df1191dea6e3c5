//! The internet's servers and the LAN peers: addresses checked against the
//! networks and the reserved segments, LAN addresses allocated.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::Ctx;
use super::containers::NODE_RESERVED;
use crate::docker::container::Container;
use crate::docker::host::{
    DEFAULT_SERVER, DockerHostBuilder, LAN_BRIDGE, LAN_HOST, LanPeer, Substitute, parse_ip,
};
use crate::docker::network::Network;
use crate::error::Result;
use crate::net::{check_ifname, check_name};

/// The internet's servers (the default one when none is given).
pub(super) fn servers(
    b: &DockerHostBuilder,
    cx: &Ctx,
    networks: &[Network],
    reserved: &[(String, Ipv4Net)],
) -> Result<Vec<Ipv4Addr>> {
    Ok(match &b.servers {
        None => vec![DEFAULT_SERVER],
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
    })
}

/// The LAN peers, with addresses given or allocated from `lan`.
pub(super) fn lan_peers(
    b: &DockerHostBuilder,
    cx: &Ctx,
    lan: Ipv4Net,
    started: &[Container],
) -> Result<Vec<LanPeer>> {
    let mut lan_peers: Vec<LanPeer> = Vec::new();
    let lan_host: Ipv4Addr = LAN_HOST;
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
        if NODE_RESERVED.contains(&name.as_str())
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

    Ok(lan_peers)
}

/// The substituted interfaces (`[[interface]]`): names checked as interface
/// names the host does not already have, their stub nodes as node names no
/// container or LAN peer has, addresses and routes as IPv4 prefixes.
pub(super) fn interfaces(
    list: Vec<Substitute>,
    cx: &Ctx,
    started: &[Container],
    networks: &[Network],
    lan_peers: &[LanPeer],
) -> Result<Vec<Substitute>> {
    let mut seen = BTreeSet::new();
    for i in &list {
        let field = |what: &str| format!("interface {:?} {what}", i.name);
        check_ifname(&i.name).map_err(|m| cx.host(field("name"), m))?;
        let taken = ["eth0", "lo", "docker0", LAN_BRIDGE].contains(&i.name.as_str())
            || i.name.starts_with("lanp")
            || networks.iter().any(|n| n.bridge == i.name);
        if taken || !seen.insert(i.name.clone()) {
            return Err(cx.host(
                field("name"),
                format!("{:?} is an interface the lab's host already has", i.name),
            ));
        }
        let node = i.node();
        if NODE_RESERVED.contains(&node.as_str())
            || started.iter().any(|c| c.name == node)
            || lan_peers.iter().any(|p| p.name == node)
        {
            return Err(cx.host(
                field("name"),
                format!("its stub node {node:?} is already a node name"),
            ));
        }
        for a in &i.addresses {
            a.parse::<Ipv4Net>().map_err(|e| {
                cx.host(
                    field("addresses"),
                    format!("{a:?} is not an IPv4 address with prefix: {e}"),
                )
            })?;
        }
        for r in &i.routes {
            r.parse::<Ipv4Net>().map_err(|e| {
                cx.host(
                    field("routes"),
                    format!("{r:?} is not an IPv4 destination with prefix: {e}"),
                )
            })?;
        }
    }
    Ok(list)
}
