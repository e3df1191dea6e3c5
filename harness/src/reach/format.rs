//! Matrices, diffs and cell traces as text (for a terminal; a matrix's is
//! also the golden-file format), Markdown, JSON, grids and HTML pages
//! (written by `html`).

use std::fmt::{self, Write};

use super::cell::{Row, Why};
use super::diff::MatrixDiff;
use super::grid;
use super::html;
use super::matrix::{CellTrace, Matrix};

/// How [`Matrix::render`], [`MatrixDiff::render`] and [`CellTrace::render`]
/// print (the CLI's `--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns for a terminal.
    Text,
    /// A Markdown table.
    Markdown,
    /// One JSON object per cell.
    Json,
    /// Sources as rows, destinations as numbered columns, one character a
    /// cell, with the column key and a legend (for a diff: before, after
    /// and what changed); a trace prints as text.
    Grid,
    /// One self-contained HTML page (no network access: CSS and script
    /// inline): the grid coloured by outcome (NAT and a diff's changes
    /// marked), each cell's seen addresses, why and trace on hover or
    /// click, filters, and the lab's topology beside it.
    Html,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "text" => Ok(Format::Text),
            "markdown" | "md" => Ok(Format::Markdown),
            "json" => Ok(Format::Json),
            "grid" => Ok(Format::Grid),
            "html" => Ok(Format::Html),
            _ => Err(format!(
                "{s:?}: the formats are text, markdown, json, grid and html"
            )),
        }
    }
}

fn addr(a: Option<std::net::IpAddr>) -> String {
    a.map_or("-".to_string(), |a| a.to_string())
}

