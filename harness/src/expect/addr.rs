//! Address conditions of matchers: a host or network, optionally with a
//! port, parsed from however a test names one (anything that prints as an
//! address: `"10.0.0.1"`, `"10.0.0.1:53"`, `"10.0.0.0/8"`, `"[::1]:53"`, an
//! `IpAddr`, a `SocketAddr`, an `IpNet`).

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

/// An address condition: a host or network, optionally with a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AddrSpec {
    /// The network (a host is a /32 or /128).
    pub(crate) net: IpNet,
    /// The port, if the condition includes one.
    pub(crate) port: Option<u16>,
}

impl AddrSpec {
    /// Parses `address`, `address:port` (`[v6]:port`) or `network`, or says why it cannot.
    pub(crate) fn parse(s: &str) -> Result<AddrSpec, String> {
        let s = s.trim();
        if let Ok(sa) = s.parse::<SocketAddr>() {
            return Ok(AddrSpec {
                net: IpNet::from(sa.ip()),
                port: Some(sa.port()),
            });
        }
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(AddrSpec {
                net: IpNet::from(ip),
                port: None,
            });
        }
        if let Ok(net) = s.parse::<IpNet>() {
            return Ok(AddrSpec {
                net: net.trunc(),
                port: None,
            });
        }
        Err(format!("{s:?} is not an address, address:port or network"))
    }

    /// Parses what `a` prints as (see [`AddrSpec::parse`]).
    pub(crate) fn of(a: impl fmt::Display) -> Result<AddrSpec, String> {
        AddrSpec::parse(&a.to_string())
    }

    /// Whether `ip` (and `port`) satisfy this condition.
    pub(crate) fn matches(&self, ip: IpAddr, port: Option<u16>) -> bool {
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

#[cfg(test)]
mod tests {
    use super::AddrSpec;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

    /// Every way a test names an address parses to the same condition as its text.
    #[test]
    fn addresses_parse_from_what_they_print() {
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let sa: SocketAddr = "[2001:db8::1]:53".parse().unwrap();
        let net: ipnet::IpNet = "10.1.2.3/8".parse().unwrap();
        assert_eq!(AddrSpec::of(ip), AddrSpec::parse("10.0.0.1"));
        assert_eq!(
            AddrSpec::of(Ipv4Addr::new(10, 0, 0, 1)),
            AddrSpec::parse("10.0.0.1")
        );
        assert_eq!(AddrSpec::of(Ipv6Addr::LOCALHOST), AddrSpec::parse("::1"));
        assert_eq!(AddrSpec::of(sa).unwrap().to_string(), "[2001:db8::1]:53");
        assert_eq!(AddrSpec::of(net).unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(
            AddrSpec::of(String::from(" 10.0.0.1:7 ")).unwrap().port,
            Some(7)
        );
        assert!(AddrSpec::of("eth0").unwrap_err().contains("\"eth0\""));
    }
}
