//! The drift report: which Docker layout the host's rules match best, and
//! the rules that differ from netrig's rendering of that Docker — added by
//! someone else, missing, or in another order.
//!
//! Rules are compared as the recording tests compare them: per table,
//! `iptables-save` lines without comments and counters.

use std::collections::BTreeMap;

/// `iptables-save` text without comments and counters (chain counters
/// become `[0:0]`).
pub(crate) fn bare(saved: &str) -> String {
    let mut out = String::new();
    for l in saved.lines() {
        let l = l.trim_end();
        if l.starts_with('#') || l.is_empty() {
            continue;
        }
        let line = if l.starts_with(':') {
            match l.rfind(" [") {
                Some(i) => format!("{} [0:0]", &l[..i]),
                None => l.to_string(),
            }
        } else if l.starts_with('[') {
            match l.find("] ") {
                Some(i) => l[i + 2..].to_string(),
                None => l.to_string(),
            }
        } else {
            l.to_string()
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Per table: chain declarations (policy, no counters) and rules, in order.
pub(crate) fn tables(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut cur = String::new();
    for l in bare(text).lines() {
        if let Some(t) = l.strip_prefix('*') {
            cur = t.to_string();
            out.entry(cur.clone()).or_default();
        } else if l.starts_with(':') || l.starts_with("-A ") {
            let l = l.strip_suffix(" [0:0]").unwrap_or(l);
            out.entry(cur.clone()).or_default().push(l.to_string());
        }
    }
    out
}

/// How the host's rules differ from one rendering.
#[derive(Debug, Default)]
pub(crate) struct Drift {
    /// `(table, line)` in the host's rules, not in the rendering.
    pub(crate) added: Vec<(String, String)>,
    /// `(table, line)` in the rendering, not in the host's rules.
    pub(crate) missing: Vec<(String, String)>,
    /// `(table, line)` in both, in another order within its chain.
    pub(crate) reordered: Vec<(String, String)>,
    /// Lines in both.
    pub(crate) same: usize,
}

impl Drift {
    /// How well the rendering matches: shared lines less differing ones.
    pub(crate) fn score(&self) -> i64 {
        self.same as i64 - (self.added.len() + self.missing.len() + self.reordered.len()) as i64
    }
    /// True when the host's rules are the rendering, line for line.
    pub(crate) fn is_empty(&self) -> bool {
        self.added.is_empty() && self.missing.is_empty() && self.reordered.is_empty()
    }
}

/// Compares the host's rules `actual` with the rendering `rendered`.
pub(crate) fn compare(actual: &str, rendered: &str) -> Drift {
    let (a, r) = (tables(actual), tables(rendered));
    let mut d = Drift::default();
    let names: std::collections::BTreeSet<&String> = a.keys().chain(r.keys()).collect();
    for t in names {
        let empty = Vec::new();
        let (al, rl) = (a.get(t).unwrap_or(&empty), r.get(t).unwrap_or(&empty));
        // Multiset difference.
        let mut pool: BTreeMap<&str, usize> = BTreeMap::new();
        for l in rl {
            *pool.entry(l).or_default() += 1;
        }
        let mut common_a = Vec::new();
        for l in al {
            match pool.get_mut(l.as_str()) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    common_a.push(l.as_str());
                }
                _ => d.added.push((t.clone(), l.clone())),
            }
        }
        let mut pool: BTreeMap<&str, usize> = BTreeMap::new();
        for l in al {
            *pool.entry(l).or_default() += 1;
        }
        let mut common_r = Vec::new();
        for l in rl {
            match pool.get_mut(l.as_str()) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    common_r.push(l.as_str());
                }
                _ => d.missing.push((t.clone(), l.clone())),
            }
        }
        // Order: within each chain, what is not on the longest common subsequence.
        let chain = |l: &str| l.split_whitespace().nth(1).unwrap_or_default().to_string();
        let mut chains: Vec<String> = common_a.iter().map(|l| chain(l)).collect();
        chains.dedup();
        let mut done = std::collections::BTreeSet::new();
        for c in chains {
            if !done.insert(c.clone()) || !common_a.iter().any(|l| l.starts_with("-A ")) {
                continue;
            }
            let xa: Vec<&str> = common_a
                .iter()
                .copied()
                .filter(|l| l.starts_with("-A ") && chain(l) == c)
                .collect();
            let xr: Vec<&str> = common_r
                .iter()
                .copied()
                .filter(|l| l.starts_with("-A ") && chain(l) == c)
                .collect();
            let keep = lcs(&xa, &xr);
            let mut on = keep.iter().peekable();
            for l in &xa {
                if on.peek() == Some(&l) {
                    on.next();
                } else {
                    d.reordered.push((t.clone(), l.to_string()));
                }
            }
        }
        d.same += common_a.len();
    }
    d.same -= d.reordered.len();
    d
}

/// The longest common subsequence of `a` and `b`.
fn lcs<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<&'a str> {
    let (n, m) = (a.len(), b.len());
    let mut t = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            t[i][j] = if a[i] == b[j] {
                t[i + 1][j + 1] + 1
            } else {
                t[i + 1][j].max(t[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < n && j < m {
        if a[i] == b[j] {
            out.push(a[i]);
            i += 1;
            j += 1;
        } else if t[i + 1][j] >= t[i][j + 1] {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_missing_and_reordered_are_told_apart() {
        let rendered = "*filter\n:FORWARD DROP [0:0]\n-A FORWARD -j A\n-A FORWARD -j B\n-A FORWARD -j C\nCOMMIT\n";
        let actual = "# Generated\n*filter\n:FORWARD DROP [5:300]\n[1:2] -A FORWARD -j C\n-A FORWARD -j A\n-A FORWARD -j X\nCOMMIT\n";
        let d = compare(actual, rendered);
        assert_eq!(d.added, vec![("filter".into(), "-A FORWARD -j X".into())]);
        assert_eq!(d.missing, vec![("filter".into(), "-A FORWARD -j B".into())]);
        assert_eq!(
            d.reordered,
            vec![("filter".into(), "-A FORWARD -j C".into())]
        );
        assert!(compare(rendered, rendered).is_empty());
    }
}
