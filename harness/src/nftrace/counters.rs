//! The fallback where the kernel cannot trace (iptables-legacy): which rules'
//! packet counters moved while one probe crossed, as the same
//! [`PacketTrace`] a trace gives. The attribution is pure (two
//! `iptables-save -c` texts in, hooks out).
//!
//! What counters can and cannot say: every packet that crossed between the two
//! snapshots counts, answers included (a SYN/ACK, an ICMP error), so the steps
//! are the rules that matched *some* packet of the exchange, and no addresses
//! are known per hook. Within a hook, rules are listed in evaluation order
//! (following `-j CHAIN` into the chain), and the first one whose target
//! settles the packet is taken as the hook's verdict; the probe is the first
//! packet of the exchange, so on its path that is the rule it met.

use std::collections::BTreeMap;

use super::decode::{Family, TraceKind, Verdict};
use super::path::{Hook, PacketTrace, Step};
use super::rules::BaseChain;
use crate::Counters;

/// Base chains in the order a packet meets them (prerouting, input or
/// forward, output, postrouting), with the priority iptables gives the table.
const HOOK_ORDER: &[(&str, &str, &str)] = &[
    ("raw", "PREROUTING", "raw"),
    ("mangle", "PREROUTING", "mangle"),
    ("nat", "PREROUTING", "dstnat"),
    ("mangle", "INPUT", "mangle"),
    ("filter", "INPUT", "filter"),
    ("security", "INPUT", "security"),
    ("nat", "INPUT", "srcnat"),
    ("mangle", "FORWARD", "mangle"),
    ("filter", "FORWARD", "filter"),
    ("security", "FORWARD", "security"),
    ("raw", "OUTPUT", "raw"),
    ("mangle", "OUTPUT", "mangle"),
    ("nat", "OUTPUT", "dstnat"),
    ("filter", "OUTPUT", "filter"),
    ("security", "OUTPUT", "security"),
    ("mangle", "POSTROUTING", "mangle"),
    ("nat", "POSTROUTING", "srcnat"),
];

/// Targets that end a rule's evaluation with that verdict.
fn target_verdict(rule: &str) -> Verdict {
    let mut words = rule.split_whitespace();
    let mut target = None;
    while let Some(w) = words.next() {
        if w == "-j" || w == "-g" {
            target = words.next().map(|t| (w == "-g", t));
        }
    }
    match target {
        None => Verdict::Continue,
        Some((_, "ACCEPT")) => Verdict::Accept,
        Some((_, "DROP" | "REJECT")) => Verdict::Drop,
        Some((_, "RETURN")) => Verdict::Return,
        Some((_, "DNAT" | "SNAT" | "MASQUERADE" | "REDIRECT" | "NETMAP")) => Verdict::Accept,
        Some((_, "QUEUE" | "NFQUEUE")) => Verdict::Queue(0),
        Some((goto, t)) if t.chars().all(|c| !c.is_ascii_lowercase()) && !is_extension(t) => {
            if goto {
                Verdict::Goto(t.to_string())
            } else {
                Verdict::Jump(t.to_string())
            }
        }
        Some(_) => Verdict::Continue, // LOG, MARK, CONNMARK, TRACE, …
    }
}

fn is_extension(target: &str) -> bool {
    matches!(
        target,
        "LOG"
            | "MARK"
            | "CONNMARK"
            | "TRACE"
            | "CT"
            | "NOTRACK"
            | "TCPMSS"
            | "CLASSIFY"
            | "DSCP"
            | "TOS"
            | "TTL"
            | "NFLOG"
            | "AUDIT"
            | "CHECKSUM"
            | "SET"
            | "TPROXY"
    )
}

#[derive(Debug, Default)]
struct Snapshot {
    /// (table, chain) -> rules in order, with packet counts.
    rules: BTreeMap<(String, String), Vec<(String, u64)>>,
    /// (table, chain) -> (policy, packets) for built-in chains.
    policies: BTreeMap<(String, String), (String, u64)>,
}

fn snapshot(save_c: &str) -> Snapshot {
    let counters = Counters::parse_iptables(save_c);
    let mut s = Snapshot::default();
    for c in counters.rules {
        s.rules
            .entry((c.table, c.chain))
            .or_default()
            .push((c.rule, c.packets));
    }
    for p in counters.policies {
        s.policies.insert((p.table, p.chain), (p.policy, p.packets));
    }
    s
}

/// The hooks whose counters moved between `before` and `after` (two
/// `iptables-save -c` outputs, or two `ip6tables-save -c` ones with
/// `family` [`Family::Ip6`]), as one [`PacketTrace`] (id 0, no headers).
pub fn counter_trace(family: Family, before: &str, after: &str) -> PacketTrace {
    let (b, a) = (snapshot(before), snapshot(after));
    let delta = Delta {
        before: &b,
        after: &a,
    };
    let mut hooks = Vec::new();
    for (table, chain, priority) in HOOK_ORDER {
        let mut steps = Vec::new();
        delta.walk(table, chain, &mut steps, 0);
        let key = (table.to_string(), chain.to_string());
        let policy = a.policies.get(&key).map(|(pol, p)| {
            let was = b.policies.get(&key).map_or(0, |x| x.1);
            (pol.clone(), p.saturating_sub(was))
        });
        if let Some((pol, n)) = &policy
            && *n > 0
        {
            steps.push(Step {
                chain: chain.to_string(),
                kind: TraceKind::Policy,
                handle: None,
                rule: None,
                verdict: Verdict::from_code(
                    if pol == "DROP" {
                        libc::NF_DROP
                    } else {
                        libc::NF_ACCEPT
                    },
                    None,
                ),
                packets: Some(*n),
                source: None,
            });
        }
        if steps.is_empty() {
            continue;
        }
        hooks.push(Hook {
            family,
            table: table.to_string(),
            chain: chain.to_string(),
            base: Some(BaseChain {
                kind: if *table == "nat" { "nat" } else { "filter" }.into(),
                hook: chain.to_lowercase(),
                priority: priority.to_string(),
                policy: policy
                    .map(|p| p.0.to_lowercase())
                    .unwrap_or_else(|| "accept".into()),
            }),
            packet: None,
            iif: None,
            oif: None,
            steps,
        });
    }
    PacketTrace { id: 0, hooks }
}

