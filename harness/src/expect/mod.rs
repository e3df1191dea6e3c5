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

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

pub use matcher::{Matcher, any, icmp, icmp6, ip, ip6, tcp, udp};
pub use nat::{NatExpect, NatFlow, expect_nat};

use crate::capture::Capture;
use crate::error::{Error, Result};
use crate::namespace::Namespace;
use crate::packet::Packet;

impl Capture {
    /// Expects a packet matching `m`; `.within(timeout)` returns it.
    ///
    /// Packets captured before this call count (the capture was started
    /// before the traffic); to look only at later packets, start another
    /// capture.
    pub fn expect(&self, m: Matcher) -> Expect<'_, Packet> {
        Expect::new(self, What::One(m))
    }

    /// Expects at least `n` packets matching `m`; `.within(timeout)` returns them.
    pub fn expect_count(&self, m: Matcher, n: usize) -> Expect<'_, Vec<Packet>> {
        Expect::new(self, What::Count(m, n))
    }

    /// Expects packets matching each matcher, in this order (others may come
    /// between); `.within(timeout)` returns one packet per matcher.
    pub fn expect_sequence(
        &self,
        ms: impl IntoIterator<Item = Matcher>,
    ) -> Expect<'_, Vec<Packet>> {
        Expect::new(self, What::Sequence(ms.into_iter().collect()))
    }

    /// Expects that no packet matching `m` arrives before `sentinel` does.
    ///
    /// Every packet of the capture counts, including ones captured before
    /// this call: start a capture just before the traffic under test to look
    /// only at what came after.
    pub fn expect_none(&self, m: Matcher, sentinel: Sentinel) -> Expect<'_, ()> {
        Expect::new(self, What::None(m, sentinel))
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

/// What an [`Expect`] waits for.
#[derive(Debug)]
enum What {
    One(Matcher),
    Count(Matcher, usize),
    Sequence(Vec<Matcher>),
    None(Matcher, Sentinel),
}

/// An expectation on a capture, made by [`Capture::expect`] (one packet:
/// `T` is [`Packet`]), [`Capture::expect_count`] and
/// [`Capture::expect_sequence`] (`Vec<Packet>`) or [`Capture::expect_none`]
/// (`()`); it does nothing until `.within(timeout)`, which waits and returns
/// what was seen or fails with evidence.
#[derive(Debug)]
#[must_use = "an expectation does nothing until `.within(..)`"]
pub struct Expect<'c, T> {
    capture: &'c Capture,
    what: What,
    outcome: PhantomData<fn() -> T>,
}

impl<'c, T> Expect<'c, T> {
    fn new(capture: &'c Capture, what: What) -> Self {
        Expect {
            capture,
            what,
            outcome: PhantomData,
        }
    }
}

impl Expect<'_, Packet> {
    /// Waits up to `timeout` for a matching packet and returns it (the first
    /// one, possibly captured before this call). Fails with evidence.
    pub fn within(self, timeout: Duration) -> Result<Packet> {
        match &self.what {
            What::One(m) => one(self.capture, m, timeout),
            _ => unreachable!("Expect<Packet> is made by Capture::expect"),
        }
    }
}

impl Expect<'_, Vec<Packet>> {
    /// Waits up to `timeout` for the count or the whole sequence; returns the
    /// matching packets (one per matcher for a sequence). Fails with evidence.
    pub fn within(self, timeout: Duration) -> Result<Vec<Packet>> {
        match &self.what {
            What::Count(m, n) => count(self.capture, m, *n, timeout),
            What::Sequence(ms) => sequence(self.capture, ms, timeout),
            _ => unreachable!("made by Capture::expect_count or expect_sequence"),
        }
    }
}

impl Expect<'_, ()> {
    /// Sends the sentinel (for [`Sentinel::udp`]), waits up to `timeout` for
    /// it, and fails if a matching packet was captured before it (or by the
    /// time it was seen) — or if the sentinel never came (absence is then
    /// unproven).
    pub fn within(self, timeout: Duration) -> Result<()> {
        match &self.what {
            What::None(m, sentinel) => none(self.capture, m, sentinel, timeout),
            _ => unreachable!("Expect<()> is made by Capture::expect_none"),
        }
    }
}

