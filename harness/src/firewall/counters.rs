//! Rule and chain-policy counters read back from `iptables-save -c` and
//! `nft list ruleset`, as values a test can assert on.

/// One rule and how many packets and bytes it matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleCounter {
    /// Table (`nat`, `filter`, … `ip6 filter` for ip6tables, or `ip docker-bridges` for nft).
    pub table: String,
    /// Chain.
    pub chain: String,
    /// The rule as the tool prints it, without the counter part
    /// (`-A FORWARD -j DOCKER-USER`, or the nft statement line).
    pub rule: String,
    /// Packets matched.
    pub packets: u64,
    /// Bytes matched.
    pub bytes: u64,
}

/// A built-in chain's policy and the packets it decided (the evidence for
/// "dropped by the FORWARD policy").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyCounter {
    /// Table (`filter`, `ip6 filter` for ip6tables, or `ip t` for nft).
    pub table: String,
    /// Chain.
    pub chain: String,
    /// `ACCEPT`/`DROP` (iptables) or `accept`/`drop` (nft).
    pub policy: String,
    /// Packets the policy decided (iptables only; nft keeps no policy counter: 0).
    pub packets: u64,
    /// Bytes the policy decided.
    pub bytes: u64,
}

/// Every counter of a ruleset: rules, and chain policies. For the iptables
/// backends the ip6tables rules follow the iptables ones, their tables named
/// `ip6 filter`, `ip6 nat` … (`c.policy("ip6 filter", "FORWARD")`).
///
/// ```no_run
/// let lab = netrig::topology::load("topologies/docker-bridge.toml")?.up()?;
/// let c = lab.docker("host")?.counters()?;
/// let dnat = c.rule("nat", "DOCKER", "DNAT").map(|r| r.packets);
/// let policy = c.policy("filter", "FORWARD").map(|p| p.policy.clone()); // Some("DROP")
/// # Ok::<_, netrig::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Every rule, in the order the tool printed them.
    pub rules: Vec<RuleCounter>,
    /// Every built-in chain's policy.
    pub policies: Vec<PolicyCounter>,
}

impl Counters {
    /// Parses `iptables-save -c` output.
    pub(crate) fn parse_iptables(text: &str) -> Counters {
        Counters {
            rules: parse_iptables_counters(text),
            policies: parse_iptables_policies(text),
        }
    }

    /// Parses `nft list ruleset` output (rules with a `counter` statement).
    pub(crate) fn parse_nft(text: &str) -> Counters {
        Counters {
            rules: parse_nft_counters(text),
            policies: parse_nft_policies(text),
        }
    }

    /// The same counters with each table named `FAMILY TABLE` (`ip6 filter`).
    pub(crate) fn in_family(mut self, family: &str) -> Counters {
        for r in &mut self.rules {
            r.table = format!("{family} {}", r.table);
        }
        for p in &mut self.policies {
            p.table = format!("{family} {}", p.table);
        }
        self
    }

    /// Appends `other`'s rules and policies after these.
    pub(crate) fn extend(&mut self, other: Counters) {
        self.rules.extend(other.rules);
        self.policies.extend(other.policies);
    }

    /// The first rule of `table`/`chain` whose text contains `needle`
    /// (`"--dport 8080"`, `"DNAT"`, `"-j DROP"`).
    pub fn rule(&self, table: &str, chain: &str, needle: &str) -> Option<&RuleCounter> {
        self.rules
            .iter()
            .find(|c| c.table == table && c.chain == chain && c.rule.contains(needle))
    }

    /// The policy of a built-in chain.
    pub fn policy(&self, table: &str, chain: &str) -> Option<&PolicyCounter> {
        self.policies
            .iter()
            .find(|p| p.table == table && p.chain == chain)
    }
}

fn parse_iptables_policies(text: &str) -> Vec<PolicyCounter> {
    let mut table = String::new();
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(t) = line.strip_prefix('*') {
            table = t.to_string();
        } else if let Some(rest) = line.strip_prefix(':') {
            // `:FORWARD DROP [3:180]`; user chains have `-` as policy.
            let mut parts = rest.split_whitespace();
            let (Some(chain), Some(policy)) = (parts.next(), parts.next()) else {
                continue;
            };
            if policy == "-" {
                continue;
            }
            let (packets, bytes) = parts
                .next()
                .and_then(|c| c.trim_matches(['[', ']']).split_once(':'))
                .map(|(p, b)| (p.parse().unwrap_or(0), b.parse().unwrap_or(0)))
                .unwrap_or((0, 0));
            out.push(PolicyCounter {
                table: table.clone(),
                chain: chain.to_string(),
                policy: policy.to_string(),
                packets,
                bytes,
            });
        }
    }
    out
}

