//! The values of a matrix: a [`Cell`] (who probes what), its [`Outcome`],
//! and a [`Row`] (a probed cell with what the server saw and why).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use crate::error::{Error, Result, Subject};

/// What a probe speaks, and to which port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    /// A TCP connection to a port.
    Tcp(u16),
    /// A UDP datagram to a port.
    Udp(u16),
    /// An ICMP echo request (ICMPv6 to an IPv6 address: `ADDR/icmp6`).
    Icmp,
}

impl Service {
    /// A TCP or UDP service on `port`.
    pub(crate) fn of(proto: crate::Proto, port: u16) -> Service {
        match proto {
            crate::Proto::Tcp => Service::Tcp(port),
            crate::Proto::Udp => Service::Udp(port),
        }
    }
}

/// One cell: a source node and a destination (`203.0.113.2:8080/tcp`,
/// `[2001:db8::2]:8080/tcp`, `2001:db8::2/icmp6`).
///
/// ```
/// use netrig::reach::Cell;
/// let c = Cell::parse("internet", "203.0.113.2:8080/tcp")?;
/// assert_eq!(c.to_string(), "internet -> 203.0.113.2:8080/tcp");
/// assert_eq!(Cell::parse("host", "198.51.100.10/icmp")?.to_string(), "host -> 198.51.100.10/icmp");
/// let c6 = Cell::parse("client", "[2001:db8:2::2]:80/udp")?;
/// assert_eq!(c6.to_string(), "client -> [2001:db8:2::2]:80/udp");
/// assert_eq!(Cell::parse("client", "2001:db8:2::2/icmp6")?.to_string(), "client -> 2001:db8:2::2/icmp6");
/// assert!(Cell::parse("host", "203.0.113.2:8080").is_err()); // no protocol
/// assert!(Cell::parse("host", "2001:db8:2::2/icmp").is_err()); // ICMPv6 is icmp6
/// # Ok::<_, netrig::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cell {
    /// The lab node the probe is sent from.
    pub from: String,
    /// The destination address.
    pub to: IpAddr,
    /// Protocol and port.
    pub service: Service,
}

impl Cell {
    /// A cell from node `from` to `ADDR:PORT/tcp`, `ADDR:PORT/udp`,
    /// `ADDR/icmp` (IPv4) or `ADDR/icmp6` (IPv6); an IPv6 address with a
    /// port is written in brackets, `[2001:db8::2]:8080/tcp`.
    pub fn parse(from: &str, to: &str) -> Result<Cell> {
        let bad = |why: &str| {
            Error::invalid(
                Subject::default(),
                "cell destination",
                format!(
                    "{to:?}: {why} (write ADDR:PORT/tcp, ADDR:PORT/udp, ADDR/icmp or IPV6ADDR/icmp6; \
                     [IPV6ADDR]:PORT for a port)"
                ),
            )
        };
        let (addr, proto) = to.rsplit_once('/').ok_or_else(|| bad("no /protocol"))?;
        let (to, service) = match proto {
            "icmp" | "icmp6" => {
                let ip = IpAddr::from_str(addr).map_err(|_| bad("not an address"))?;
                match (proto, ip) {
                    ("icmp", IpAddr::V6(_)) => return Err(bad("ICMP echo to IPv6 is icmp6")),
                    ("icmp6", IpAddr::V4(_)) => return Err(bad("icmp6 needs an IPv6 address")),
                    _ => (ip, Service::Icmp),
                }
            }
            "tcp" | "udp" => {
                let sa = SocketAddr::from_str(addr).map_err(|_| bad("not ADDR:PORT"))?;
                let s = if proto == "tcp" {
                    Service::Tcp(sa.port())
                } else {
                    Service::Udp(sa.port())
                };
                (sa.ip(), s)
            }
            _ => return Err(bad("unknown protocol")),
        };
        Ok(Cell {
            from: from.to_string(),
            to,
            service,
        })
    }

