//! A rendered iptables ruleset as a value: tables, chains with policies, and
//! rules in order, written exactly as `iptables-save` prints them. It renders
//! to `iptables-restore` input ([`Ruleset::iptables_restore`]) and to the bare
//! `-A` lines a test compares with a real `iptables-save`
//! ([`Ruleset::save_lines`], [`Ruleset::canon`]).
//!
//! Rulesets are produced by replaying Docker's own operations (insert at the
//! top, append, delete-and-reinsert) in creation order, so the rule order is
//! the order Docker leaves behind.

use std::fmt;

/// An iptables table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Table {
    /// `raw` (v29's direct-access drops).
    Raw,
    /// `nat`.
    Nat,
    /// `filter`.
    Filter,
}

impl Table {
    /// The table's name (`raw`, `nat`, `filter`).
    pub fn as_str(self) -> &'static str {
        match self {
            Table::Raw => "raw",
            Table::Nat => "nat",
            Table::Filter => "filter",
        }
    }
    /// The built-in chains, in the kernel's order.
    pub fn builtin_chains(self) -> &'static [&'static str] {
        match self {
            Table::Raw => &["PREROUTING", "OUTPUT"],
            Table::Nat => &["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
            Table::Filter => &["INPUT", "FORWARD", "OUTPUT"],
        }
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A chain: built-in (with a policy) or user-defined (no policy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Chain {
    /// The chain's name.
    pub name: String,
    /// `ACCEPT`/`DROP` for built-in chains, `None` for user chains.
    pub policy: Option<String>,
    /// The rules, each as `iptables-save` prints it after `-A CHAIN `.
    pub rules: Vec<String>,
}

/// One table's chains, built-ins first (kernel order), then user chains by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TableRules {
    /// Which table.
    pub table: Table,
    /// Its chains.
    pub chains: Vec<Chain>,
}

impl TableRules {
    /// A chain by name.
    pub fn chain(&self, name: &str) -> Option<&Chain> {
        self.chains.iter().find(|c| c.name == name)
    }
}

/// A complete IPv4 ruleset for the tables Docker programs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ruleset {
    /// Tables in rendering order.
    pub tables: Vec<TableRules>,
}

impl Ruleset {
    /// A table, if the ruleset has it.
    pub fn table(&self, t: Table) -> Option<&TableRules> {
        self.tables.iter().find(|x| x.table == t)
    }

    /// The policy of a built-in chain (`"DROP"`…).
    #[cfg(test)]
    pub fn policy(&self, t: Table, chain: &str) -> Option<&str> {
        self.table(t)?.chain(chain)?.policy.as_deref()
    }

    /// One table's rules as `-A CHAIN …` lines, in `iptables-save` order
    /// (chains in listing order, rules in chain order).
    #[cfg(test)]
    pub fn rules(&self, t: Table) -> Vec<String> {
        let Some(tr) = self.table(t) else {
            return Vec::new();
        };
        tr.chains
            .iter()
            .flat_map(|c| c.rules.iter().map(move |r| format!("-A {} {r}", c.name)))
            .collect()
    }

    /// Every table's `*table` header followed by its `-A` lines: what
    /// `iptables-save` prints once chain declarations, counters and `COMMIT`
    /// are left out.
    #[cfg(test)]
    pub fn save_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for tr in &self.tables {
            out.push(format!("*{}", tr.table));
            out.extend(self.rules(tr.table));
        }
        out
    }

    /// The nat then filter `-A` lines under `*nat`/`*filter` headers — the
    /// format of the recordings' `.canon` files (`real-docker/canon/canon.sh`).
    #[cfg(test)]
    pub fn canon(&self) -> String {
        let mut s = String::new();
        for t in [Table::Nat, Table::Filter] {
            s.push_str(&format!("*{t}\n"));
            for r in self.rules(t) {
                s.push_str(&r);
                s.push('\n');
            }
        }
        s
    }

    /// `iptables-restore` input: each table with its chain declarations,
    /// policies, rules and `COMMIT`. Restoring it replaces those tables.
    pub fn iptables_restore(&self) -> String {
        let mut s = String::new();
        for tr in &self.tables {
            s.push_str(&format!("*{}\n", tr.table));
            for c in &tr.chains {
                let p = c.policy.as_deref().unwrap_or("-");
                s.push_str(&format!(":{} {p} [0:0]\n", c.name));
            }
            for c in &tr.chains {
                for r in &c.rules {
                    s.push_str(&format!("-A {} {r}\n", c.name));
                }
            }
            s.push_str("COMMIT\n");
        }
        s
    }
}

