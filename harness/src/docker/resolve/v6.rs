//! IPv6 on Docker networks (`--ipv6`, `--fixed-cidr-v6`, `--ip6`): each
//! network's IPv6 subnet and gateway, and each container's IPv6 address,
//! allocated and refused the way Docker does.

use std::collections::BTreeSet;
use std::net::Ipv6Addr;

use ipnet::Ipv6Net;

use super::Ctx;
use crate::docker::layout::Daemon;
use crate::docker::network::{Family, Network};
use crate::error::Result;

/// The segment the host's IPv6 uplink is on (never a network's subnet).
const UPLINK6: Ipv6Net =
    Ipv6Net::new_assert(Ipv6Addr::new(0x2001, 0xdb8, 0x113, 0, 0, 0, 0, 0), 64);

/// Where netrig allocates IPv6 subnets for 28+ networks that name none.
/// Docker 27+ takes /64s from a ULA /48 whose global ID it derives from the
/// engine's id (different on every host); this fixed /48 stands in for it.
const POOL6: Ipv6Net = Ipv6Net::new_assert(Ipv6Addr::new(0xfd00, 0xd0c, 0xee, 0, 0, 0, 0, 0), 48);

/// Parses an IPv6 subnet and insists it is written as a network address.
pub(crate) fn parse_subnet6(s: &str) -> std::result::Result<Ipv6Net, String> {
    let net: Ipv6Net = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not an IPv6 subnet like fd00:18::/64"))?;
    if net.trunc() != net {
        return Err(format!(
            "{s:?} is not a network address (did you mean {}?)",
            net.trunc()
        ));
    }
    if net.prefix_len() > 126 {
        return Err(format!("{s:?} is too small for a gateway and a container"));
    }
    Ok(net)
}

fn parse_ip6(s: &str) -> std::result::Result<Ipv6Addr, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("{s:?} is not an IPv6 address"))
}

fn overlaps(a: &Ipv6Net, b: &Ipv6Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// What a network asks for in IPv6: `--ipv6`, a subnet, a gateway.
pub(super) struct Ask<'a> {
    pub(super) ipv6: bool,
    pub(super) subnet: Option<&'a str>,
    pub(super) gateway: Option<&'a str>,
    /// The field names to blame (`subnet_v6`, or `fixed_cidr_v6` for docker0).
    pub(super) subnet_field: &'static str,
}

/// A network's IPv6 subnet and gateway (`None`: IPv4 only), given the
/// networks settled before it and the subnets given to networks after it.
pub(super) fn network(
    cx: &Ctx,
    name: &str,
    ask: Ask<'_>,
    d: &Daemon,
    before: &[Network],
    given: &[Ipv6Net],
) -> Result<Option<(Ipv6Net, Ipv6Addr)>> {
    let field = ask.subnet_field;
    if !ask.ipv6 {
        if let Some(s) = ask.subnet {
            return Err(cx.net(
                name,
                field,
                format!(
                    "IPv6 subnet {s} given but IPv6 is not enabled on the network (set ipv6 = true)"
                ),
            ));
        }
        if ask.gateway.is_some() {
            return Err(cx.net(name, "gateway_v6", "an IPv6 gateway needs ipv6 = true"));
        }
        return Ok(None);
    }
    let subnet = match ask.subnet {
        Some(s) => parse_subnet6(s).map_err(|m| cx.net(name, field, m))?,
        None if !d.layout.is_modern() => {
            return Err(cx.net(
                name,
                field,
                "could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network \
                 (Docker 20.10 has no default IPv6 pool: give the subnet)",
            ));
        }
        None => POOL6
            .subnets(64)
            .expect("a /48 has /64s")
            .find(|p| {
                !before
                    .iter()
                    .filter_map(|n| n.subnet_v6)
                    .any(|n| overlaps(&n, p))
                    && !given.iter().any(|g| overlaps(g, p))
            })
            .ok_or_else(|| {
                cx.net(
                    name,
                    field,
                    "could not find an available, non-overlapping IPv6 address pool",
                )
            })?,
    };
    if let Some(other) = before
        .iter()
        .find(|n| n.subnet_v6.is_some_and(|s| overlaps(&s, &subnet)))
    {
        return Err(cx.net(
            name,
            field,
            format!(
                "{subnet} overlaps network {:?} ({}): Pool overlaps with other one on this address space",
                other.name,
                other.subnet_v6.expect("found by it")
            ),
        ));
    }
    if overlaps(&UPLINK6, &subnet) {
        return Err(cx.net(
            name,
            field,
            format!("{subnet} overlaps the host uplink ({UPLINK6})"),
        ));
    }
    let gateway = match ask.gateway {
        Some(g) => {
            let g = parse_ip6(g).map_err(|m| cx.net(name, "gateway_v6", m))?;
            if !subnet.contains(&g) || g == subnet.network() {
                return Err(cx.net(
                    name,
                    "gateway_v6",
                    format!("{g} is not a usable address of subnet {subnet}"),
                ));
            }
            g
        }
        None => next(subnet.network()),
    };
    Ok(Some((subnet, gateway)))
}

fn next(ip: Ipv6Addr) -> Ipv6Addr {
    Ipv6Addr::from(u128::from(ip).wrapping_add(1))
}

/// A container's IPv6 address on `net` (which has IPv6): the one asked for,
/// Docker 20.10's MAC-derived one on the default bridge, or the first free.
pub(super) fn address(
    cx: &Ctx,
    cname: &str,
    d: &Daemon,
    net: &Network,
    fixed: Option<&str>,
    mac: crate::net::Mac,
    used: &mut BTreeSet<Ipv6Addr>,
) -> Result<Ipv6Addr> {
    let subnet = net.subnet_v6.expect("called for IPv6 networks");
    let ip = match fixed {
        Some(s) => {
            let ip = parse_ip6(s).map_err(|m| cx.ctr(cname, "ip6", m))?;
            if net.is_default {
                return Err(cx.ctr(
                    cname,
                    "ip6",
                    "user specified IP address is supported on user defined networks only",
                ));
            }
            if !subnet.contains(&ip) || ip == subnet.network() {
                return Err(cx.ctr(
                    cname,
                    "ip6",
                    format!(
                        "no configured subnet contains the IP address {ip} (network {} is {subnet})",
                        net.name
                    ),
                ));
            }
            ip
        }
        // 20.10 gives docker0's containers their MAC in the low 48 bits.
        None if net.is_default && !d.layout.is_modern() && subnet.prefix_len() <= 80 => {
            let low = mac.iter().fold(0u128, |acc, b| (acc << 8) | u128::from(*b));
            Ipv6Addr::from(u128::from(subnet.network()) | low)
        }
        None => {
            let mut ip = next(subnet.network());
            while used.contains(&ip) {
                ip = next(ip);
                if !subnet.contains(&ip) {
                    return Err(cx.ctr(
                        cname,
                        "ip6",
                        format!("no available IPv6 addresses on network {}", net.name),
                    ));
                }
            }
            ip
        }
    };
    if !used.insert(ip) {
        return Err(cx.ctr(
            cname,
            "ip6",
            format!("Address already in use: {ip} on network {}", net.name),
        ));
    }
    Ok(ip)
}

/// Whether a fixed address is for IPv6 (`--ip6`) rather than IPv4.
pub(super) fn is_v6(ip: &str) -> bool {
    ip.trim()
        .parse::<std::net::IpAddr>()
        .is_ok_and(|a| Family::of(a) == Family::V6)
}
