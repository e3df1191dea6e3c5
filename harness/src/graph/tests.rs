//! Every shipped topology file draws in every format: the SVG parses as
//! XML with one box per node and bridge, none overlapping, all inside the
//! picture; the dot and Mermaid outputs hold together line by line.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::{Graph, GraphFormat};

/// Every `.toml` under topologies/ (parts/ and examples/ included).
fn topology_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
            .map(|e| e.expect("dir entry").path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "toml") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies"),
        &mut out,
    );
    assert!(out.len() >= 15, "too few topology files: {out:?}");
    out
}

fn load(path: &Path) -> crate::LabSpec {
    crate::topology::load(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// (x, y, w, h) of each box's rect, with its id.
fn svg_boxes(svg: &str, file: &Path) -> Vec<(String, [f64; 4])> {
    let doc = roxmltree::Document::parse(svg)
        .unwrap_or_else(|e| panic!("{}: SVG does not parse: {e}\n{svg}", file.display()));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg", "{}", file.display());
    let num = |n: roxmltree::Node, a: &str| -> f64 {
        n.attribute(a)
            .unwrap_or_else(|| panic!("{}: no {a} on {n:?}", file.display()))
            .parse()
            .expect("a number")
    };
    let (w, h) = (num(root, "width"), num(root, "height"));
    let mut out = Vec::new();
    for g in root.descendants().filter(|n| {
        n.has_tag_name("g") && n.attribute("class").is_some_and(|c| c.starts_with("g-box"))
    }) {
        let id = (g.attribute("data-node").or(g.attribute("data-bridge")))
            .expect("a box names its node or bridge")
            .to_string();
        let rect = g
            .children()
            .find(|c| c.has_tag_name("rect"))
            .expect("a box has a rect");
        let r = ["x", "y", "width", "height"].map(|a| num(rect, a));
        assert!(
            r[0] >= 0.0 && r[1] >= 0.0 && r[0] + r[2] <= w + 0.5 && r[1] + r[3] <= h + 0.5,
            "{}: box {id} {r:?} outside the {w}x{h} picture",
            file.display()
        );
        out.push((id, r));
    }
    for line in root.descendants().filter(|n| n.has_tag_name("line")) {
        for (a, max) in [("x1", w), ("x2", w), ("y1", h), ("y2", h)] {
            let v = num(line, a);
            assert!((0.0..=max).contains(&v), "{}: line outside", file.display());
        }
    }
    out
}

/// Every topology draws as SVG: it parses, has one box per node and bridge
/// (no two overlapping, all inside), names every address, and comes out
/// the same twice.
#[test]
fn every_topology_draws_as_svg() {
    for file in topology_files() {
        let spec = load(&file);
        let g = Graph::of(&spec);
        let svg = spec.graph(GraphFormat::Svg);
        assert_eq!(svg, spec.graph(GraphFormat::Svg), "{}", file.display());
        let boxes = svg_boxes(&svg, &file);
        let ids: Vec<&str> = boxes.iter().map(|(id, _)| id.as_str()).collect();
        let want: Vec<&str> = g.boxes.iter().map(|b| b.id.as_str()).collect();
        assert_eq!(ids, want, "{}", file.display());
        let wiring = spec.full_wiring();
        assert_eq!(
            boxes.len(),
            wiring.nodes.len() + wiring.bridges.len(),
            "{}",
            file.display()
        );
        for (i, (a, ra)) in boxes.iter().enumerate() {
            for (b, rb) in &boxes[i + 1..] {
                let apart = ra[0] + ra[2] <= rb[0]
                    || rb[0] + rb[2] <= ra[0]
                    || ra[1] + ra[3] <= rb[1]
                    || rb[1] + rb[3] <= ra[1];
                assert!(apart, "{}: {a} overlaps {b}", file.display());
            }
        }
        for l in &wiring.links {
            for e in [&l.a, &l.b] {
                for a in &e.addrs {
                    assert!(svg.contains(a.as_str()), "{}: {a}", file.display());
                }
            }
        }
        // The one URL is the SVG namespace; inside HTML it goes too.
        assert_eq!(svg.matches("http").count(), 1, "{}", file.display());
        assert!(!g.svg(false).contains("http"), "{}", file.display());
    }
}

/// Every topology writes dot: one statement a line, braces closed, every
/// edge between declared boxes.
#[test]
fn every_topology_writes_dot() {
    for file in topology_files() {
        let spec = load(&file);
        let dot = spec.graph(GraphFormat::Dot);
        let lines: Vec<&str> = dot.lines().collect();
        assert!(
            lines[0].starts_with("graph \"") && lines[0].ends_with('{'),
            "{dot}"
        );
        assert_eq!(lines.last(), Some(&"}"), "{dot}");
        let mut declared = BTreeSet::new();
        let mut edges = 0;
        for l in &lines[1..lines.len() - 1] {
            let l = l.trim();
            assert!(l.ends_with("];"), "{}: {l}", file.display());
            let bare = l.replace("\\\\", "").replace("\\\"", "");
            assert_eq!(bare.matches('"').count() % 2, 0, "unbalanced quotes: {l}");
            if let Some(rest) = l.strip_prefix('"') {
                let (id, rest) = rest.split_once('"').expect("a quoted id");
                if let Some(other) = rest.strip_prefix(" -- \"") {
                    let (to, _) = other.split_once('"').expect("a quoted id");
                    assert!(
                        declared.contains(id) && declared.contains(to),
                        "{}: {l}",
                        file.display()
                    );
                    edges += 1;
                } else {
                    assert!(rest.starts_with(" [label=\""), "{l}");
                    declared.insert(id.to_string());
                }
            }
        }
        let g = Graph::of(&spec);
        assert_eq!(declared.len(), g.boxes.len(), "{}", file.display());
        assert_eq!(edges, g.edges.len(), "{}", file.display());
    }
}

/// Every topology writes a Mermaid flowchart: every line a box, a link, a
/// class or a comment; links only between declared boxes; no raw quote
/// inside a label.
#[test]
fn every_topology_writes_mermaid() {
    for file in topology_files() {
        let spec = load(&file);
        let m = spec.graph(GraphFormat::Mermaid);
        let mut lines = m.lines();
        assert_eq!(lines.next(), Some("flowchart TB"), "{m}");
        let mut declared = BTreeSet::new();
        let mut links = 0;
        let id = |s: &str| -> String {
            assert!(
                s.starts_with('n') && s[1..].chars().all(|c| c.is_ascii_digit()),
                "{}: bad id {s:?}",
                file.display()
            );
            s.to_string()
        };
        for l in lines {
            let l = l.trim();
            if l.starts_with("%%") || l.starts_with("classDef ") {
                continue;
            }
            if let Some(rest) = l.strip_prefix("class ") {
                let (ids, _) = rest.split_once(' ').expect("class IDS NAME");
                for i in ids.split(',') {
                    assert!(declared.contains(&id(i)), "{l}");
                }
                continue;
            }
            let words: Vec<&str> = l.splitn(2, [' ', '[', '(']).collect();
            let first = id(words[0]);
            if let Some(rest) = l.strip_prefix(&first).and_then(|r| r.strip_prefix(" -.- ")) {
                assert!(
                    declared.contains(&first) && declared.contains(&id(rest)),
                    "{l}"
                );
                links += 1;
            } else if let Some(rest) = l
                .strip_prefix(&first)
                .and_then(|r| r.strip_prefix(" ---|\""))
            {
                let (label, to) = rest.split_once("\"| ").expect("a link label");
                assert!(!label.contains('"'), "{l}");
                assert!(
                    declared.contains(&first) && declared.contains(&id(to)),
                    "{l}"
                );
                links += 1;
            } else {
                let body = &l[first.len()..];
                let inner = (body.strip_prefix("[\"").and_then(|b| b.strip_suffix("\"]")))
                    .or_else(|| {
                        body.strip_prefix("([\"")
                            .and_then(|b| b.strip_suffix("\"])"))
                    })
                    .unwrap_or_else(|| panic!("{}: not a box: {l}", file.display()));
                assert!(!inner.contains('"'), "{l}");
                assert!(declared.insert(first), "{l}");
            }
        }
        let g = Graph::of(&spec);
        assert_eq!(declared.len(), g.boxes.len(), "{}", file.display());
        assert_eq!(links, g.edges.len(), "{}", file.display());
    }
}

/// The two-Docker-hosts picture shows both hosts' networks with subnets,
/// their containers' published ports, the LAN bridge and the addresses.
#[test]
fn two_docker_hosts_shows_networks_ports_and_addresses() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/two-docker-hosts.toml");
    let g = Graph::of(&load(&file));
    let text = |id: &str| {
        let b = &g.boxes[g.find(id).unwrap_or_else(|| panic!("no box {id}"))];
        format!("{}\n{}", b.title, b.lines.join("\n"))
    };
    for part in ["h1", "h2"] {
        assert!(text(part).contains("docker classic"), "{}", text(part));
        let bridge = text(&format!("{part}/docker0"));
        assert!(
            bridge.contains("network bridge 172.17.0.0/16") && bridge.contains("172.17.0.1/16"),
            "{bridge}"
        );
        let web = text(&format!("{part}-web"));
        assert!(
            web.contains("publishes 8080:80/tcp") && web.contains("eth0 172.17.0.2/16"),
            "{web}"
        );
    }
    assert!(
        text("h1").contains("eth0 198.51.100.21/24"),
        "{}",
        text("h1")
    );
    assert!(text("router/lan0").contains("198.51.100.1/24"));
    // h1 reaches the router's LAN bridge by its eth0 and the bridge port p1.
    let (h1, lan) = (g.find("h1").unwrap(), g.find("router/lan0").unwrap());
    assert!(
        g.edges
            .iter()
            .any(|e| (e.a, e.b) == (h1, lan) && e.label == "eth0 - p1"),
        "{:?}",
        g.edges
    );
}

/// Host- and container-mode containers are drawn on the namespace they
/// share, with their mode; an unknown format is refused with the list.
#[test]
fn modes_are_drawn_on_the_namespace_they_share() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/docker-modes.toml");
    let g = Graph::of(&load(&file));
    let lines = |id: &str| g.boxes[g.find(id).expect(id)].lines.clone();
    assert!(lines("host").contains(&"hostnet --network host".to_string()));
    assert!(lines("web").contains(&"sidecar --network container:web".to_string()));
    assert!(lines("isolated").contains(&"isolated --network none".to_string()));
    assert!(g.find("hostnet").is_none() && g.find("sidecar").is_none());
    let err = "png".parse::<GraphFormat>().unwrap_err();
    assert!(err.contains("svg, dot and mermaid"), "{err}");
}
