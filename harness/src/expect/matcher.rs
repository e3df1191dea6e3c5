//! Matchers: what a packet must look like, as data that describes itself.
//!
//! A [`Matcher`] is built from a protocol constructor ([`tcp`], [`udp`],
//! [`icmp`], [`icmp6`], [`ip`], [`ip6`], [`any`]) and narrowed with methods. Every
//! condition must hold. A matcher prints as the expectation it stands for
//! (`udp src 203.0.113.2 dst 198.51.100.10:53`), which is what failure
//! messages show. Invalid arguments (an unparsable address) are kept and
//! reported when the matcher is used, so building one never panics.
//!
//! ```
//! use netrig::TcpFlags;
//! use netrig::expect::{tcp, udp};
//! let m = udp().src("203.0.113.2").dst("198.51.100.10:53");
//! assert_eq!(m.to_string(), "udp src 203.0.113.2 dst 198.51.100.10:53");
//! let s = tcp().dst_port(80).flags(TcpFlags::SYN);
//! assert_eq!(s.to_string(), "tcp dst port 80 flags [S]");
//! let e = netrig::expect::icmp6().dst("2001:db8::2").icmp_type(128);
//! assert_eq!(e.to_string(), "icmp6 dst 2001:db8::2 type 128");
//! ```

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use super::addr::AddrSpec;
use crate::packet::{Direction, L3, L4, Packet, TcpFlags};

/// The protocol a matcher requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proto {
    /// Anything.
    Any,
    /// IPv4 or IPv6.
    Ip,
    /// IPv6 only.
    Ip6,
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMP or ICMPv6.
    Icmp,
    /// ICMPv6 only.
    Icmp6,
}

type Predicate = Arc<dyn Fn(&Packet) -> bool + Send + Sync>;

/// A condition on packets, built with [`tcp`], [`udp`], [`icmp`], [`icmp6`], [`ip`], [`ip6`] or [`any`].
#[derive(Clone)]
pub struct Matcher {
    proto: Proto,
    src: Option<AddrSpec>,
    dst: Option<AddrSpec>,
    src_port: Option<u16>,
    dst_port: Option<u16>,
    flags_exact: Option<TcpFlags>,
    icmp_type: Option<u8>,
    icmp_code: Option<u8>,
    echo_seq: Option<u16>,
    tcp_seq: Option<u32>,
    payload_eq: Option<Vec<u8>>,
    direction: Option<Direction>,
    interface: Option<String>,
    custom: Vec<(String, Predicate)>,
    invalid: Vec<String>,
}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Matcher({self})")
    }
}

fn new(proto: Proto) -> Matcher {
    Matcher {
        proto,
        src: None,
        dst: None,
        src_port: None,
        dst_port: None,
        flags_exact: None,
        icmp_type: None,
        icmp_code: None,
        echo_seq: None,
        tcp_seq: None,
        payload_eq: None,
        direction: None,
        interface: None,
        custom: Vec::new(),
        invalid: Vec::new(),
    }
}

/// Any TCP segment.
pub fn tcp() -> Matcher {
    new(Proto::Tcp)
}
/// Any UDP datagram.
pub fn udp() -> Matcher {
    new(Proto::Udp)
}
/// Any ICMP or ICMPv6 message.
pub fn icmp() -> Matcher {
    new(Proto::Icmp)
}
/// Any ICMPv6 message (echo request 128, echo reply 129, unreachable 1 …),
/// not ICMP over IPv4.
pub fn icmp6() -> Matcher {
    new(Proto::Icmp6)
}
/// Any IPv4 or IPv6 packet.
pub fn ip() -> Matcher {
    new(Proto::Ip)
}
/// Any IPv6 packet.
pub fn ip6() -> Matcher {
    new(Proto::Ip6)
}
/// Any frame at all.
pub fn any() -> Matcher {
    new(Proto::Any)
}

impl Matcher {
    fn addr(&mut self, which: &str, a: Result<AddrSpec, String>) -> Option<AddrSpec> {
        match a {
            Ok(s) => Some(s),
            Err(e) => {
                self.invalid.push(format!("{which}: {e}"));
                None
            }
        }
    }

