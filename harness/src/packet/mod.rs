//! Packets: raw captured frames decoded into validated values.
//!
//! Submodule `summary` renders a packet as one tcpdump-style line.
//!
//! A capture stores each frame's bytes untouched ([`Packet::frame`]); this
//! module turns them, once, into a [`Packet`] — time, direction, Ethernet
//! addresses, the network layer (IPv4, IPv6, ARP) and the transport layer
//! (TCP, UDP, ICMP) — that expectations compare by value, never by byte
//! offset; a test reads the addresses and the [`Tcp`] or [`Udp`] header.
//! Decoding never fails: what cannot be decoded is kept as
//! [`Packet::decode_error`], and the frame stays available.
//!
//! [`Packet::summary`] renders one line in the style of tcpdump, used in
//! failure messages: `IP 203.0.113.1.47836 > 172.17.0.2.80: Flags [S], seq
//! 1000, win 64240, length 0`.

mod summary;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::SystemTime;

use etherparse::{LaxNetSlice, LaxSlicedPacket, LinkSlice, TransportSlice};

use crate::net::Mac;

/// Which way a frame crossed the captured interface, when it can be told.
///
/// Decided from MAC addresses: a frame whose source is the interface's own
/// MAC was sent (`Out`); one addressed to the interface's MAC, or broadcast or
/// multicast from another MAC, was received (`In`). Frames merely passing a
/// bridge port have no known direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Received on the interface.
    In,
    /// Sent from the interface.
    Out,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::In => "In",
            Direction::Out => "Out",
        })
    }
}

/// TCP flags as the bits of the TCP header (FIN = 0x01 … CWR = 0x80).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// FIN.
    pub const FIN: TcpFlags = TcpFlags(0x01);
    /// SYN.
    pub const SYN: TcpFlags = TcpFlags(0x02);
    /// RST.
    pub const RST: TcpFlags = TcpFlags(0x04);
    /// ACK.
    pub const ACK: TcpFlags = TcpFlags(0x10);

    /// Whether every flag of `other` is set here.
    pub(crate) fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

impl fmt::Display for TcpFlags {
    /// tcpdump's notation: `S`, `S.`, `P.`, `R`, `F.` (`.` is ACK).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const ORDER: [(u8, char); 8] = [
            (0x01, 'F'),
            (0x02, 'S'),
            (0x04, 'R'),
            (0x08, 'P'),
            (0x10, '.'),
            (0x20, 'U'),
            (0x40, 'E'),
            (0x80, 'W'),
        ];
        if self.0 == 0 {
            return f.write_str("none");
        }
        for (bit, c) in ORDER {
            if self.0 & bit != 0 {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// An IPv4 or IPv6 header, reduced to what tests assert on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ip {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// TTL (IPv4) or hop limit (IPv6).
    pub ttl: u8,
    /// The transport protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6).
    pub protocol: u8,
}

/// An ARP packet (Ethernet/IPv4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Arp {
    /// 1 request, 2 reply.
    pub operation: u16,
    /// Sender hardware address.
    pub sender_mac: Mac,
    /// Sender protocol address.
    pub sender_ip: Ipv4Addr,
    /// Target hardware address.
    pub target_mac: Mac,
    /// Target protocol address.
    pub target_ip: Ipv4Addr,
}

/// The network layer of a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum L3 {
    /// IPv4.
    Ipv4(Ip),
    /// IPv6.
    Ipv6(Ip),
    /// ARP.
    Arp(Arp),
}

/// A TCP segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tcp {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Flags.
    pub flags: TcpFlags,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Window.
    pub window: u16,
    /// Payload bytes (as captured).
    pub payload: Vec<u8>,
}

/// A UDP datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Udp {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Payload bytes (as captured).
    pub payload: Vec<u8>,
}

/// An ICMP (v4 or v6) message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Icmp {
    /// ICMPv6 rather than ICMPv4.
    pub v6: bool,
    /// Type (8 echo request, 0 echo reply, 3 unreachable, 11 time exceeded; v6: 128/129 echo).
    pub icmp_type: u8,
    /// Code.
    pub code: u8,
    /// Echo identifier and sequence number, for echo requests and replies.
    pub echo: Option<(u16, u16)>,
    /// Bytes after the 8-byte ICMP header.
    pub payload: Vec<u8>,
}

