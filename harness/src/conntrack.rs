//! The conntrack table of a node, parsed into values.
//!
//! Read from `/proc/thread-self/net/nf_conntrack` by a thread inside the node
//! (`/proc/net` would be the main thread's namespace), falling back to
//! `conntrack -L` when the proc file is absent. Both formats parse into
//! [`ConntrackEntry`] values: protocol, state, the original and reply
//! [`Tuple`]s, and flags such as `ASSURED` and `UNREPLIED`. An entry whose
//! reply tuple is not the mirror of its original tuple was NATed.
//!
//! ```no_run
//! let lab = netrig::topology::load("topologies/docker-bridge.toml")?.up()?;
//! lab.docker("host")?.container("web")?.udp_send("198.51.100.10:53", b"q")?;
//! let table = lab.node("host")?.conntrack()?;
//! let e = &table.entries[0];
//! assert_eq!(e.protocol, "udp");
//! assert!(e.is_snat()); // masqueraded to the host's uplink address
//! # Ok::<_, netrig::Error>(())
//! ```

use std::fmt;
use std::net::IpAddr;

use crate::error::{Error, Result, Subject};
use crate::namespace::Namespace;

/// One direction of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tuple {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port (TCP/UDP/SCTP).
    pub sport: Option<u16>,
    /// Destination port.
    pub dport: Option<u16>,
    /// ICMP type, code and id.
    pub icmp: Option<(u8, u8, u16)>,
}

impl fmt::Display for Tuple {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.sport, self.dport) {
            (Some(s), Some(d)) => write!(f, "{}:{s} -> {}:{d}", self.src, self.dst),
            _ => write!(f, "{} -> {}", self.src, self.dst),
        }
    }
}

/// One conntrack entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConntrackEntry {
    /// `tcp`, `udp`, `icmp`, …
    pub protocol: String,
    /// Seconds until the entry expires.
    pub timeout: u64,
    /// TCP state (`ESTABLISHED`, `SYN_SENT`, …); `None` for other protocols.
    pub state: Option<String>,
    /// The original direction, as the first packet had it.
    pub original: Tuple,
    /// The expected reply, after NAT.
    pub reply: Tuple,
    /// Flags in brackets: `ASSURED`, `UNREPLIED`, …
    pub flags: Vec<String>,
    /// The connection mark.
    pub mark: Option<u32>,
    /// The line as read.
    pub line: String,
}

impl ConntrackEntry {
    /// The source was rewritten (masquerade/SNAT): the reply is not addressed to the original source.
    pub fn is_snat(&self) -> bool {
        self.reply.dst != self.original.src || self.reply.dport != self.original.sport
    }

    /// The destination was rewritten (DNAT): the reply does not come from the original destination.
    pub fn is_dnat(&self) -> bool {
        self.reply.src != self.original.dst || self.reply.sport != self.original.dport
    }
}

impl fmt::Display for ConntrackEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} | reply {}",
            self.protocol, self.original, self.reply
        )?;
        if let Some(s) = &self.state {
            write!(f, " {s}")?;
        }
        for fl in &self.flags {
            write!(f, " [{fl}]")?;
        }
        Ok(())
    }
}

/// A node's conntrack table at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConntrackTable {
    /// Entries, in the kernel's order.
    pub entries: Vec<ConntrackEntry>,
}

impl ConntrackTable {
    /// Parses `/proc/net/nf_conntrack` or `conntrack -L` text; unparsable lines are skipped.
    pub(crate) fn parse(text: &str) -> ConntrackTable {
        ConntrackTable {
            entries: text.lines().filter_map(parse_line).collect(),
        }
    }

    /// The entry of `protocol` whose original tuple goes from `src` to `dst`
    /// (each an IP, with an optional port: `"10.1.0.2"`, `"10.1.0.1:8080"`).
    pub(crate) fn find(&self, protocol: &str, src: &str, dst: &str) -> Option<&ConntrackEntry> {
        let (sip, sport) = split(src)?;
        let (dip, dport) = split(dst)?;
        self.entries.iter().find(|e| {
            e.protocol == protocol
                && e.original.src == sip
                && e.original.dst == dip
                && sport.is_none_or(|p| e.original.sport == Some(p))
                && dport.is_none_or(|p| e.original.dport == Some(p))
        })
    }

