//! What `netrig run` makes of the catalogue's results: trial lines parsed
//! from libtest's output, the summary table (scenario × cell), the upgrade
//! view (outcome per Docker layout, proxy on/off), JUnit XML and a TSV record.

use std::collections::BTreeMap;
use std::time::Duration;

/// How a trial ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It passed.
    Passed,
    /// It failed.
    Failed,
    /// It was ignored (privileges, a missing feature: the note says).
    Skipped,
}

/// One trial's result.
#[derive(Debug, Clone)]
pub struct Trial {
    /// `SCENARIO::LAYOUT::BACKEND` (SCENARIO may be `bug::NAME`).
    pub name: String,
    /// How it ended.
    pub outcome: Outcome,
    /// The skip reason, if any.
    pub note: String,
    /// A failure's details (the harness's message with evidence paths).
    pub details: String,
}

impl Trial {
    /// `(scenario, cell)`: the name split before `LAYOUT::BACKEND`.
    pub fn split(&self) -> (&str, &str) {
        let mut cuts = self.name.rmatch_indices("::").map(|(i, _)| i);
        match (cuts.next(), cuts.next()) {
            (Some(_), Some(i)) => (&self.name[..i], &self.name[i + 2..]),
            _ => (self.name.as_str(), ""),
        }
    }

    /// `" (reason)"` for a skip, else nothing.
    pub fn note_suffix(&self) -> String {
        match self.note.is_empty() {
            true => String::new(),
            false => format!(" ({})", self.note),
        }
    }
}

/// Parses libtest's `test NAME ... ok|FAILED|ignored[, reason]` line.
pub fn parse_result_line(line: &str) -> Option<Trial> {
    let rest = line.strip_prefix("test ")?;
    let (name, verdict) = rest.split_once(" ... ")?;
    let verdict = verdict.trim();
    let (outcome, note) = if verdict == "ok" {
        (Outcome::Passed, "")
    } else if verdict == "FAILED" {
        (Outcome::Failed, "")
    } else if let Some(r) = verdict.strip_prefix("ignored") {
        (Outcome::Skipped, r.trim_start_matches([',', ' ']))
    } else {
        return None;
    };
    Some(Trial {
        name: name.trim().to_string(),
        outcome,
        note: note.to_string(),
        details: String::new(),
    })
}

/// `(passed, failed, skipped)`.
pub fn counts(trials: &[Trial]) -> (usize, usize, usize) {
    let n = |o| trials.iter().filter(|t| t.outcome == o).count();
    (n(Outcome::Passed), n(Outcome::Failed), n(Outcome::Skipped))
}

/// The cells in matrix order; cells of point releases (`v29@29.0::iptables-nft`)
/// follow in the order the run has them.
const CELLS: &[&str] = &[
    "classic::iptables-nft",
    "classic::iptables-legacy",
    "v28::iptables-nft",
    "v28::iptables-legacy",
    "v29::iptables-nft",
    "v29::nftables",
];

fn mark(o: Option<Outcome>) -> &'static str {
    match o {
        Some(Outcome::Passed) => "ok",
        Some(Outcome::Failed) => "FAIL",
        Some(Outcome::Skipped) => "skip",
        None => "",
    }
}

/// Rows of cells padded into columns.
fn table(rows: &[Vec<String>]) -> String {
    let width = |c: usize| {
        rows.iter()
            .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..rows.first().map_or(0, Vec::len)).map(width).collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(s, w)| format!("{s:<w$}", w = *w))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// The summary: one row per scenario, one column per cell.
pub fn summary_table(trials: &[Trial]) -> String {
    let mut by: BTreeMap<(usize, &str), BTreeMap<&str, Outcome>> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    let mut columns: Vec<&str> = CELLS.to_vec();
    for t in trials {
        let (s, cell) = t.split();
        if !order.contains(&s) {
            order.push(s);
        }
        if !columns.contains(&cell) {
            columns.push(cell);
        }
        let i = order.iter().position(|o| *o == s).unwrap_or(0);
        by.entry((i, s)).or_default().insert(cell, t.outcome);
    }
    let mut rows = vec![
        std::iter::once("scenario".to_string())
            .chain(columns.iter().map(|c| c.to_string()))
            .collect::<Vec<_>>(),
    ];
    for ((_, s), cells) in &by {
        let mut row = vec![s.to_string()];
        row.extend(
            columns
                .iter()
                .map(|c| mark(cells.get(c).copied()).to_string()),
        );
        rows.push(row);
    }
    table(&rows)
}