impl Icmp {
    /// An echo request (v4 type 8, v6 type 128).
    pub(crate) fn is_echo_request(&self) -> bool {
        self.icmp_type == if self.v6 { 128 } else { 8 }
    }
    /// An echo reply (v4 type 0, v6 type 129).
    pub(crate) fn is_echo_reply(&self) -> bool {
        self.icmp_type == if self.v6 { 129 } else { 0 }
    }
}

/// The transport layer of a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum L4 {
    /// TCP.
    Tcp(Tcp),
    /// UDP.
    Udp(Udp),
    /// ICMP or ICMPv6.
    Icmp(Icmp),
}

/// One captured frame and its decoded meaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// Position in its capture (0 for the first frame).
    pub index: u64,
    /// Capture timestamp (kernel time of the frame).
    pub time: SystemTime,
    /// Where it was captured, `node/ifname` (empty when decoded standalone).
    pub interface: String,
    /// Direction, if known (see [`Direction`]).
    pub direction: Option<Direction>,
    /// Length on the wire (may exceed the captured bytes).
    pub wire_len: u32,
    /// Ethernet source.
    pub eth_src: Mac,
    /// Ethernet destination.
    pub eth_dst: Mac,
    /// EtherType (0x0800 IPv4, 0x86dd IPv6, 0x0806 ARP).
    pub ethertype: u16,
    /// Network layer, if recognised.
    pub(crate) l3: Option<L3>,
    /// Transport layer, if recognised.
    pub(crate) l4: Option<L4>,
    /// Why decoding stopped early, if it did.
    pub decode_error: Option<String>,
    /// The frame's bytes as captured.
    pub frame: Arc<[u8]>,
}

impl Packet {
    /// Decodes an Ethernet frame (timestamp now, no interface or direction).
    #[cfg(test)]
    pub(crate) fn decode(frame: &[u8]) -> Packet {
        Packet::decode_at(frame, SystemTime::now(), frame.len() as u32)
    }

    /// Decodes an Ethernet frame captured at `time` with wire length `wire_len`.
    pub(crate) fn decode_at(frame: &[u8], time: SystemTime, wire_len: u32) -> Packet {
        let mut p = Packet {
            index: 0,
            time,
            interface: String::new(),
            direction: None,
            wire_len,
            eth_src: [0; 6],
            eth_dst: [0; 6],
            ethertype: 0,
            l3: None,
            l4: None,
            decode_error: None,
            frame: Arc::from(frame),
        };
        let sliced = match LaxSlicedPacket::from_ethernet(frame) {
            Ok(s) => s,
            Err(e) => {
                p.decode_error = Some(e.to_string());
                return p;
            }
        };
        if let Some(LinkSlice::Ethernet2(eth)) = &sliced.link {
            p.eth_src = eth.source();
            p.eth_dst = eth.destination();
            p.ethertype = eth.ether_type().0;
        }
        p.l3 = match &sliced.net {
            Some(LaxNetSlice::Ipv4(ip)) => {
                let h = ip.header();
                Some(L3::Ipv4(Ip {
                    src: h.source_addr().into(),
                    dst: h.destination_addr().into(),
                    ttl: h.ttl(),
                    protocol: h.protocol().0,
                }))
            }
            Some(LaxNetSlice::Ipv6(ip)) => {
                let h = ip.header();
                Some(L3::Ipv6(Ip {
                    src: h.source_addr().into(),
                    dst: h.destination_addr().into(),
                    ttl: h.hop_limit(),
                    protocol: ip.payload().ip_number.0,
                }))
            }
            Some(LaxNetSlice::Arp(arp)) => decode_arp(arp),
            None => None,
        };
        p.l4 = match &sliced.transport {
            Some(TransportSlice::Tcp(t)) => {
                let flags = [
                    t.fin(),
                    t.syn(),
                    t.rst(),
                    t.psh(),
                    t.ack(),
                    t.urg(),
                    t.ece(),
                    t.cwr(),
                ]
                .iter()
                .enumerate()
                .fold(0u8, |acc, (i, on)| if *on { acc | (1 << i) } else { acc });
                Some(L4::Tcp(Tcp {
                    src_port: t.source_port(),
                    dst_port: t.destination_port(),
                    flags: TcpFlags(flags),
                    seq: t.sequence_number(),
                    ack: t.acknowledgment_number(),
                    window: t.window_size(),
                    payload: t.payload().to_vec(),
                }))
            }
            Some(TransportSlice::Udp(u)) => Some(L4::Udp(Udp {
                src_port: u.source_port(),
                dst_port: u.destination_port(),
                payload: u.payload().to_vec(),
            })),
            Some(TransportSlice::Icmpv4(i)) => Some(L4::Icmp(icmp(
                false,
                i.type_u8(),
                i.code_u8(),
                i.bytes5to8(),
                i.payload(),
            ))),
            Some(TransportSlice::Icmpv6(i)) => Some(L4::Icmp(icmp(
                true,
                i.type_u8(),
                i.code_u8(),
                i.bytes5to8(),
                i.payload(),
            ))),
            _ => None,
        };
        let incomplete = match &sliced.net {
            Some(LaxNetSlice::Ipv4(ip)) => ip.payload().incomplete,
            Some(LaxNetSlice::Ipv6(ip)) => ip.payload().incomplete,
            _ => false,
        };
        if let Some((err, layer)) = &sliced.stop_err {
            p.decode_error = Some(format!("{layer:?}: {err}"));
        } else if incomplete {
            p.decode_error = Some(format!(
                "truncated: the IP payload is incomplete ({} bytes captured)",
                frame.len()
            ));
        }
        p
    }