    /// The entry of `protocol` whose original tuple goes from `src` to `dst`
    /// (each an IP, with an optional port: `"10.1.0.2"`, `"10.1.0.1:8080"`);
    /// a missing entry is an [`Error::Expectation`] listing the whole table
    /// (`.ok()` when its absence is an answer).
    pub fn expect(&self, protocol: &str, src: &str, dst: &str) -> Result<&ConntrackEntry> {
        self.find(protocol, src, dst).ok_or_else(|| {
            Error::expectation(
                Subject::default(),
                format!(
                    "a conntrack entry {protocol} {src} -> {dst}; the table has {} entr{}",
                    self.entries.len(),
                    if self.entries.len() == 1 { "y" } else { "ies" }
                ),
                self.entries.iter().map(|e| e.to_string()).collect(),
                None,
            )
        })
    }
}

fn split(s: &str) -> Option<(IpAddr, Option<u16>)> {
    if let Ok(sa) = s.parse::<std::net::SocketAddr>() {
        return Some((sa.ip(), Some(sa.port())));
    }
    s.parse::<IpAddr>().ok().map(|ip| (ip, None))
}

fn parse_line(line: &str) -> Option<ConntrackEntry> {
    let mut toks = line.split_whitespace().peekable();
    if matches!(toks.peek(), Some(&"ipv4") | Some(&"ipv6")) {
        toks.next();
        toks.next();
    }
    let protocol = toks.next()?.to_string();
    let _number: u32 = toks.next()?.parse().ok()?;
    let timeout: u64 = toks.next()?.parse().ok()?;
    let mut state = None;
    let mut flags = Vec::new();
    let mut mark = None;
    let mut tuples: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for t in toks {
        if let Some(f) = t.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            flags.push(f.to_string());
        } else if let Some((k, v)) = t.split_once('=') {
            if k == "src"
                && tuples
                    .last()
                    .is_some_and(|t| t.iter().any(|(k, _)| k == "src"))
            {
                tuples.push(Vec::new());
            }
            if k == "mark" {
                mark = v.parse().ok();
            }
            tuples.last_mut()?.push((k.to_string(), v.to_string()));
        } else if state.is_none() {
            state = Some(t.to_string());
        }
    }
    let tuple = |kv: &Vec<(String, String)>| -> Option<Tuple> {
        let get = |k: &str| kv.iter().find(|(kk, _)| kk == k).map(|(_, v)| v.as_str());
        let icmp = match (get("type"), get("code"), get("id")) {
            (Some(t), Some(c), Some(i)) => {
                Some((t.parse().ok()?, c.parse().ok()?, i.parse().ok()?))
            }
            _ => None,
        };
        Some(Tuple {
            src: get("src")?.parse().ok()?,
            dst: get("dst")?.parse().ok()?,
            sport: get("sport").and_then(|p| p.parse().ok()),
            dport: get("dport").and_then(|p| p.parse().ok()),
            icmp,
        })
    };
    Some(ConntrackEntry {
        protocol,
        timeout,
        state,
        original: tuple(tuples.first()?)?,
        reply: tuple(tuples.get(1)?)?,
        flags,
        mark,
        line: line.to_string(),
    })
}

impl Namespace {
    /// The node's conntrack table now.
    ///
    /// ```no_run
    /// # fn demo(lab: &netrig::Lab) -> netrig::Result<()> {
    /// let table = lab.node("router")?.conntrack()?;
    /// let e = table.expect("udp", "10.1.0.2", "10.1.0.1:8080")?;
    /// assert!(e.is_dnat());
    /// # Ok(()) }
    /// ```
    pub fn conntrack(&self) -> Result<ConntrackTable> {
        Ok(ConntrackTable::parse(&self.conntrack_text()?))
    }

