//! Raw frames: built with etherparse, injected on an interface of a node
//! through a pcap handle opened inside it.
//!
//! The injecting handle does not see its own frames, but every capture on
//! the interface (and on the peer's end of a veth) does.

use std::net::SocketAddrV4;

use etherparse::PacketBuilder;

use crate::error::{Error, Result, Subject};
use crate::namespace::Namespace;
use crate::net::Mac;

/// An Ethernet/IPv4/UDP frame with checksums filled in.
///
/// ```
/// let f = netrig::udp_frame([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2],
///     "10.0.0.1:5555".parse().unwrap(), "10.0.0.2:7000".parse().unwrap(), b"hello");
/// assert_eq!(f.len(), 47);
/// ```
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

/// A pcap handle for sending raw frames on one interface of a node.
pub struct Injector {
    /// `None` only while dropping.
    cap: Option<pcap::Capture<pcap::Active>>,
    subject: Subject,
}

impl Drop for Injector {
    fn drop(&mut self) {
        // Closing an AF_PACKET socket waits for an RCU grace period (10-30 ms); not here.
        if let Some(cap) = self.cap.take() {
            let _ = std::thread::Builder::new()
                .name("netrig-inj-close".into())
                .spawn(move || drop(cap));
        }
    }
}

impl std::fmt::Debug for Injector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Injector({})", self.subject)
    }
}

impl Injector {
    /// Sends one frame as is.
    pub fn send(&mut self, frame: &[u8]) -> Result<()> {
        let cap = self
            .cap
            .as_mut()
            .expect("an injector is only emptied while dropped");
        cap.sendpacket(frame).map_err(|e| Error::Capture {
            subject: self.subject.clone(),
            message: format!("inject a {}-byte frame: {e}", frame.len()),
        })
    }
}

impl Namespace {
    /// Opens a handle for injecting frames on `ifname` (which must be up).
    pub(crate) fn injector(&self, ifname: &str) -> Result<Injector> {
        let subject = self.subject().clone().link(ifname);
        let cap = self
            .run(|| {
                pcap::Capture::from_device(ifname)
                    .and_then(|c| c.snaplen(64).immediate_mode(true).open())
            })?
            .map_err(|e| Error::Capture {
                subject: subject.clone(),
                message: format!("open the device for injection: {e}"),
            })?;
        tracing::debug!(%subject, "injector open");
        Ok(Injector {
            cap: Some(cap),
            subject,
        })
    }

    /// Injects one raw frame on `ifname`.
    ///
    /// ```no_run
    /// # fn demo(lab: &netrig::Lab) -> netrig::Result<()> {
    /// let a = lab.node("a")?;
    /// let (src, dst) = (a.interface("eth0")?.mac, lab.node("b")?.interface("eth0")?.mac);
    /// let f = netrig::udp_frame(src, dst, "10.0.0.1:5555".parse().unwrap(), "10.0.0.2:7000".parse().unwrap(), b"x");
    /// a.inject("eth0", &f)?;
    /// # Ok(()) }
    /// ```
    pub fn inject(&self, ifname: &str, frame: &[u8]) -> Result<()> {
        self.injector(ifname)?.send(frame)
    }
}