fn why_text(why: &[Why]) -> String {
    if why.is_empty() {
        return "-".to_string();
    }
    why.iter()
        .map(|w| w.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

fn columns(r: &Row) -> [String; 6] {
    [
        r.cell.from.clone(),
        r.cell.target(),
        r.outcome.to_string(),
        addr(r.seen_src),
        addr(r.seen_dst),
        why_text(&r.why),
    ]
}

/// Aligned columns, the last one (why) left ragged.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let n = header.len();
    let mut width: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (k, c) in r.iter().enumerate().take(n - 1) {
            width[k] = width[k].max(c.len());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (k, c) in cells.iter().enumerate() {
            if k + 1 < n {
                let _ = write!(l, "{c:<w$}  ", w = width[k]);
            } else {
                l.push_str(c);
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
    out
}

fn markdown(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = format!(
        "| {} |\n|{}\n",
        header.join(" | "),
        "---|".repeat(header.len())
    );
    for r in rows {
        let cells: Vec<String> = r.iter().map(|c| c.replace('|', "\\|")).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out
}

const MATRIX_HEADER: [&str; 6] = ["FROM", "TO", "OUTCOME", "SEEN SRC", "SEEN DST", "WHY"];
const DIFF_HEADER: [&str; 5] = ["FROM", "TO", "BEFORE", "AFTER", "WHY (before | after)"];

/// The matrix as text: a table of from, to, outcome, seen source and
/// destination, why. Stable: the golden-file format.
impl fmt::Display for Matrix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows: Vec<Vec<String>> = self.rows.iter().map(|r| columns(r).to_vec()).collect();
        f.write_str(&table(&MATRIX_HEADER, &rows))
    }
}

impl Matrix {
    /// The matrix in `format`: text as its `Display` (`to_string()`); a
    /// Markdown table of the same columns; a JSON array, one object per
    /// cell: `from`, `to`, `outcome`, `seen_src`, `seen_dst` (null unless
    /// delivered), `why` (a list of `{node, table, chain, rule, verdict,
    /// source, answer}`).
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Text => self.to_string(),
            Format::Markdown => {
                let rows: Vec<Vec<String>> =
                    self.rows.iter().map(|r| columns(r).to_vec()).collect();
                markdown(&MATRIX_HEADER, &rows)
            }
            Format::Json => {
                let items: Vec<String> = self.rows.iter().map(row_json).collect();
                format!("[\n{}\n]\n", items.join(",\n"))
            }
            Format::Grid => {
                let marks = grid::marks(&self.rows);
                grid::render(
                    &grid::Axes::of([&marks]),
                    &[("reachability", &marks)],
                    grid::LEGEND,
                )
            }
            Format::Html => html::matrix(self),
        }
    }
}

impl MatrixDiff {
    fn diff_rows(&self) -> Vec<Vec<String>> {
        let mut rows = Vec::new();
        for (b, a) in &self.changed {
            rows.push(vec![
                b.cell.from.clone(),
                b.cell.target(),
                b.reach(),
                a.reach(),
                format!("{} | {}", why_text(&b.why), why_text(&a.why)),
            ]);
        }
        for b in &self.removed {
            let c = &b.cell;
            rows.push(vec![
                c.from.clone(),
                c.target(),
                b.reach(),
                "(not probed)".into(),
                why_text(&b.why),
            ]);
        }
        for a in &self.added {
            let c = &a.cell;
            rows.push(vec![
                c.from.clone(),
                c.target(),
                "(not probed)".into(),
                a.reach(),
                why_text(&a.why),
            ]);
        }
        for (b, a) in &self.why_changed {
            rows.push(vec![
                b.cell.from.clone(),
                b.cell.target(),
                b.reach(),
                format!("{} (decided by another rule)", a.reach()),
                format!("{} | {}", why_text(&b.why), why_text(&a.why)),
            ]);
        }
        rows
    }

    fn text(&self) -> String {
        if self.is_empty() && self.why_changed.is_empty() {
            return "no cell changed\n".to_string();
        }
        let n = self.changed.len() + self.removed.len() + self.added.len();
        let mut out = if n == 0 {
            "no cell changed\n".to_string()
        } else {
            format!("{n} cell(s) changed\n")
        };
        let block = |out: &mut String, b: Option<&Row>, a: Option<&Row>| {
            let cell = &b.or(a).expect("one side").cell;
            let _ = writeln!(out, "\n{cell}");
            for (side, r) in [("before", b), ("after", a)] {
                match r {
                    None => {
                        let _ = writeln!(out, "  {side:<6}  (not probed)");
                    }
                    Some(r) => {
                        let _ = writeln!(out, "  {side:<6}  {}", r.reach());
                        for w in &r.why {
                            let _ = writeln!(out, "          {w}");
                        }
                    }
                }
            }
        };
        for (b, a) in &self.changed {
            block(&mut out, Some(b), Some(a));
        }
        for b in &self.removed {
            block(&mut out, Some(b), None);
        }
        for a in &self.added {
            block(&mut out, None, Some(a));
        }
        if !self.why_changed.is_empty() {
            let _ = writeln!(
                out,
                "\n{} cell(s) with the same outcome, decided by another rule",
                self.why_changed.len()
            );
            for (b, a) in &self.why_changed {
                block(&mut out, Some(b), Some(a));
            }
        }
        out
    }

    fn grid(&self) -> String {
        let (before, after) = (grid::marks(&self.before), grid::marks(&self.after));
        let why: Vec<(String, String)> = (self.why_changed.iter())
            .map(|(b, _)| (b.cell.from.clone(), b.cell.target()))
            .collect();
        let changed = grid::compare(&before, &after, &why);
        let axes = grid::Axes::of([&before, &after]);
        let mut out = grid::render(
            &axes,
            &[
                ("before", &before),
                ("after", &after),
                ("changed", &changed),
            ],
            grid::LEGEND,
        );
        let _ = writeln!(out, "{}", grid::DIFF_LEGEND);
        out
    }

    fn markdown(&self) -> String {
        if self.is_empty() && self.why_changed.is_empty() {
            return "no cell changed\n".to_string();
        }
        markdown(&DIFF_HEADER, &self.diff_rows())
    }

    fn json(&self) -> String {
        let side = |r: Option<&Row>| r.map_or("null".to_string(), row_json);
        let mut items = Vec::new();
        let mut push = |b: Option<&Row>, a: Option<&Row>, change: &str| {
            let cell = &b.or(a).expect("one side").cell;
            items.push(format!(
                "{{\"from\": {}, \"to\": {}, \"change\": {}, \"before\": {}, \"after\": {}}}",
                json_str(&cell.from),
                json_str(&cell.target()),
                json_str(change),
                side(b),
                side(a)
            ));
        };
        for (b, a) in &self.changed {
            push(Some(b), Some(a), "reach");
        }
        for b in &self.removed {
            push(Some(b), None, "reach");
        }
        for a in &self.added {
            push(None, Some(a), "reach");
        }
        for (b, a) in &self.why_changed {
            push(Some(b), Some(a), "why");
        }
        format!("[\n{}\n]\n", items.join(",\n"))
    }

    /// The diff in `format`: text as its `Display` (`to_string()`); a
    /// Markdown table of the changed cells; a JSON array, one object per
    /// changed cell: `from`, `to`, `change` (`reach`, or `why` for a cell of
    /// [`MatrixDiff::why_changed`]), and `before` / `after` objects of the
    /// matrix's shape (null when that side did not probe the cell); the
    /// before, after and comparison grids.
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Text => self.text(),
            Format::Markdown => self.markdown(),
            Format::Json => self.json(),
            Format::Grid => self.grid(),
            Format::Html => html::diff(self),
        }
    }
}

