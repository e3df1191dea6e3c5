//! Rule handles to rule text: a [`RuleBook`] built from `nft -a list ruleset`
//! and, for iptables-nft tables, `iptables-nft-save` / `ip6tables-nft-save`.
//! Pure: it parses text the caller read inside the namespace.
//!
//! nft prints every rule on one line ending in `# handle N`, in chain order.
//! iptables-nft's tables are nf_tables tables (`table ip filter`, `table ip nat`
//! …) with the same chain names, and iptables-save prints a chain's `-A` lines in
//! the same order nft lists that chain's rules, so the k-th handle of a chain is
//! the k-th `-A CHAIN` line of its table. The mapping is used only when the two
//! agree on the number of rules in the chain; otherwise the nft text is kept.

use std::collections::BTreeMap;

use super::decode::Family;

/// A base chain's declaration: `type T hook H priority P; policy X;`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseChain {
    /// `filter`, `nat`, `route`.
    pub kind: String,
    /// `prerouting`, `input`, `forward`, `output`, `postrouting`, `ingress`, …
    pub hook: String,
    /// The priority as printed (`filter`, `dstnat`, `-350`, …).
    pub priority: String,
    /// `accept` or `drop`.
    pub policy: String,
}

/// One rule, as nft prints it and (for iptables-nft) as iptables-save prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The kernel's handle for the rule.
    pub handle: u64,
    /// nft's rendering, without the handle comment and with counter values removed.
    pub nft: String,
    /// The iptables-save line (`-A CHAIN …`), for tables managed by iptables-nft.
    pub iptables: Option<String>,
}

impl Rule {
    /// The rule as the user wrote it: the iptables-save line when there is one, else nft's.
    pub fn text(&self) -> &str {
        self.iptables.as_deref().unwrap_or(&self.nft)
    }
}

/// A chain and its rules in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// The base-chain declaration, for base chains.
    pub base: Option<BaseChain>,
    /// The rules, in evaluation order.
    pub rules: Vec<Rule>,
}

/// Every chain of a namespace's ruleset, keyed by (family, table, chain).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleBook {
    chains: BTreeMap<(Family, String, String), Chain>,
}

impl RuleBook {
    /// Parses `nft -a list ruleset`, then attaches iptables-save lines from
    /// `iptables_save` (pairs of the family its tables live in, `ip` for
    /// iptables-save and `ip6` for ip6tables-save, and its output; `-c` counters allowed).
    pub fn parse(nft_ruleset: &str, iptables_save: &[(Family, &str)]) -> RuleBook {
        let mut book = RuleBook {
            chains: parse_nft(nft_ruleset),
        };
        for (family, text) in iptables_save {
            book.attach_iptables(*family, text);
        }
        book
    }

    /// The chain `family table chain`, if the ruleset had it.
    pub fn chain(&self, family: Family, table: &str, chain: &str) -> Option<&Chain> {
        self.chains
            .get(&(family, table.to_string(), chain.to_string()))
    }

    /// The rule with `handle` in that chain.
    pub fn rule(&self, family: Family, table: &str, chain: &str, handle: u64) -> Option<&Rule> {
        self.chain(family, table, chain)?
            .rules
            .iter()
            .find(|r| r.handle == handle)
    }

    fn attach_iptables(&mut self, family: Family, text: &str) {
        for ((table, chain), lines) in parse_iptables_save(text) {
            let Some(c) = self.chains.get_mut(&(family, table.clone(), chain.clone())) else {
                continue;
            };
            if c.rules.len() != lines.len() {
                tracing::debug!(%family, table, chain, nft = c.rules.len(), iptables = lines.len(),
                    "rule counts differ; keeping nft's text for this chain");
                continue;
            }
            for (rule, line) in c.rules.iter_mut().zip(lines) {
                rule.iptables = Some(line);
            }
        }
    }
}

