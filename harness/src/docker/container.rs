//! Containers: the network mode (`--network`), addresses and published ports
//! the user asks for ([`ContainerSpec`]) and what the host makes of them
//! ([`Container`], one [`Attachment`] per bridge network).

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use super::port::PortBinding;
use crate::net::Mac;

/// `docker run --network …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkMode {
    /// Bridge networks, in order: the first gives `eth0` and the default route.
    Bridge(Vec<String>),
    /// `--network host`: the host's own namespace.
    Host,
    /// `--network container:NAME`: another container's namespace.
    Container(String),
    /// `--network none`: loopback only.
    None,
}

impl Default for NetworkMode {
    fn default() -> Self {
        NetworkMode::Bridge(vec![super::network::DEFAULT_NETWORK.to_string()])
    }
}

impl FromStr for NetworkMode {
    type Err = String;
    /// Parses the `--network` value: `host`, `none`, `container:NAME`, or a network name.
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        Ok(match s {
            "" => return Err("network mode is empty".into()),
            "host" => NetworkMode::Host,
            "none" => NetworkMode::None,
            "default" => NetworkMode::default(),
            _ => match s.strip_prefix("container:") {
                Some("") => return Err(format!("{s:?}: container: needs a container name")),
                Some(name) => NetworkMode::Container(name.to_string()),
                None => NetworkMode::Bridge(vec![s.to_string()]),
            },
        })
    }
}

impl fmt::Display for NetworkMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetworkMode::Bridge(n) => f.write_str(&n.join(",")),
            NetworkMode::Host => f.write_str("host"),
            NetworkMode::Container(c) => write!(f, "container:{c}"),
            NetworkMode::None => f.write_str("none"),
        }
    }
}

/// A container as `docker run` would get it.
///
/// ```
/// use netrig::docker::ContainerSpec;
/// let web = ContainerSpec::new("web").publish("8080:80");
/// let db = ContainerSpec::new("db").network("backend").ip("backend", "172.18.0.10");
/// let sidecar = ContainerSpec::new("side").network("container:web");
/// # let _ = (web, db, sidecar);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContainerSpec {
    /// The container's name; also its lab node name.
    pub name: String,
    /// Network mode (default: the default bridge; set with
    /// [`ContainerSpec::network`]).
    pub(crate) mode: NetworkMode,
    /// Fixed addresses per network name (`--ip`, or `--ip6` for an IPv6
    /// address: a network may have one of each); others are allocated.
    pub ips: Vec<(String, String)>,
    /// Published ports, as `-p` text (parsed when the host is built).
    pub ports: Vec<String>,
    /// True while `mode` is the implicit default, so the first
    /// [`ContainerSpec::network`] replaces it.
    implicit_mode: bool,
}

impl ContainerSpec {
    /// A container on the default bridge.
    pub fn new(name: impl Into<String>) -> Self {
        ContainerSpec {
            name: name.into(),
            implicit_mode: true,
            ..ContainerSpec::default()
        }
    }
    /// Sets the network mode.
    pub(crate) fn mode(mut self, mode: NetworkMode) -> Self {
        self.mode = mode;
        self.implicit_mode = false;
        self
    }
    /// `--network NAME`: attaches to a bridge network (the first call
    /// replaces the default bridge; each further one adds a network), or,
    /// as `docker run` reads it, `"host"`, `"none"` or `"container:NAME"`
    /// sets the mode instead.
    pub fn network(mut self, name: impl Into<String>) -> Self {
        let name = name.into();
        match name.parse::<NetworkMode>() {
            Ok(NetworkMode::Bridge(_)) | Err(_) => match (&mut self.mode, self.implicit_mode) {
                (NetworkMode::Bridge(nets), false) => nets.push(name),
                _ => self.mode = NetworkMode::Bridge(vec![name]),
            },
            Ok(mode) => self.mode = mode,
        }
        self.implicit_mode = false;
        self
    }
    /// Fixes the address on `network` (`--ip`; an IPv6 address: `--ip6`).
    pub fn ip(mut self, network: impl Into<String>, ip: impl Into<String>) -> Self {
        self.ips.push((network.into(), ip.into()));
        self
    }
    /// Publishes a port: `[host_ip:]host_port:container_port[/tcp|udp]`.
    pub fn publish(mut self, binding: impl Into<String>) -> Self {
        self.ports.push(binding.into());
        self
    }
}

