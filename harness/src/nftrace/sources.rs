//! Where a traced rule came from: the user's rule file and line. Pure.
//!
//! A user's iptables-save fragment (`-A`/`-I` lines under `*table`) is matched
//! to the rules of a trace by their iptables-save text. iptables-save prints a
//! rule in its own canonical form (`-I` becomes `-A`, options reordered, `/32`
//! added to host addresses, `-m tcp` added after `-p tcp`), so both sides are
//! normalised first: long options to short ones, implied protocol matches
//! dropped, host prefixes made explicit, and the words compared as a sorted
//! list. nft rule files are not matched (nft rewrites rules too freely to
//! map its listing back to the input by text). An ip6tables fragment (a
//! `.v6` file) is matched to the `ip6` tables' rules only, an iptables one
//! to the `ip` tables'.

use std::collections::BTreeMap;

use super::decode::Family;
use super::path::{Decision, PacketTrace};

/// The comment that names where the rule on the next line came from.
const SOURCE_MARK: &str = "#netrig-source:";

/// The rules of the files, keyed by (family, table, normalised rule), valued `file:line`.
#[derive(Debug, Clone, Default)]
pub(crate) struct SourceMap {
    rules: BTreeMap<(Family, String, Vec<String>), String>,
}

impl SourceMap {
    /// Adds the rules of iptables fragment `text`, labelled `label` (the path
    /// as given) and line — or, for a rule right after a `#netrig-source:
    /// WHAT` line (netrig writes them for the commands of a firewall
    /// manager: `ufw deny 8080`), labelled `WHAT`. `family` is where its
    /// tables live: `ip` for iptables, `ip6` for ip6tables.
    pub(crate) fn add_iptables_file(&mut self, label: &str, text: &str, family: Family) {
        let mut table = "filter".to_string();
        let mut named: Option<&str> = None;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if let Some(what) = line.strip_prefix(SOURCE_MARK) {
                named = Some(what.trim());
                continue;
            }
            if let Some(t) = line.strip_prefix('*') {
                table = t.to_string();
            } else if line.starts_with("-A ") || line.starts_with("-I ") {
                self.rules
                    .entry((family, table.clone(), normalise(line)))
                    .or_insert_with(|| match named {
                        Some(what) => what.to_string(),
                        None => format!("{label}:{}", n + 1),
                    });
            }
            named = None;
        }
    }

    /// Where the rule `family table` / `rule` (an iptables-save line) came from.
    pub(crate) fn find(&self, family: Family, table: &str, rule: &str) -> Option<&String> {
        self.rules
            .get(&(family, table.to_string(), normalise(rule)))
    }

    /// Sets `source` on every step (and the decision) whose rule came from a known file.
    pub(crate) fn annotate(&self, packets: &mut [PacketTrace], decision: &mut Option<Decision>) {
        for hook in packets.iter_mut().flat_map(|p| &mut p.hooks) {
            for step in &mut hook.steps {
                if let Some(rule) = &step.rule {
                    step.source = self.find(hook.family, &hook.table, rule).cloned();
                }
            }
        }
        if let Some(d) = decision
            && let Some(rule) = &d.rule
        {
            d.source = self.find(d.family, &d.table, rule).cloned();
        }
    }
}

