//! The packet as a trace event shows it: the network header (IPv4 or IPv6)
//! and the start of the transport header, decoded into addresses, ports and
//! protocol. Pure.
//!
//! The kernel sends at most 40 bytes of network header and 20 of transport
//! header, copied from the packet at the hook that emitted the event, so a
//! NAT rewrite made by an earlier hook is visible here.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Addresses, protocol and ports of a traced packet at one hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketHeaders {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IP protocol number (6 tcp, 17 udp, 1 icmp, 58 icmpv6, …).
    pub protocol: u8,
    /// Source port (tcp, udp, sctp, udplite), when the transport header was sent.
    pub sport: Option<u16>,
    /// Destination port, likewise.
    pub dport: Option<u16>,
    /// ICMP / ICMPv6 type and code.
    pub icmp: Option<(u8, u8)>,
    /// Identifier and sequence number of an ICMP / ICMPv6 echo request or
    /// reply (an ICMP datagram socket's id is its bound "port").
    pub echo: Option<(u16, u16)>,
    /// TCP flags byte (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10).
    pub tcp_flags: Option<u8>,
}

impl PacketHeaders {
    /// Decodes a network header and an optional transport header; `None`
    /// when the network header is neither a whole IPv4 nor IPv6 header.
    pub fn decode(network: &[u8], transport: Option<&[u8]>) -> Option<PacketHeaders> {
        let (src, dst, protocol) = match network.first()? >> 4 {
            4 if network.len() >= 20 => {
                let a: [u8; 4] = network[12..16].try_into().ok()?;
                let b: [u8; 4] = network[16..20].try_into().ok()?;
                (
                    Ipv4Addr::from(a).into(),
                    Ipv4Addr::from(b).into(),
                    network[9],
                )
            }
            6 if network.len() >= 40 => {
                let a: [u8; 16] = network[8..24].try_into().ok()?;
                let b: [u8; 16] = network[24..40].try_into().ok()?;
                (
                    Ipv6Addr::from(a).into(),
                    Ipv6Addr::from(b).into(),
                    network[6],
                )
            }
            _ => return None,
        };
        let mut p = PacketHeaders {
            src,
            dst,
            protocol,
            sport: None,
            dport: None,
            icmp: None,
            echo: None,
            tcp_flags: None,
        };
        let Some(t) = transport else {
            return Some(p);
        };
        match protocol as i32 {
            libc::IPPROTO_TCP | libc::IPPROTO_UDP | libc::IPPROTO_SCTP | libc::IPPROTO_UDPLITE
                if t.len() >= 4 =>
            {
                p.sport = Some(u16::from_be_bytes([t[0], t[1]]));
                p.dport = Some(u16::from_be_bytes([t[2], t[3]]));
                if protocol as i32 == libc::IPPROTO_TCP && t.len() >= 14 {
                    p.tcp_flags = Some(t[13]);
                }
            }
            libc::IPPROTO_ICMP | libc::IPPROTO_ICMPV6 if t.len() >= 2 => {
                p.icmp = Some((t[0], t[1]));
                if is_echo(protocol, t[0]) && t.len() >= 8 {
                    p.echo = Some((
                        u16::from_be_bytes([t[4], t[5]]),
                        u16::from_be_bytes([t[6], t[7]]),
                    ));
                }
            }
            _ => {}
        }
        Some(p)
    }

    /// The protocol's name (`tcp`, `udp`, `icmp`, …, or `proto N`).
    pub fn protocol_name(&self) -> String {
        match self.protocol as i32 {
            libc::IPPROTO_TCP => "tcp".into(),
            libc::IPPROTO_UDP => "udp".into(),
            libc::IPPROTO_ICMP => "icmp".into(),
            libc::IPPROTO_ICMPV6 => "icmpv6".into(),
            libc::IPPROTO_SCTP => "sctp".into(),
            libc::IPPROTO_UDPLITE => "udplite".into(),
            n => format!("proto {n}"),
        }
    }
}

/// Whether ICMP (`protocol` 1) or ICMPv6 (58) type `ty` is an echo request or reply.
fn is_echo(protocol: u8, ty: u8) -> bool {
    match protocol as i32 {
        libc::IPPROTO_ICMP => ty == 8 || ty == 0,
        _ => ty == 128 || ty == 129,
    }
}

fn endpoint(f: &mut fmt::Formatter<'_>, addr: IpAddr, port: Option<u16>) -> fmt::Result {
    match (addr, port) {
        (IpAddr::V6(a), Some(p)) => write!(f, "[{a}]:{p}"),
        (a, Some(p)) => write!(f, "{a}:{p}"),
        (a, None) => write!(f, "{a}"),
    }
}

impl fmt::Display for PacketHeaders {
    /// `udp 10.0.0.1:40000 -> 10.0.0.2:7000`, `tcp … [SYN]`, `icmp … type 8 code 0 id 7 seq 1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.protocol_name())?;
        endpoint(f, self.src, self.sport)?;
        f.write_str(" -> ")?;
        endpoint(f, self.dst, self.dport)?;
        if let Some(flags) = self.tcp_flags {
            let names: Vec<&str> = [(0x02, "SYN"), (0x10, "ACK"), (0x01, "FIN"), (0x04, "RST")]
                .iter()
                .filter(|(bit, _)| flags & bit != 0)
                .map(|(_, n)| *n)
                .collect();
            if !names.is_empty() {
                write!(f, " [{}]", names.join(","))?;
            }
        }
        if let Some((t, c)) = self.icmp {
            write!(f, " type {t} code {c}")?;
        }
        if let Some((id, seq)) = self.echo {
            write!(f, " id {id} seq {seq}")?;
        }
        Ok(())
    }
}
