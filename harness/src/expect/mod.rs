//! Expectations on captured traffic: a packet arrives, N arrive, several
//! arrive in order, none arrives (proved by a sentinel), a flow crosses a NAT.
//!
//! Every wait is on packet arrival with a deadline (a condition variable fed
//! by the capture's reader thread); nothing sleeps. A failed expectation
//! returns [`Error::Expectation`](crate::Error) with what was
//! expected, what the capture saw instead (the last 20 packets, one line
//! each) and where the evidence was written (see [`crate::Lab::collect_evidence`]).
//!
//! "Nothing arrived" is only decidable against an event: [`Capture::expect_none`]
//! takes a [`Sentinel`], a packet sent *after* the traffic under test through
//! the same path. Once the sentinel is seen, anything the traffic under test
//! caused has been seen too; a match before it is a failure. The firewall's
//! own rule counters ([`crate::Node::counters`]) are the
//! complementary proof: the rule that should have dropped the traffic counted it.
//!
//! ```no_run
//! use std::time::Duration;
//! use netrig::TcpFlags;
//! use netrig::expect::{tcp, udp, Sentinel};
//! # fn demo(lab: &netrig::Lab) -> netrig::Result<()> {
//! let cap = lab.node("server")?.capture("eth0")?;
//! let client = lab.node("client")?;
//! client.tcp_connect("10.0.0.2:22", Duration::from_millis(200))?;   // blocked by the firewall
//! cap.expect_none(tcp().dst_port(22).flags(TcpFlags::SYN), Sentinel::udp(&client, "10.0.0.2:9"))
//!     .within(Duration::from_secs(1))?;
//! # Ok(()) }
//! ```

mod addr;
mod matcher;
mod nat;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

pub use matcher::{Matcher, any, icmp, ip, tcp, udp};
pub use nat::{NatExpect, NatFlow, expect_nat};

use crate::capture::Capture;
use crate::error::{Error, Result};
use crate::namespace::Namespace;
use crate::packet::Packet;

/// A position in a capture: expectations built with `since(mark)` only
/// consider packets captured after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Mark(pub usize);

impl Capture {
    /// The current end of the capture (after a sync), for `since(mark)`.
    pub fn mark(&self) -> Mark {
        let _ = self.sync();
        Mark(self.len())
    }

    /// Expects a packet matching `m`; finish with [`Expect::within`].
    ///
    /// Packets captured before this call count (the capture was started
    /// before the traffic); use `.since(mark)` to skip earlier ones.
    pub fn expect(&self, m: Matcher) -> Expect<'_> {
        Expect {
            capture: self,
            matcher: m,
            since: Mark(0),
        }
    }

    /// Expects at least `n` packets matching `m`; finish with [`ExpectCount::within`].
    pub fn expect_count(&self, m: Matcher, n: usize) -> ExpectCount<'_> {
        ExpectCount {
            capture: self,
            matcher: m,
            count: n,
            since: Mark(0),
        }
    }

    /// Expects packets matching each matcher, in this order (others may come between).
    pub fn expect_sequence(&self, ms: impl IntoIterator<Item = Matcher>) -> ExpectSequence<'_> {
        ExpectSequence {
            capture: self,
            matchers: ms.into_iter().collect(),
            since: Mark(0),
        }
    }

    /// Expects that no packet matching `m` arrives before `sentinel` does.
    ///
    /// Every packet of the capture counts, including ones captured before
    /// this call: use `.since(capture.mark())` taken before the traffic under
    /// test to look only at what came after.
    pub fn expect_none(&self, m: Matcher, sentinel: Sentinel) -> ExpectNone<'_> {
        ExpectNone {
            capture: self,
            matcher: m,
            sentinel,
            since: Mark(0),
        }
    }
}

fn check_valid(cap: &Capture, ms: &[&Matcher]) -> Result<()> {
    for m in ms {
        if let Some(e) = m.invalid() {
            return Err(Error::invalid(
                cap.subject(),
                "matcher",
                format!("{m}: {e}"),
            ));
        }
    }
    Ok(())
}

/// An expectation that one packet matching a [`Matcher`] is captured.
#[derive(Debug)]
#[must_use = "an expectation does nothing until `.within(..)`"]
pub struct Expect<'c> {
    capture: &'c Capture,
    matcher: Matcher,
    since: Mark,
}

