//! Matrices, diffs and cell traces as one self-contained HTML page
//! ([`super::Format::Html`]): the grid (sources as rows, destinations as
//! columns) coloured by outcome, NATed cells marked, a diff's changed
//! cells marked; hovering a cell shows its seen addresses and why (each
//! rule with `file:line`), a click pins it; filters by source,
//! destination, protocol and outcome; the lab's topology drawn beside it
//! (the picture `netrig graph` draws), its source and destination boxes
//! highlighted for the selected cell.
//!
//! Self-contained: CSS and script inline, no fonts, images, scripts or
//! links from elsewhere (no `http:` or `https:` anywhere in the page; the
//! cells' data escapes `://`). The cells' data is one JSON object in a
//! `<script type="application/json">`; the grid is plain HTML, so it shows
//! without the script too.

use std::fmt::Write as _;

use super::cell::{Cell, Row, Service};
use super::diff::MatrixDiff;
use super::format::{json_str, row_json, why_json};
use super::grid;
use super::matrix::{CellTrace, Matrix};
use crate::graph::{Graph, esc};

const CSS: &str = include_str!("html/report.css");
const JS: &str = include_str!("html/report.js");

/// One grid cell: its cell, its character, its classes and its JSON.
struct GridCell {
    cell: Cell,
    mark: char,
    class: String,
    title: String,
    json: String,
}

fn proto(c: &Cell) -> &'static str {
    match c.service {
        Service::Tcp(_) => "tcp",
        Service::Udp(_) => "udp",
        Service::Icmp if c.to.is_ipv6() => "icmp6",
        Service::Icmp => "icmp",
    }
}

/// The JSON fields every cell has: from, to, ip, proto.
fn cell_json(c: &Cell) -> String {
    format!(
        "\"from\": {}, \"to\": {}, \"ip\": {}, \"p\": {}",
        json_str(&c.from),
        json_str(&c.target()),
        json_str(&c.to.to_string()),
        json_str(proto(c))
    )
}

fn natted(r: &Row) -> bool {
    r.why.iter().any(|w| w.verdict == "nat")
}

/// A row's classes: `o-OUTCOME`, and `nat` when a NAT rule rewrote it.
fn row_class(r: &Row) -> String {
    let nat = if natted(r) { " nat" } else { "" };
    format!("o-{}{nat}", r.outcome)
}

fn matrix_cells(m: &Matrix) -> Vec<GridCell> {
    (m.rows.iter())
        .map(|r| GridCell {
            cell: r.cell.clone(),
            mark: grid::mark(r),
            class: row_class(r),
            title: format!("{}: {}", r.cell, r.reach()),
            json: format!("{{{}, \"row\": {}}}", cell_json(&r.cell), row_json(r)),
        })
        .collect()
}

fn diff_cells(d: &MatrixDiff) -> Vec<GridCell> {
    let mut out = Vec::new();
    let mut push = |b: Option<&Row>, a: Option<&Row>, change: &str| {
        let shown = a.or(b).expect("one side");
        let side = |r: Option<&Row>| r.map_or("null".to_string(), row_json);
        let reach = |r: Option<&Row>| r.map_or("(not probed)".to_string(), Row::reach);
        out.push(GridCell {
            cell: shown.cell.clone(),
            mark: grid::mark(shown),
            class: format!("{} ch-{change}", row_class(shown)),
            title: format!("{}: {} -> {}", shown.cell, reach(b), reach(a)),
            json: format!(
                "{{{}, \"change\": {}, \"before\": {}, \"after\": {}}}",
                cell_json(&shown.cell),
                json_str(change),
                side(b),
                side(a)
            ),
        });
    };
    let is = |pairs: &[(Row, Row)], c: &Cell| pairs.iter().any(|(b, _)| &b.cell == c);
    for b in &d.before {
        let a = d.after.iter().find(|a| a.cell == b.cell);
        let change = if a.is_none() {
            "removed"
        } else if is(&d.changed, &b.cell) {
            "changed"
        } else if is(&d.why_changed, &b.cell) {
            "why"
        } else {
            "same"
        };
        push(Some(b), a, change);
    }
    for a in d
        .after
        .iter()
        .filter(|a| !d.before.iter().any(|b| b.cell == a.cell))
    {
        push(None, Some(a), "added");
    }
    out
}