/// `nft -a list ruleset` into chains. Sets, maps, flowtables and objects are
/// skipped; only lines directly inside a `chain` block are rules.
fn parse_nft(text: &str) -> BTreeMap<(Family, String, String), Chain> {
    let mut chains = BTreeMap::new();
    let mut table: Option<(Family, String)> = None;
    let mut chain: Option<(String, Chain)> = None;
    let mut depth = 0usize; // braces open outside the current chain's own block
    for raw in text.lines() {
        let line = raw.split(" # handle ").next().unwrap_or(raw).trim();
        let handle = raw
            .rsplit_once("# handle ")
            .and_then(|(_, h)| h.trim().parse::<u64>().ok());
        if let Some((name, c)) = chain.as_mut() {
            if line == "}" && depth == 0 {
                if let Some((f, t)) = &table {
                    chains.insert((*f, t.clone(), name.clone()), chain.take().unwrap().1);
                }
                continue;
            }
            if line.starts_with("type ") && line.contains(" hook ") {
                c.base = parse_base(line);
            } else if let Some(h) = handle {
                c.rules.push(Rule {
                    handle: h,
                    nft: strip_counter_values(line),
                    iptables: None,
                });
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("table ") {
            let mut words = rest.split_whitespace();
            let family = words.next().and_then(Family::parse);
            let name = words.next().map(|n| n.trim_end_matches('{').to_string());
            table = family.zip(name);
            depth = 0;
        } else if let Some(rest) = line.strip_prefix("chain ").filter(|_| depth == 0) {
            let name = rest
                .trim_end_matches('{')
                .trim()
                .trim_matches('"')
                .to_string();
            chain = Some((
                name,
                Chain {
                    base: None,
                    rules: Vec::new(),
                },
            ));
        } else if line.ends_with('{') {
            depth += 1; // set, map, flowtable, …
        } else if line == "}" {
            if depth == 0 {
                table = None;
            } else {
                depth -= 1;
            }
        }
    }
    chains
}

fn parse_base(line: &str) -> Option<BaseChain> {
    let mut words = line
        .split(|c: char| c.is_whitespace() || c == ';')
        .filter(|w| !w.is_empty());
    let mut base = BaseChain {
        kind: String::new(),
        hook: String::new(),
        priority: String::new(),
        policy: "accept".into(),
    };
    while let Some(w) = words.next() {
        let slot = match w {
            "type" => &mut base.kind,
            "hook" => &mut base.hook,
            "priority" => &mut base.priority,
            "policy" => &mut base.policy,
            _ => continue,
        };
        *slot = words.next()?.to_string();
    }
    Some(base)
}

/// `counter packets 3 bytes 180 drop` -> `counter drop` (what the user wrote).
fn strip_counter_values(rule: &str) -> String {
    let words: Vec<&str> = rule.split(' ').collect();
    let mut out = Vec::with_capacity(words.len());
    let mut i = 0;
    while i < words.len() {
        out.push(words[i]);
        if words[i] == "counter"
            && words.get(i + 1) == Some(&"packets")
            && words.get(i + 3) == Some(&"bytes")
        {
            i += 5;
        } else {
            i += 1;
        }
    }
    out.join(" ")
}

/// iptables-save output into (table, chain) -> `-A` lines in order.
fn parse_iptables_save(text: &str) -> BTreeMap<(String, String), Vec<String>> {
    let mut out: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut table = String::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(t) = line.strip_prefix('*') {
            table = t.to_string();
            continue;
        }
        // `-c` output puts `[packets:bytes]` before the rule.
        let rule = match line.strip_prefix('[') {
            Some(rest) => rest.split_once("] ").map_or(line, |(_, r)| r),
            None => line,
        };
        if let Some(rest) = rule.strip_prefix("-A ") {
            let chain = rest.split_whitespace().next().unwrap_or("").to_string();
            out.entry((table.clone(), chain))
                .or_default()
                .push(rule.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured on this machine: Docker-like rules loaded with iptables-nft-restore.
    const NFT: &str = include_str!("testdata/docker-nft-a.txt");
    const SAVE: &str = include_str!("testdata/docker-iptables-save.txt");

    #[test]
    fn iptables_lines_follow_nft_handles_in_chain_order() {
        let book = RuleBook::parse(NFT, &[(Family::Ip, SAVE)]);
        let fwd = book.chain(Family::Ip, "filter", "FORWARD").unwrap();
        assert_eq!(fwd.base.as_ref().unwrap().policy, "drop");
        assert_eq!(fwd.base.as_ref().unwrap().hook, "forward");
        let handles: Vec<u64> = fwd.rules.iter().map(|r| r.handle).collect();
        assert_eq!(handles, [9, 5, 6, 7]);
        assert_eq!(fwd.rules[0].text(), "-A FORWARD -s 10.0.0.0/8 -j DROP");
        assert_eq!(
            book.rule(Family::Ip, "nat", "DOCKER", 4).unwrap().text(),
            "-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80"
        );
        assert_eq!(
            book.chain(Family::Ip, "nat", "PREROUTING")
                .unwrap()
                .base
                .as_ref()
                .unwrap()
                .kind,
            "nat"
        );
    }

    #[test]
    fn sets_and_quoted_names_do_not_confuse_the_parser() {
        let nft = "table inet t { # handle 3\n\tset s { # handle 2\n\t\ttype ipv4_addr\n\t\telements = { 10.0.0.1 }\n\t}\n\n\tchain c { # handle 1\n\t\ttype filter hook input priority 0; policy drop;\n\t\tip saddr @s accept # handle 4\n\t}\n}\n";
        let book = RuleBook::parse(nft, &[]);
        assert_eq!(book.chains.len(), 1);
        let c = book.chain(Family::Inet, "t", "c").unwrap();
        assert_eq!(c.rules[0].nft, "ip saddr @s accept");
        assert_eq!(c.base.as_ref().unwrap().policy, "drop");
    }

    #[test]
    fn mismatched_counts_keep_nft_text() {
        let save = "*filter\n-A FORWARD -j ACCEPT\nCOMMIT\n";
        let book = RuleBook::parse(NFT, &[(Family::Ip, save)]);
        let r = book.rule(Family::Ip, "filter", "FORWARD", 9).unwrap();
        assert!(r.iptables.is_none());
        assert_eq!(r.text(), "ip saddr 10.0.0.0/8 counter drop");
    }

    #[test]
    fn counters_prefix_from_save_c_is_stripped() {
        let m = parse_iptables_save("*nat\n[3:180] -A POSTROUTING -o eth0 -j MASQUERADE\nCOMMIT\n");
        assert_eq!(
            m[&("nat".to_string(), "POSTROUTING".to_string())],
            ["-A POSTROUTING -o eth0 -j MASQUERADE"]
        );
    }
}