impl Ruleset {
    /// Parses `iptables-save` text — `*table`, `:CHAIN POLICY [p:b]`,
    /// `-A CHAIN …`, `COMMIT`, `#` comments — for the tables Docker programs
    /// (`raw`, `nat`, `filter`). Rules are kept as written; write them as
    /// `iptables-save` prints them for Docker's "insert unless it exists"
    /// checks to see them. An error gives the 1-based line and what is wrong.
    pub fn parse_save(text: &str) -> Result<Ruleset, (usize, String)> {
        let mut tables: Vec<TableRules> = Vec::new();
        let mut open: Option<usize> = None;
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(name) = line.strip_prefix('*') {
                let table = match name.trim() {
                    "raw" => Table::Raw,
                    "nat" => Table::Nat,
                    "filter" => Table::Filter,
                    other => {
                        return Err((
                            n,
                            format!(
                                "table {other:?}: rules before Docker starts can be in raw, nat and filter"
                            ),
                        ));
                    }
                };
                if let Some(at) = tables.iter().position(|t| t.table == table) {
                    open = Some(at);
                } else {
                    tables.push(TableRules {
                        table,
                        chains: builtin(table),
                    });
                    open = Some(tables.len() - 1);
                }
                continue;
            }
            if line == "COMMIT" {
                if open.take().is_none() {
                    return Err((n, "COMMIT outside a table".into()));
                }
                continue;
            }
            let Some(t) = open else {
                return Err((n, format!("{line:?} before any `*table` line")));
            };
            let tr = &mut tables[t];
            if let Some(decl) = line.strip_prefix(':') {
                let mut parts = decl.split_whitespace();
                let (Some(name), Some(policy)) = (parts.next(), parts.next()) else {
                    return Err((
                        n,
                        format!("{line:?}: a chain is declared as `:NAME POLICY [0:0]`"),
                    ));
                };
                let is_builtin = tr.table.builtin_chains().contains(&name);
                match (is_builtin, policy) {
                    (true, "ACCEPT" | "DROP") => {
                        let c = tr
                            .chains
                            .iter_mut()
                            .find(|c| c.name == name)
                            .expect("built-in");
                        c.policy = Some(policy.into());
                    }
                    (true, _) => {
                        return Err((
                            n,
                            format!("chain {name}: policy {policy:?} (ACCEPT or DROP)"),
                        ));
                    }
                    (false, "-") => {
                        if tr.chain(name).is_none() {
                            tr.chains.push(Chain {
                                name: name.into(),
                                policy: None,
                                rules: Vec::new(),
                            });
                        }
                    }
                    (false, _) => {
                        return Err((
                            n,
                            format!("user chain {name}: policy must be `-`, not {policy:?}"),
                        ));
                    }
                }
                continue;
            }
            let Some(rest) = line.strip_prefix("-A ") else {
                return Err((
                    n,
                    format!("{line:?}: expected `*table`, `:CHAIN`, `-A CHAIN …` or `COMMIT`"),
                ));
            };
            let (chain, rule) = rest.trim().split_once(' ').unwrap_or((rest.trim(), ""));
            let Some(c) = tr.chains.iter_mut().find(|c| c.name == chain) else {
                return Err((
                    n,
                    format!("chain {chain} is not declared (add `:{chain} - [0:0]`)"),
                ));
            };
            c.rules.push(rule.trim().to_string());
        }
        if open.is_some() {
            return Err((text.lines().count(), "the last table has no COMMIT".into()));
        }
        Ok(Ruleset { tables })
    }
}

impl Ruleset {
    /// Adds `other`'s chains and rules after this one's (a later file's
    /// policies win), as loading it after this one would.
    pub fn extend(&mut self, other: Ruleset) {
        for ot in other.tables {
            let Some(tr) = self.tables.iter_mut().find(|t| t.table == ot.table) else {
                self.tables.push(ot);
                continue;
            };
            for oc in ot.chains {
                match tr.chains.iter_mut().find(|c| c.name == oc.name) {
                    Some(c) => {
                        if oc.policy.is_some() {
                            c.policy = oc.policy;
                        }
                        c.rules.extend(oc.rules);
                    }
                    None => tr.chains.push(oc),
                }
            }
        }
    }
}

/// A table's built-in chains, empty, policy ACCEPT.
fn builtin(t: Table) -> Vec<Chain> {
    t.builtin_chains()
        .iter()
        .map(|c| Chain {
            name: (*c).into(),
            policy: Some("ACCEPT".into()),
            rules: Vec::new(),
        })
        .collect()
}

impl fmt::Display for Ruleset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.iptables_restore())
    }
}

/// The working state Docker's operations are replayed on.
#[derive(Debug, Clone)]
pub(crate) struct Replay {
    tables: Vec<TableRules>,
    /// Each operation that changed the state, as the `iptables-restore
    /// --noflush` line that makes the same change on a live host (`*table`
    /// it applies to, then the line).
    log: Vec<(Table, String)>,
}

impl Replay {
    /// The state Docker starts from for `tables`: each table as `existing`
    /// has it (rules already there before the daemon started), or empty
    /// built-in chains with policy ACCEPT.
    pub(crate) fn new(tables: &[Table], existing: Option<&Ruleset>) -> Self {
        Replay {
            tables: tables
                .iter()
                .map(|&t| {
                    existing
                        .and_then(|e| e.table(t))
                        .cloned()
                        .unwrap_or(TableRules {
                            table: t,
                            chains: builtin(t),
                        })
                })
                .collect(),
            log: Vec::new(),
        }
    }

