//! Golden matrices: a matrix pinned in a checked-in text file, compared
//! line by line, rewritten when the user asks (`NETRIG_BLESS=1`).

use std::path::Path;

use super::grid;
use super::matrix::Matrix;
use crate::error::{Error, Result};

/// The environment variable that rewrites golden files instead of comparing.
const BLESS_VAR: &str = "NETRIG_BLESS";

impl Matrix {
    /// Asserts the matrix's text (its `Display`) equals the file at
    /// `path`. On a mismatch the error shows the expected, observed and
    /// comparison grids, then a line diff (`-` expected, `+` probed) of the
    /// rows that differ, with their why, and how to accept it; with
    /// `NETRIG_BLESS=1` the file is written instead (also when it does not
    /// exist yet).
    ///
    /// ```no_run
    /// let docker = netrig::topology::load("topologies/docker-bridge.toml")?.up()?;
    /// netrig::reach::Matrix::probe(&docker)?.assert_golden("tests/data/matrix/docker-bridge.txt")?;
    /// # Ok::<_, netrig::Error>(())
    /// ```
    pub fn assert_golden(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let actual = self.to_string();
        let bless = std::env::var(BLESS_VAR).is_ok_and(|v| v == "1");
        let fail = |message: String| Error::Topology {
            file: path.to_path_buf(),
            message,
        };
        let expected = match std::fs::read_to_string(path) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(fail(format!("cannot read the golden matrix: {e}"))),
        };
        if expected.as_deref() == Some(actual.as_str()) {
            return Ok(());
        }
        if bless {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| fail(format!("cannot create its folder: {e}")))?;
            }
            std::fs::write(path, &actual).map_err(|e| fail(format!("cannot write: {e}")))?;
            tracing::debug!(file = %path.display(), "golden matrix blessed");
            return Ok(());
        }
        let Some(expected) = expected else {
            return Err(fail(format!(
                "no golden matrix yet; run with {BLESS_VAR}=1 to write it:\n{actual}"
            )));
        };
        Err(fail(format!(
            "the probed matrix differs from the golden one; run with {BLESS_VAR}=1 to accept \
             it.\n\n{}\nthe rows that differ (- golden, + probed):\n{}",
            grids(&expected, &actual),
            line_diff(&expected, &actual)
        )))
    }
}

/// The expected (golden), observed and comparison grids of two matrix texts.
fn grids(expected: &str, actual: &str) -> String {
    let (e, a) = (grid::marks_of_text(expected), grid::marks_of_text(actual));
    let cmp = grid::compare(&e, &a, &[]);
    let axes = grid::Axes::of([&e, &a]);
    let mut out = grid::render(
        &axes,
        &[
            ("expected (golden)", &e),
            ("observed", &a),
            ("comparison", &cmp),
        ],
        grid::LEGEND,
    );
    out.push_str(grid::DIFF_LEGEND);
    out.push('\n');
    out
}

/// A line diff (longest common subsequence): changed lines with `-`/`+`,
/// the header and unchanged lines left out.
pub(crate) fn line_diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            (i, j) = (i + 1, j + 1);
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] > lcs[i + 1][j]) {
            out.push_str(&format!("+ {}\n", b[j]));
            j += 1;
        } else {
            out.push_str(&format!("- {}\n", a[i]));
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::line_diff;

    /// A changed line shows as its old and new text; equal lines do not show.
    #[test]
    fn line_diff_shows_only_changes() {
        let d = line_diff(
            "h\na dropped\nb delivered\n",
            "h\na delivered\nb delivered\n",
        );
        assert_eq!(d, "- a dropped\n+ a delivered\n");
    }
}
