//! A unified-style line diff for test failures: hunks of changed lines
//! (`-` old, `+` new) with a few unchanged lines around them, under
//! `@@ -line,count +line,count @@` headers as `diff -u` writes them.

/// Unchanged lines shown before and after each change.
const CONTEXT: usize = 2;

/// One line of the edit from old to new.
#[derive(Clone, Copy, PartialEq)]
enum Edit {
    /// In both (old index, new index).
    Same(usize, usize),
    /// Only in old.
    Removed(usize),
    /// Only in new.
    Added(usize),
}

/// The diff from `old` to `new`; empty when they are the same.
pub fn unified(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let edits = edits(&a, &b);
    let mut out = String::new();
    let changed: Vec<usize> = (0..edits.len())
        .filter(|&i| !matches!(edits[i], Edit::Same(..)))
        .collect();
    let mut k = 0;
    while k < changed.len() {
        // A hunk: changes closer than twice the context run together.
        let start = changed[k].saturating_sub(CONTEXT);
        let mut end = changed[k];
        while k < changed.len() && changed[k] <= end + 2 * CONTEXT {
            end = changed[k];
            k += 1;
        }
        let end = (end + CONTEXT + 1).min(edits.len());
        out.push_str(&hunk(&edits[start..end], &a, &b));
    }
    out
}

/// One hunk's header and lines.
fn hunk(edits: &[Edit], a: &[&str], b: &[&str]) -> String {
    let (mut a_first, mut b_first) = (None, None);
    let (mut a_count, mut b_count) = (0, 0);
    let mut body = String::new();
    for edit in edits {
        match *edit {
            Edit::Same(i, j) => {
                a_first.get_or_insert(i);
                b_first.get_or_insert(j);
                (a_count, b_count) = (a_count + 1, b_count + 1);
                body.push_str(&format!("  {}\n", a[i]));
            }
            Edit::Removed(i) => {
                a_first.get_or_insert(i);
                a_count += 1;
                body.push_str(&format!("- {}\n", a[i]));
            }
            Edit::Added(j) => {
                b_first.get_or_insert(j);
                b_count += 1;
                body.push_str(&format!("+ {}\n", b[j]));
            }
        }
    }
    let line = |first: Option<usize>| first.map_or(0, |i| i + 1);
    format!(
        "@@ -{},{a_count} +{},{b_count} @@\n{body}",
        line(a_first),
        line(b_first)
    )
}

/// The shortest edit from `a` to `b` (by longest common subsequence).
fn edits(a: &[&str], b: &[&str]) -> Vec<Edit> {
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push(Edit::Same(i, j));
            (i, j) = (i + 1, j + 1);
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push(Edit::Removed(i));
            i += 1;
        } else {
            out.push(Edit::Added(j));
            j += 1;
        }
    }
    out
}