/// One column of the upgrade view: a Docker version as netrig emulates it,
/// a rule layout and, for a point release, a version within it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// The heading.
    pub label: &'static str,
    /// How the bug story names it (`gone in 29.0`).
    pub name: &'static str,
    /// The layout (`classic`, `v28`, `v29`): the trial cell's first part.
    pub layout: &'static str,
    /// A point release within the layout (`29.0`), as trial cells spell it;
    /// `None` for the layout's newest release.
    pub version: Option<&'static str>,
}

impl Column {
    /// How the catalogue's description and the trial names spell the column:
    /// `LAYOUT`, or `LAYOUT@VERSION` for a point release (trial cells
    /// `KEY::BACKEND`).
    pub fn key(&self) -> String {
        match self.version {
            Some(v) => format!("{}@{v}", self.layout),
            None => self.layout.to_string(),
        }
    }
}

/// The upgrade view's columns, oldest first: classic (20.10–27, recorded
/// from 20.10.24), v28 (28.2–28.5, recorded from 28.5.2), and v29 at 29.0,
/// 29.5.0 (moby#52423's UDP conntrack flush; 29.5.1–29.7 behave as 29.7 in
/// everything netrig models) and its newest, 29.7.2. A column the
/// description does not name shows `-`.
pub const COLUMNS: &[Column] = &[
    Column {
        label: "classic (20.10-27)",
        name: "classic",
        layout: "classic",
        version: None,
    },
    Column {
        label: "28.x (28.2-28.5)",
        name: "28.x",
        layout: "v28",
        version: None,
    },
    Column {
        label: "29.0",
        name: "29.0",
        layout: "v29",
        version: Some("29.0"),
    },
    Column {
        label: "29.5.0",
        name: "29.5.0",
        layout: "v29",
        version: Some("29.5.0"),
    },
    Column {
        label: "29.7",
        name: "29.7",
        layout: "v29",
        version: None,
    },
];

/// The description's header (`#layouts KEY…`): where each column's outcome
/// is in a row. Without one, the fixed classic, v28, v29 of older catalogues.
fn column_fields(rows: &[Vec<String>]) -> Vec<String> {
    rows.iter()
        .find(|r| r.first().is_some_and(|f| f == "#layouts"))
        .map(|r| r[1..].to_vec())
        .unwrap_or_else(|| ["classic", "v28", "v29"].map(str::to_string).to_vec())
}