/// A container's place on one bridge network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The network's name.
    pub network: String,
    /// The bridge device in the host.
    pub bridge: String,
    /// Interface name inside the container (`eth0`, `eth1` …).
    pub ifname: String,
    /// The container's address.
    pub ip: Ipv4Addr,
    /// The network's prefix length.
    pub prefix: u8,
    /// The container's IPv6 address (`--ipv6` networks), with the IPv6
    /// prefix length and gateway.
    pub ip6: Option<(Ipv6Addr, u8, Ipv6Addr)>,
    /// The gateway on that network.
    pub gateway: Ipv4Addr,
    /// The container's MAC: classic Docker's `02:42` and the four address
    /// bytes; for the 28+ layouts a random-looking locally administered one
    /// (Docker 28 lets the kernel pick a random MAC), stable per container and
    /// network so that runs are reproducible.
    pub mac: Mac,
    /// The host-side veth (`veth` and 7 hex digits).
    pub host_veth: String,
    /// True when the network is internal.
    pub internal: bool,
}

impl Attachment {
    /// The address with prefix, e.g. `172.17.0.2/16`.
    pub(crate) fn cidr(&self) -> String {
        format!("{}/{}", self.ip, self.prefix)
    }
    /// The IPv6 address with prefix, e.g. `fd00:18::2/64`.
    pub(crate) fn cidr6(&self) -> Option<String> {
        self.ip6.map(|(ip, p, _)| format!("{ip}/{p}"))
    }
    /// The address in family `fam`, if the attachment has one.
    pub(crate) fn ip_in(&self, fam: super::network::Family) -> Option<std::net::IpAddr> {
        match fam {
            super::network::Family::V4 => Some(self.ip.into()),
            super::network::Family::V6 => self.ip6.map(|(ip, _, _)| ip.into()),
        }
    }
}

/// How a started container is networked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Networking {
    /// Bridge networks, `eth0` first.
    Bridge(Vec<Attachment>),
    /// The host's namespace.
    Host,
    /// Another container's namespace (by name, as given).
    Container(String),
    /// Loopback only.
    None,
}

/// A container as the host runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    /// Name (and lab node name, or alias).
    pub name: String,
    /// Networking.
    pub networking: Networking,
    /// Published ports (only in bridge mode).
    pub ports: Vec<PortBinding>,
}

impl Container {
    /// The attachments (empty unless in bridge mode).
    pub(crate) fn attachments(&self) -> &[Attachment] {
        match &self.networking {
            Networking::Bridge(a) => a,
            _ => &[],
        }
    }

    /// The attachment that provides the default route and carries published
    /// ports: libnetwork's gateway endpoint — endpoints on internal networks
    /// last, then (all priorities being equal) by network name, whatever
    /// order the container joined them in (libnetwork's `epHeap.Less`; seen
    /// on a real 20.10.24 by `netrig verify`: a container started on
    /// `frontend` and connected to `backend` routes through `backend`). With
    /// only internal networks: none on V28 and V29 (as recorded for 28.5.2),
    /// the first one on Classic.
    pub(crate) fn gateway_attachment(&self, layout: super::Layout) -> Option<&Attachment> {
        let a = self.attachments();
        let external = a
            .iter()
            .filter(|a| !a.internal)
            .min_by(|x, y| x.network.cmp(&y.network));
        match external {
            Some(gw) => Some(gw),
            None if layout.is_modern() => None,
            None => a.first(),
        }
    }
}

/// Docker's MAC for an IPv4 address: `02:42:` followed by the address bytes
/// (172.17.0.2: `02:42:ac:11:00:02`).
pub(crate) fn mac_for(ip: Ipv4Addr) -> Mac {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

/// The MAC a container gets on a network under `layout`: [`mac_for`] for
/// classic; for the 28+ layouts a locally administered unicast address
/// derived from the container and network names (not `02:42:…`).
pub(crate) fn mac_in(layout: super::Layout, container: &str, network: &str, ip: Ipv4Addr) -> Mac {
    if !layout.is_modern() {
        return mac_for(ip);
    }
    let h = super::network::fnv1a(&["mac", container, network]).to_be_bytes();
    let mut m = [h[0], h[1], h[2], h[3], h[4], h[5]];
    m[0] = (m[0] & 0xfc) | 0x02;
    if m[1] == 0x42 && m[0] == 0x02 {
        m[1] = 0x43;
    }
    m
}