    /// The raw conntrack table text (proc format, or `conntrack -L` output).
    pub(crate) fn conntrack_text(&self) -> Result<String> {
        let read = self.run(|| std::fs::read_to_string("/proc/thread-self/net/nf_conntrack"))?;
        tracing::debug!(subject = %self.subject(), from_proc = read.is_ok(), "read conntrack table");
        match read {
            Ok(text) => Ok(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // `conntrack -L` lists IPv4 alone; IPv6 is asked for apart.
                let mut text = String::new();
                for family in ["ipv4", "ipv6"] {
                    let out = self
                        .command("conntrack")
                        .args(["-L", "-f", family])
                        .checked_output()?;
                    text.push_str(&String::from_utf8_lossy(&out.stdout));
                }
                Ok(text)
            }
            Err(e) => Err(Error::io(
                self.subject().clone(),
                "read /proc/thread-self/net/nf_conntrack",
                e,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TCP entries carry a state and flags; the conntrack -L format parses too.
    #[test]
    fn parses_tcp_and_cli_format() {
        let proc_line = "ipv4     2 tcp      6 431999 ESTABLISHED src=10.1.0.2 dst=10.1.0.1 sport=40000 dport=8080 \
                         src=10.2.0.2 dst=10.2.0.1 sport=9000 dport=40000 [ASSURED] mark=0 zone=0 use=2";
        let cli_line = "icmp     1 29 src=10.0.0.1 dst=10.0.0.2 type=8 code=0 id=7 src=10.0.0.2 dst=10.0.0.1 type=0 code=0 id=7 mark=0 use=1";
        let t = ConntrackTable::parse(&format!("{proc_line}\n{cli_line}\ngarbage\n"));
        assert_eq!(t.entries.len(), 2);
        let tcp = &t.entries[0];
        assert_eq!(tcp.state.as_deref(), Some("ESTABLISHED"));
        assert!(tcp.flags.iter().any(|f| f == "ASSURED"));
        assert_eq!(tcp.original.dport, Some(8080));
        assert_eq!(tcp.reply.sport, Some(9000));
        assert!(tcp.is_dnat() && tcp.is_snat());
        let icmp = &t.entries[1];
        assert_eq!(icmp.protocol, "icmp");
        assert_eq!(icmp.original.icmp, Some((8, 0, 7)));
        assert!(!icmp.is_snat() && !icmp.is_dnat());
        assert!(t.find("tcp", "10.1.0.2", "10.1.0.1:8080").is_some());
        assert!(t.find("tcp", "10.1.0.2", "10.1.0.1:8081").is_none());
        let err = t
            .expect("udp", "10.1.0.2", "10.1.0.1")
            .unwrap_err()
            .to_string();
        assert!(err.contains("table has 2 entries"), "{err}");
    }

    /// IPv6 entries (the proc file writes every address in full) parse and are found by short form.
    #[test]
    fn parses_ipv6_entries() {
        let full = |last: &str| format!("2001:0db8:0000:0000:0000:0000:0000:{last}");
        let tcp = format!(
            "ipv6     10 tcp      6 117 SYN_SENT src={} dst={} sport=40000 dport=80 [UNREPLIED] \
             src={} dst={} sport=80 dport=40000 mark=0 zone=0 use=2",
            full("0001"),
            full("0002"),
            full("0002"),
            full("0001")
        );
        let icmp6 = format!(
            "ipv6     10 icmpv6   58 29 src={} dst={} type=128 code=0 id=4660 src={} dst={} type=129 code=0 id=4660 mark=0 zone=0 use=2",
            full("0001"),
            full("0002"),
            full("0002"),
            full("0001")
        );
        let t = ConntrackTable::parse(&format!("{tcp}\n{icmp6}\n"));
        assert_eq!(t.entries.len(), 2, "{t:?}");
        let e = t.find("tcp", "2001:db8::1", "[2001:db8::2]:80").unwrap();
        assert!(!e.is_snat() && !e.is_dnat());
        let i = t.find("icmpv6", "2001:db8::1", "2001:db8::2").unwrap();
        assert_eq!(i.original.icmp, Some((128, 0, 4660)));
        assert!(t.find("tcp", "2001:db8::1", "[2001:db8::2]:81").is_none());
    }
}
