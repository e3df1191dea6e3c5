//! Trace events to a verdict path: per packet, hook by hook, the chains and
//! rules it met (as the user wrote them), the addresses it had at each hook,
//! and the [`Decision`] — the rule or chain policy that settled its fate. Pure.

use std::collections::BTreeMap;
use std::fmt;

use super::decode::{Family, TraceEvent, TraceKind, Verdict};
use super::headers::PacketHeaders;
use super::rules::{BaseChain, RuleBook};

/// One step inside a hook: a rule that acted, a chain end, or the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The chain the step happened in (the base chain or one jumped to).
    pub chain: String,
    /// Rule, return (end of a regular chain) or policy.
    pub kind: TraceKind,
    /// The rule's handle (rule steps); with counter attribution
    /// (iptables-legacy) the rule's 1-based position in its chain.
    pub handle: Option<u64>,
    /// The rule as the user wrote it (iptables-save line or nft rule), when the ruleset had it.
    pub rule: Option<String>,
    /// What the step did.
    pub verdict: Verdict,
    /// With counter attribution: how many packets the rule counted during the probe.
    pub packets: Option<u64>,
    /// `file:line` of the rule in a user's rule file, when it came from one
    /// (see [`super::FlowTrace::attach_rule_files`]).
    pub source: Option<String>,
}

/// One base chain the packet traversed (one table at one hook).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    /// The table's family.
    pub family: Family,
    /// The table.
    pub table: String,
    /// The base chain.
    pub chain: String,
    /// Its declaration (type, hook, priority, policy), when the ruleset had it.
    pub base: Option<BaseChain>,
    /// The packet as it entered this chain (after any earlier NAT).
    pub packet: Option<PacketHeaders>,
    /// Input interface name (or `if<N>`).
    pub iif: Option<String>,
    /// Output interface name (or `if<N>`).
    pub oif: Option<String>,
    /// What happened, in order.
    pub steps: Vec<Step>,
}

impl Hook {
    /// The step that settled the packet at this hook: the first with a
    /// terminal verdict (accept, drop, queue, stolen), if any.
    pub fn deciding_step(&self) -> Option<&Step> {
        self.steps.iter().find(|s| s.verdict.is_terminal())
    }

    /// The verdict of [`Hook::deciding_step`].
    pub fn verdict(&self) -> Option<&Verdict> {
        self.deciding_step().map(|s| &s.verdict)
    }

    /// Whether this is a nat-type chain.
    pub fn is_nat(&self) -> bool {
        self.base.as_ref().is_some_and(|b| b.kind == "nat")
    }

    /// Whether the chain was found in the ruleset read back.
    fn known(&self) -> bool {
        self.base.is_some()
    }
}

/// Everything one traced packet (one trace id) went through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketTrace {
    /// The kernel's trace id.
    pub id: u32,
    /// Base chains in the order the packet met them.
    pub hooks: Vec<Hook>,
}

impl PacketTrace {
    /// The packet's headers at the first hook that reported them (before any NAT here).
    #[cfg(test)]
    pub fn first_packet(&self) -> Option<PacketHeaders> {
        self.hooks.iter().find_map(|h| h.packet)
    }

    /// The NAT rules that acted on this packet: (hook, step) of every rule
    /// that gave a verdict in a nat-type chain.
    pub fn nat_rules(&self) -> Vec<(&Hook, &Step)> {
        self.hooks
            .iter()
            .filter(|h| h.is_nat())
            .flat_map(|h| h.steps.iter().map(move |s| (h, s)))
            .filter(|(_, s)| s.handle.is_some() && s.verdict == Verdict::Accept)
            .collect()
    }
}

/// What settled a packet's fate: a rule, or a chain's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The table's family.
    pub family: Family,
    /// The table.
    pub table: String,
    /// The chain the deciding rule is in (or whose policy decided).
    pub chain: String,
    /// The deciding rule's handle; `None` when the policy decided.
    pub handle: Option<u64>,
    /// The deciding rule's text, when known.
    pub rule: Option<String>,
    /// The verdict.
    pub verdict: Verdict,
    /// `file:line` of the deciding rule in a user's rule file, when it came from one.
    pub source: Option<String>,
}

