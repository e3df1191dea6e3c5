//! Published ports: `[host_ip:]host_port:container_port[/tcp|udp]`, as given
//! to `docker run -p`, parsed into a [`PortBinding`] with clear errors.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

/// A transport protocol of a published port (the one the userland proxy forwards).
use crate::net::Proto;

/// One `-p` binding: host address and port to container port.
///
/// ```
/// use netrig::{Proto, docker::PortBinding};
/// let p: PortBinding = "127.0.0.1:5353:53/udp".parse().unwrap();
/// assert_eq!((p.host_port, p.container_port, p.proto), (5353, 53, Proto::Udp));
/// assert_eq!(p.to_string(), "127.0.0.1:5353:53/udp");
/// assert_eq!("80".parse::<PortBinding>().unwrap().host_port, 0, "picked when the host is built");
/// assert!("x:80".parse::<PortBinding>().unwrap_err().contains("host port"));
/// assert_eq!("[::1]:8081:80".parse::<PortBinding>().unwrap().to_string(), "[::1]:8081:80/tcp");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortBinding {
    /// Host address (IPv4, or IPv6 written `[::1]`); `None` means all
    /// addresses (0.0.0.0 and `::`), or the network's host binding address
    /// when it has one.
    pub host_ip: Option<IpAddr>,
    /// Host port (1–65535); 0 in a binding that names none (`"80"`,
    /// `"127.0.0.1::80"`) until the daemon picks one when the host is built
    /// (Docker's allocator: the first free port of `ip_local_port_range`,
    /// skipping `ip_local_reserved_ports` from Docker 29.6).
    pub host_port: u16,
    /// Container port (1–65535).
    pub container_port: u16,
    /// Protocol.
    pub proto: Proto,
}

impl PortBinding {
    /// `host_port` → `container_port` over TCP on all addresses.
    #[cfg(test)]
    pub(crate) fn tcp(host_port: u16, container_port: u16) -> Self {
        PortBinding {
            host_ip: None,
            host_port,
            container_port,
            proto: Proto::Tcp,
        }
    }

    /// `host_port` → `container_port` over UDP on all addresses.
    #[cfg(test)]
    pub(crate) fn udp(host_port: u16, container_port: u16) -> Self {
        PortBinding {
            proto: Proto::Udp,
            ..PortBinding::tcp(host_port, container_port)
        }
    }

    /// The same binding restricted to one host address.
    #[cfg(test)]
    pub(crate) fn on(mut self, host_ip: impl Into<IpAddr>) -> Self {
        self.host_ip = Some(host_ip.into());
        self
    }

    /// Parses `[[host_ip:]host_port:]container_port[/tcp|udp]` (no host
    /// port: host port 0, picked at build); the error says
    /// what is wrong in words.
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        let text = s.trim();
        let (spec, proto) = match text.rsplit_once('/') {
            Some((spec, p)) => {
                let proto = match p.to_ascii_lowercase().as_str() {
                    "tcp" => Proto::Tcp,
                    "udp" => Proto::Udp,
                    "sctp" => return Err(format!("{s:?}: sctp is not supported (use tcp or udp)")),
                    _ => return Err(format!("{s:?}: unknown protocol {p:?} (use tcp or udp)")),
                };
                (spec, proto)
            }
            None => (text, Proto::Tcp),
        };
        // An IPv6 host address is bracketed, as Docker writes it: `[::1]:8081:80`.
        let (ip6, rest) = match spec.strip_prefix('[') {
            Some(r) => {
                let (ip, rest) = r.split_once(']').ok_or_else(|| {
                    format!(
                        "{s:?}: an IPv6 host address is written in brackets, e.g. [::1]:8081:80"
                    )
                })?;
                let rest = rest.strip_prefix(':').ok_or_else(|| {
                    format!("{s:?}: expected [ipv6]:host_port:container_port after the address")
                })?;
                (Some(ip), rest)
            }
            None => (None, spec),
        };
        let parts: Vec<&str> = rest.split(':').collect();
        let (ip, hp, cp) = match (ip6, parts.as_slice()) {
            (None, [cp]) => (None, "", *cp),
            (None, [hp, cp]) => (None, *hp, *cp),
            (None, [ip, hp, cp]) => (Some(*ip), *hp, *cp),
            (Some(ip), [hp, cp]) => (Some(ip), *hp, *cp),
            _ => {
                return Err(format!(
                    "{s:?}: expected [host_ip:]host_port:container_port[/tcp|udp] (an IPv6 host address in brackets: [::1]:8081:80)"
                ));
            }
        };
        let host_ip = match (ip, ip6.is_some()) {
            (None, _) => None,
            (Some(ip), false) => {
                Some(IpAddr::V4(ip.parse::<Ipv4Addr>().map_err(|_| {
                    format!("{s:?}: {ip:?} is not an IPv4 host address")
                })?))
            }
            (Some(ip), true) => {
                Some(IpAddr::V6(ip.parse().map_err(|_| {
                    format!("{s:?}: {ip:?} is not an IPv6 host address")
                })?))
            }
        };
        // No host port: the daemon picks one (`DockerHostBuilder::build`).
        let host_port = if hp.is_empty() {
            0
        } else {
            parse_port(s, "host port", hp)?
        };
        let container_port = parse_port(s, "container port", cp)?;
        Ok(PortBinding {
            host_ip,
            host_port,
            container_port,
            proto,
        })
    }
}