/// Counter differences between two snapshots.
struct Delta<'a> {
    before: &'a Snapshot,
    after: &'a Snapshot,
}

impl Delta<'_> {
    /// The rules of `table chain` in order, with the packets each counted
    /// since `before` (a rule not at the same position before counts from 0).
    fn moved(&self, table: &str, chain: &str) -> Vec<(String, u64)> {
        let key = (table.to_string(), chain.to_string());
        let old = self.before.rules.get(&key);
        let Some(rules) = self.after.rules.get(&key) else {
            return Vec::new();
        };
        rules
            .iter()
            .enumerate()
            .map(|(i, (r, p))| {
                let was = old
                    .and_then(|o| o.get(i))
                    .filter(|(t, _)| t == r)
                    .map_or(0, |o| o.1);
                (r.clone(), p.saturating_sub(was))
            })
            .collect()
    }

    /// Appends the moved rules of `chain`, descending into chains they jump to.
    fn walk(&self, table: &str, chain: &str, steps: &mut Vec<Step>, depth: usize) {
        if depth > 16 {
            return; // a loop of jumps; iptables refuses those, but stay safe
        }
        for (i, (rule, packets)) in self.moved(table, chain).into_iter().enumerate() {
            if packets == 0 {
                continue;
            }
            let verdict = target_verdict(&rule);
            let target = match &verdict {
                Verdict::Jump(t) | Verdict::Goto(t) => Some(t.clone()),
                _ => None,
            };
            steps.push(Step {
                chain: chain.to_string(),
                kind: if verdict == Verdict::Return {
                    TraceKind::Return
                } else {
                    TraceKind::Rule
                },
                handle: Some(i as u64 + 1), // position in its chain (`iptables -L --line-numbers`)
                rule: Some(rule),
                verdict,
                packets: Some(packets),
                source: None,
            });
            if let Some(t) = target {
                self.walk(table, &t, steps, depth + 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nftrace::path::decide;

    const BEFORE: &str = "*nat\n:PREROUTING ACCEPT [0:0]\n:DOCKER - [0:0]\n\
        [0:0] -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER\n\
        [0:0] -A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80\nCOMMIT\n\
        *filter\n:FORWARD DROP [0:0]\n:DOCKER - [0:0]\n:DOCKER-USER - [0:0]\n\
        [5:300] -A FORWARD -j DOCKER-USER\n[0:0] -A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n\
        [0:0] -A FORWARD -o docker0 -j DOCKER\n[0:0] -A FORWARD -i docker0 ! -o docker0 -j ACCEPT\n\
        [0:0] -A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT\n\
        [5:300] -A DOCKER-USER -j RETURN\nCOMMIT\n";

    #[test]
    fn moved_counters_give_dnat_then_the_docker_accept() {
        // The SYN (DNAT, DOCKER accept) and the container's RST (-i docker0 ! -o docker0).
        let after = BEFORE
            .replace("[0:0] -A PREROUTING", "[1:60] -A PREROUTING")
            .replace("[0:0] -A DOCKER ! -i", "[1:60] -A DOCKER ! -i")
            .replace(
                "[5:300] -A FORWARD -j DOCKER-USER",
                "[7:400] -A FORWARD -j DOCKER-USER",
            )
            .replace(
                "[0:0] -A FORWARD -o docker0 -j DOCKER",
                "[1:60] -A FORWARD -o docker0 -j DOCKER",
            )
            .replace(
                "[0:0] -A FORWARD -i docker0",
                "[1:40] -A FORWARD -i docker0",
            )
            .replace("[0:0] -A DOCKER -d", "[1:60] -A DOCKER -d")
            .replace("[5:300] -A DOCKER-USER", "[7:400] -A DOCKER-USER");
        let t = counter_trace(Family::Ip, BEFORE, &after);
        assert_eq!(t.hooks.len(), 2, "{t}");
        assert_eq!(t.nat_rules().len(), 1, "{t}");
        let d = decide(std::slice::from_ref(&t)).unwrap();
        assert_eq!(
            d.to_string(),
            "ip filter DOCKER rule 1: -A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT (accept)"
        );
        assert_eq!(t.hooks[1].steps[0].packets, Some(2));
    }

    #[test]
    fn targets_map_to_verdicts() {
        assert_eq!(
            target_verdict("-A X -j DOCKER-USER"),
            Verdict::Jump("DOCKER-USER".into())
        );
        assert_eq!(
            target_verdict("-A X -g DOCKER"),
            Verdict::Goto("DOCKER".into())
        );
        assert_eq!(
            target_verdict("-A X -j REJECT --reject-with icmp-port-unreachable"),
            Verdict::Drop
        );
        assert_eq!(
            target_verdict("-A X -j LOG --log-prefix x"),
            Verdict::Continue
        );
        assert_eq!(target_verdict("-A X -p tcp"), Verdict::Continue);
        assert_eq!(target_verdict("-A X -j MASQUERADE"), Verdict::Accept);
    }
}
