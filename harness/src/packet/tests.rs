//! Decoding real frames built with etherparse.

use super::*;
use etherparse::PacketBuilder;

const A: Mac = [2, 0, 0, 0, 0, 1];
const B: Mac = [2, 0, 0, 0, 0, 2];

fn build(b: etherparse::PacketBuilderStep<etherparse::UdpHeader>, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    b.write(&mut v, payload).unwrap();
    v
}

/// A TCP SYN's summary reads like tcpdump's line (the module docs' example).
#[test]
fn summary_reads_like_tcpdump() {
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([203, 0, 113, 1], [172, 17, 0, 2], 64)
        .tcp(47836, 80, 1000, 64240)
        .syn();
    let mut frame = Vec::new();
    b.write(&mut frame, &[]).unwrap();
    let p = Packet::decode(&frame);
    assert_eq!(
        p.summary(),
        "IP 203.0.113.1.47836 > 172.17.0.2.80: Flags [S], seq 1000, win 64240, length 0"
    );
}

/// UDP frames decode into addresses, ports, TTL and payload.
#[test]
fn decodes_udp() {
    let f = build(
        PacketBuilder::ethernet2(A, B)
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 63)
            .udp(5555, 7000),
        b"hello",
    );
    let p = Packet::decode(&f);
    assert_eq!(p.eth_src, A);
    assert_eq!(p.eth_dst, B);
    assert_eq!(p.ethertype, 0x0800);
    assert_eq!(p.src_ip(), Some("10.0.0.1".parse().unwrap()));
    assert_eq!(p.dst_ip(), Some("10.0.0.2".parse().unwrap()));
    assert_eq!(p.ip().unwrap().ttl, 63);
    assert_eq!((p.src_port(), p.dst_port()), (Some(5555), Some(7000)));
    assert_eq!(p.payload(), b"hello");
    assert_eq!(
        p.summary(),
        "IP 10.0.0.1.5555 > 10.0.0.2.7000: UDP, length 5"
    );
    assert!(p.decode_error.is_none());
}

/// TCP flags, seq and ack decode and print like tcpdump.
#[test]
fn decodes_tcp_flags() {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(A, B)
        .ipv4([10, 0, 0, 2], [10, 0, 0, 1], 64)
        .tcp(80, 47836, 5000, 1024)
        .syn()
        .ack(1001)
        .write(&mut v, &[])
        .unwrap();
    let p = Packet::decode(&v);
    let t = p.tcp().unwrap();
    assert_eq!(t.flags, TcpFlags::SYN | TcpFlags::ACK);
    assert_eq!((t.seq, t.ack), (5000, 1001));
    assert_eq!(
        p.summary(),
        "IP 10.0.0.2.80 > 10.0.0.1.47836: Flags [S.], seq 5000, ack 1001, win 1024, length 0"
    );
    assert_eq!(TcpFlags::RST.to_string(), "R");
    assert_eq!((TcpFlags(0x08) | TcpFlags::ACK).to_string(), "P.");
    assert_eq!((TcpFlags::FIN | TcpFlags::ACK).to_string(), "F.");
}

/// ICMP echo carries id and sequence.
#[test]
fn decodes_icmp_echo() {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(A, B)
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .icmpv4_echo_request(7, 3)
        .write(&mut v, b"abcd")
        .unwrap();
    let p = Packet::decode(&v);
    let i = p.icmp().unwrap();
    assert!(i.is_echo_request());
    assert_eq!(i.echo, Some((7, 3)));
    assert_eq!(
        p.summary(),
        "IP 10.0.0.1 > 10.0.0.2: ICMP echo request, id 7, seq 3, length 12"
    );
}

/// ARP requests decode into sender and target.
#[test]
fn decodes_arp() {
    let arp = etherparse::ArpPacket::new(
        etherparse::ArpHardwareId::ETHERNET,
        etherparse::EtherType::IPV4,
        etherparse::ArpOperation::REQUEST,
        &A,
        &[10, 0, 0, 1],
        &[0; 6],
        &[10, 0, 0, 2],
    )
    .unwrap();
    let mut v = Vec::new();
    PacketBuilder::ethernet2(A, [0xff; 6])
        .arp(arp)
        .write(&mut v)
        .unwrap();
    let p = Packet::decode(&v);
    assert_eq!(
        p.summary(),
        "ARP, Request who-has 10.0.0.2 tell 10.0.0.1, length 28"
    );
}

/// IPv6 UDP and ICMPv6 echo decode with hop limit and next header.
#[test]
fn decodes_ipv6() {
    let (s6, d6) = (
        [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        {
            let mut d = [0u8; 16];
            d[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
            d[15] = 2;
            d
        },
    );
    let mut v = Vec::new();
    PacketBuilder::ethernet2(A, B)
        .ipv6(s6, d6, 17)
        .udp(5353, 53)
        .write(&mut v, b"q6")
        .unwrap();
    let p = Packet::decode(&v);
    assert!(matches!(p.l3, Some(L3::Ipv6(_))));
    assert_eq!(p.ip().unwrap().ttl, 17);
    assert_eq!(p.ip().unwrap().protocol, 17);
    assert_eq!(
        p.summary(),
        "IP6 2001:db8::1.5353 > 2001:db8::2.53: UDP, length 2"
    );
    let mut v = Vec::new();
    PacketBuilder::ethernet2(A, B)
        .ipv6(s6, d6, 64)
        .icmpv6_echo_request(5, 6)
        .write(&mut v, b"")
        .unwrap();
    let p = Packet::decode(&v);
    let i = p.icmp().unwrap();
    assert!(i.v6 && i.is_echo_request());
    assert_eq!(i.echo, Some((5, 6)));
    assert!(
        p.summary().contains("ICMP6 echo request, id 5, seq 6"),
        "{}",
        p.summary()
    );
}

/// ICMPv6 errors and neighbour discovery print by name, as tcpdump's do.
#[test]
fn icmpv6_messages_are_named() {
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
    let named = |t: etherparse::Icmpv6Type| {
        let mut v = Vec::new();
        PacketBuilder::ethernet2(A, B)
            .ipv6(s6, d6, 64)
            .icmpv6(t)
            .write(&mut v, &[0u8; 8])
            .unwrap();
        Packet::decode(&v).summary()
    };
    use etherparse::{Icmpv6Type, icmpv6::DestUnreachableCode};
    assert_eq!(
        named(Icmpv6Type::DestinationUnreachable(
            DestUnreachableCode::Port
        )),
        "IP6 2001:db8::1 > 2001:db8::2: ICMP6 port unreachable, length 16"
    );
    assert!(
        named(Icmpv6Type::DestinationUnreachable(
            DestUnreachableCode::Prohibited
        ))
        .contains("ICMP6 admin prohibited")
    );
}

/// A truncated frame keeps what could be decoded and says why it stopped.
#[test]
fn truncated_frames_are_kept() {
    let f = build(
        PacketBuilder::ethernet2(A, B)
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .udp(1, 2),
        b"hello",
    );
    let p = Packet::decode(&f[..f.len() - 3]);
    assert_eq!(p.src_ip(), Some("10.0.0.1".parse().unwrap()));
    assert!(p.decode_error.is_some(), "{p:?}");
    let junk = Packet::decode(&[1, 2, 3]);
    assert!(junk.l3.is_none() && junk.decode_error.is_some());
    assert!(junk.summary().contains("ethertype"), "{}", junk.summary());
}
