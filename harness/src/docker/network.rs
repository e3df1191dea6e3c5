//! Docker networks: what the user asks for ([`NetworkSpec`]) and what the
//! host ends up with once addresses and names are settled ([`Network`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

/// The default bridge network's name, as `docker network ls` shows it.
pub(crate) const DEFAULT_NETWORK: &str = "bridge";
/// The default bridge device.
pub(crate) const DEFAULT_BRIDGE: &str = "docker0";
/// The default bridge subnet (`--bip 172.17.0.1/16`).
pub(crate) const DEFAULT_SUBNET: Ipv4Net =
    Ipv4Net::new_assert(std::net::Ipv4Addr::new(172, 17, 0, 0), 16);

/// `com.docker.network.bridge.gateway_mode_ipv4` (Docker 27+; rules of
/// the 28.5.2 recording): how the network reaches, and is reached from, outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum GatewayMode {
    /// `nat` (default): masquerade out, DNAT for published ports, everything
    /// else addressed to the network dropped.
    #[default]
    Nat,
    /// `nat-unprotected`: like `nat`, but any port of any container may be
    /// reached by routing to it (`DOCKER ! -i br -o br -j ACCEPT`).
    NatUnprotected,
    /// `routed`: no NAT at all; published container ports (and ICMP) are
    /// reachable by routing, the IPv4 host port is not mapped.
    Routed,
}

impl GatewayMode {
    /// The option value as Docker spells it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            GatewayMode::Nat => "nat",
            GatewayMode::NatUnprotected => "nat-unprotected",
            GatewayMode::Routed => "routed",
        }
    }

    /// Parses the option value; the error is Docker's
    /// (`libnetwork/drivers/bridge`, `newGwMode` and `parseErr`).
    pub(crate) fn parse(s: &str) -> Result<GatewayMode, String> {
        match s {
            "nat" => Ok(GatewayMode::Nat),
            "nat-unprotected" => Ok(GatewayMode::NatUnprotected),
            "routed" => Ok(GatewayMode::Routed),
            "isolated" => Err(format!(
                "failed to parse {GATEWAY_MODE_IPV4} value: {s} (gateway mode isolated is not emulated by netrig)"
            )),
            _ => Err(format!(
                "failed to parse {GATEWAY_MODE_IPV4} value: {s} (unknown gateway mode {s})"
            )),
        }
    }
}

impl std::fmt::Display for GatewayMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The driver option that sets a network's [`GatewayMode`].
pub(crate) const GATEWAY_MODE_IPV4: &str = "com.docker.network.bridge.gateway_mode_ipv4";
/// The driver option that sets a network's IPv6 gateway mode.
pub(crate) const GATEWAY_MODE_IPV6: &str = "com.docker.network.bridge.gateway_mode_ipv6";