/// The diff as text: the changed cells, one block each: the cell, then
/// before and after (outcome and seen addresses) each with its why, one
/// rule a line; "no cell changed" when empty.
impl fmt::Display for MatrixDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

impl CellTrace {
    /// The trace in `format`: text as its `Display` (`to_string()`), one
    /// line break after; the same in a Markdown `text` code block; a JSON
    /// object `{"from", "to", "probe", "why", "trace"}`: `probe` what the
    /// probe saw (`answered`, `refused`, `unreachable`, `noanswer`,
    /// `blocked`, or `none` without any trace), `why` as in a matrix,
    /// `trace` the text.
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Text | Format::Grid => format!("{self}\n"),
            Format::Markdown => format!("```text\n{self}\n```\n"),
            Format::Html => html::trace(self),
            Format::Json => {
                let why: Vec<String> = self.why().iter().map(why_json).collect();
                let probe = self
                    .probe()
                    .map_or("none".to_string(), |p| format!("{p:?}"));
                format!(
                    "{{\"from\": {}, \"to\": {}, \"probe\": {}, \"why\": [{}], \"trace\": {}}}\n",
                    json_str(&self.cell.from),
                    json_str(&self.cell.target()),
                    json_str(&probe.to_lowercase()),
                    why.join(", "),
                    json_str(&self.to_string())
                )
            }
        }
    }
}

pub(super) fn row_json(r: &Row) -> String {
    let opt =
        |a: Option<std::net::IpAddr>| a.map_or("null".to_string(), |a| json_str(&a.to_string()));
    let why: Vec<String> = r.why.iter().map(why_json).collect();
    format!(
        "{{\"from\": {}, \"to\": {}, \"outcome\": {}, \"seen_src\": {}, \"seen_dst\": {}, \"why\": [{}]}}",
        json_str(&r.cell.from),
        json_str(&r.cell.target()),
        json_str(r.outcome.as_str()),
        opt(r.seen_src),
        opt(r.seen_dst),
        why.join(", ")
    )
}

/// One [`Why`] as a JSON object `{node, table, chain, rule, verdict, source, answer}`.
pub(super) fn why_json(w: &Why) -> String {
    format!(
        "{{\"node\": {}, \"table\": {}, \"chain\": {}, \"rule\": {}, \"verdict\": {}, \"source\": {}, \"answer\": {}}}",
        w.node.as_deref().map_or("null".to_string(), json_str),
        json_str(&w.table),
        json_str(&w.chain),
        json_str(&w.rule),
        json_str(&w.verdict),
        w.source.as_deref().map_or("null".to_string(), json_str),
        w.answer
    )
}

/// A JSON string literal (quoted, escaped).
pub(super) fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
