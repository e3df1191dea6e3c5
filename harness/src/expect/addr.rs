//! Address conditions of matchers: a host or network, optionally with a
//! port, from any of the ways a test names one.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ipnet::IpNet;

/// An address condition: a host or network, optionally with a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrSpec {
    /// The network (a host is a /32 or /128).
    pub net: IpNet,
    /// The port, if the condition includes one.
    pub port: Option<u16>,
}

impl AddrSpec {
    /// Whether `ip` (and `port`) satisfy this condition.
    pub fn matches(&self, ip: IpAddr, port: Option<u16>) -> bool {
        self.net.contains(&ip) && self.port.is_none_or(|p| port == Some(p))
    }
}

impl fmt::Display for AddrSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = self.net.prefix_len() == self.net.max_prefix_len();
        match (host, self.port, self.net.addr()) {
            (true, Some(p), IpAddr::V6(a)) => write!(f, "[{a}]:{p}"),
            (true, Some(p), a) => write!(f, "{a}:{p}"),
            (true, None, a) => write!(f, "{a}"),
            (false, Some(p), _) => write!(f, "{} port {p}", self.net),
            (false, None, _) => write!(f, "{}", self.net),
        }
    }
}

/// Something usable as an address condition: `"10.0.0.1"`, `"10.0.0.1:53"`,
/// `"10.0.0.0/8"`, `"[::1]:53"`, an [`IpAddr`], a [`SocketAddr`] or an [`IpNet`].
pub trait AddrArg {
    /// Parses into an [`AddrSpec`], or says why it cannot.
    fn to_addr_spec(&self) -> Result<AddrSpec, String>;
}

impl AddrArg for str {
    fn to_addr_spec(&self) -> Result<AddrSpec, String> {
        let s = self.trim();
        if let Ok(sa) = s.parse::<SocketAddr>() {
            return sa.to_addr_spec();
        }
        if let Ok(ip) = s.parse::<IpAddr>() {
            return ip.to_addr_spec();
        }
        if let Ok(net) = s.parse::<IpNet>() {
            return net.to_addr_spec();
        }
        Err(format!("{s:?} is not an address, address:port or network"))
    }
}
impl AddrArg for &str {
    fn to_addr_spec(&self) -> Result<AddrSpec, String> {
        (**self).to_addr_spec()
    }
}
impl AddrArg for String {
    fn to_addr_spec(&self) -> Result<AddrSpec, String> {
        self.as_str().to_addr_spec()
    }
}
impl AddrArg for &String {
    fn to_addr_spec(&self) -> Result<AddrSpec, String> {
        self.as_str().to_addr_spec()
    }
}
impl AddrArg for IpAddr {
    fn to_addr_spec(&self) -> Result<AddrSpec, String> {
        Ok(AddrSpec {
            net: IpNet::from(*self),
            port: None,
        })
    }
}
impl AddrArg for Ipv4Addr {
    fn to_addr_spec(&self) -> Result<AddrSpec, String> {
        IpAddr::V4(*self).to_addr_spec()
    }
}
impl AddrArg for Ipv6Addr {
    fn to_addr_spec(&self) -> Result<AddrSpec, String> {
        IpAddr::V6(*self).to_addr_spec()
    }
}
impl AddrArg for SocketAddr {
    fn to_addr_spec(&self) -> Result<AddrSpec, String> {
        Ok(AddrSpec {
            net: IpNet::from(self.ip()),
            port: Some(self.port()),
        })
    }
}
impl AddrArg for IpNet {
    fn to_addr_spec(&self) -> Result<AddrSpec, String> {
        Ok(AddrSpec {
            net: self.trunc(),
            port: None,
        })
    }
}