/// A user-defined bridge network, as `docker network create` would get it:
/// plain data. A name is one with Docker's defaults (`.network("br")`,
/// `NetworkSpec::from("br")`); options are the fields to change.
///
/// ```
/// use netrig::docker::NetworkSpec;
/// let n = NetworkSpec { subnet: Some("172.18.0.0/16".into()), icc: false, ..NetworkSpec::from("br") };
/// assert_eq!(n.name, "br");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkSpec {
    /// The network's name (`docker network create NAME`).
    pub name: String,
    /// The network's id (64 lowercase hex digits, as `docker network ls
    /// --no-trunc` prints it); derived from the name when `None`. Docker picks
    /// it at random; it names the bridge (`br-` and its first 12 digits) and,
    /// in the classic layout, orders the networks a restarted daemon restores.
    pub id: Option<String>,
    /// The bridge device (`com.docker.network.bridge.name`); `br-` and the
    /// id's first 12 hex digits when `None`.
    pub bridge: Option<String>,
    /// `--subnet`; allocated like Docker (next free /16 from 172.18.0.0) when `None`.
    pub subnet: Option<String>,
    /// `--gateway`; the subnet's first address when `None`.
    pub gateway: Option<String>,
    /// `com.docker.network.bridge.enable_icc` (default true).
    pub icc: bool,
    /// `com.docker.network.bridge.enable_ip_masquerade` (default true).
    pub ip_masq: bool,
    /// `--internal`: no route out, no NAT.
    pub internal: bool,
    /// `com.docker.network.bridge.host_binding_ipv4`: the host address ports
    /// published without an address bind to.
    pub host_binding: Option<String>,
    /// `com.docker.network.bridge.gateway_mode_ipv4` (default `nat`; 28+ layouts).
    pub gateway_mode_ipv4: GatewayMode,
    /// `com.docker.network.host_ipv4`: outgoing traffic is SNATed to this
    /// host address instead of masqueraded (28+ layouts).
    pub host_ipv4: Option<String>,
    /// `--ipv6`: the network has an IPv6 subnet as well (dual stack).
    pub ipv6: bool,
    /// `--subnet` with an IPv6 prefix (e.g. `fd00:18::/64`); allocated
    /// when `None` (28+ layouts; Docker 20.10 needs one).
    pub subnet_v6: Option<String>,
    /// `--gateway` with an IPv6 address (default: the subnet's `::1`).
    pub gateway_v6: Option<String>,
    /// `com.docker.network.bridge.gateway_mode_ipv6` (default `nat`; 28+ layouts).
    pub gateway_mode_ipv6: GatewayMode,
    /// `com.docker.network.host_ipv6`: outgoing IPv6 is SNATed to this
    /// address instead of masqueraded (28+ layouts).
    pub host_ipv6: Option<String>,
}

impl NetworkSpec {
    /// A network with Docker's defaults.
    pub(crate) fn new(name: impl Into<String>) -> Self {
        NetworkSpec {
            name: name.into(),
            id: None,
            bridge: None,
            subnet: None,
            gateway: None,
            icc: true,
            ip_masq: true,
            internal: false,
            host_binding: None,
            gateway_mode_ipv4: GatewayMode::Nat,
            host_ipv4: None,
            ipv6: false,
            subnet_v6: None,
            gateway_v6: None,
            gateway_mode_ipv6: GatewayMode::Nat,
            host_ipv6: None,
        }
    }
}

impl From<&str> for NetworkSpec {
    /// The network `name` with Docker's defaults.
    fn from(name: &str) -> Self {
        NetworkSpec::new(name)
    }
}

impl From<String> for NetworkSpec {
    /// The network `name` with Docker's defaults.
    fn from(name: String) -> Self {
        NetworkSpec::new(name)
    }
}

impl From<&String> for NetworkSpec {
    /// The network `name` with Docker's defaults.
    fn from(name: &String) -> Self {
        NetworkSpec::new(name)
    }
}

/// Setters for the tests, which describe many networks.
#[cfg(test)]
impl NetworkSpec {
    /// Gives the network a fixed id (64 lowercase hex digits), e.g. one a real
    /// daemon picked, so a restart restores networks in the same order.
    pub(crate) fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }
    /// Names the bridge device.
    pub(crate) fn bridge(mut self, name: impl Into<String>) -> Self {
        self.bridge = Some(name.into());
        self
    }
    /// Sets the subnet, e.g. `172.18.0.0/16`.
    pub(crate) fn subnet(mut self, cidr: impl Into<String>) -> Self {
        self.subnet = Some(cidr.into());
        self
    }
    /// Sets the gateway (the bridge's address).
    pub(crate) fn gateway(mut self, ip: impl Into<String>) -> Self {
        self.gateway = Some(ip.into());
        self
    }
    /// Makes the network internal.
    pub(crate) fn internal(mut self, on: bool) -> Self {
        self.internal = on;
        self
    }
    /// Sets the default host address for published ports.
    pub(crate) fn host_binding(mut self, ip: impl Into<String>) -> Self {
        self.host_binding = Some(ip.into());
        self
    }
    /// Sets the IPv4 gateway mode (`nat`, `nat-unprotected`, `routed`).
    pub(crate) fn gateway_mode_ipv4(mut self, mode: GatewayMode) -> Self {
        self.gateway_mode_ipv4 = mode;
        self
    }
}

