//! On the wire from inside a node, with netrig's public API: plain sockets
//! made in the node's namespace (`Node::run`), and raw frames for
//! `Node::inject`, built with etherparse, with the MACs they need (shared by
//! the integration tests, the catalogue and the benches).
// Each includer uses part of it.
#![allow(dead_code)]

use std::net::{SocketAddr, SocketAddrV4, TcpStream, UdpSocket};
use std::time::Duration;

use etherparse::PacketBuilder;
use netrig::{Error, Mac, Node, Result, Subject};

/// A TCP connection from inside `node` to `dst` (a failure to connect is an error).
pub fn tcp_stream(node: &Node<'_>, dst: SocketAddr, timeout: Duration) -> Result<TcpStream> {
    node.run(move || TcpStream::connect_timeout(&dst, timeout))?
        .map_err(|e| {
            Error::io(
                Subject::default().node(node.name()),
                format!("connect to {dst}"),
                e,
            )
        })
}

/// A UDP socket bound to `bind` inside `node` (port 0 for any).
pub fn udp_socket(node: &Node<'_>, bind: SocketAddr) -> Result<UdpSocket> {
    node.run(move || UdpSocket::bind(bind))?.map_err(|e| {
        Error::io(
            Subject::default().node(node.name()),
            format!("bind a UDP socket to {bind}"),
            e,
        )
    })
}

/// An Ethernet/IPv4/UDP frame with checksums filled in.
pub fn udp_frame(
    src_mac: Mac,
    dst_mac: Mac,
    src: SocketAddrV4,
    dst: SocketAddrV4,
    payload: &[u8],
) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(src_mac, dst_mac)
        .ipv4(src.ip().octets(), dst.ip().octets(), 64)
        .udp(src.port(), dst.port());
    let mut v = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut v, payload)
        .expect("writing to a Vec cannot fail");
    v
}

/// An Ethernet/IPv4/TCP SYN frame with checksums filled in.
pub fn tcp_syn_frame(
    src_mac: Mac,
    dst_mac: Mac,
    src: SocketAddrV4,
    dst: SocketAddrV4,
    seq: u32,
) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(src_mac, dst_mac)
        .ipv4(src.ip().octets(), dst.ip().octets(), 64)
        .tcp(src.port(), dst.port(), seq, 64240)
        .syn();
    let mut v = Vec::with_capacity(b.size(0));
    b.write(&mut v, &[]).expect("writing to a Vec cannot fail");
    v
}

/// The UDP payload of an Ethernet frame (from a `.pcap` file), if it is UDP.
pub fn udp_payload(frame: &[u8]) -> Option<&[u8]> {
    match etherparse::SlicedPacket::from_ethernet(frame)
        .ok()?
        .transport?
    {
        etherparse::TransportSlice::Udp(u) => Some(u.payload()),
        _ => None,
    }
}

/// The MAC address of `node`'s interface `ifname`, as the kernel reports it.
pub fn mac(node: &Node<'_>, ifname: &str) -> Result<Mac> {
    let link = node.links()?.into_iter().find(|l| l.name == ifname);
    Ok(link
        .and_then(|l| l.mac)
        .unwrap_or_else(|| panic!("{node:?} has no interface {ifname:?} with a MAC address")))
}
