//! Reachability as a grid (pure): sources as rows, destinations as numbered
//! columns, one character a cell — how people read a matrix at a glance, as
//! Kubernetes' network-policy tests print their truth tables. Each grid is
//! followed by its column key and a legend; grids wider than 80 columns are
//! cut into blocks of columns.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::cell::{Outcome, Row};

/// The width a grid stays within.
const WIDTH: usize = 80;

/// What each character of a matrix grid means.
pub(crate) const LEGEND: &str =
    ". delivered  N delivered via NAT  r refused  X dropped  u unreachable  - none";

/// What each character of a diff's comparison grid means.
pub(crate) const DIFF_LEGEND: &str =
    "* changed  w same outcome, other rule  + only after  x only before  . same";

/// One cell's character: its outcome, `N` for a delivery something NATed.
pub(crate) fn mark(row: &Row) -> char {
    mark_of(row.outcome, row.why.iter().any(|w| w.verdict == "nat"))
}

/// The character of an outcome, `natted` when a NAT rule rewrote it.
pub(crate) fn mark_of(outcome: Outcome, natted: bool) -> char {
    match outcome {
        Outcome::Delivered if natted => 'N',
        Outcome::Delivered => '.',
        Outcome::Refused => 'r',
        Outcome::Dropped => 'X',
        Outcome::Unreachable => 'u',
    }
}

/// The marks of a grid: (source, destination) → character, in the order
/// the cells came (a matrix's cell order).
#[derive(Debug, Default)]
pub(crate) struct Marks {
    order: Vec<(String, String)>,
    map: BTreeMap<(String, String), char>,
}

impl Marks {
    /// Sets a cell's mark (a new cell goes last).
    pub(crate) fn insert(&mut self, key: (String, String), mark: char) {
        if self.map.insert(key.clone(), mark).is_none() {
            self.order.push(key);
        }
    }
    /// A cell's mark.
    pub(crate) fn get(&self, key: &(String, String)) -> Option<char> {
        self.map.get(key).copied()
    }
    /// The cells, in order.
    fn keys(&self) -> impl Iterator<Item = &(String, String)> {
        self.order.iter()
    }
}

impl FromIterator<((String, String), char)> for Marks {
    fn from_iter<I: IntoIterator<Item = ((String, String), char)>>(iter: I) -> Self {
        let mut m = Marks::default();
        for (k, c) in iter {
            m.insert(k, c);
        }
        m
    }
}

/// The marks of `rows`.
pub(crate) fn marks(rows: &[Row]) -> Marks {
    rows.iter()
        .map(|r| ((r.cell.from.clone(), r.cell.target()), mark(r)))
        .collect()
}

/// The sources and destinations of every grid, in order of appearance.
#[derive(Debug, Default)]
pub(crate) struct Axes {
    sources: Vec<String>,
    columns: Vec<String>,
}

impl Axes {
    /// The axes that hold every cell of `grids`.
    pub(crate) fn of<'a>(grids: impl IntoIterator<Item = &'a Marks>) -> Axes {
        let mut axes = Axes::default();
        for g in grids {
            for (from, to) in g.keys() {
                if !axes.sources.contains(from) {
                    axes.sources.push(from.clone());
                }
                if !axes.columns.contains(to) {
                    axes.columns.push(to.clone());
                }
            }
        }
        axes
    }
}

/// `grids` (title, marks) on shared `axes`, each cut into blocks that fit
/// [`WIDTH`], then the column key and `legend`.
pub(crate) fn render(axes: &Axes, grids: &[(&str, &Marks)], legend: &str) -> String {
    let name_width = axes
        .sources
        .iter()
        .map(String::len)
        .max()
        .unwrap_or(4)
        .max(4);
    let per_block = WIDTH.saturating_sub(name_width + 2).max(10);
    let mut out = String::new();
    for (title, marks) in grids {
        let _ = writeln!(out, "{title}");
        for (b, block) in axes.columns.chunks(per_block).enumerate() {
            let first = b * per_block;
            let numbers: Vec<String> = (first + 1..=first + block.len())
                .map(|n| format!("{n:>3}"))
                .collect();
            for digit in 0..3 {
                let line: String = numbers
                    .iter()
                    .map(|n| n.as_bytes()[digit] as char)
                    .collect();
                if !line.trim().is_empty() {
                    let _ = writeln!(out, "{:name_width$}  {}", "", line.trim_end());
                }
            }
            for from in &axes.sources {
                let row: String = block
                    .iter()
                    .map(|to| marks.get(&(from.clone(), to.clone())).unwrap_or('-'))
                    .collect();
                let _ = writeln!(out, "{from:name_width$}  {row}");
            }
        }
        out.push('\n');
    }
    let key_width = axes.columns.len().to_string().len();
    out.push_str("columns:\n");
    for (i, to) in axes.columns.iter().enumerate() {
        let _ = writeln!(out, "  {:>key_width$}  {to}", i + 1);
    }
    let _ = writeln!(out, "{legend}");
    out
}

