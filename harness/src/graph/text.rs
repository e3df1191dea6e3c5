//! The picture as text for other tools to draw: Graphviz dot (an
//! undirected graph, one record-like box per node and bridge) and a
//! Mermaid flowchart (boxes `n0`, `n1` … labelled with the same lines).

use std::fmt::Write as _;

use super::{Graph, Kind};

/// Text inside a dot string literal.
fn dot_esc(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A dot string literal.
fn dot_str(s: &str) -> String {
    format!("\"{}\"", dot_esc(s))
}

/// The graph in Graphviz dot.
pub(super) fn dot(g: &Graph) -> String {
    let mut out = format!(
        "graph {} {{\n  graph [rankdir=TB];\n  node [shape=box, style=\"rounded,filled\", fontname=monospace, fontsize=10];\n  edge [fontname=monospace, fontsize=9];\n",
        dot_str(&g.name)
    );
    for b in &g.boxes {
        // `\l` ends a left-justified line in a dot label.
        let mut label = format!("{}\\l", dot_esc(&b.title));
        for l in &b.lines {
            let _ = write!(label, "{}\\l", dot_esc(l));
        }
        let fill = match b.kind {
            Kind::Node => "#eef1f5",
            Kind::DockerHost => "#dbe8fb",
            Kind::Container => "#e2f3e0",
            Kind::Bridge => "#fdf3d0",
        };
        let shape = if b.kind == Kind::Bridge {
            ", shape=box, style=\"rounded,filled,dashed\""
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  {} [label=\"{label}\", fillcolor=\"{fill}\"{shape}];",
            dot_str(&b.id)
        );
    }
    for e in &g.edges {
        let attrs = if e.owner {
            " [style=dashed]".to_string()
        } else {
            format!(" [label={}]", dot_str(&e.label))
        };
        let _ = writeln!(
            out,
            "  {} -- {}{attrs};",
            dot_str(&g.boxes[e.a].id),
            dot_str(&g.boxes[e.b].id)
        );
    }
    out.push_str("}\n");
    out
}

/// Mermaid label text: quotes and markup as entities, lines joined by `<br/>`.
fn mermaid_text(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '#' => out.push_str("#35;"),
            c => out.push(c),
        }
    }
    out
}

/// The graph as a Mermaid flowchart.
pub(super) fn mermaid(g: &Graph) -> String {
    let mut out = format!("flowchart TB\n  %% {}\n", mermaid_text(&g.name));
    for (i, b) in g.boxes.iter().enumerate() {
        let mut label = format!("<b>{}</b>", mermaid_text(&b.title));
        for l in &b.lines {
            let _ = write!(label, "<br/>{}", mermaid_text(l));
        }
        let (open, close) = if b.kind == Kind::Bridge {
            ("([", "])")
        } else {
            ("[", "]")
        };
        let _ = writeln!(out, "  n{i}{open}\"{label}\"{close}");
    }
    for e in &g.edges {
        if e.owner {
            let _ = writeln!(out, "  n{} -.- n{}", e.a, e.b);
        } else {
            let _ = writeln!(
                out,
                "  n{} ---|\"{}\"| n{}",
                e.a,
                mermaid_text(&e.label),
                e.b
            );
        }
    }
    for (kind, fill) in [
        (Kind::Node, "#eef1f5"),
        (Kind::DockerHost, "#dbe8fb"),
        (Kind::Container, "#e2f3e0"),
        (Kind::Bridge, "#fdf3d0"),
    ] {
        let ids: Vec<String> = (g.boxes.iter().enumerate())
            .filter(|(_, b)| b.kind == kind)
            .map(|(i, _)| format!("n{i}"))
            .collect();
        if !ids.is_empty() {
            let name = kind.as_str().replace('-', "_");
            let _ = writeln!(out, "  classDef {name} fill:{fill},stroke:#556");
            let _ = writeln!(out, "  class {} {name}", ids.join(","));
        }
    }
    out
}