fn trace_cells(t: &CellTrace) -> Vec<GridCell> {
    let probe = t
        .probe()
        .map_or("none".to_string(), |p| format!("{p:?}").to_lowercase());
    let class = match probe.as_str() {
        "answered" => "o-delivered",
        "refused" => "o-refused",
        "unreachable" => "o-unreachable",
        _ => "o-dropped",
    };
    let why: Vec<String> = t.why().iter().map(why_json).collect();
    vec![GridCell {
        cell: t.cell.clone(),
        mark: probe.chars().next().unwrap_or('?'),
        class: class.to_string(),
        title: format!("{}: {probe}", t.cell),
        json: format!(
            "{{{}, \"row\": {{\"outcome\": {}, \"seen_src\": null, \"seen_dst\": null, \"why\": [{}]}}, \"trace\": {}}}",
            cell_json(&t.cell),
            json_str(&probe),
            why.join(", "),
            json_str(&t.to_string())
        ),
    }]
}

/// Sources and destinations in order of appearance.
fn axes(cells: &[GridCell]) -> (Vec<&str>, Vec<(String, &'static str)>) {
    let (mut rows, mut cols): (Vec<&str>, Vec<(String, &'static str)>) = (Vec::new(), Vec::new());
    for c in cells {
        if !rows.contains(&c.cell.from.as_str()) {
            rows.push(&c.cell.from);
        }
        let to = c.cell.target();
        if !cols.iter().any(|(t, _)| *t == to) {
            cols.push((to, proto(&c.cell)));
        }
    }
    (rows, cols)
}

/// The grid as an HTML table: one `td.cell` per probed cell.
fn table(cells: &[GridCell]) -> String {
    let (rows, cols) = axes(cells);
    let mut out =
        String::from("<table id=\"grid\"><thead><tr><th class=\"corner\">from \\ to</th>");
    for (j, (to, p)) in cols.iter().enumerate() {
        let _ = write!(
            out,
            "<th class=\"col\" data-j=\"{j}\" data-to=\"{}\" data-p=\"{p}\"><span>{}</span></th>",
            esc(to),
            esc(to)
        );
    }
    out.push_str("</tr></thead><tbody>\n");
    let at: std::collections::BTreeMap<(&str, String), usize> = (cells.iter().enumerate())
        .map(|(i, c)| ((c.cell.from.as_str(), c.cell.target()), i))
        .collect();
    for from in rows {
        let _ = write!(
            out,
            "<tr data-src=\"{}\"><th class=\"row\">{}</th>",
            esc(from),
            esc(from)
        );
        for (j, (to, _)) in cols.iter().enumerate() {
            match at.get(&(from, to.clone())).map(|&i| (i, &cells[i])) {
                Some((i, c)) => {
                    let _ = write!(
                        out,
                        "<td class=\"cell {}\" data-i=\"{i}\" data-j=\"{j}\" title=\"{}\">{}</td>",
                        c.class,
                        esc(&c.title),
                        esc(&c.mark.to_string())
                    );
                }
                None => {
                    let _ = write!(out, "<td class=\"none\" data-j=\"{j}\"></td>");
                }
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n");
    out
}

/// Text for the page's JSON: `<` as `\u003c` (nothing can close the
/// script element) and `://` as `:\/\/` (no URL in the page).
fn script_safe(json: &str) -> String {
    json.replace('<', "\\u003c").replace("://", ":\\/\\/")
}

/// One page: `kind` (matrix, diff, trace), a heading, a summary line, the
/// grid of `cells`, and the topology.
fn page(kind: &str, topology: Option<&Graph>, summary: &str, cells: &[GridCell]) -> String {
    let name = topology.map_or(String::new(), |g| g.name.clone());
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>netrig {kind} {}</title><style>{CSS}</style></head>\n\
         <body data-kind=\"{kind}\"><header><h1>netrig {kind} <span class=\"lab\">{}</span></h1>\
         <p class=\"summary\">{}</p></header>\n",
        esc(&name),
        esc(&name),
        esc(summary)
    );
    let sources: Vec<&str> = axes(cells).0;
    out.push_str(
        "<form id=\"filters\" onsubmit=\"return false\"><label>source <select id=\"f-src\"><option value=\"\">all</option>",
    );
    for s in sources {
        let _ = write!(out, "<option>{}</option>", esc(s));
    }
    out.push_str(
        "</select></label> <label>destination <input id=\"f-dst\" type=\"search\" placeholder=\"contains\"></label> \
         <label>protocol <select id=\"f-proto\"><option value=\"\">all</option><option>tcp</option><option>udp</option><option>icmp</option></select></label> \
         <label>outcome <select id=\"f-out\"><option value=\"\">all</option><option>delivered</option><option value=\"nat\">delivered via NAT</option>\
         <option>refused</option><option>dropped</option><option>unreachable</option>",
    );
    if kind == "diff" {
        out.push_str("<option value=\"changed\">changed</option><option value=\"why\">same outcome, other rule</option>");
    }
    out.push_str(
        "</select></label> <span id=\"shown\"></span></form>\n<main><section id=\"left\">",
    );
    out.push_str(&table(cells));
    let _ = write!(out, "<p class=\"legend\">{}", esc(grid::LEGEND));
    if kind == "diff" {
        out.push_str("<br>cells marked: <span class=\"key ch-changed\">changed</span> <span class=\"key ch-why\">same outcome, other rule</span> <span class=\"key ch-added\">only after</span> <span class=\"key ch-removed\">only before</span>");
    }
    out.push_str("</p></section>\n<aside id=\"side\"><section id=\"detail\"><p class=\"hint\">Hover over a cell to see what the server saw and why; click to keep it.</p></section>\n");
    if let Some(g) = topology {
        let _ = writeln!(
            out,
            "<figure id=\"topology\"><figcaption>topology</figcaption>{}</figure>",
            g.svg(false)
        );
    }
    out.push_str("</aside></main>\n<script type=\"application/json\" id=\"cells\">[\n");
    let json: Vec<&str> = cells.iter().map(|c| c.json.as_str()).collect();
    out.push_str(&script_safe(&json.join(",\n")));
    let _ = write!(out, "\n]</script>\n<script>{JS}</script>\n</body></html>\n");
    out
}

fn counts(rows: &[Row]) -> String {
    let mut parts = Vec::new();
    for o in ["delivered", "refused", "dropped", "unreachable"] {
        let n = rows.iter().filter(|r| r.outcome.as_str() == o).count();
        if n > 0 {
            parts.push(format!("{n} {o}"));
        }
    }
    let nat = rows.iter().filter(|r| natted(r)).count();
    format!("{} cells: {} ({nat} via NAT)", rows.len(), parts.join(", "))
}

/// A matrix's page.
pub(super) fn matrix(m: &Matrix) -> String {
    page(
        "matrix",
        m.topology.as_deref(),
        &counts(&m.rows),
        &matrix_cells(m),
    )
}

/// A diff's page: the after grid, changed cells marked.
pub(super) fn diff(d: &MatrixDiff) -> String {
    let summary = format!(
        "{} cell(s) changed, {} decided by another rule; after: {}",
        d.changed.len() + d.added.len() + d.removed.len(),
        d.why_changed.len(),
        counts(&d.after)
    );
    page("diff", d.topology.as_deref(), &summary, &diff_cells(d))
}

/// A cell trace's page: one cell, its trace shown.
pub(super) fn trace(t: &CellTrace) -> String {
    page(
        "trace",
        t.topology.as_deref(),
        &t.cell.to_string(),
        &trace_cells(t),
    )
}

#[cfg(test)]
mod tests;