fn parse_port(whole: &str, what: &str, p: &str) -> Result<u16, String> {
    if p.contains('-') {
        return Err(format!("{whole:?}: port ranges ({p}) are not supported"));
    }
    match p.parse::<u32>() {
        Ok(n) if (1..=65535).contains(&n) => Ok(n as u16),
        Ok(n) => Err(format!("{whole:?}: {what} {n} is out of range 1-65535")),
        Err(_) => Err(format!("{whole:?}: {what} {p:?} is not a number")),
    }
}

impl FromStr for PortBinding {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        PortBinding::parse(s)
    }
}

impl fmt::Display for PortBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.host_ip {
            Some(IpAddr::V4(ip)) => write!(f, "{ip}:")?,
            Some(IpAddr::V6(ip)) => write!(f, "[{ip}]:")?,
            None => {}
        }
        write!(
            f,
            "{}:{}/{}",
            self.host_port, self.container_port, self.proto
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every accepted form parses to the expected binding.
    #[test]
    fn parses_docker_forms() {
        assert_eq!(
            PortBinding::parse("8080:80").unwrap(),
            PortBinding::tcp(8080, 80)
        );
        assert_eq!(
            PortBinding::parse("8080:80/tcp").unwrap(),
            PortBinding::tcp(8080, 80)
        );
        assert_eq!(
            PortBinding::parse("53:53/UDP").unwrap(),
            PortBinding::udp(53, 53)
        );
        assert_eq!(
            PortBinding::parse("127.0.0.1:8080:80").unwrap(),
            PortBinding::tcp(8080, 80).on(Ipv4Addr::LOCALHOST)
        );
        for auto in ["80", ":80", "80/tcp"] {
            assert_eq!(PortBinding::parse(auto).unwrap(), PortBinding::tcp(0, 80));
        }
        assert_eq!(
            PortBinding::parse("127.0.0.1::80").unwrap(),
            PortBinding::tcp(0, 80).on(Ipv4Addr::LOCALHOST)
        );
        assert_eq!(
            PortBinding::parse("[::]:8080:80").unwrap(),
            PortBinding::tcp(8080, 80).on(std::net::Ipv6Addr::UNSPECIFIED)
        );
        assert_eq!(
            PortBinding::parse("[::1]:8081:80/udp").unwrap(),
            PortBinding::udp(8081, 80).on(std::net::Ipv6Addr::LOCALHOST)
        );
    }

    /// Each malformed binding is refused with a message that names the problem.
    #[test]
    fn rejects_bad_forms() {
        let cases = [
            ("8080:80/icmp", "unknown protocol"),
            ("8080:80/sctp", "sctp is not supported"),
            ("x:80", "host port \"x\" is not a number"),
            ("8080:0", "container port 0 is out of range"),
            ("70000:80", "host port 70000 is out of range"),
            ("8080-8081:80", "port ranges"),
            ("1.2.3:8080:80", "is not an IPv4 host address"),
            ("::1:8080:80", "an IPv6 host address in brackets"),
            ("[::1:8080:80", "written in brackets"),
            ("[1.2.3.4]:8080:80", "is not an IPv6 host address"),
        ];
        for (input, want) in cases {
            let err = PortBinding::parse(input).unwrap_err();
            assert!(err.contains(want), "{input}: got {err:?}, want {want:?}");
        }
    }
}