    /// The destination as text: `203.0.113.2:8080/tcp`, `198.51.100.10/icmp`,
    /// `[2001:db8::2]:8080/tcp`, `2001:db8::2/icmp6`.
    pub(crate) fn target(&self) -> String {
        let ip = match self.to {
            IpAddr::V6(v6) => format!("[{v6}]"),
            v4 => v4.to_string(),
        };
        match self.service {
            Service::Tcp(p) => format!("{ip}:{p}/tcp"),
            Service::Udp(p) => format!("{ip}:{p}/udp"),
            Service::Icmp if self.to.is_ipv6() => format!("{}/icmp6", self.to),
            Service::Icmp => format!("{}/icmp", self.to),
        }
    }

    /// The destination socket address (port 0 for ICMP).
    pub(crate) fn socket_addr(&self) -> SocketAddr {
        let port = match self.service {
            Service::Tcp(p) | Service::Udp(p) => p,
            Service::Icmp => 0,
        };
        SocketAddr::new(self.to, port)
    }
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}", self.from, self.target())
    }
}

/// What became of a cell's probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// A server netrig started answered (for ICMP: an echo reply).
    Delivered,
    /// TCP RST or ICMP port unreachable (or an answer from something that is
    /// not netrig's server, e.g. a proxy with nothing behind it).
    Refused,
    /// No answer: a traced drop, or nothing before the deadline.
    Dropped,
    /// No route, or ICMP network/host unreachable.
    Unreachable,
}

impl Outcome {
    /// `delivered`, `refused`, `dropped`, `unreachable`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Refused => "refused",
            Outcome::Dropped => "dropped",
            Outcome::Unreachable => "unreachable",
        }
    }

    /// The outcome named `name` ([`Outcome::as_str`]'s words).
    pub(crate) fn from_name(name: &str) -> Option<Outcome> {
        [
            Outcome::Delivered,
            Outcome::Refused,
            Outcome::Dropped,
            Outcome::Unreachable,
        ]
        .into_iter()
        .find(|o| o.as_str() == name)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rule that decided (or rewrote) a cell: as the user would write it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Why {
    /// The node whose rule it is, in a generic lab (`None` in a Docker
    /// host's lab: the host's).
    pub node: Option<String>,
    /// `ip filter`, `ip nat`, `ip docker-bridges` …: family and table.
    pub table: String,
    /// The chain.
    pub chain: String,
    /// The iptables-save line or nft rule; `policy DROP` for a chain policy.
    pub rule: String,
    /// `accept`, `drop`, `jump DOCKER`, `nat` (a NAT rule that rewrote the cell) …
    pub verdict: String,
    /// `file:line` when the rule came from a user's rule file.
    pub source: Option<String>,
    /// Whether the rule acted on the probe's answer (its TCP SYN-ACK, UDP
    /// reply or echo reply), not on the probe: the probe passed, the answer
    /// was dropped.
    pub answer: bool,
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(node) = &self.node {
            write!(f, "{node}: ")?;
        }
        write!(
            f,
            "{} {}: {} ({}{})",
            self.table,
            self.chain,
            self.rule,
            self.verdict,
            if self.answer { " of the answer" } else { "" }
        )?;
        match &self.source {
            Some(s) => write!(f, " from {s}"),
            None => Ok(()),
        }
    }
}

/// A probed cell: the outcome, the addresses netrig's server saw (NAT made
/// visible) and the rules that decided it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Row {
    /// The cell.
    pub cell: Cell,
    /// What became of the probe.
    pub outcome: Outcome,
    /// Source address the server saw (delivered cells).
    pub seen_src: Option<IpAddr>,
    /// Destination address the server saw (delivered cells).
    pub seen_dst: Option<IpAddr>,
    /// The deciding rule or policy first, then the NAT rules that rewrote it;
    /// empty when nothing was traced (e.g. no rule chain saw the probe).
    pub why: Vec<Why>,
}

impl Row {
    /// Whether `other` has the same outcome and observed addresses (what a diff compares).
    pub(crate) fn same_reach(&self, other: &Row) -> bool {
        (self.outcome, self.seen_src, self.seen_dst)
            == (other.outcome, other.seen_src, other.seen_dst)
    }

    /// `delivered 203.0.113.1 -> 172.17.0.2`, `dropped`.
    pub fn reach(&self) -> String {
        match (self.seen_src, self.seen_dst) {
            (Some(s), Some(d)) => format!("{} {s} -> {d}", self.outcome),
            _ => self.outcome.to_string(),
        }
    }
}
