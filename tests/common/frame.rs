//! Raw frames for `Node::inject`, built with etherparse, and the MAC
//! addresses they need (shared by the integration tests and the catalogue).

use std::net::SocketAddrV4;

use etherparse::PacketBuilder;
use netrig::{Mac, Node, Result};

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

/// The MAC address of `node`'s interface `ifname`, as the kernel reports it.
pub fn mac(node: &Node<'_>, ifname: &str) -> Result<Mac> {
    let link = node.links()?.into_iter().find(|l| l.name == ifname);
    Ok(link
        .and_then(|l| l.mac)
        .unwrap_or_else(|| panic!("{node:?} has no interface {ifname:?} with a MAC address")))
}