    /// Source address: anything that prints as an address, `address:port`
    /// or network — `"10.0.0.1"`, `"10.0.0.1:5555"`, `"10.0.0.0/24"`,
    /// `"[::1]:53"`, an `IpAddr`, a `SocketAddr`, an `IpNet`. For ARP, the
    /// sender. One that does not parse makes the matcher fail when used.
    pub fn src(mut self, a: impl fmt::Display) -> Self {
        self.src = self.addr("src", AddrSpec::of(a));
        self
    }
    /// Destination address (as [`Matcher::src`]). For ARP, the target.
    pub fn dst(mut self, a: impl fmt::Display) -> Self {
        self.dst = self.addr("dst", AddrSpec::of(a));
        self
    }
    /// The source condition, already parsed.
    pub(super) fn src_spec(mut self, s: AddrSpec) -> Self {
        self.src = Some(s);
        self
    }
    /// The destination condition, already parsed.
    pub(super) fn dst_spec(mut self, s: AddrSpec) -> Self {
        self.dst = Some(s);
        self
    }
    /// TCP/UDP source port.
    pub fn src_port(mut self, port: u16) -> Self {
        self.src_port = Some(port);
        self
    }
    /// TCP/UDP destination port.
    pub fn dst_port(mut self, port: u16) -> Self {
        self.dst_port = Some(port);
        self
    }
    /// Exactly these TCP flags are set (`flags(TcpFlags::SYN)` does not match a TcpFlags::SYN-TcpFlags::ACK).
    pub fn flags(mut self, flags: TcpFlags) -> Self {
        self.flags_exact = Some(flags);
        self
    }
    /// TCP sequence number.
    pub(crate) fn seq(mut self, seq: u32) -> Self {
        self.tcp_seq = Some(seq);
        self
    }
    /// ICMP type (8 echo request, 0 echo reply, 3 unreachable, 11 time
    /// exceeded; ICMPv6: 128 echo request, 129 echo reply, 1 unreachable).
    pub fn icmp_type(mut self, t: u8) -> Self {
        self.icmp_type = Some(t);
        self
    }
    /// ICMP code.
    pub fn icmp_code(mut self, c: u8) -> Self {
        self.icmp_code = Some(c);
        self
    }
    /// ICMP echo sequence number.
    pub(crate) fn echo_seq(mut self, seq: u16) -> Self {
        self.echo_seq = Some(seq);
        self
    }
    /// The transport payload is exactly these bytes.
    pub fn payload(mut self, bytes: impl AsRef<[u8]>) -> Self {
        self.payload_eq = Some(bytes.as_ref().to_vec());
        self
    }
    /// Captured in this direction (see [`Direction`]).
    fn direction(mut self, d: Direction) -> Self {
        self.direction = Some(d);
        self
    }
    /// Received on the captured interface.
    pub fn inbound(self) -> Self {
        self.direction(Direction::In)
    }
    /// Sent from the captured interface.
    pub fn outbound(self) -> Self {
        self.direction(Direction::Out)
    }
    /// Captured on this interface, `node/ifname` or just `ifname`.
    pub fn on(mut self, interface: impl Into<String>) -> Self {
        self.interface = Some(interface.into());
        self
    }
    /// Any other condition, described for messages.
    pub fn satisfies(
        mut self,
        description: impl Into<String>,
        f: impl Fn(&Packet) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.custom.push((description.into(), Arc::new(f)));
        self
    }

    /// Why the matcher cannot be used (unparsable arguments), if it cannot.
    pub(crate) fn invalid(&self) -> Option<String> {
        (!self.invalid.is_empty()).then(|| self.invalid.join("; "))
    }

    /// Whether `p` satisfies every condition.
    pub fn matches(&self, p: &Packet) -> bool {
        if !self.invalid.is_empty() {
            return false;
        }
        let proto_ok = match self.proto {
            Proto::Any => true,
            Proto::Ip => p.ip().is_some(),
            Proto::Ip6 => matches!(p.l3, Some(L3::Ipv6(_))),
            Proto::Tcp => p.tcp().is_some(),
            Proto::Udp => p.udp().is_some(),
            Proto::Icmp => p.icmp().is_some(),
            Proto::Icmp6 => p.icmp().is_some_and(|i| i.v6),
        };
        proto_ok && self.addresses_ok(p) && self.l4_ok(p) && self.rest_ok(p)
    }

    fn addresses_ok(&self, p: &Packet) -> bool {
        let (src, dst) = match &p.l3 {
            Some(L3::Ipv4(ip)) | Some(L3::Ipv6(ip)) => (Some(ip.src), Some(ip.dst)),
            Some(L3::Arp(a)) => (Some(IpAddr::V4(a.sender_ip)), Some(IpAddr::V4(a.target_ip))),
            None => (None, None),
        };
        let check = |spec: &Option<AddrSpec>, ip: Option<IpAddr>, port: Option<u16>| match spec {
            None => true,
            Some(s) => ip.is_some_and(|ip| s.matches(ip, port)),
        };
        check(&self.src, src, p.src_port())
            && check(&self.dst, dst, p.dst_port())
            && self.src_port.is_none_or(|x| p.src_port() == Some(x))
            && self.dst_port.is_none_or(|x| p.dst_port() == Some(x))
    }

