//! The picture as SVG, laid out here in layers: a breadth-first walk from
//! the lab's outside (the `internet` node, else its first plain node) puts
//! each box one layer below the box that reached it, in the order reached,
//! and centres every layer. Links are drawn under the boxes, so a line
//! between two boxes shows only between them. Text is monospace, so a
//! box's width follows from its longest line.
//!
//! Deterministic (the same graph gives the same bytes) and self-contained:
//! no fonts, images or scripts from elsewhere. Each box is a `<g>` with
//! `data-node` (a node) or `data-bridge` (a bridge) and `data-addrs`, for
//! the HTML report to highlight a cell's source and destination.

use std::collections::VecDeque;
use std::fmt::Write as _;

use super::{GBox, Graph, Kind};

/// Pixels per character of the 12px monospace body text (a little more
/// than the usual 7.2, so that text stays inside its box).
const CHAR: f64 = 7.4;
/// Pixels per character of the 13px bold title.
const TITLE_CHAR: f64 = 8.2;
const LINE: f64 = 15.0;
const PAD: f64 = 8.0;
const GAP_X: f64 = 28.0;
const GAP_Y: f64 = 56.0;
const MARGIN: f64 = 12.0;

const STYLE: &str = "\
.g-box rect{stroke:#556;stroke-width:1;rx:4px}\
.g-node rect{fill:#eef1f5}.g-docker-host rect{fill:#dbe8fb}\
.g-container rect{fill:#e2f3e0}.g-bridge rect{fill:#fdf3d0;rx:14px}\
.g-box text{font:12px monospace;fill:#222}.g-box .g-t{font-weight:bold;font-size:13px}\
.g-link{stroke:#667;stroke-width:1.5}.g-owner{stroke:#99a;stroke-width:1.2;stroke-dasharray:4 3}\
.g-if{font:10px monospace;fill:#445;paint-order:stroke;stroke:#fff;stroke-width:3px}\
.g-box.hl-src rect{stroke:#1565c0;stroke-width:3}.g-box.hl-dst rect{stroke:#c62828;stroke-width:3}";