fn parse_nft_policies(text: &str) -> Vec<PolicyCounter> {
    let mut table = String::new();
    let mut chain = String::new();
    let mut out = Vec::new();
    for l in text.lines().map(str::trim) {
        if let Some(t) = l.strip_prefix("table ") {
            table = t.trim_end_matches('{').trim().to_string();
        } else if let Some(c) = l.strip_prefix("chain ") {
            chain = c.trim_end_matches('{').trim().to_string();
        } else if l.starts_with("type ")
            && let Some(i) = l.find("policy ")
        {
            let policy = l[i + 7..].trim_end_matches(';').trim().to_string();
            out.push(PolicyCounter {
                table: table.clone(),
                chain: chain.clone(),
                policy,
                packets: 0,
                bytes: 0,
            });
        }
    }
    out
}

fn parse_iptables_counters(text: &str) -> Vec<RuleCounter> {
    let mut table = String::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(t) = line.strip_prefix('*') {
            table = t.to_string();
            continue;
        }
        let Some(rest) = line.strip_prefix('[') else {
            continue;
        };
        let Some((nums, rule)) = rest.split_once("] ") else {
            continue;
        };
        let Some((p, b)) = nums.split_once(':') else {
            continue;
        };
        let rule = rule.trim().to_string();
        let chain = rule.split_whitespace().nth(1).unwrap_or("").to_string();
        out.push(RuleCounter {
            table: table.clone(),
            chain,
            rule,
            packets: p.parse().unwrap_or(0),
            bytes: b.parse().unwrap_or(0),
        });
    }
    out
}

/// The `counter packets N bytes M` statements of `nft list ruleset`; the
/// rule text keeps `counter` without its numbers.
fn parse_nft_counters(text: &str) -> Vec<RuleCounter> {
    let mut table = String::new();
    let mut chain = String::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let l = line.trim();
        if let Some(t) = l.strip_prefix("table ") {
            table = t.trim_end_matches('{').trim().to_string();
        } else if let Some(c) = l.strip_prefix("chain ") {
            chain = c.trim_end_matches('{').trim().to_string();
        } else if let Some(i) = l.find("counter packets ") {
            let tail: Vec<&str> = l[i + "counter packets ".len()..]
                .split_whitespace()
                .collect();
            // tail: N bytes M rest...
            let packets = tail.first().and_then(|n| n.parse().ok()).unwrap_or(0);
            let bytes = tail.get(2).and_then(|n| n.parse().ok()).unwrap_or(0);
            let rest = tail.get(3..).map(|r| r.join(" ")).unwrap_or_default();
            let rule = format!(
                "{}counter{}",
                &l[..i],
                if rest.is_empty() {
                    String::new()
                } else {
                    format!(" {rest}")
                }
            );
            out.push(RuleCounter {
                table: table.clone(),
                chain: chain.clone(),
                rule,
                packets,
                bytes,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `iptables-save -c` counters per rule and per policy; a rule is found
    /// by table, chain and a needle in its text.
    #[test]
    fn iptables_counters_are_found_by_table_chain_and_text() {
        let text = "*filter\n:FORWARD DROP [3:180]\n[82:6336] -A FORWARD -j DOCKER-USER\nCOMMIT\n*nat\n[2:120] -A DOCKER ! -i docker0 -p tcp -j DNAT\nCOMMIT\n";
        let c = Counters::parse_iptables(text);
        assert_eq!(
            c.rule("filter", "FORWARD", "DOCKER-USER")
                .map(|r| (r.packets, r.bytes)),
            Some((82, 6336))
        );
        assert_eq!(c.rule("nat", "DOCKER", "DNAT").map(|r| r.packets), Some(2));
        assert_eq!(c.rule("filter", "DOCKER", "DNAT"), None);
        assert_eq!(
            c.policy("filter", "FORWARD")
                .map(|p| (p.policy.as_str(), p.packets)),
            Some(("DROP", 3))
        );
    }

    #[test]
    fn nft_rules_and_policies() {
        let text = "table ip t {\n\tchain c {\n\t\ttype filter hook forward priority filter; policy drop;\n\t\tiifname \"x\" counter packets 3 bytes 180 drop\n\t}\n}\n";
        let c = Counters::parse_nft(text);
        let r = c.rule("ip t", "c", "iifname").expect("rule");
        assert_eq!(
            (r.packets, r.bytes, r.rule.as_str()),
            (3, 180, "iifname \"x\" counter drop")
        );
        assert_eq!(
            c.policy("ip t", "c").map(|p| p.policy.as_str()),
            Some("drop")
        );
    }
}