fn one(cap: &Capture, matcher: &Matcher, timeout: Duration) -> Result<Packet> {
    check_valid(cap, &[matcher])?;
    tracing::debug!(subject = %cap.subject(), expect = %matcher, ?timeout, "expect");
    let mut pos = 0;
    let found = cap.wait_for(timeout, |ps| {
        let hit = ps.iter().skip(pos).find(|p| matcher.matches(p)).cloned();
        pos = pos.max(ps.len());
        hit
    })?;
    found.ok_or_else(|| {
        crate::evidence::expectation_failed(cap, &format!("within {timeout:?}: {}", matcher), None)
    })
}

fn count(cap: &Capture, matcher: &Matcher, count: usize, timeout: Duration) -> Result<Vec<Packet>> {
    check_valid(cap, &[matcher])?;
    tracing::debug!(subject = %cap.subject(), expect = %matcher, count = count, ?timeout, "expect count");
    let mut pos = 0;
    let mut hits: Vec<Packet> = Vec::new();
    let found = cap.wait_for(timeout, |ps| {
        hits.extend(ps.iter().skip(pos).filter(|p| matcher.matches(p)).cloned());
        pos = pos.max(ps.len());
        (hits.len() >= count).then(|| hits.clone())
    })?;
    found.ok_or_else(|| {
        crate::evidence::expectation_failed(
            cap,
            &format!("at least {} packets within {timeout:?}: {}", count, matcher),
            Some(format!("only {} matched", hits.len())),
        )
    })
}

fn sequence(cap: &Capture, matchers: &[Matcher], timeout: Duration) -> Result<Vec<Packet>> {
    check_valid(cap, &matchers.iter().collect::<Vec<_>>())?;
    tracing::debug!(subject = %cap.subject(), steps = matchers.len(), ?timeout, "expect sequence");
    let mut pos = 0;
    let mut hits: Vec<Packet> = Vec::new();
    let found = cap.wait_for(timeout, |ps| {
        for p in ps.iter().skip(pos) {
            pos += 1;
            if let Some(m) = matchers.get(hits.len())
                && m.matches(p)
            {
                hits.push(p.clone());
            }
        }
        (hits.len() == matchers.len()).then(|| hits.clone())
    })?;
    found.ok_or_else(|| {
        let steps: Vec<String> = matchers
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
        )
    })
}

/// A packet sent after the traffic under test, through the same path, whose
/// arrival proves that anything earlier has arrived too: [`Sentinel::udp`]
/// or [`Sentinel::packet`].
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
    pub fn udp(from: &crate::Node<'_>, dst: impl Into<String>) -> Sentinel {
        let n = SENTINEL_COUNTER.fetch_add(1, Ordering::Relaxed);
        let dst = dst.into();
        Sentinel(Kind::Udp {
            from: from.ns().clone(),
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

fn none(cap: &Capture, matcher: &Matcher, sentinel: &Sentinel, timeout: Duration) -> Result<()> {
    let sentinel_m = sentinel.matcher();
    check_valid(cap, &[matcher, &sentinel_m])?;
    tracing::debug!(subject = %cap.subject(), expect_none = %matcher, sentinel = %sentinel_m, "expect none");
    sentinel.send()?;
    let mut pos = 0;
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
            &format!("no {} — proved by the sentinel ({sentinel_m})", matcher),
            Some(format!(
                "the sentinel never arrived within {timeout:?}, so absence is unproven \
                     (is its path the same, is it allowed, does the capture filter pass it?)"
            )),
        ));
    };
    // Anything matching before the sentinel fails; so does anything seen
    // by now (a late straggler is still evidence of a leak).
    let offenders: Vec<String> = cap.with_packets(|ps| {
        ps.iter()
            .filter(|p| matcher.matches(p) && !sentinel_m.matches(p))
            .map(|p| format!("  {p}"))
            .collect()
    });
    if offenders.is_empty() {
        return Ok(());
    }
    Err(crate::evidence::expectation_failed(
        cap,
        &format!("no {} before the sentinel ({sentinel_m})", matcher),
        Some(format!(
            "{} matching packet(s) arrived:\n{}",
            offenders.len(),
            offenders.join("\n")
        )),
    ))
}