/// A laid-out box: top-left corner and size.
#[derive(Debug, Clone, Copy, Default)]
struct Place {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

impl Place {
    fn centre(&self) -> (f64, f64) {
        (self.x + self.w / 2.0, self.y + self.h / 2.0)
    }
}

fn size(b: &GBox) -> (f64, f64) {
    let title = b.title.chars().count() as f64 * TITLE_CHAR;
    let body = (b.lines.iter())
        .map(|l| l.chars().count() as f64 * CHAR)
        .fold(0.0, f64::max);
    (
        title.max(body) + 2.0 * PAD,
        LINE + 2.0 * PAD + b.lines.len() as f64 * LINE,
    )
}

/// The boxes the walk starts from, in order: the outside first.
fn roots(g: &Graph) -> Vec<usize> {
    let plain = |i: &usize| g.boxes[*i].kind == Kind::Node;
    let mut out: Vec<usize> = (0..g.boxes.len())
        .filter(|&i| plain(&i) && g.boxes[i].id == "internet")
        .collect();
    out.extend((0..g.boxes.len()).filter(plain));
    out.extend(0..g.boxes.len());
    out
}

/// Each box's layer and its order within the layer.
fn layers(g: &Graph) -> Vec<Vec<usize>> {
    let n = g.boxes.len();
    let mut next: Vec<Vec<usize>> = vec![Vec::new(); n];
    for e in &g.edges {
        next[e.a].push(e.b);
        next[e.b].push(e.a);
    }
    let mut layer: Vec<Option<usize>> = vec![None; n];
    let mut out: Vec<Vec<usize>> = Vec::new();
    for root in roots(g) {
        if layer[root].is_some() {
            continue;
        }
        let mut queue = VecDeque::from([root]);
        layer[root] = Some(0);
        while let Some(i) = queue.pop_front() {
            let l = layer[i].expect("queued boxes have a layer");
            if out.len() <= l {
                out.push(Vec::new());
            }
            out[l].push(i);
            for &j in &next[i] {
                if layer[j].is_none() {
                    layer[j] = Some(l + 1);
                    queue.push_back(j);
                }
            }
        }
    }
    out
}

fn layout(g: &Graph) -> (Vec<Place>, f64, f64) {
    let mut place = vec![Place::default(); g.boxes.len()];
    let layers = layers(g);
    let mut widths = Vec::new();
    let mut y = MARGIN;
    for row in &layers {
        let mut x = MARGIN;
        let mut tallest: f64 = 0.0;
        for &i in row {
            let (w, h) = size(&g.boxes[i]);
            place[i] = Place { x, y, w, h };
            x += w + GAP_X;
            tallest = tallest.max(h);
        }
        widths.push(x - GAP_X + MARGIN);
        y += tallest + GAP_Y;
    }
    let width = widths.iter().copied().fold(2.0 * MARGIN, f64::max);
    for (row, w) in layers.iter().zip(&widths) {
        let shift = (width - w) / 2.0;
        for &i in row {
            place[i].x += shift;
        }
    }
    let height = (y - GAP_Y + MARGIN).max(2.0 * MARGIN);
    (place, width, height)
}

/// Where the segment between two boxes' centres leaves the first box and
/// enters the second, as fractions of the segment.
fn visible(a: &Place, b: &Place) -> (f64, f64) {
    let ((ax, ay), (bx, by)) = (a.centre(), b.centre());
    let (dx, dy) = ((bx - ax).abs(), (by - ay).abs());
    let exit = |p: &Place| {
        let tx = if dx > 0.0 { p.w / 2.0 / dx } else { f64::MAX };
        let ty = if dy > 0.0 { p.h / 2.0 / dy } else { f64::MAX };
        tx.min(ty).min(0.5)
    };
    (exit(a), 1.0 - exit(b))
}

/// XML text or attribute value.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The graph as SVG (`standalone`: with the XML namespace a file needs).
pub(super) fn render(g: &Graph, standalone: bool) -> String {
    let (place, width, height) = layout(g);
    let mut out = String::new();
    let ns = if standalone {
        " xmlns=\"http://www.w3.org/2000/svg\""
    } else {
        ""
    };
    let _ = write!(
        out,
        "<svg{ns} class=\"netrig-graph\" width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\" role=\"img\" aria-label=\"topology {}\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n<g class=\"g-edges\">\n",
        esc(&g.name),
        esc(&g.name)
    );
    for e in &g.edges {
        let (a, b) = (&place[e.a], &place[e.b]);
        let ((ax, ay), (bx, by)) = (a.centre(), b.centre());
        let class = if e.owner { "g-owner" } else { "g-link" };
        let _ = writeln!(
            out,
            "<line class=\"{class}\" x1=\"{ax:.1}\" y1=\"{ay:.1}\" x2=\"{bx:.1}\" y2=\"{by:.1}\"/>"
        );
        if !e.label.is_empty() {
            let (t0, t1) = visible(a, b);
            let t = (t0 + t1) / 2.0;
            let (x, y) = (ax + (bx - ax) * t, ay + (by - ay) * t);
            let _ = writeln!(
                out,
                "<text class=\"g-if\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                y + 3.0,
                esc(&e.label)
            );
        }
    }
    out.push_str("</g>\n");
    for (b, p) in g.boxes.iter().zip(&place) {
        let key = if b.kind == Kind::Bridge {
            "data-bridge"
        } else {
            "data-node"
        };
        let _ = writeln!(
            out,
            "<g class=\"g-box g-{}\" {key}=\"{}\" data-addrs=\"{}\">\
             <rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\"/>",
            b.kind,
            esc(&b.id),
            esc(&b.addrs.join(" ")),
            p.x,
            p.y,
            p.w,
            p.h
        );
        let x = p.x + PAD;
        let _ = write!(
            out,
            "<text x=\"{x:.1}\" y=\"{:.1}\"><tspan class=\"g-t\">{}</tspan>",
            p.y + PAD + 11.0,
            esc(&b.title)
        );
        for l in &b.lines {
            let _ = write!(out, "<tspan x=\"{x:.1}\" dy=\"{LINE}\">{}</tspan>", esc(l));
        }
        out.push_str("</text></g>\n");
    }
    out.push_str("</svg>\n");
    out
}
