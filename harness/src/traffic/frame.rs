//! Raw frames (built by the caller, e.g. with etherparse) injected on an
//! interface of a node through a pcap handle opened inside it.
//!
//! The injecting handle does not see its own frames, but every capture on
//! the interface (and on the peer's end of a veth) does.

use crate::error::{Error, Result, Subject};
use crate::namespace::Namespace;

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

    /// Injects one raw frame on `ifname` (see [`crate::Node::inject`]).
    pub fn inject(&self, ifname: &str, frame: &[u8]) -> Result<()> {
        self.injector(ifname)?.send(frame)
    }
}