    /// The operations so far as an `iptables-restore --noflush` script:
    /// one `*table … COMMIT` block per table touched, lines in the order
    /// they were made (empty when nothing changed).
    pub(crate) fn noflush_script(&self) -> String {
        let mut out = String::new();
        for t in [Table::Raw, Table::Nat, Table::Filter] {
            let lines: Vec<&str> = self
                .log
                .iter()
                .filter(|(lt, _)| *lt == t)
                .map(|(_, l)| l.as_str())
                .collect();
            if !lines.is_empty() {
                out.push_str(&format!("*{t}\n{}\nCOMMIT\n", lines.join("\n")));
            }
        }
        out
    }

    fn has_chain(&self, t: Table, chain: &str) -> bool {
        self.tables
            .iter()
            .any(|x| x.table == t && x.chain(chain).is_some())
    }

    /// How many copies of `rule` `chain` holds (0 when the chain does not
    /// exist: looking does not create it, so a later `-N` is still logged).
    fn copies(&self, t: Table, chain: &str, rule: &str) -> usize {
        self.tables
            .iter()
            .filter(|x| x.table == t)
            .filter_map(|x| x.chain(chain))
            .map(|c| c.rules.iter().filter(|r| *r == rule).count())
            .sum()
    }

    fn chain_mut(&mut self, t: Table, chain: &str) -> &mut Chain {
        let tr = self
            .tables
            .iter_mut()
            .find(|x| x.table == t)
            .expect("replay table declared");
        if let Some(i) = tr.chains.iter().position(|c| c.name == chain) {
            &mut tr.chains[i]
        } else {
            tr.chains.push(Chain {
                name: chain.into(),
                policy: None,
                rules: Vec::new(),
            });
            tr.chains.last_mut().expect("just pushed")
        }
    }

    /// `iptables -N` (no-op when it exists).
    pub(crate) fn new_chain(&mut self, t: Table, chain: &str) {
        if !self.has_chain(t, chain) {
            // Only a chain that does not exist is declared: `--noflush`
            // flushes a user chain it sees declared.
            self.log.push((t, format!(":{chain} - [0:0]")));
        }
        self.chain_mut(t, chain);
    }

    /// `iptables -P`.
    pub(crate) fn policy(&mut self, t: Table, chain: &str, policy: &str) {
        let c = self.chain_mut(t, chain);
        if c.policy.as_deref() != Some(policy) {
            c.policy = Some(policy.into());
            self.log.push((t, format!(":{chain} {policy} [0:0]")));
        }
    }

    /// Logs `-A`/`-I` of `rule`, declaring its chain first when it is new.
    fn log_rule(&mut self, t: Table, chain: &str, op: &str, rule: &str) {
        self.new_chain(t, chain);
        self.log.push((t, format!("{op} {chain} {rule}")));
    }

    /// `iptables -I chain` unless the rule exists (Docker's `programChainRule`).
    pub(crate) fn insert(&mut self, t: Table, chain: &str, rule: impl Into<String>) {
        let rule = rule.into();
        if self.copies(t, chain, &rule) == 0 {
            self.log_rule(t, chain, "-I", &rule);
            self.chain_mut(t, chain).rules.insert(0, rule);
        }
    }

    /// `iptables -A chain` (no existence check, like Docker's per-port rules).
    pub(crate) fn append(&mut self, t: Table, chain: &str, rule: impl Into<String>) {
        let rule = rule.into();
        self.log_rule(t, chain, "-A", &rule);
        self.chain_mut(t, chain).rules.push(rule);
    }

    /// `iptables -A chain` unless the rule exists.
    pub(crate) fn append_unique(&mut self, t: Table, chain: &str, rule: impl Into<String>) {
        let rule = rule.into();
        if self.copies(t, chain, &rule) == 0 {
            self.append(t, chain, rule);
        }
    }

    /// `iptables -D` (every copy).
    pub(crate) fn delete(&mut self, t: Table, chain: &str, rule: &str) {
        for _ in 0..self.copies(t, chain, rule) {
            self.log.push((t, format!("-D {chain} {rule}")));
        }
        self.chain_mut(t, chain).rules.retain(|r| r != rule);
    }

    /// `iptables -F chain`: every rule goes, the chain stays.
    pub(crate) fn flush(&mut self, t: Table, chain: &str) {
        if !self.chain_mut(t, chain).rules.is_empty() {
            self.log.push((t, format!("-F {chain}")));
        }
        self.chain_mut(t, chain).rules.clear();
    }

    /// Docker's `EnsureJumpRule`: delete, then insert at the top.
    pub(crate) fn ensure_top(&mut self, t: Table, chain: &str, rule: impl Into<String>) {
        let rule = rule.into();
        self.delete(t, chain, &rule);
        self.log_rule(t, chain, "-I", &rule);
        self.chain_mut(t, chain).rules.insert(0, rule);
    }

    /// The finished ruleset, user chains sorted by name as `iptables-save` lists them.
    pub(crate) fn finish(mut self) -> Ruleset {
        for tr in &mut self.tables {
            let n = tr.table.builtin_chains().len();
            tr.chains[n..].sort_by(|a, b| a.name.cmp(&b.name));
        }
        Ruleset {
            tables: self.tables,
        }
    }
}