impl Expect<'_> {
    /// Only consider packets captured after `mark`.
    pub fn since(mut self, mark: Mark) -> Self {
        self.since = mark;
        self
    }

    /// Waits up to `timeout` for a matching packet and returns it (the first
    /// one, possibly captured before this call). Fails with evidence.
    pub fn within(self, timeout: Duration) -> Result<Packet> {
        let cap = self.capture;
        check_valid(cap, &[&self.matcher])?;
        tracing::debug!(subject = %cap.subject(), expect = %self.matcher, ?timeout, "expect");
        let mut pos = self.since.0;
        let found = cap.wait_for(timeout, |ps| {
            let hit = ps
                .iter()
                .skip(pos)
                .find(|p| self.matcher.matches(p))
                .cloned();
            pos = pos.max(ps.len());
            hit
        })?;
        found.ok_or_else(|| {
            crate::evidence::expectation_failed(
                cap,
                &format!("within {timeout:?}: {}", self.matcher),
                None,
                self.since.0,
            )
        })
    }
}

/// An expectation that at least N packets matching a [`Matcher`] are captured.
#[derive(Debug)]
#[must_use = "an expectation does nothing until `.within(..)`"]
pub struct ExpectCount<'c> {
    capture: &'c Capture,
    matcher: Matcher,
    count: usize,
    since: Mark,
}

impl ExpectCount<'_> {
    /// Only consider packets captured after `mark`.
    pub fn since(mut self, mark: Mark) -> Self {
        self.since = mark;
        self
    }

    /// Waits up to `timeout` until `count` matching packets were captured; returns them.
    pub fn within(self, timeout: Duration) -> Result<Vec<Packet>> {
        let cap = self.capture;
        check_valid(cap, &[&self.matcher])?;
        tracing::debug!(subject = %cap.subject(), expect = %self.matcher, count = self.count, ?timeout, "expect count");
        let mut pos = self.since.0;
        let mut hits: Vec<Packet> = Vec::new();
        let found = cap.wait_for(timeout, |ps| {
            hits.extend(
                ps.iter()
                    .skip(pos)
                    .filter(|p| self.matcher.matches(p))
                    .cloned(),
            );
            pos = pos.max(ps.len());
            (hits.len() >= self.count).then(|| hits.clone())
        })?;
        found.ok_or_else(|| {
            crate::evidence::expectation_failed(
                cap,
                &format!(
                    "at least {} packets within {timeout:?}: {}",
                    self.count, self.matcher
                ),
                Some(format!("only {} matched", hits.len())),
                self.since.0,
            )
        })
    }
}

/// An expectation that packets matching several matchers arrive in order.
#[derive(Debug)]
#[must_use = "an expectation does nothing until `.within(..)`"]
pub struct ExpectSequence<'c> {
    capture: &'c Capture,
    matchers: Vec<Matcher>,
    since: Mark,
}

impl ExpectSequence<'_> {
    /// Only consider packets captured after `mark`.
    pub fn since(mut self, mark: Mark) -> Self {
        self.since = mark;
        self
    }

    /// Waits up to `timeout` for the whole sequence; returns one packet per matcher.
    pub fn within(self, timeout: Duration) -> Result<Vec<Packet>> {
        let cap = self.capture;
        check_valid(cap, &self.matchers.iter().collect::<Vec<_>>())?;
        tracing::debug!(subject = %cap.subject(), steps = self.matchers.len(), ?timeout, "expect sequence");
        let mut pos = self.since.0;
        let mut hits: Vec<Packet> = Vec::new();
        let found = cap.wait_for(timeout, |ps| {
            for p in ps.iter().skip(pos) {
                pos += 1;
                if let Some(m) = self.matchers.get(hits.len())
                    && m.matches(p)
                {
                    hits.push(p.clone());
                }
            }
            (hits.len() == self.matchers.len()).then(|| hits.clone())
        })?;
        found.ok_or_else(|| {
            let steps: Vec<String> = self
                .matchers
                .iter()
                .enumerate()
                .map(|(i, m)| format!("{}{}. {m}", if i < hits.len() { "✓ " } else { "  " }, i + 1))
                .collect();
            crate::evidence::expectation_failed(
                cap,
                &format!(
                    "this sequence within {timeout:?}:\n    {}",
                    steps.join("\n    ")
                ),
                Some(format!(
                    "step {} never matched (after {} earlier step(s) did)",
                    hits.len() + 1,
                    hits.len()
                )),
                self.since.0,
            )
        })
    }
}

/// A packet sent after the traffic under test, through the same path, whose
/// arrival proves that anything earlier has arrived too: [`Sentinel::udp`],
/// [`Sentinel::udp_translated`] or [`Sentinel::packet`].
#[derive(Debug, Clone)]
pub struct Sentinel(Kind);