/// The words of a rule in a canonical, order-free form.
fn normalise(rule: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let mut it = rule.split_whitespace().peekable();
    let mut after_addr = false;
    while let Some(w) = it.next() {
        let w = match w {
            "-I" | "--insert" | "--append" => "-A",
            "--source" | "--src" => "-s",
            "--destination" | "--dst" => "-d",
            "--protocol" => "-p",
            "--in-interface" => "-i",
            "--out-interface" => "-o",
            "--jump" => "-j",
            "--goto" => "-g",
            "--match" => "-m",
            "--destination-port" => "--dport",
            "--source-port" => "--sport",
            w => w,
        };
        if w == "-m"
            && matches!(
                it.peek(),
                Some(&("tcp" | "udp" | "icmp" | "icmp6" | "icmpv6" | "sctp"))
            )
        {
            it.next(); // implied by `-p tcp` with a port match; save adds it
            continue;
        }
        if w == "--reject-with"
            && matches!(
                it.peek(),
                Some(&("icmp-port-unreachable" | "icmp6-port-unreachable"))
            )
        {
            it.next(); // REJECT's default; save prints it
            continue;
        }
        let mut word = w.to_string();
        if after_addr && !word.contains('/') {
            match word.parse::<std::net::IpAddr>() {
                Ok(std::net::IpAddr::V4(_)) => word.push_str("/32"),
                Ok(std::net::IpAddr::V6(_)) => word.push_str("/128"),
                Err(_) => {}
            }
        }
        after_addr = w == "-s" || w == "-d";
        words.push(word);
    }
    // `-I CHAIN 2 …`: an insert position is not part of the rule.
    if words.len() > 2 && words[0] == "-A" && words[2].parse::<u32>().is_ok() {
        words.remove(2);
    }
    words.sort();
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_users_insert_matches_its_saved_form() {
        let mut m = SourceMap::default();
        m.add_iptables_file(
            "rules/docker-user.rules",
            "# comment\n*filter\n:DOCKER-USER - [0:0]\n-I DOCKER-USER -i eth0 ! -s 198.51.100.0/24 -j DROP\n\
             -A DOCKER-USER --protocol tcp --destination-port 22 -d 10.0.0.1 -j ACCEPT\nCOMMIT\n",
            Family::Ip,
        );
        assert_eq!(
            m.find(
                Family::Ip,
                "filter",
                "-A DOCKER-USER ! -s 198.51.100.0/24 -i eth0 -j DROP"
            )
            .map(String::as_str),
            Some("rules/docker-user.rules:4")
        );
        assert_eq!(
            m.find(
                Family::Ip,
                "filter",
                "-A DOCKER-USER -d 10.0.0.1/32 -p tcp -m tcp --dport 22 -j ACCEPT"
            )
            .map(String::as_str),
            Some("rules/docker-user.rules:5")
        );
        assert!(
            m.find(
                Family::Ip,
                "nat",
                "-A DOCKER-USER ! -s 198.51.100.0/24 -i eth0 -j DROP"
            )
            .is_none()
        );
        assert!(
            m.find(Family::Ip, "filter", "-A DOCKER-USER -j RETURN")
                .is_none()
        );
    }

    /// An ip6tables rule matches its saved form (`/128` added, `-m icmp6`
    /// implied) in the ip6 tables only.
    #[test]
    fn an_ip6tables_rule_matches_in_ip6_only() {
        let mut m = SourceMap::default();
        m.add_iptables_file(
            "router.v6",
            "*filter\n-A FORWARD -d 2001:db8:2::2 -p tcp --dport 81 -j DROP\n\
             -A FORWARD -p ipv6-icmp -m icmp6 --icmpv6-type 128 -j ACCEPT\n\
             -A FORWARD -d 2001:db8:61:2::2 -p tcp --dport 81 -j REJECT\nCOMMIT\n",
            Family::Ip6,
        );
        let saved = "-A FORWARD -d 2001:db8:2::2/128 -p tcp -m tcp --dport 81 -j DROP";
        assert_eq!(
            m.find(Family::Ip6, "filter", saved).map(String::as_str),
            Some("router.v6:2")
        );
        assert!(m.find(Family::Ip, "filter", saved).is_none());
        let reject = "-A FORWARD -d 2001:db8:61:2::2/128 -p tcp -m tcp --dport 81 -j REJECT \
                      --reject-with icmp6-port-unreachable";
        assert_eq!(
            m.find(Family::Ip6, "filter", reject).map(String::as_str),
            Some("router.v6:4")
        );
        assert_eq!(
            m.find(
                Family::Ip6,
                "filter",
                "-A FORWARD -p ipv6-icmp -m icmp6 --icmpv6-type 128 -j ACCEPT"
            )
            .map(String::as_str),
            Some("router.v6:3")
        );
    }
}
