//! Rule counters read back from `iptables-save -c` and `nft list ruleset`,
//! as values a test can assert on.

/// One rule and how many packets and bytes it matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleCounter {
    /// Table (`nat`, `filter`, … or `ip docker-bridges` for nft).
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

/// Parses `iptables-save -c` output.
///
/// ```
/// let text = "*filter\n:FORWARD DROP [0:0]\n[82:6336] -A FORWARD -j DOCKER-USER\nCOMMIT\n";
/// let c = netrig::firewall::parse_iptables_counters(text);
/// assert_eq!((c[0].table.as_str(), c[0].chain.as_str(), c[0].packets, c[0].bytes), ("filter", "FORWARD", 82, 6336));
/// assert_eq!(c[0].rule, "-A FORWARD -j DOCKER-USER");
/// ```
pub fn parse_iptables_counters(text: &str) -> Vec<RuleCounter> {
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

/// Parses the `counter packets N bytes M` statements of `nft list ruleset`.
///
/// ```
/// let text = "table ip t {\n\tchain c {\n\t\tiifname \"x\" counter packets 3 bytes 180 drop\n\t}\n}\n";
/// let c = netrig::firewall::parse_nft_counters(text);
/// assert_eq!((c[0].table.as_str(), c[0].chain.as_str(), c[0].packets), ("ip t", "c", 3));
/// assert_eq!(c[0].rule, "iifname \"x\" counter drop");
/// ```
pub fn parse_nft_counters(text: &str) -> Vec<RuleCounter> {
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

/// Finds the counter of the first rule in `chain` whose text contains `needle`.
///
/// ```
/// use netrig::firewall::{parse_iptables_counters, find_counter};
/// let c = parse_iptables_counters("*nat\n[2:120] -A DOCKER ! -i docker0 -p tcp -j DNAT\nCOMMIT\n");
/// assert_eq!(find_counter(&c, "DOCKER", "DNAT").map(|r| r.packets), Some(2));
/// ```
pub fn find_counter<'a>(
    counters: &'a [RuleCounter],
    chain: &str,
    needle: &str,
) -> Option<&'a RuleCounter> {
    counters
        .iter()
        .find(|c| c.chain == chain && c.rule.contains(needle))
}