impl Decision {
    /// Whether the chain policy (not a rule) decided.
    pub fn by_policy(&self) -> bool {
        self.handle.is_none()
    }
}

impl fmt::Display for Decision {
    /// `ip filter FORWARD policy DROP`, or
    /// `ip filter DOCKER rule 8: -A DOCKER … -j ACCEPT (accept)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {} ", self.family, self.table, self.chain)?;
        match (self.handle, &self.rule) {
            (None, _) => write!(f, "policy {}", self.verdict.to_string().to_uppercase()),
            (Some(h), Some(r)) => write!(f, "rule {h}: {r} ({})", self.verdict),
            (Some(h), None) => write!(f, "rule {h} ({})", self.verdict),
        }?;
        match &self.source {
            Some(src) => write!(f, " from {src}"),
            None => Ok(()),
        }
    }
}

/// Groups events by trace id (in order of first appearance) and builds each
/// packet's hooks; events of `skip_table` (netrig's own trace table) are left out.
pub fn packet_traces(
    events: &[TraceEvent],
    book: &RuleBook,
    ifnames: &BTreeMap<u32, String>,
    skip_table: Option<&str>,
) -> Vec<PacketTrace> {
    let mut order: Vec<u32> = Vec::new();
    let mut by_id: BTreeMap<u32, Vec<&TraceEvent>> = BTreeMap::new();
    for ev in events {
        if Some(ev.table.as_str()) == skip_table {
            continue;
        }
        by_id
            .entry(ev.id)
            .or_insert_with(|| {
                order.push(ev.id);
                Vec::new()
            })
            .push(ev);
    }
    let mut out = Vec::new();
    for id in order {
        // The kernel derives the id from the skb's address and flow hash, so a
        // later packet of the same flow can reuse it: a base chain met again
        // starts a new packet.
        let mut current: Vec<Hook> = Vec::new();
        for hook in hooks(&by_id[&id], book, ifnames) {
            let seen = current
                .iter()
                .any(|h| (h.family, &h.table, &h.chain) == (hook.family, &hook.table, &hook.chain));
            if seen {
                out.push(PacketTrace {
                    id,
                    hooks: std::mem::take(&mut current),
                });
            }
            current.push(hook);
        }
        out.push(PacketTrace { id, hooks: current });
    }
    out
}

fn hooks(events: &[&TraceEvent], book: &RuleBook, ifnames: &BTreeMap<u32, String>) -> Vec<Hook> {
    let name = |i: Option<u32>| i.map(|i| ifnames.get(&i).cloned().unwrap_or(format!("if{i}")));
    let mut hooks: Vec<Hook> = Vec::new();
    for ev in events {
        // The kernel sends the headers with the first event of each base
        // chain the packet enters: that starts a new hook.
        let starts = ev.packet.is_some() || hooks.last().is_none_or(|h| h.table != ev.table);
        if starts {
            let base = book
                .chain(ev.family, &ev.table, &ev.chain)
                .and_then(|c| c.base.clone());
            hooks.push(Hook {
                family: ev.family,
                table: ev.table.clone(),
                chain: ev.chain.clone(),
                base,
                packet: ev.packet,
                iif: name(ev.iif),
                oif: name(ev.oif),
                steps: Vec::new(),
            });
        }
        let hook = hooks.last_mut().expect("a hook was just pushed");
        if ev.is_chain_end() {
            if ev.chain == hook.chain {
                continue; // a base chain's end: its policy event follows
            }
            hook.steps.push(Step {
                chain: ev.chain.clone(),
                kind: TraceKind::Return,
                handle: None,
                rule: None,
                verdict: Verdict::Return,
                packets: None,
                source: None,
            });
            continue;
        }
        let Some(verdict) = ev.outcome().cloned() else {
            continue;
        };
        let rule = ev.rule_handle.and_then(|h| {
            book.rule(ev.family, &ev.table, &ev.chain, h)
                .map(|r| r.text().to_string())
        });
        hook.steps.push(Step {
            chain: ev.chain.clone(),
            kind: ev.kind,
            handle: ev.rule_handle,
            rule,
            verdict,
            packets: None,
            source: None,
        });
    }
    hooks
}

