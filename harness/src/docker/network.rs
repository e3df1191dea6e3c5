//! Docker networks: what the user asks for ([`NetworkSpec`]) and what the
//! host ends up with once addresses and names are settled ([`Network`]).

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// The default bridge network's name, as `docker network ls` shows it.
pub const DEFAULT_NETWORK: &str = "bridge";
/// The default bridge device.
pub const DEFAULT_BRIDGE: &str = "docker0";
/// The default bridge subnet (`--bip 172.17.0.1/16`).
pub const DEFAULT_SUBNET: &str = "172.17.0.0/16";

/// A user-defined bridge network, as `docker network create` would get it.
///
/// ```
/// use netrig::docker::NetworkSpec;
/// let n = NetworkSpec::new("br").subnet("172.18.0.0/16").icc(false);
/// assert_eq!(n.name, "br");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkSpec {
    /// The network's name (`docker network create NAME`).
    pub name: String,
    /// The bridge device (`com.docker.network.bridge.name`); derived from the
    /// name as `br-<12 hex>` when `None`.
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
}

impl NetworkSpec {
    /// A network with Docker's defaults.
    pub fn new(name: impl Into<String>) -> Self {
        NetworkSpec {
            name: name.into(),
            bridge: None,
            subnet: None,
            gateway: None,
            icc: true,
            ip_masq: true,
            internal: false,
            host_binding: None,
        }
    }
    /// Names the bridge device.
    pub fn bridge(mut self, name: impl Into<String>) -> Self {
        self.bridge = Some(name.into());
        self
    }
    /// Sets the subnet, e.g. `172.18.0.0/16`.
    pub fn subnet(mut self, cidr: impl Into<String>) -> Self {
        self.subnet = Some(cidr.into());
        self
    }
    /// Sets the gateway (the bridge's address).
    pub fn gateway(mut self, ip: impl Into<String>) -> Self {
        self.gateway = Some(ip.into());
        self
    }
    /// Enables or disables inter-container communication.
    pub fn icc(mut self, on: bool) -> Self {
        self.icc = on;
        self
    }
    /// Enables or disables masquerading of outgoing traffic.
    pub fn ip_masq(mut self, on: bool) -> Self {
        self.ip_masq = on;
        self
    }
    /// Makes the network internal.
    pub fn internal(mut self, on: bool) -> Self {
        self.internal = on;
        self
    }
    /// Sets the default host address for published ports.
    pub fn host_binding(mut self, ip: impl Into<String>) -> Self {
        self.host_binding = Some(ip.into());
        self
    }
}

/// A network as the host has it: names, subnet and gateway settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    /// The network's name (`bridge` for the default bridge).
    pub name: String,
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
}

impl Network {
    /// The gateway with the subnet's prefix, e.g. `172.17.0.1/16`.
    pub fn gateway_cidr(&self) -> String {
        format!("{}/{}", self.gateway, self.subnet.prefix_len())
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
///
/// ```
/// let b = netrig::docker::bridge_name_for("br");
/// assert!(b.starts_with("br-") && b.len() == 15);
/// assert_eq!(b, netrig::docker::bridge_name_for("br"));
/// ```
pub fn bridge_name_for(network: &str) -> String {
    format!(
        "br-{:012x}",
        fnv1a(&["network", network]) & 0xffff_ffff_ffff
    )
}
