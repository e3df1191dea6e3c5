//! Rendering packets as one line each, in the style of tcpdump (what
//! failure messages list).

use std::fmt;
use std::net::IpAddr;
use std::time::UNIX_EPOCH;

use super::{Icmp, Ip, L3, L4, Packet, TcpFlags};
use crate::net::fmt_mac;

impl Packet {
    /// One line in the style of tcpdump, e.g.
    /// `IP 10.0.0.1.5555 > 10.0.0.2.7000: UDP, length 5`.
    pub fn summary(&self) -> String {
        match (&self.l3, &self.l4) {
            (Some(L3::Arp(a)), _) => match a.operation {
                1 => format!(
                    "ARP, Request who-has {} tell {}, length 28",
                    a.target_ip, a.sender_ip
                ),
                2 => format!(
                    "ARP, Reply {} is-at {}, length 28",
                    a.sender_ip,
                    fmt_mac(&a.sender_mac)
                ),
                op => format!("ARP, operation {op}, {} > {}", a.sender_ip, a.target_ip),
            },
            (Some(L3::Ipv4(ip)), l4) => format!("IP {}", ip_summary(ip, l4)),
            (Some(L3::Ipv6(ip)), l4) => format!("IP6 {}", ip_summary(ip, l4)),
            (None, _) => {
                let mut s = format!(
                    "{} > {}, ethertype 0x{:04x}, length {}",
                    fmt_mac(&self.eth_src),
                    fmt_mac(&self.eth_dst),
                    self.ethertype,
                    self.wire_len
                );
                if let Some(e) = &self.decode_error {
                    s.push_str(&format!(" [undecoded: {e}]"));
                }
                s
            }
        }
    }
}

impl fmt::Display for Packet {
    /// `HH:MM:SS.micros (UTC) direction interface summary`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.time.duration_since(UNIX_EPOCH).unwrap_or_default();
        let s = d.as_secs() % 86_400;
        write!(
            f,
            "{:02}:{:02}:{:02}.{:06} ",
            s / 3600,
            (s / 60) % 60,
            s % 60,
            d.subsec_micros()
        )?;
        if !self.interface.is_empty() {
            write!(f, "{} ", self.interface)?;
        }
        match self.direction {
            Some(d) => write!(f, "{d:<3} ")?,
            None => f.write_str("    ")?,
        }
        f.write_str(&self.summary())
    }
}

fn ip_summary(ip: &Ip, l4: &Option<L4>) -> String {
    let host = |a: &IpAddr, port: u16| match a {
        IpAddr::V4(_) => format!("{a}.{port}"),
        IpAddr::V6(_) => format!("{a}.{port}"),
    };
    match l4 {
        Some(L4::Tcp(t)) => {
            let mut s = format!(
                "{} > {}: Flags [{}], seq {}",
                host(&ip.src, t.src_port),
                host(&ip.dst, t.dst_port),
                t.flags,
                t.seq
            );
            if t.flags.contains(TcpFlags::ACK) {
                s.push_str(&format!(", ack {}", t.ack));
            }
            s.push_str(&format!(", win {}, length {}", t.window, t.payload.len()));
            s
        }
        Some(L4::Udp(u)) => format!(
            "{} > {}: UDP, length {}",
            host(&ip.src, u.src_port),
            host(&ip.dst, u.dst_port),
            u.payload.len()
        ),
        Some(L4::Icmp(i)) => {
            let what = icmp_name(i);
            let echo = i
                .echo
                .map(|(id, seq)| format!(", id {id}, seq {seq}"))
                .unwrap_or_default();
            let proto = if i.v6 { "ICMP6" } else { "ICMP" };
            format!(
                "{} > {}: {proto} {what}{echo}, length {}",
                ip.src,
                ip.dst,
                i.payload.len() + 8
            )
        }
        None => format!(
            "{} > {}: ip-proto-{}, ttl {}",
            ip.src, ip.dst, ip.protocol, ip.ttl
        ),
    }
}

fn icmp_name(i: &Icmp) -> String {
    let name = if i.is_echo_request() {
        "echo request"
    } else if i.is_echo_reply() {
        "echo reply"
    } else if i.v6 {
        match (i.icmp_type, i.code) {
            (1, 0) => "no route to destination",
            (1, 1) => "admin prohibited",
            (1, 3) => "address unreachable",
            (1, 4) => "port unreachable",
            (1, 5) => "source address failed policy",
            (1, 6) => "reject route",
            (1, _) => "destination unreachable",
            (2, _) => "packet too big",
            (3, _) => "time exceeded in-transit",
            (133, _) => "router solicitation",
            (134, _) => "router advertisement",
            (135, _) => "neighbor solicitation",
            (136, _) => "neighbor advertisement",
            (137, _) => "redirect",
            (143, _) => "multicast listener report v2",
            _ => "",
        }
    } else {
        match (i.icmp_type, i.code) {
            (3, 0) => "net unreachable",
            (3, 1) => "host unreachable",
            (3, 2) => "protocol unreachable",
            (3, 3) => "port unreachable",
            (3, 13) => "admin prohibited",
            (3, _) => "destination unreachable",
            (11, _) => "time exceeded in-transit",
            _ => "",
        }
    };
    if name.is_empty() {
        format!("type {} code {}", i.icmp_type, i.code)
    } else {
        name.to_string()
    }
}