/// Where a bug appears and disappears across `states` (one per column:
/// `None` where the scenario does not run, else whether the asserted
/// outcome is a bug), as `appears in 28.x`, `gone in 29.0`, `in every version`.
fn story(columns: &[Column], states: &[Option<bool>]) -> String {
    let ran: Vec<(&Column, bool)> = columns
        .iter()
        .zip(states)
        .filter_map(|(c, s)| s.map(|b| (c, b)))
        .collect();
    if ran.is_empty() || ran.iter().all(|(_, b)| !b) {
        return "-".into();
    }
    if ran.iter().all(|(_, b)| *b) {
        return match ran.len() {
            n if n == columns.len() => "in every version".into(),
            _ => format!(
                "in {}",
                ran.iter()
                    .map(|(c, _)| c.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
    }
    let mut out = Vec::new();
    if ran[0].1 {
        out.push(format!("in {}", ran[0].0.name));
    }
    for pair in ran.windows(2) {
        match (pair[0].1, pair[1].1) {
            (false, true) => out.push(format!("appears in {}", pair[1].0.name)),
            (true, false) => out.push(format!("gone in {}", pair[1].0.name)),
            _ => {}
        }
    }
    out.join(", ")
}

/// The upgrade view: per scenario (and proxy setting), the outcome each
/// Docker version asserts ([`COLUMNS`]), marked with how this run's trials
/// of that version ended, and where a bug (an outcome saying `BUG`) appears
/// and disappears. `rows` is the catalogue's description (see
/// `scenarios/main.rs`): a `#layouts` header, then prefix, kind, proxy, one
/// outcome per layout, cells.
pub fn upgrade_view(rows: &[Vec<String>], trials: &[Trial]) -> String {
    upgrade_view_of(COLUMNS, rows, trials)
}

fn upgrade_view_of(columns: &[Column], rows: &[Vec<String>], trials: &[Trial]) -> String {
    let fields = column_fields(rows);
    let mut head = vec!["scenario".to_string(), "proxy".to_string()];
    head.extend(columns.iter().map(|c| c.label.to_string()));
    head.push("bug".to_string());
    let mut out = vec![head];
    for r in rows
        .iter()
        .filter(|r| r.len() >= 4 + fields.len() && !r[0].starts_with('#'))
    {
        let ran: Vec<&Trial> = trials.iter().filter(|t| t.split().0 == r[0]).collect();
        if ran.is_empty() {
            continue;
        }
        let outcome = |c: &Column| -> &str {
            fields
                .iter()
                .position(|f| *f == c.key())
                .map_or("", |i| r[3 + i].as_str())
        };
        let cell = |c: &Column| {
            let outcome = outcome(c);
            if outcome.is_empty() {
                return "-".to_string();
            }
            let prefix = format!("{}::", c.key());
            let of: Vec<Outcome> = ran
                .iter()
                .filter(|t| t.split().1.starts_with(&prefix))
                .map(|t| t.outcome)
                .collect();
            let m = if of.contains(&Outcome::Failed) {
                "FAIL"
            } else if of.is_empty() || of.iter().all(|o| *o == Outcome::Skipped) {
                "not run"
            } else {
                "ok"
            };
            format!("{outcome} [{m}]")
        };
        let states: Vec<Option<bool>> = columns
            .iter()
            .map(|c| match outcome(c) {
                "" => None,
                o => Some(o.contains("BUG")),
            })
            .collect();
        let mut row = vec![r[0].clone(), r[2].clone()];
        row.extend(columns.iter().map(cell));
        row.push(story(columns, &states));
        out.push(row);
    }
    format!(
        "Upgrade view: what each Docker version does (asserted, and how this run ended)\n{}",
        table(&out)
    )
}

/// One line per trial: name, outcome, note.
pub fn results_tsv(trials: &[Trial]) -> String {
    trials
        .iter()
        .map(|t| format!("{}\t{}\t{}\n", t.name, mark(Some(t.outcome)), t.note))
        .collect()
}

fn xml_escape(s: &str) -> String {
    s.chars()
        .filter(|c| *c == '\n' || *c == '\t' || !c.is_control())
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// JUnit XML: one testsuite, a testcase per trial (classname = scenario,
/// name = cell), the fingerprint as properties.
pub fn junit(trials: &[Trial], fingerprint: &str, elapsed: Duration) -> String {
    let (_, failed, skipped) = counts(trials);
    let mut x = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n<testsuite name=\"netrig-catalogue\" tests=\"{}\" failures=\"{failed}\" skipped=\"{skipped}\" errors=\"0\" time=\"{:.3}\">\n<properties>\n",
        trials.len(),
        elapsed.as_secs_f64()
    );
    for line in fingerprint.lines() {
        if let Some((k, v)) = line.split_once(": ") {
            x.push_str(&format!(
                "<property name=\"{}\" value=\"{}\"/>\n",
                xml_escape(k),
                xml_escape(v)
            ));
        }
    }
    x.push_str("</properties>\n");
    for t in trials {
        let (scenario, cell) = t.split();
        x.push_str(&format!(
            "<testcase classname=\"{}\" name=\"{}\"",
            xml_escape(scenario),
            xml_escape(cell)
        ));
        match t.outcome {
            Outcome::Passed => x.push_str("/>\n"),
            Outcome::Skipped => x.push_str(&format!(
                "><skipped message=\"{}\"/></testcase>\n",
                xml_escape(&t.note)
            )),
            Outcome::Failed => {
                let first = t.details.lines().next().unwrap_or("failed");
                x.push_str(&format!(
                    "><failure message=\"{}\">{}</failure></testcase>\n",
                    xml_escape(first),
                    xml_escape(&t.details)
                ));
            }
        }
    }
    x.push_str("</testsuite>\n</testsuites>\n");
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_libtest_lines() {
        let t = parse_result_line("test bug::x::v28::iptables-nft      ... FAILED").unwrap();
        assert_eq!(t.outcome, Outcome::Failed);
        assert_eq!(t.split(), ("bug::x", "v28::iptables-nft"));
        let s =
            parse_result_line("test a::classic::iptables-nft ... ignored, not privileged").unwrap();
        assert_eq!(
            (s.outcome, s.note.as_str()),
            (Outcome::Skipped, "not privileged")
        );
        assert!(parse_result_line("test result: ok. 3 passed").is_none());
    }

    fn trial(name: &str, outcome: Outcome) -> Trial {
        Trial {
            name: name.into(),
            outcome,
            note: String::new(),
            details: String::new(),
        }
    }

    fn row(fields: &[&str]) -> Vec<String> {
        fields.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn upgrade_view_tells_where_a_bug_appears_and_goes() {
        let rows = vec![
            row(&["#layouts", "classic", "v28", "v29"]),
            row(&[
                "bug::a", "bug", "-", "reached", "BUG: cut", "BUG: cut", "cells",
            ]),
            row(&["bug::b", "bug", "off", "BUG: x", "BUG: x", "fixed", "cells"]),
            row(&["bug::c", "bug", "-", "", "BUG: y", "", "cells"]),
        ];
        let trials = vec![
            trial("bug::a::classic::iptables-nft", Outcome::Passed),
            trial("bug::a::v28::iptables-nft", Outcome::Passed),
            trial("bug::a::v29::nftables", Outcome::Failed),
            trial("bug::b::classic::iptables-nft", Outcome::Passed),
            trial("bug::b::v29::nftables", Outcome::Skipped),
            trial("bug::c::v28::iptables-nft", Outcome::Passed),
        ];
        let view = upgrade_view(&rows, &trials);
        let line = |s: &str| view.lines().find(|l| l.starts_with(s)).unwrap().to_string();
        assert!(
            line("bug::a ").ends_with("BUG: cut [FAIL]  appears in 28.x"),
            "{view}"
        );
        assert!(line("bug::b ").contains("BUG: x [not run]"), "{view}");
        assert!(
            line("bug::b ").ends_with("in classic, gone in 29.7"),
            "{view}"
        );
        assert!(line("bug::c ").ends_with("in 28.x"), "{view}");
    }

    #[test]
    fn point_releases_are_columns_of_their_own() {
        let rows = vec![
            row(&[
                "#layouts",
                "classic",
                "v28",
                "v29@29.0",
                "v29@29.5.0",
                "v29",
            ]),
            row(&[
                "bug::d",
                "bug",
                "on",
                "fine",
                "fine",
                "fine",
                "BUG: stale",
                "BUG: stale",
                "cells",
            ]),
            row(&[
                "bug::e", "bug", "-", "BUG: x", "BUG: x", "fixed", "fixed", "fixed", "cells",
            ]),
        ];
        let trials = vec![
            trial("bug::d::v28::iptables-nft", Outcome::Passed),
            trial("bug::d::v29@29.0::iptables-nft", Outcome::Passed),
            trial("bug::d::v29@29.5.0::iptables-nft", Outcome::Failed),
            trial("bug::d::v29::iptables-nft", Outcome::Passed),
            trial("bug::e::classic::iptables-nft", Outcome::Passed),
        ];
        let view = upgrade_view(&rows, &trials);
        let line = |s: &str| view.lines().find(|l| l.starts_with(s)).unwrap().to_string();
        let head = view.lines().nth(1).unwrap();
        assert!(
            head.contains("classic (20.10-27)  28.x (28.2-28.5)  29.0")
                && head.contains("29.5.0")
                && head.contains("29.7"),
            "{view}"
        );
        assert!(line("bug::d ").contains("fine [ok]"), "{view}");
        assert!(line("bug::d ").contains("BUG: stale [FAIL]"), "{view}");
        assert!(
            line("bug::d ").ends_with("BUG: stale [ok]  appears in 29.5.0"),
            "{view}"
        );
        assert!(line("bug::e ").contains("fixed [not run]"), "{view}");
        assert!(
            line("bug::e ").ends_with("in classic, gone in 29.0"),
            "{view}"
        );
        // An older description without a header still reads as classic, v28, v29.
        let old = vec![row(&[
            "bug::a", "bug", "-", "reached", "BUG: cut", "BUG: cut", "c",
        ])];
        let trials = vec![trial("bug::a::v28::iptables-nft", Outcome::Passed)];
        assert!(upgrade_view(&old, &trials).contains("appears in 28.x"));
        // The summary has a column per point-release cell the run has.
        let table = summary_table(&trials_of(&["bug::d::v29@29.0::iptables-nft"]));
        assert!(
            table
                .lines()
                .next()
                .unwrap()
                .ends_with("v29@29.0::iptables-nft"),
            "{table}"
        );
    }

    fn trials_of(names: &[&str]) -> Vec<Trial> {
        names.iter().map(|n| trial(n, Outcome::Passed)).collect()
    }

    #[test]
    fn junit_escapes_and_counts() {
        let t = vec![Trial {
            name: "a::v29::nftables".into(),
            outcome: Outcome::Failed,
            note: String::new(),
            details: "Error: <x> & y\n".into(),
        }];
        let x = junit(&t, "kernel: 6.1", Duration::from_secs(1));
        assert!(x.contains("failures=\"1\""));
        assert!(x.contains("&lt;x&gt; &amp; y"));
        assert!(x.contains("<property name=\"kernel\" value=\"6.1\"/>"));
    }
}
