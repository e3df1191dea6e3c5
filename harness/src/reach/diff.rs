//! [`MatrixDiff`]: the cells whose outcome or observed addresses differ
//! between two matrices, with both sides' rows (and so both sides' why);
//! apart, the cells whose reach stayed but whose deciding rule changed.

use super::cell::{Cell, Row};
use super::matrix::{DEFAULT_DEADLINE, Matrix};
use crate::error::Result;

/// The changed cells of two matrices, in cell order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MatrixDiff {
    /// `(before, after)` per cell probed on both sides whose reach changed.
    pub changed: Vec<(Row, Row)>,
    /// Cells probed only before.
    pub removed: Vec<Row>,
    /// Cells probed only after.
    pub added: Vec<Row>,
    /// `(before, after)` per cell whose reach stayed the same but whose
    /// deciding rule (its why's first rule that is not NAT, and its node)
    /// changed: a rule change that moved a decision without changing it.
    /// [`MatrixDiff::is_empty`] does not look at these.
    pub why_changed: Vec<(Row, Row)>,
    /// Both sides' rows, for the grids.
    pub(crate) before: Vec<Row>,
    pub(crate) after: Vec<Row>,
    /// The lab's picture (the before side's), for the HTML page.
    pub(crate) topology: Option<std::sync::Arc<crate::graph::Graph>>,
}

impl MatrixDiff {
    /// Compares two matrices cell by cell (outcome, seen source, seen destination).
    pub fn between(before: &Matrix, after: &Matrix) -> MatrixDiff {
        let mut d = MatrixDiff::default();
        for b in &before.rows {
            match after.row(&b.cell) {
                Some(a) if !b.same_reach(a) => d.changed.push((b.clone(), a.clone())),
                Some(a) if deciding(b) != deciding(a) => d.why_changed.push((b.clone(), a.clone())),
                Some(_) => {}
                None => d.removed.push(b.clone()),
            }
        }
        d.added = after
            .rows
            .iter()
            .filter(|a| before.row(&a.cell).is_none())
            .cloned()
            .collect();
        (d.before, d.after) = (before.rows.clone(), after.rows.clone());
        d.topology = (before.topology.clone()).or_else(|| after.topology.clone());
        d
    }

    /// Probes the same cells (`before`'s defaults and `after`'s, merged)
    /// in both labs at once, and compares (a Docker host file's labs or
    /// generic labs).
    ///
    /// ```no_run
    /// use netrig::reach::MatrixDiff;
    /// let before = netrig::topology::load("topologies/docker-bridge.toml")?.up()?;
    /// let after = netrig::topology::load("topologies/docker-user-rules.toml")?.up()?;
    /// let diff = MatrixDiff::probe(&before, &after)?;
    /// print!("{diff}");
    /// # Ok::<_, netrig::Error>(())
    /// ```
    pub fn probe(before: &crate::Lab, after: &crate::Lab) -> Result<MatrixDiff> {
        let mut cells: Vec<Cell> = Matrix::default_cells(before)?;
        cells.extend(Matrix::default_cells(after)?);
        cells.sort();
        cells.dedup();
        let mine = |lab: &crate::Lab| -> Vec<Cell> {
            let nodes = lab.node_names();
            cells
                .iter()
                .filter(|c| nodes.contains(&c.from))
                .cloned()
                .collect()
        };
        let (b, a) = std::thread::scope(|s| {
            let b = s.spawn(|| Matrix::probe_cells(before, mine(before), DEFAULT_DEADLINE));
            let a = Matrix::probe_cells(after, mine(after), DEFAULT_DEADLINE);
            (b.join().expect("probe thread panicked"), a)
        });
        Ok(MatrixDiff::between(&b?, &a?))
    }

    /// True when no cell's reach changed (cells in
    /// [`MatrixDiff::why_changed`] do not count).
    pub fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.removed.is_empty() && self.added.is_empty()
    }
}

/// The rule that decided a row: its why's first entry that is not a NAT
/// rule (the node, the rule and what it did), if any.
fn deciding(r: &Row) -> Option<(&Option<String>, &str, &str, &str, bool)> {
    (r.why.iter().find(|w| w.verdict != "nat")).map(|w| {
        (
            &w.node,
            w.chain.as_str(),
            w.rule.as_str(),
            w.verdict.as_str(),
            w.answer,
        )
    })
}