/// A network as the host has it: names, subnet and gateway settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    /// The network's name (`bridge` for the default bridge).
    pub name: String,
    /// The network's id: 64 lowercase hex digits.
    pub id: String,
    /// The bridge device in the host (`docker0`, `br-<12 hex>` …).
    pub bridge: String,
    /// The subnet.
    pub subnet: Ipv4Net,
    /// The gateway: the bridge's address, the containers' default route.
    pub gateway: Ipv4Addr,
    /// Inter-container communication.
    pub icc: bool,
    /// Masquerade outgoing traffic.
    pub ip_masq: bool,
    /// Internal (no outside access).
    pub internal: bool,
    /// Default host address for published ports.
    pub host_binding: Option<Ipv4Addr>,
    /// True for the default bridge (created at daemon start).
    pub is_default: bool,
    /// The IPv4 gateway mode.
    pub gateway_mode: GatewayMode,
    /// The address outgoing traffic is SNATed to (`com.docker.network.host_ipv4`).
    pub host_ipv4: Option<Ipv4Addr>,
    /// The IPv6 subnet (`--ipv6`), `None` for an IPv4-only network.
    pub subnet_v6: Option<Ipv6Net>,
    /// The bridge's IPv6 address, the containers' IPv6 default gateway.
    pub gateway_v6: Option<Ipv6Addr>,
    /// `com.docker.network.bridge.gateway_mode_ipv6`.
    pub gateway_mode_v6: GatewayMode,
    /// The address outgoing IPv6 is SNATed to (`com.docker.network.host_ipv6`).
    pub host_ipv6: Option<Ipv6Addr>,
}

impl Network {
    /// The gateway with the subnet's prefix, e.g. `172.17.0.1/16`.
    pub(crate) fn gateway_cidr(&self) -> String {
        format!("{}/{}", self.gateway, self.subnet.prefix_len())
    }
    /// True when outgoing traffic is masqueraded (`ip_masq` and not routed).
    pub(crate) fn masquerades(&self) -> bool {
        self.ip_masq && self.gateway_mode != GatewayMode::Routed && !self.internal
    }
    /// The rule that masquerades (or SNATs) what leaves the network, as
    /// iptables (`-s SUB ! -o BR -j …`) writes its target.
    pub(crate) fn outgoing_nat_target(&self) -> String {
        match self.host_nat() {
            Some(ip) => format!("SNAT --to-source {ip}"),
            None => "MASQUERADE".into(),
        }
    }
    /// The address outgoing traffic is SNATed to (`host_ipv4`, or in a
    /// network seen as IPv6 by [`Network::in_family`], `host_ipv6`).
    pub(crate) fn host_nat(&self) -> Option<IpAddr> {
        self.host_ipv4
            .map(IpAddr::V4)
            .or(self.host_ipv6.map(IpAddr::V6))
    }
    /// True for `gateway_mode_ipv4=routed`.
    pub(crate) fn routed(&self) -> bool {
        self.gateway_mode == GatewayMode::Routed
    }
    /// The bridge's IPv6 address with the subnet's prefix (`fd00:17::1/64`).
    pub(crate) fn gateway6_cidr(&self) -> Option<String> {
        Some(format!(
            "{}/{}",
            self.gateway_v6?,
            self.subnet_v6?.prefix_len()
        ))
    }
    /// The network as one address family sees it: its subnet in that family
    /// (`None`: the network has none) and a copy whose gateway mode is that
    /// family's, for the renderers that are the same in both families
    /// (moby's iptabler runs one code path per family).
    pub(crate) fn in_family(&self, fam: Family) -> Option<(String, Network)> {
        match fam {
            Family::V4 => {
                let mut n = self.clone();
                n.host_ipv6 = None;
                Some((self.subnet.to_string(), n))
            }
            Family::V6 => {
                let sub = self.subnet_v6?;
                let mut n = self.clone();
                n.gateway_mode = self.gateway_mode_v6;
                n.host_ipv4 = None;
                Some((sub.to_string(), n))
            }
        }
    }
}