    fn l4_ok(&self, p: &Packet) -> bool {
        let tcp = p.tcp();
        let tcp_ok = self
            .flags_exact
            .is_none_or(|f| tcp.is_some_and(|t| t.flags == f))
            && self.tcp_seq.is_none_or(|s| tcp.is_some_and(|t| t.seq == s));
        let icmp = match &p.l4 {
            Some(L4::Icmp(i)) => Some(i),
            _ => None,
        };
        let icmp_ok = self
            .icmp_type
            .is_none_or(|t| icmp.is_some_and(|i| i.icmp_type == t))
            && self
                .icmp_code
                .is_none_or(|c| icmp.is_some_and(|i| i.code == c))
            && self
                .echo_seq
                .is_none_or(|s| icmp.and_then(|i| i.echo).is_some_and(|e| e.1 == s));
        tcp_ok && icmp_ok
    }

    fn rest_ok(&self, p: &Packet) -> bool {
        let payload_ok = self
            .payload_eq
            .as_ref()
            .is_none_or(|b| p.payload() == b.as_slice());
        let dir_ok = self.direction.is_none_or(|d| p.direction == Some(d));
        let if_ok = self.interface.as_ref().is_none_or(|i| {
            p.interface == *i || p.interface.rsplit('/').next() == Some(i.as_str())
        });
        payload_ok && dir_ok && if_ok && self.custom.iter().all(|(_, f)| f(p))
    }
}

