//! A lab's picture (pure): its nodes with their interfaces and addresses,
//! its bridges (a Docker network's with its name and subnet), the veth
//! links between them, and each Docker part's containers with their
//! published ports, as one [`Graph`] drawn three ways ([`GraphFormat`]):
//! Graphviz dot, Mermaid, and an SVG laid out here (`svg`). What
//! `netrig graph` writes and the HTML report embeds.
//!
//! The graph is built from a [`LabSpec`] alone (nothing runs), so every
//! topology file draws without privileges, and the same spec always gives
//! the same bytes.

mod svg;
mod text;

pub(crate) use svg::esc;

use std::fmt;

use crate::docker::{DockerHost, HOST_NODE, Networking};
use crate::spec::{DockerPartSpec, LabSpec};
use crate::wiring::{Endpoint, Wiring};

/// How [`LabSpec::graph`] draws a lab (`netrig graph --format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphFormat {
    /// A standalone SVG picture, laid out in layers (no fonts or scripts
    /// from elsewhere).
    Svg,
    /// Graphviz dot (`dot -Tsvg`, `dot -Tpng`).
    Dot,
    /// A Mermaid flowchart (Markdown renderers on GitHub and GitLab draw it).
    Mermaid,
}

impl std::str::FromStr for GraphFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<GraphFormat, String> {
        match s {
            "svg" => Ok(GraphFormat::Svg),
            "dot" => Ok(GraphFormat::Dot),
            "mermaid" | "mmd" => Ok(GraphFormat::Mermaid),
            _ => Err(format!("{s:?}: the graph formats are svg, dot and mermaid")),
        }
    }
}

impl LabSpec {
    /// The lab as a picture in `format`: every node with its interfaces
    /// and addresses, every bridge (a Docker network's with its name and
    /// subnet), the links between them, containers with their published
    /// ports, echo servers and rule files. Nothing is brought up.
    ///
    /// ```
    /// use netrig::GraphFormat;
    /// let spec = netrig::topology::load(concat!(env!("CARGO_MANIFEST_DIR"), "/topologies/docker-bridge.toml"))?;
    /// let dot = spec.graph(GraphFormat::Dot);
    /// assert!(dot.contains("docker0") && dot.contains("8080:80/tcp"));
    /// # Ok::<_, netrig::Error>(())
    /// ```
    pub fn graph(&self, format: GraphFormat) -> String {
        let g = Graph::of(self);
        match format {
            GraphFormat::Svg => g.svg(true),
            GraphFormat::Dot => text::dot(&g),
            GraphFormat::Mermaid => text::mermaid(&g),
        }
    }
}

/// What a box of the picture is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A plain lab node.
    Node,
    /// A Docker host (a part's host node).
    DockerHost,
    /// A container with a namespace of its own.
    Container,
    /// A bridge inside a node.
    Bridge,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Node => "node",
            Kind::DockerHost => "docker-host",
            Kind::Container => "container",
            Kind::Bridge => "bridge",
        }
    }
}

/// One box: a node or a bridge, with its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GBox {
    /// Unique within the graph: a node's name, `NODE/BRIDGE` for a bridge.
    pub(crate) id: String,
    /// The first line: the node's or bridge's name.
    pub(crate) title: String,
    /// What it is.
    pub(crate) kind: Kind,
    /// Further lines: interfaces and addresses, ports, servers, rule files.
    pub(crate) lines: Vec<String>,
    /// The addresses on it (without prefix), for finding a cell's destination.
    pub(crate) addrs: Vec<String>,
}

/// A line between two boxes: a veth link (`label` its interface names) or
/// a bridge's tie to the node it lives in (`owner`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GEdge {
    pub(crate) a: usize,
    pub(crate) b: usize,
    pub(crate) label: String,
    pub(crate) owner: bool,
}

/// A lab's picture as data.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Graph {
    /// The lab's name.
    pub(crate) name: String,
    /// Nodes, then bridges, in the spec's order.
    pub(crate) boxes: Vec<GBox>,
    /// Links, then bridge ties.
    pub(crate) edges: Vec<GEdge>,
}

