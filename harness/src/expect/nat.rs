//! The NAT helper: one flow seen on two captures, with its addresses and
//! ports rewritten as expected.
//!
//! The flow is first found on the capture *before* translation (by a
//! matcher) — inside for masquerade, outside for a port forward. Its twin on
//! the capture *after* translation is recognised by what NAT does not rewrite: the
//! protocol, the payload (when there is one), the TCP sequence number, the
//! ICMP echo sequence number — and must carry the expected translated
//! addresses: the source given to [`NatExpect::snat_to`] (masquerade), the
//! destination given to [`NatExpect::dnat_to`] (port forward), everything
//! else unchanged.
//!
//! ```no_run
//! use std::time::Duration;
//! use netrig::expect::{expect_nat, udp};
//! # fn demo(lab: &netrig::Lab) -> netrig::Result<()> {
//! let inside = lab.node("router")?.capture("br0")?;   // before SNAT
//! let outside = lab.node("router")?.capture("wan0")?; // after SNAT
//! lab.node("web")?.udp_send("198.51.100.10:53", b"q")?;
//! let flow = expect_nat(&inside, &outside, udp().dst("198.51.100.10:53"))
//!     .snat_to("203.0.113.2")
//!     .within(Duration::from_secs(1))?;
//! println!("{}\n{}", flow.before, flow.after);
//! # Ok(()) }
//! ```

use std::time::{Duration, Instant};

use std::fmt;

use super::addr::AddrSpec;
use super::matcher::{Matcher, any};
use crate::capture::Capture;
use crate::error::{Error, Result};
use crate::packet::{L4, Packet};

/// A flow matched on both sides of a NAT.
#[derive(Debug, Clone)]
pub struct NatFlow {
    /// The packet as captured before translation.
    pub before: Packet,
    /// The same packet as captured after translation.
    pub after: Packet,
}

/// A NAT expectation under construction; finish with [`NatExpect::within`].
#[derive(Debug)]
#[must_use = "an expectation does nothing until `.within(..)`"]
pub struct NatExpect<'c> {
    before: &'c Capture,
    after: &'c Capture,
    flow: Matcher,
    snat: Option<Result<AddrSpec, String>>,
    dnat: Option<Result<AddrSpec, String>>,
}

/// Expects the flow matching `flow` on `before` to appear on `after`, translated.
pub fn expect_nat<'c>(before: &'c Capture, after: &'c Capture, flow: Matcher) -> NatExpect<'c> {
    NatExpect {
        before,
        after,
        flow,
        snat: None,
        dnat: None,
    }
}

impl NatExpect<'_> {
    /// The source address (and port, if given) the flow must carry after translation.
    /// Anything that prints as an address, as for [`Matcher::src`].
    pub fn snat_to(mut self, a: impl fmt::Display) -> Self {
        self.snat = Some(AddrSpec::of(a));
        self
    }

    /// The destination address (and port, if given) the flow must carry after translation.
    pub fn dnat_to(mut self, a: impl fmt::Display) -> Self {
        self.dnat = Some(AddrSpec::of(a));
        self
    }

    /// Waits up to `timeout` (in total) for the flow on both captures.
    pub fn within(self, timeout: Duration) -> Result<NatFlow> {
        let deadline = Instant::now() + timeout;
        let snat = self
            .snat
            .clone()
            .transpose()
            .map_err(|e| Error::invalid(self.after.subject(), "snat_to", e))?;
        let dnat = self
            .dnat
            .clone()
            .transpose()
            .map_err(|e| Error::invalid(self.after.subject(), "dnat_to", e))?;
        let before = self.before.expect(self.flow.clone()).within(timeout)?;
        let twin = twin_matcher(&before, snat.as_ref(), dnat.as_ref());
        tracing::debug!(before = %before.summary(), after = %twin, "expect NAT twin");
        let left = deadline.saturating_duration_since(Instant::now());
        let mut pos = 0;
        let found = self.after.wait_for(left, |ps| {
            let hit = ps.iter().skip(pos).find(|p| twin.matches(p)).cloned();
            pos = pos.max(ps.len());
            hit
        })?;
        match found {
            Some(after) => Ok(NatFlow { before, after }),
            None => Err(crate::evidence::expectation_failed(
                self.after,
                &format!(
                    "the flow seen on {} to appear translated within {timeout:?}: {twin}",
                    self.before.subject()
                ),
                Some(format!("before translation it was:\n  {before}")),
            )),
        }
    }
}

/// What the translated copy of `p` must look like.
fn twin_matcher(p: &Packet, snat: Option<&AddrSpec>, dnat: Option<&AddrSpec>) -> Matcher {
    let mut m = any();
    let src = snat.cloned().or_else(|| {
        p.src_ip().map(|ip| AddrSpec {
            net: ip.into(),
            port: p.src_port(),
        })
    });
    let dst = dnat.cloned().or_else(|| {
        p.dst_ip().map(|ip| AddrSpec {
            net: ip.into(),
            port: p.dst_port(),
        })
    });
    m = match &p.l4 {
        Some(L4::Tcp(t)) => {
            let m = super::tcp().flags(t.flags);
            if t.payload.is_empty() {
                m.seq(t.seq)
            } else {
                m.payload(&t.payload)
            }
        }
        Some(L4::Udp(u)) => super::udp().payload(&u.payload),
        Some(L4::Icmp(i)) => {
            let m = super::icmp().icmp_type(i.icmp_type).icmp_code(i.code);
            match i.echo {
                Some((_, seq)) => m.echo_seq(seq).payload(&i.payload),
                None => m,
            }
        }
        None => m,
    };
    if let Some(s) = src {
        m = m.src_spec(s);
    }
    if let Some(d) = dst {
        m = m.dst_spec(d);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    fn udp_packet(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Packet {
        let mut v = Vec::new();
        PacketBuilder::ethernet2([2; 6], [4; 6])
            .ipv4(src, dst, 64)
            .udp(sport, dport)
            .write(&mut v, b"query")
            .unwrap();
        Packet::decode(&v)
    }

    /// The twin of a masqueraded datagram has the new source, the same destination and payload.
    #[test]
    fn twin_of_masqueraded_udp() {
        let inside = udp_packet([172, 17, 0, 2], 40000, [198, 51, 100, 10], 53);
        let snat = AddrSpec::parse("203.0.113.2").unwrap();
        let m = twin_matcher(&inside, Some(&snat), None);
        assert!(m.matches(&udp_packet([203, 0, 113, 2], 40000, [198, 51, 100, 10], 53)));
        assert!(
            m.matches(&udp_packet([203, 0, 113, 2], 1234, [198, 51, 100, 10], 53)),
            "port may change"
        );
        assert!(!m.matches(&inside), "untranslated is not the twin");
        assert!(!m.matches(&udp_packet([203, 0, 113, 2], 40000, [198, 51, 100, 11], 53)));
        let dnat = AddrSpec::parse("10.2.0.2:9000").unwrap();
        let m = twin_matcher(&inside, None, Some(&dnat));
        assert!(m.matches(&udp_packet([172, 17, 0, 2], 40000, [10, 2, 0, 2], 9000)));
        assert!(!m.matches(&udp_packet([172, 17, 0, 3], 40000, [10, 2, 0, 2], 9000)));
    }
}