fn fmt_bytes(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => format!("{s:?}"),
        Err(_) => b.iter().map(|x| format!("{x:02x}")).collect::<String>(),
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = vec![
            match self.proto {
                Proto::Any => "any",
                Proto::Ip => "ip",
                Proto::Ip6 => "ip6",
                Proto::Tcp => "tcp",
                Proto::Udp => "udp",
                Proto::Icmp => "icmp",
                Proto::Icmp6 => "icmp6",
            }
            .to_string(),
        ];
        let mut push = |cond: bool, s: String| {
            if cond {
                parts.push(s)
            }
        };
        push(
            self.direction.is_some(),
            self.direction.map(|d| d.to_string()).unwrap_or_default(),
        );
        push(
            self.interface.is_some(),
            format!("on {}", self.interface.clone().unwrap_or_default()),
        );
        if let Some(s) = &self.src {
            parts.push(format!("src {s}"));
        }
        if let Some(d) = &self.dst {
            parts.push(format!("dst {d}"));
        }
        let mut push = |v: Option<String>| {
            if let Some(v) = v {
                parts.push(v)
            }
        };
        push(self.src_port.map(|p| format!("src port {p}")));
        push(self.dst_port.map(|p| format!("dst port {p}")));
        push(self.flags_exact.map(|x| format!("flags [{x}]")));
        push(self.tcp_seq.map(|x| format!("seq {x}")));
        push(self.icmp_type.map(|x| format!("type {x}")));
        push(self.icmp_code.map(|x| format!("code {x}")));
        push(self.echo_seq.map(|x| format!("seq {x}")));
        push(
            self.payload_eq
                .as_ref()
                .map(|b| format!("payload {}", fmt_bytes(b))),
        );
        for (d, _) in &self.custom {
            parts.push(d.clone());
        }
        for e in &self.invalid {
            parts.push(format!("<invalid {e}>"));
        }
        f.write_str(&parts.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    const A: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const B: [u8; 6] = [2, 0, 0, 0, 0, 2];

    fn udp_frame(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, payload: &[u8]) -> Packet {
        let mut v = Vec::new();
        PacketBuilder::ethernet2(A, B)
            .ipv4(src, dst, 64)
            .udp(sport, dport)
            .write(&mut v, payload)
            .unwrap();
        Packet::decode(&v)
    }

    fn tcp_frame(flags: TcpFlags, dport: u16) -> Packet {
        let mut v = Vec::new();
        let mut b = PacketBuilder::ethernet2(A, B)
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000, dport, 7, 1000);
        if flags.contains(TcpFlags::SYN) {
            b = b.syn();
        }
        if flags.contains(TcpFlags::ACK) {
            b = b.ack(1);
        }
        if flags.contains(TcpFlags::RST) {
            b = b.rst();
        }
        b.write(&mut v, &[]).unwrap();
        Packet::decode(&v)
    }

    /// Addresses match by host, host:port and network; ports must agree when given.
    #[test]
    fn addresses_and_ports() {
        let p = udp_frame([203, 0, 113, 2], 4000, [198, 51, 100, 10], 53, b"q");
        assert!(udp().src("203.0.113.2").dst("198.51.100.10:53").matches(&p));
        assert!(udp().src("203.0.113.0/24").matches(&p));
        assert!(!udp().dst("198.51.100.10:54").matches(&p));
        assert!(!udp().src("203.0.113.3").matches(&p));
        assert!(udp().src_port(4000).dst_port(53).matches(&p));
        assert!(!udp().src_port(4001).matches(&p));
        assert!(!tcp().matches(&p), "a UDP datagram is not TCP");
        assert!(ip().matches(&p) && any().matches(&p));
        let sa: std::net::SocketAddr = "198.51.100.10:53".parse().unwrap();
        assert!(udp().dst(sa).matches(&p));
    }

    /// `flags` is exact.
    #[test]
    fn tcp_flags() {
        let syn = tcp_frame(TcpFlags::SYN, 80);
        let synack = tcp_frame(TcpFlags::SYN | TcpFlags::ACK, 80);
        assert!(tcp().dst_port(80).flags(TcpFlags::SYN).matches(&syn));
        assert!(!tcp().flags(TcpFlags::SYN).matches(&synack));
        assert!(tcp().flags(TcpFlags::SYN | TcpFlags::ACK).matches(&synack));
        assert!(!tcp().flags(TcpFlags::RST).matches(&syn));
        assert!(!tcp().dst_port(81).matches(&syn));
    }

    /// Payload and ICMP conditions.
    #[test]
    fn payload_and_icmp() {
        let p = udp_frame([10, 0, 0, 1], 1, [10, 0, 0, 2], 2, b"hello world");
        assert!(udp().payload("hello world").matches(&p));
        assert!(!udp().payload("hello").matches(&p));
        let mut v = Vec::new();
        PacketBuilder::ethernet2(A, B)
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .icmpv4_echo_request(9, 4)
            .write(&mut v, b"x")
            .unwrap();
        let e = Packet::decode(&v);
        assert!(icmp().icmp_type(8).echo_seq(4).matches(&e));
        assert!(!icmp().icmp_type(0).matches(&e));
        assert!(!udp().matches(&e));
    }

    /// `ip6` and `icmp6` match IPv6 alone; `ip` and `icmp` both families.
    #[test]
    fn ip6_and_icmp6() {
        let (s6, d6) = (
            "2001:db8::1"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
            "2001:db8::2"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        let mut v = Vec::new();
        PacketBuilder::ethernet2(A, B)
            .ipv6(s6, d6, 64)
            .icmpv6_echo_request(9, 4)
            .write(&mut v, b"x")
            .unwrap();
        let e6 = Packet::decode(&v);
        assert!(
            icmp6()
                .icmp_type(128)
                .echo_seq(4)
                .dst("2001:db8::2")
                .matches(&e6)
        );
        assert!(icmp6().src("2001:db8::/32").matches(&e6) && icmp().matches(&e6));
        assert!(ip6().matches(&e6) && ip().matches(&e6));
        assert!(!icmp6().icmp_type(129).matches(&e6));
        let mut v = Vec::new();
        PacketBuilder::ethernet2(A, B)
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .icmpv4_echo_request(9, 4)
            .write(&mut v, b"x")
            .unwrap();
        let e4 = Packet::decode(&v);
        assert!(!icmp6().matches(&e4) && !ip6().matches(&e4));
        assert!(icmp().matches(&e4));
        assert_eq!(ip6().dst("2001:db8::2").to_string(), "ip6 dst 2001:db8::2");
    }

    /// Direction, interface and custom predicates; invalid arguments never match and say why.
    #[test]
    fn direction_interface_custom_invalid() {
        let mut p = udp_frame([10, 0, 0, 1], 1, [10, 0, 0, 2], 2, b"");
        p.interface = "a/eth0".into();
        p.direction = Some(Direction::Out);
        assert!(udp().outbound().on("eth0").matches(&p));
        assert!(udp().on("a/eth0").matches(&p));
        assert!(!udp().inbound().matches(&p));
        assert!(!udp().on("eth1").matches(&p));
        assert!(
            udp()
                .satisfies("ttl 64", |p| p.ip().unwrap().ttl == 64)
                .matches(&p)
        );
        let bad = udp().dst("not-an-address");
        assert!(!bad.matches(&p));
        assert!(bad.invalid().unwrap().contains("not-an-address"));
        assert!(bad.to_string().contains("<invalid"));
    }

    /// Matchers describe themselves the way failure messages show them.
    #[test]
    fn display() {
        assert_eq!(
            tcp().dst_port(80).flags(TcpFlags::SYN).to_string(),
            "tcp dst port 80 flags [S]"
        );
        assert_eq!(icmp().inbound().icmp_type(0).to_string(), "icmp In type 0");
        assert_eq!(
            udp().src("10.0.0.0/8").payload("q").to_string(),
            "udp src 10.0.0.0/8 payload \"q\""
        );
        assert_eq!(udp().dst("[::1]:53").to_string(), "udp dst [::1]:53");
    }
}