/// An address family, for what Docker programs once per family
/// (iptables and ip6tables, `table ip` and `table ip6`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Family {
    /// IPv4 (iptables, `table ip`).
    V4,
    /// IPv6 (ip6tables, `table ip6`).
    V6,
}

impl Family {
    /// The family of an address.
    pub(crate) fn of(ip: IpAddr) -> Family {
        if ip.is_ipv4() { Family::V4 } else { Family::V6 }
    }
    /// A host address as iptables-save writes it (`/32`, `/128`).
    pub(crate) fn host(ip: IpAddr) -> String {
        match ip {
            IpAddr::V4(a) => format!("{a}/32"),
            IpAddr::V6(a) => format!("{a}/128"),
        }
    }
    /// The ICMP protocol name iptables-save writes (`icmp`, `ipv6-icmp`).
    pub(crate) fn icmp(self) -> &'static str {
        match self {
            Family::V4 => "icmp",
            Family::V6 => "ipv6-icmp",
        }
    }
}

/// FNV-1a, 64 bit: a small, stable hash for deterministic names.
pub(crate) fn fnv1a(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h ^= 0xff;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        for b in p.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// The bridge name Docker-style for a user network: `br-` and 12 hex digits,
/// derived deterministically from the network's name.
#[cfg(test)]
pub(crate) fn bridge_name_for(network: &str) -> String {
    format!(
        "br-{:012x}",
        fnv1a(&["network", network]) & 0xffff_ffff_ffff
    )
}

/// A network id Docker-style (64 lowercase hex digits), derived
/// deterministically from the network's name; its first 12 digits are those
/// of [`bridge_name_for`].
pub(crate) fn network_id_for(network: &str) -> String {
    let mut id = format!("{:012x}", fnv1a(&["network", network]) & 0xffff_ffff_ffff);
    for i in ["1", "2", "3", "4"] {
        id.push_str(&format!("{:016x}", fnv1a(&["network-id", network, i])));
    }
    id.truncate(64);
    id
}

/// Checks a network id as given: 64 lowercase hex digits.
pub(crate) fn check_network_id(id: &str) -> Result<(), String> {
    if id.len() == 64 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else {
        Err(format!(
            "{id:?} is not a network id: 64 lowercase hex digits, as `docker network ls --no-trunc` prints it"
        ))
    }
}

/// Refuses a gateway mode the layout cannot emulate: the message, for the
/// resolver to wrap. (With the nftables backend every mode is emulated:
/// checked against moby's nftabler goldens, `fidelity::goldens`.)
pub(crate) fn check_gateway_mode(
    spec: &NetworkSpec,
    daemon: &super::layout::Daemon,
) -> Result<(), (&'static str, String)> {
    if daemon.layout.is_modern() {
        return Ok(());
    }
    for (field, key, mode) in [
        (
            "gateway_mode_ipv4",
            GATEWAY_MODE_IPV4,
            spec.gateway_mode_ipv4,
        ),
        (
            "gateway_mode_ipv6",
            GATEWAY_MODE_IPV6,
            spec.gateway_mode_ipv6,
        ),
    ] {
        if mode != GatewayMode::Nat {
            return Err((
                field,
                format!(
                    "{key}={mode} is emulated for layouts v28 and v29 only (as recorded from Docker 28.5.2)"
                ),
            ));
        }
    }
    Ok(())
}
