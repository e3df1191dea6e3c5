//! Generic labs as data (pure layer): a [`LabSpec`] plus what a running lab
//! needs on top of its wiring — rule files per node in order, servers,
//! programs and link shaping. Built from a topology file
//! ([`crate::topology::parse_lab`]) or in code ([`LabTopology::new`]); the
//! two are one type, and [`LabTopology::to_toml`] writes any of them back as
//! a file that parses to an equal value.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::backend::Backend;
use crate::docker::DockerHost;
use crate::net::{Proto, fmt_mac};
use crate::spec::{Endpoint, LabSpec};

/// An echo server started in a node when the lab comes up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSpec {
    /// The node.
    pub node: String,
    /// TCP or UDP.
    pub proto: Proto,
    /// The address and port it binds.
    pub bind: SocketAddr,
}

/// A program started in a node when the lab comes up, killed with the lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramSpec {
    /// The node.
    pub node: String,
    /// Program and arguments.
    pub argv: Vec<String>,
}

/// A rule file loaded into a node, after the files before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleFileSpec {
    /// The node.
    pub node: String,
    /// The file (`.nft`: `nft -f`; anything else: an iptables-save fragment).
    pub path: PathBuf,
    /// The tool that loads it: nftables for `.nft`, else the node's iptables backend.
    pub backend: Backend,
}

impl RuleFileSpec {
    /// The file `path` for `node`: loaded by nftables if it is `.nft`, else
    /// by the node's `iptables` backend.
    pub fn new(node: impl Into<String>, path: impl Into<PathBuf>, iptables: Backend) -> Self {
        let path = path.into();
        let backend = if path.extension().is_some_and(|e| e == "nft") {
            Backend::Nftables
        } else {
            iptables
        };
        RuleFileSpec {
            node: node.into(),
            path,
            backend,
        }
    }
}

/// Traffic shaping on one interface: a tbf rate limit, or netem delay/loss.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShapeSpec {
    /// The node.
    pub node: String,
    /// The interface.
    pub ifname: String,
    /// tbf rate in tc's syntax (`"1mbit"`).
    pub rate: Option<String>,
    /// netem delay (`"20ms"`).
    pub delay: Option<String>,
    /// netem loss (`"1%"`).
    pub loss: Option<String>,
}

/// An emulated Docker host as a part of a generic lab (`[[docker]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerPartSpec {
    /// The part's name: its host's node; its other nodes are `NAME-NODE`
    /// ([`crate::docker::part_node`]).
    pub name: String,
    /// The Docker host topology file it was read from, if any.
    pub file: Option<PathBuf>,
    /// The host.
    pub host: DockerHost,
}

/// A generic lab: its wiring ([`LabSpec`]) and what runs in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabTopology {
    /// Nodes, bridges, links, addresses, routes, sysctls — besides the
    /// Docker parts' own ([`LabTopology::full_spec`] has both).
    pub spec: LabSpec,
    /// Emulated Docker hosts that are parts of the lab, built with it.
    pub docker: Vec<DockerPartSpec>,
    /// Rule files, loaded in this order.
    pub rules: Vec<RuleFileSpec>,
    /// Echo servers.
    pub servers: Vec<ServerSpec>,
    /// Programs.
    pub programs: Vec<ProgramSpec>,
    /// Link shaping (tbf, netem).
    pub shapes: Vec<ShapeSpec>,
}

impl LabTopology {
    /// A lab with `spec`'s wiring and nothing running.
    pub fn new(spec: LabSpec) -> Self {
        LabTopology {
            spec,
            docker: Vec::new(),
            rules: Vec::new(),
            servers: Vec::new(),
            programs: Vec::new(),
            shapes: Vec::new(),
        }
    }
    /// The lab's name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }
    /// Renames the lab (pins and artifacts use the name).
    pub fn set_name(&mut self, name: impl Into<String>) {
        self.spec.name = name.into();
    }
    /// Adds an emulated Docker host as the part `name` (its host's node;
    /// the others `NAME-NODE`). Link the lab to the host's node to give it
    /// an uplink: the part has no internet node of its own.
    pub fn docker_part(mut self, name: impl Into<String>, host: DockerHost) -> Self {
        self.docker.push(DockerPartSpec {
            name: name.into(),
            file: None,
            host,
        });
        self
    }
    /// The whole lab's wiring: every Docker part's nodes, bridges and links
    /// ([`DockerHost::part_spec`]), then [`LabTopology::spec`]'s.
    pub fn full_spec(&self) -> LabSpec {
        let mut full = LabSpec::new(&self.spec.name).static_neighbours(self.spec.static_neighbours);
        for p in self
            .docker
            .iter()
            .map(|p| p.host.part_spec(&p.name))
            .chain([self.spec.clone()])
        {
            full.nodes.extend(p.nodes);
            full.aliases.extend(p.aliases);
            full.bridges.extend(p.bridges);
            full.links.extend(p.links);
            full.addresses.extend(p.addresses);
            full.routes.extend(p.routes);
        }
        full
    }
    /// Loads a rule file into `node` after the ones before it.
    pub fn rules_file(mut self, node: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        self.rules
            .push(RuleFileSpec::new(node, path, Backend::IptablesNft));
        self
    }
    /// Starts an echo server in `node` on `bind`.
    pub fn server(mut self, node: impl Into<String>, proto: Proto, bind: SocketAddr) -> Self {
        self.servers.push(ServerSpec {
            node: node.into(),
            proto,
            bind,
        });
        self
    }
    /// Starts a program in `node`.
    pub fn program<I, S>(mut self, node: impl Into<String>, argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.programs.push(ProgramSpec {
            node: node.into(),
            argv: argv.into_iter().map(Into::into).collect(),
        });
        self
    }
    /// Shapes an interface.
    pub fn shape(mut self, shape: ShapeSpec) -> Self {
        self.shapes.push(shape);
        self
    }