#[derive(Debug, Clone)]
enum Kind {
    /// A UDP datagram with a unique payload, sent from a node when the
    /// expectation is checked.
    Udp {
        /// The sending node.
        from: Namespace,
        /// Where to send it (any port: it need not be answered).
        dst: String,
        /// Its destination as the capture sees it (after DNAT; else `dst`).
        seen_dst: String,
        /// The unique payload.
        tag: Vec<u8>,
    },
    /// A packet the test sends itself (after the traffic under test).
    Packet(Matcher),
}

static SENTINEL_COUNTER: AtomicU32 = AtomicU32::new(0);

impl Sentinel {
    /// A UDP sentinel from `from` to `dst` (`"10.0.0.2:9"`), sent when the
    /// expectation is checked. Its route and firewall treatment must match the
    /// traffic under test's up to the capture point, and it must be allowed.
    pub fn udp(from: &Namespace, dst: impl Into<String>) -> Sentinel {
        let n = SENTINEL_COUNTER.fetch_add(1, Ordering::Relaxed);
        let dst = dst.into();
        Sentinel(Kind::Udp {
            from: from.clone(),
            seen_dst: dst.clone(),
            dst,
            tag: format!("netrig-sentinel-{}-{n}", std::process::id()).into_bytes(),
        })
    }

    /// A sentinel the test sends itself; `m` must match it (and not the traffic under test).
    pub fn packet(m: Matcher) -> Sentinel {
        Sentinel(Kind::Packet(m))
    }

    /// The matcher that recognises the sentinel.
    fn matcher(&self) -> Matcher {
        match &self.0 {
            Kind::Udp { seen_dst, tag, .. } => udp().dst(seen_dst.as_str()).payload(tag),
            Kind::Packet(m) => m.clone(),
        }
    }

    fn send(&self) -> Result<()> {
        if let Kind::Udp { from, dst, tag, .. } = &self.0 {
            from.udp_send(dst.as_str(), tag)?;
        }
        Ok(())
    }
}

/// An expectation that no packet matching a [`Matcher`] arrives before a [`Sentinel`].
#[derive(Debug)]
#[must_use = "an expectation does nothing until `.within(..)`"]
pub struct ExpectNone<'c> {
    capture: &'c Capture,
    matcher: Matcher,
    sentinel: Sentinel,
    since: Mark,
}

impl ExpectNone<'_> {
    /// Only consider packets captured after `mark`.
    pub fn since(mut self, mark: Mark) -> Self {
        self.since = mark;
        self
    }

    /// Sends the sentinel (for [`Sentinel::udp`]), waits up to `timeout` for
    /// it, and fails if a matching packet was captured before it (or by the
    /// time it was seen) — or if the sentinel never came (absence is then
    /// unproven).
    pub fn within(self, timeout: Duration) -> Result<()> {
        let cap = self.capture;
        let sentinel_m = self.sentinel.matcher();
        check_valid(cap, &[&self.matcher, &sentinel_m])?;
        tracing::debug!(subject = %cap.subject(), expect_none = %self.matcher, sentinel = %sentinel_m, "expect none");
        self.sentinel.send()?;
        let mut pos = self.since.0;
        let seen = cap.wait_for(timeout, |ps| {
            let at = ps
                .iter()
                .skip(pos)
                .position(|p| sentinel_m.matches(p))
                .map(|i| i + pos);
            pos = pos.max(ps.len());
            at
        })?;
        if seen.is_none() {
            return Err(crate::evidence::expectation_failed(
                cap,
                &format!(
                    "no {} — proved by the sentinel ({sentinel_m})",
                    self.matcher
                ),
                Some(format!(
                    "the sentinel never arrived within {timeout:?}, so absence is unproven \
                     (is its path the same, is it allowed, does the capture filter pass it?)"
                )),
                self.since.0,
            ));
        };
        // Anything matching before the sentinel fails; so does anything seen
        // by now (a late straggler is still evidence of a leak).
        let offenders: Vec<String> = cap.with_packets(|ps| {
            ps[self.since.0.min(ps.len())..]
                .iter()
                .filter(|p| self.matcher.matches(p) && !sentinel_m.matches(p))
                .map(|p| format!("  {p}"))
                .collect()
        });
        if offenders.is_empty() {
            return Ok(());
        }
        Err(crate::evidence::expectation_failed(
            cap,
            &format!("no {} before the sentinel ({sentinel_m})", self.matcher),
            Some(format!(
                "{} matching packet(s) arrived:\n{}",
                offenders.len(),
                offenders.join("\n")
            )),
            self.since.0,
        ))
    }
}