    /// The IP header, for IPv4 and IPv6 packets.
    pub(crate) fn ip(&self) -> Option<&Ip> {
        match &self.l3 {
            Some(L3::Ipv4(ip)) | Some(L3::Ipv6(ip)) => Some(ip),
            _ => None,
        }
    }

    /// The IP source address.
    pub fn src_ip(&self) -> Option<IpAddr> {
        self.ip().map(|i| i.src)
    }

    /// The IP destination address.
    pub(crate) fn dst_ip(&self) -> Option<IpAddr> {
        self.ip().map(|i| i.dst)
    }

    /// The TCP segment, if this is one.
    pub fn tcp(&self) -> Option<&Tcp> {
        match &self.l4 {
            Some(L4::Tcp(t)) => Some(t),
            _ => None,
        }
    }

    /// The UDP datagram, if this is one.
    pub fn udp(&self) -> Option<&Udp> {
        match &self.l4 {
            Some(L4::Udp(u)) => Some(u),
            _ => None,
        }
    }

    /// The ICMP message, if this is one.
    pub(crate) fn icmp(&self) -> Option<&Icmp> {
        match &self.l4 {
            Some(L4::Icmp(i)) => Some(i),
            _ => None,
        }
    }

    /// TCP or UDP source port.
    pub(crate) fn src_port(&self) -> Option<u16> {
        match &self.l4 {
            Some(L4::Tcp(t)) => Some(t.src_port),
            Some(L4::Udp(u)) => Some(u.src_port),
            _ => None,
        }
    }

    /// TCP or UDP destination port.
    pub(crate) fn dst_port(&self) -> Option<u16> {
        match &self.l4 {
            Some(L4::Tcp(t)) => Some(t.dst_port),
            Some(L4::Udp(u)) => Some(u.dst_port),
            _ => None,
        }
    }

    /// The transport payload (TCP, UDP or ICMP data); empty otherwise.
    pub fn payload(&self) -> &[u8] {
        match &self.l4 {
            Some(L4::Tcp(t)) => &t.payload,
            Some(L4::Udp(u)) => &u.payload,
            Some(L4::Icmp(i)) => &i.payload,
            None => &[],
        }
    }
}

fn decode_arp(arp: &etherparse::ArpPacketSlice<'_>) -> Option<L3> {
    let mac = |b: &[u8]| <[u8; 6]>::try_from(b).ok();
    let ip = |b: &[u8]| <[u8; 4]>::try_from(b).ok().map(Ipv4Addr::from);
    Some(L3::Arp(Arp {
        operation: arp.operation().0,
        sender_mac: mac(arp.sender_hw_addr())?,
        sender_ip: ip(arp.sender_protocol_addr())?,
        target_mac: mac(arp.target_hw_addr())?,
        target_ip: ip(arp.target_protocol_addr())?,
    }))
}

fn icmp(v6: bool, icmp_type: u8, code: u8, rest: [u8; 4], payload: &[u8]) -> Icmp {
    let is_echo = if v6 {
        matches!(icmp_type, 128 | 129)
    } else {
        matches!(icmp_type, 0 | 8)
    };
    Icmp {
        v6,
        icmp_type,
        code,
        echo: is_echo.then(|| {
            (
                u16::from_be_bytes([rest[0], rest[1]]),
                u16::from_be_bytes([rest[2], rest[3]]),
            )
        }),
        payload: payload.to_vec(),
    }
}

#[cfg(test)]
mod tests;