impl Graph {
    /// The picture of `spec`: its whole wiring (Docker parts' included),
    /// annotated from each part's Docker model.
    pub(crate) fn of(spec: &LabSpec) -> Graph {
        let w = spec.full_wiring();
        let mut g = Graph {
            name: w.name.clone(),
            boxes: Vec::new(),
            edges: Vec::new(),
        };
        let part_host = |n: &str| spec.docker.iter().any(|p| p.node(HOST_NODE) == n);
        let containers: Vec<String> = (spec.docker.iter())
            .flat_map(|p| p.host.containers().iter().map(|c| p.node(&c.name)))
            .collect();
        for n in &w.nodes {
            let kind = if part_host(&n.name) {
                Kind::DockerHost
            } else if containers.contains(&n.name) {
                Kind::Container
            } else {
                Kind::Node
            };
            g.boxes.push(GBox {
                id: n.name.clone(),
                title: n.name.clone(),
                kind,
                lines: Vec::new(),
                addrs: Vec::new(),
            });
        }
        for b in &w.bridges {
            let mut bx = GBox {
                id: bridge_id(&b.node, &b.name),
                title: b.name.clone(),
                kind: Kind::Bridge,
                lines: Vec::new(),
                addrs: Vec::new(),
            };
            for a in &b.addrs {
                bx.lines.push(a.clone());
                bx.addrs.push(bare(a));
            }
            g.boxes.push(bx);
        }
        interfaces(&w, &mut g);
        for p in &spec.docker {
            docker_part(p, &mut g);
        }
        // A host- or container-mode container's alias is drawn as its mode.
        for (alias, target) in w.aliases.iter().filter(|(a, _)| !containers.contains(a)) {
            if let Some(i) = g.find(target) {
                g.boxes[i].lines.push(format!("also {alias}"));
            }
        }
        for s in &spec.servers {
            if let Some(i) = g.find(&s.node) {
                (g.boxes[i].lines).push(format!("serves {} {}", s.proto.as_str(), s.bind));
            }
        }
        for r in &spec.rules {
            if let Some(i) = g.find(&r.node) {
                (g.boxes[i].lines).push(format!("rules {}", file_name(&r.path)));
            }
        }
        for b in &w.bridges {
            if let (Some(n), Some(i)) = (g.find(&b.node), g.find(&bridge_id(&b.node, &b.name))) {
                g.edges.push(GEdge {
                    a: n,
                    b: i,
                    label: String::new(),
                    owner: true,
                });
            }
        }
        g
    }

    /// The box named `id`.
    pub(crate) fn find(&self, id: &str) -> Option<usize> {
        self.boxes.iter().position(|b| b.id == id)
    }

    /// The picture as SVG; `standalone` adds the XML namespace a file
    /// needs (an SVG inside an HTML page goes without it).
    pub(crate) fn svg(&self, standalone: bool) -> String {
        svg::render(self, standalone)
    }
}

/// Short: a matrix that carries its lab's picture prints it as one line.
impl fmt::Debug for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Graph({}: {} boxes, {} edges)",
            self.name,
            self.boxes.len(),
            self.edges.len()
        )
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A bridge's box id.
fn bridge_id(node: &str, bridge: &str) -> String {
    format!("{node}/{bridge}")
}

/// An address without its prefix length.
fn bare(cidr: &str) -> String {
    cidr.split('/').next().unwrap_or(cidr).to_string()
}

fn file_name(p: &std::path::Path) -> String {
    p.file_name()
        .map_or_else(|| p.display().to_string(), |f| f.to_string_lossy().into())
}

/// Every link's two ends (a bridge port ends at the bridge), and every
/// interface's addresses on its node's box.
fn interfaces(w: &Wiring, g: &mut Graph) {
    let add = |g: &mut Graph, node: &str, ifname: &str, cidr: &str| {
        if let Some(i) = g.find(node) {
            let line = format!("{ifname} {cidr}");
            if !g.boxes[i].lines.contains(&line) {
                g.boxes[i].lines.push(line);
                g.boxes[i].addrs.push(bare(cidr));
            }
        }
    };
    let end = |g: &Graph, e: &Endpoint| match &e.bridge {
        Some(b) => g.find(&bridge_id(&e.node, b)),
        None => g.find(&e.node),
    };
    for l in &w.links {
        for e in [&l.a, &l.b] {
            for a in &e.addrs {
                add(g, &e.node, &e.ifname, a);
            }
        }
        if let (Some(a), Some(b)) = (end(g, &l.a), end(g, &l.b)) {
            g.edges.push(GEdge {
                a,
                b,
                label: format!("{} - {}", l.a.ifname, l.b.ifname),
                owner: false,
            });
        }
    }
    for a in &w.addresses {
        add(g, &a.node, &a.ifname, &a.cidr);
    }
}

/// A Docker part's networks on its bridges, its containers' published
/// ports and modes, and its rule files.
fn docker_part(p: &DockerPartSpec, g: &mut Graph) {
    let host: &DockerHost = &p.host;
    let host_node = p.node(HOST_NODE);
    if let Some(i) = g.find(&host_node) {
        let d = &mut g.boxes[i].lines;
        d.insert(0, format!("docker {} ({})", host.layout(), host.backend()));
        for f in host.rule_files() {
            d.push(format!("rules {}", file_name(f)));
        }
    }
    for n in host.networks() {
        if let Some(i) = g.find(&bridge_id(&host_node, &n.bridge)) {
            let mut line = format!("network {} {}", n.name, n.subnet);
            if n.internal {
                line.push_str(" internal");
            }
            g.boxes[i].lines.insert(0, line);
        }
    }
    for c in host.containers() {
        let mode = match &c.networking {
            Networking::Host => Some((host_node.clone(), "--network host".to_string())),
            Networking::Container(owner) => {
                Some((p.node(owner), format!("--network container:{owner}")))
            }
            Networking::None => Some((p.node(&c.name), "--network none".to_string())),
            Networking::Bridge(_) => None,
        };
        if let Some((node, mode)) = mode
            && let Some(i) = g.find(&node)
        {
            g.boxes[i].lines.push(format!("{} {mode}", c.name));
        }
        if let Some(i) = g.find(&p.node(&c.name)) {
            for port in &c.ports {
                g.boxes[i].lines.push(format!("publishes {port}"));
            }
        }
    }
}

#[cfg(test)]
mod tests;