    /// The lab as a topology file that parses back to an equal value
    /// (rule file paths are written as they are: absolute stay absolute; a
    /// Docker part is written as its `file`, so one built in code without a
    /// file is written without one and does not parse back).
    pub fn to_toml(&self) -> String {
        let s = &self.spec;
        let mut out = format!("name = {}\n", quote(&s.name));
        if !s.static_neighbours {
            out.push_str("static_neighbours = false\n");
        }
        for p in &self.docker {
            let _ = write!(out, "\n[[docker]]\nname = {}\n", quote(&p.name));
            if let Some(f) = &p.file {
                let _ = writeln!(out, "file = {}", quote(&f.display().to_string()));
            }
        }
        for n in &s.nodes {
            let _ = write!(out, "\n[[node]]\nname = {}\n", quote(&n.name));
            if n.ipv6 {
                out.push_str("ipv6 = true\n");
            }
            if n.forwarding {
                out.push_str("forwarding = true\n");
            }
            let node_rules: Vec<&RuleFileSpec> =
                self.rules.iter().filter(|r| r.node == n.name).collect();
            if let Some(b) = node_rules
                .iter()
                .find(|r| r.backend != Backend::Nftables)
                .map(|r| r.backend)
                .filter(|b| *b != Backend::IptablesNft)
            {
                let _ = writeln!(out, "iptables = {}", quote(&b.to_string()));
            }
            if !node_rules.is_empty() {
                let files: Vec<String> = node_rules
                    .iter()
                    .map(|r| quote(&r.path.display().to_string()))
                    .collect();
                let _ = writeln!(out, "rules = [{}]", files.join(", "));
            }
            let servers: Vec<String> = self
                .servers
                .iter()
                .filter(|x| x.node == n.name)
                .map(|x| quote(&format!("{}:{}", x.proto.as_str(), x.bind)))
                .collect();
            if !servers.is_empty() {
                let _ = writeln!(out, "servers = [{}]", servers.join(", "));
            }
            let programs: Vec<String> = self
                .programs
                .iter()
                .filter(|p| p.node == n.name)
                .map(|p| list(&p.argv))
                .collect();
            if !programs.is_empty() {
                let _ = writeln!(out, "programs = [{}]", programs.join(", "));
            }
            if !n.sysctls.is_empty() {
                let kv: Vec<String> = n.sysctls.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let _ = writeln!(out, "sysctls = {}", list(&kv));
            }
        }
        for (name, target) in &s.aliases {
            let _ = write!(
                out,
                "\n[[alias]]\nname = {}\nnode = {}\n",
                quote(name),
                quote(target)
            );
        }
        for b in &s.bridges {
            let _ = write!(
                out,
                "\n[[bridge]]\nnode = {}\nname = {}\n",
                quote(&b.node),
                quote(&b.name)
            );
            if !b.addrs.is_empty() {
                let _ = writeln!(out, "addresses = {}", list(&b.addrs));
            }
            if let Some(m) = b.mac {
                let _ = writeln!(out, "mac = {}", quote(&fmt_mac(&m)));
            }
        }
        for l in &s.links {
            out.push_str("\n[[link]]\n");
            let _ = writeln!(out, "a = {}", self.endpoint(&l.a));
            let _ = writeln!(out, "b = {}", self.endpoint(&l.b));
        }
        for a in &s.addresses {
            let _ = write!(
                out,
                "\n[[address]]\nnode = {}\nifname = {}\naddress = {}\n",
                quote(&a.node),
                quote(&a.ifname),
                quote(&a.cidr)
            );
        }
        for r in &s.routes {
            let _ = write!(
                out,
                "\n[[route]]\nnode = {}\nto = {}\n",
                quote(&r.node),
                quote(r.route.dest.as_deref().unwrap_or("default"))
            );
            if let Some(v) = &r.route.via {
                let _ = writeln!(out, "via = {}", quote(v));
            }
            if let Some(d) = &r.route.dev {
                let _ = writeln!(out, "dev = {}", quote(d));
            }
        }
        out
    }

    /// One endpoint as an inline table, with the shaping of its interface.
    fn endpoint(&self, e: &Endpoint) -> String {
        let mut parts = vec![
            format!("node = {}", quote(&e.node)),
            format!("ifname = {}", quote(&e.ifname)),
        ];
        if !e.addrs.is_empty() {
            parts.push(format!("addresses = {}", list(&e.addrs)));
        }
        if let Some(b) = &e.bridge {
            parts.push(format!("bridge = {}", quote(b)));
        }
        if let Some(m) = e.mac {
            parts.push(format!("mac = {}", quote(&fmt_mac(&m))));
        }
        if let Some(m) = e.mtu {
            parts.push(format!("mtu = {m}"));
        }
        if let Some(sh) = self
            .shapes
            .iter()
            .find(|s| s.node == e.node && s.ifname == e.ifname)
        {
            for (key, v) in [("rate", &sh.rate), ("delay", &sh.delay), ("loss", &sh.loss)] {
                if let Some(v) = v {
                    parts.push(format!("{key} = {}", quote(v)));
                }
            }
        }
        format!("{{ {} }}", parts.join(", "))
    }
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn list(items: &[String]) -> String {
    let q: Vec<String> = items.iter().map(|s| quote(s)).collect();
    format!("[{}]", q.join(", "))
}