/// The decision over a flow's packets (their hooks in order), each hook
/// settled by its [`Hook::deciding_step`]: the first hook
/// that did not accept (drop, queue, stolen) decided; otherwise the last
/// accepting filter-type chain (not nat: a nat chain's accept only rewrites);
/// otherwise the last hook's verdict. `None` when no hook gave a verdict.
pub fn decide(packets: &[PacketTrace]) -> Option<Decision> {
    let hooks: Vec<&Hook> = packets.iter().flat_map(|p| &p.hooks).collect();
    let with_verdict = || hooks.iter().filter(|h| h.verdict().is_some());
    let hook = with_verdict()
        .find(|h| h.verdict() != Some(&Verdict::Accept))
        .or_else(|| with_verdict().rfind(|h| !h.is_nat() && h.known()))
        .or_else(|| with_verdict().next_back())?;
    let step = hook.deciding_step()?;
    Some(Decision {
        family: hook.family,
        table: hook.table.clone(),
        chain: step.chain.clone(),
        handle: step.handle,
        rule: step.rule.clone(),
        verdict: step.verdict.clone(),
        source: step.source.clone(),
    })
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(n) = self.packets {
            write!(f, "[{n} pkt] ")?;
        }
        match (self.kind, self.handle, &self.rule) {
            (TraceKind::Policy, _, _) => write!(f, "{}: policy {}", self.chain, self.verdict),
            (TraceKind::Return, None, _) => write!(f, "{}: end of chain, return", self.chain),
            (_, Some(h), Some(r)) => {
                write!(f, "{}: rule {h}: {r} => {}", self.chain, self.verdict)?;
                match &self.source {
                    Some(src) => write!(f, "  ({src})"),
                    None => Ok(()),
                }
            }
            (_, Some(h), None) => write!(f, "{}: rule {h} => {}", self.chain, self.verdict),
            (_, None, _) => write!(f, "{}: => {}", self.chain, self.verdict),
        }
    }
}

impl Hook {
    /// `ip nat PREROUTING (type nat hook prerouting priority dstnat) iif eth0: tcp … -> …`
    fn write_header(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.family, self.table, self.chain)?;
        if let Some(b) = &self.base {
            write!(
                f,
                " (type {} hook {} priority {})",
                b.kind, b.hook, b.priority
            )?;
        }
        for (label, name) in [("iif", &self.iif), ("oif", &self.oif)] {
            if let Some(n) = name {
                write!(f, " {label} {n}")?;
            }
        }
        if let Some(p) = &self.packet {
            write!(f, ": {p}")?;
        }
        Ok(())
    }

    fn write_steps(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.steps {
            write!(f, "\n    {s}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_header(f)?;
        self.write_steps(f)
    }
}

impl PacketTrace {
    /// Writes the hooks, each with the packet's addresses as it entered and,
    /// when a NAT step before it changed them, what they were before.
    pub(crate) fn write_hooks(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut last: Option<PacketHeaders> = None;
        for h in &self.hooks {
            f.write_str("\n  ")?;
            h.write_header(f)?;
            if let (Some(before), Some(now)) = (last, h.packet)
                && (before.src, before.sport, before.dst, before.dport)
                    != (now.src, now.sport, now.dst, now.dport)
            {
                write!(
                    f,
                    "\n    (rewritten by NAT since the previous hook: was {before})"
                )?;
            }
            h.write_steps(f)?;
            last = h.packet.or(last);
        }
        Ok(())
    }
}

impl fmt::Display for PacketTrace {
    /// `trace id …`, then hook by hook like iptables-tracer: the packet's
    /// addresses at each chain (and before a NAT rewrite), then its steps.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "trace id {:08x}", self.id)?;
        self.write_hooks(f)
    }
}