/// The cells of a matrix's text (its `Display`, a golden file's format):
/// (source, destination) → character. Lines that are not rows are skipped.
pub(crate) fn marks_of_text(text: &str) -> Marks {
    let mut out = Marks::default();
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line
            .split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        let [from, to, outcome, ..] = cols[..] else {
            continue;
        };
        let Some(outcome) = Outcome::from_name(outcome) else {
            continue;
        };
        let natted = line.contains("(nat)");
        out.insert((from.to_string(), to.to_string()), mark_of(outcome, natted));
    }
    out
}

/// The comparison grid of `before` and `after`: what changed, cell by cell;
/// `why_changed` cells (same outcome, another deciding rule) as `w`.
pub(crate) fn compare(before: &Marks, after: &Marks, why_changed: &[(String, String)]) -> Marks {
    let mut out = Marks::default();
    for k in before.keys() {
        let m = match (before.get(k), after.get(k)) {
            (_, None) => 'x',
            (b, a) if a != b => '*',
            _ if why_changed.contains(k) => 'w',
            _ => '.',
        };
        out.insert(k.clone(), m);
    }
    for k in after.keys() {
        if out.get(k).is_none() {
            out.insert(k.clone(), '+');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(cells: &[(&str, &str, char)]) -> Marks {
        cells
            .iter()
            .map(|(f, t, c)| ((f.to_string(), t.to_string()), *c))
            .collect()
    }

    /// Sources are rows, destinations numbered columns with a key; an
    /// unprobed cell is `-`; the comparison marks what changed.
    #[test]
    fn a_grid_has_rows_columns_key_and_legend() {
        let before = m(&[
            ("internet", "203.0.113.2:8080/tcp", 'N'),
            ("web", "198.51.100.10:80/tcp", '.'),
        ]);
        let after = m(&[
            ("internet", "203.0.113.2:8080/tcp", 'X'),
            ("web", "198.51.100.10:80/tcp", '.'),
        ]);
        let cmp = compare(&before, &after, &[]);
        let axes = Axes::of([&before, &after]);
        let text = render(
            &axes,
            &[("before", &before), ("after", &after), ("changed", &cmp)],
            DIFF_LEGEND,
        );
        assert_eq!(
            text,
            "before\n          12\n\
             internet  N-\nweb       -.\n\n\
             after\n          12\n\
             internet  X-\nweb       -.\n\n\
             changed\n          12\n\
             internet  *-\nweb       -.\n\n\
             columns:\n  1  203.0.113.2:8080/tcp\n  2  198.51.100.10:80/tcp\n"
                .to_string()
                + DIFF_LEGEND
                + "\n"
        );
    }

    /// A grid wider than 80 columns is cut into blocks, each numbered.
    #[test]
    fn wide_grids_wrap_at_80_columns() {
        let cells: Vec<(String, String, char)> = (0..150)
            .map(|i| ("a".to_string(), format!("10.0.0.{i}/icmp"), '.'))
            .collect();
        let marks: Marks = cells.into_iter().map(|(f, t, c)| ((f, t), c)).collect();
        let text = render(&Axes::of([&marks]), &[("m", &marks)], LEGEND);
        assert!(text.lines().all(|l| l.chars().count() <= WIDTH), "{text}");
        // 74 columns a block beside a 4-wide name: three blocks for 150.
        assert_eq!(
            text.lines().filter(|l| l.starts_with("a ")).count(),
            3,
            "{text}"
        );
        assert!(text.contains("150  10.0.0.149/icmp"), "{text}");
    }

    /// A golden file's text gives back its marks, NAT included.
    #[test]
    fn marks_come_back_from_a_matrix_text() {
        let text = "FROM      TO                    OUTCOME      SEEN SRC       SEEN DST       WHY\n\
                    internet  203.0.113.2:8080/tcp  delivered    203.0.113.1    172.17.0.2     ip nat DOCKER: -A DOCKER (nat)\n\
                    internet  172.17.0.2:80/tcp     unreachable  -              -              -\n";
        let marks = marks_of_text(text);
        assert_eq!(
            marks.get(&("internet".into(), "203.0.113.2:8080/tcp".into())),
            Some('N')
        );
        assert_eq!(
            marks.get(&("internet".into(), "172.17.0.2:80/tcp".into())),
            Some('u')
        );
    }
}
