//! A lab as data (pure layer): its wiring (nodes, bridges, veth links,
//! addresses, routes), the emulated Docker hosts that are parts of it, and
//! what runs in it once up — rule files per node in order, echo servers,
//! programs, link shaping. Every way in ends here: a topology file of either
//! kind ([`crate::topology::load`]), code ([`crate::Lab::builder`]), or a
//! Docker model (`LabSpec::from(host)`: the host, its containers and an
//! internet node). [`LabSpec::up`] brings any of them up as one
//! [`crate::Lab`]; `LabSpec::to_toml` (the unit tests') writes one back as
//! a file that parses to an equal value.
//!
//! ```no_run
//! use netrig::{Endpoint, Lab, Route};
//! let lab = Lab::builder("pair")
//!     .node("a")
//!     .node("b")
//!     .link(Endpoint::new("a", "eth0").addr("10.0.0.1/24"), Endpoint::new("b", "eth0").addr("10.0.0.2/24"))
//!     .route("b", Route::to("default").via("10.0.0.1"))
//!     .up()?;
//! # Ok::<_, netrig::Error>(())
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::backend::Backend;
use crate::docker::{DockerHost, HOST_NODE, part_node};
use crate::net::Proto;
#[cfg(test)]
use crate::net::fmt_mac;
use crate::wiring::{Endpoint, NodeSpec, Route, Wiring};
#[cfg(test)]
use std::fmt::Write as _;

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

/// Traffic shaping on one interface: a tbf rate limit, or netem delay/loss
/// (an [`Endpoint`]'s `rate`, `delay`, `loss`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct ShapeSpec {
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
    /// A Docker host file of its own (or `LabSpec::from(host)`): its nodes
    /// keep their names (`host`, `internet`, each container's), and the
    /// wiring is the host's whole lab, internet node included.
    pub(crate) standalone: bool,
}

impl DockerPartSpec {
    /// The lab node of the part's node `node` (`host`, a container's).
    pub(crate) fn node(&self, node: &str) -> String {
        if self.standalone {
            node.to_string()
        } else {
            part_node(&self.name, node)
        }
    }
}

/// A lab as data: its wiring, its Docker parts and what runs in it. Build
/// one with [`crate::Lab::builder`], read one with [`crate::topology::load`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabSpec {
    /// Nodes, bridges, links, addresses, routes, sysctls — besides the
    /// Docker parts' own ([`LabSpec::full_wiring`] has both).
    pub(crate) wiring: Wiring,
    /// Emulated Docker hosts that are parts of the lab, built with it.
    pub(crate) docker: Vec<DockerPartSpec>,
    /// Rule files, loaded in this order.
    pub(crate) rules: Vec<RuleFileSpec>,
    /// Echo servers.
    pub(crate) servers: Vec<ServerSpec>,
    /// Programs.
    pub(crate) programs: Vec<ProgramSpec>,
    /// Link shaping (tbf, netem).
    pub(crate) shapes: Vec<ShapeSpec>,
}

impl LabSpec {
    /// An empty lab named `name` ([`crate::Lab::builder`] starts here).
    pub(crate) fn new(name: impl Into<String>) -> Self {
        LabSpec::wired(Wiring::new(name))
    }
    /// A lab with `wiring` and nothing running.
    pub(crate) fn wired(wiring: Wiring) -> Self {
        LabSpec {
            wiring,
            docker: Vec::new(),
            rules: Vec::new(),
            servers: Vec::new(),
            programs: Vec::new(),
            shapes: Vec::new(),
        }
    }
    /// The lab's name.
    pub fn name(&self) -> &str {
        &self.wiring.name
    }
    /// Renames the lab (pins and artifacts use the name).
    pub fn set_name(&mut self, name: impl Into<String>) {
        self.wiring.name = name.into();
    }
    /// Adds a node: a name (`.node("a")`) for a plain one, a [`NodeSpec`]
    /// for one with options (`NodeSpec { forwarding: true, ..NodeSpec::from("r") }`).
    pub fn node(mut self, node: impl Into<NodeSpec>) -> Self {
        self.wiring = self.wiring.node_with(node.into());
        self
    }
    /// Adds a bridge in `node` with addresses (`"10.0.0.1/24"`).
    pub fn bridge<I, S>(
        mut self,
        node: impl Into<String>,
        name: impl Into<String>,
        addrs: I,
    ) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.wiring = self.wiring.bridge(node, name, addrs);
        self
    }
    /// Adds a veth link between two endpoints (an endpoint on a bridge is
    /// enslaved to it; one with `rate`, `delay` or `loss` is shaped).
    pub fn link(mut self, a: Endpoint, b: Endpoint) -> Self {
        let (a, b) = (self.take_shape(a), self.take_shape(b));
        self.wiring = self.wiring.link(a, b);
        self
    }
    /// Moves an endpoint's shaping into the lab's shapes.
    fn take_shape(&mut self, mut e: Endpoint) -> Endpoint {
        let (rate, delay, loss) = (e.rate.take(), e.delay.take(), e.loss.take());
        if rate.is_some() || delay.is_some() || loss.is_some() {
            self.shapes.push(ShapeSpec {
                node: e.node.clone(),
                ifname: e.ifname.clone(),
                rate,
                delay,
                loss,
            });
        }
        e
    }
    /// Adds a route to `node`.
    pub fn route(mut self, node: impl Into<String>, route: Route) -> Self {
        self.wiring = self.wiring.route(node, route);
        self
    }
    /// Adds an emulated Docker host as the part `name`: its host's node is
    /// `name`, its containers' nodes `NAME-CONTAINER`. Link the lab to the
    /// host's node to give it an uplink: a part has no internet node of its
    /// own (`LabSpec::from(host)` is a host with one).
    pub fn docker(mut self, name: impl Into<String>, host: DockerHost) -> Self {
        self.docker.push(DockerPartSpec {
            name: name.into(),
            file: None,
            host,
            standalone: false,
        });
        self
    }
    /// The Docker host model of part `name` (`"host"` for a Docker host
    /// file), if the lab has that part.
    pub fn docker_host(&self, name: &str) -> Option<&DockerHost> {
        self.docker.iter().find(|p| p.name == name).map(|p| &p.host)
    }
    /// The whole lab's wiring: every Docker part's nodes, bridges and links
    /// (a standalone host's whole lab), then the lab's own.
    pub(crate) fn full_wiring(&self) -> Wiring {
        let mut full =
            Wiring::new(&self.wiring.name).static_neighbours(self.wiring.static_neighbours);
        for p in self
            .docker
            .iter()
            .map(|p| {
                if p.standalone {
                    p.host.lab_spec()
                } else {
                    p.host.part_spec(&p.name)
                }
            })
            .chain([self.wiring.clone()])
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

    /// Starts a program in `node`.
    #[cfg(test)]
    pub(crate) fn program<I, S>(mut self, node: impl Into<String>, argv: I) -> Self
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

    /// Starts an echo server in `node` on `bind`.
    #[cfg(test)]
    pub(crate) fn server(
        mut self,
        node: impl Into<String>,
        proto: Proto,
        bind: SocketAddr,
    ) -> Self {
        self.servers.push(ServerSpec {
            node: node.into(),
            proto,
            bind,
        });
        self
    }

    /// Loads a rule file into `node` once the lab is up, after the ones
    /// before it: `.nft` with `nft -f`, anything else as an iptables-save
    /// fragment (iptables-nft). Into a Docker part's host (`node` is the
    /// part's name), it is loaded after Docker's rules with the part's
    /// backend, as a user's rules on that host are.
    /// An iptables-save fragment goes to the backend of the node's other
    /// iptables files (iptables-legacy in a node whose files are), else
    /// iptables-nft.
    pub fn rules_file(mut self, node: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        let node = node.into();
        if let Some(p) = self.docker.iter_mut().find(|p| p.name == node) {
            p.host.add_rules_file(path);
            return self;
        }
        let iptables = (self.rules.iter())
            .find(|r| r.node == node && r.backend.is_iptables())
            .map_or(Backend::IptablesNft, |r| r.backend);
        self.rules.push(RuleFileSpec::new(node, path, iptables));
        self
    }
    /// Runs file `path` of firewall manager commands, one a line (`#`
    /// comments), with the real ufw or firewalld of Docker host `node`,
    /// once Docker's rules and the host's own `[after]` commands are in
    /// (`netrig diff --after ufw:FILE` or `firewalld:FILE`). The manager is
    /// the one the host's topology runs (`[before]`/`[after]` `ufw` or
    /// `firewalld`); on a host that runs neither, the file's first command
    /// names it: a `firewall-cmd` argument list (`--zone=public
    /// --add-port=8081/tcp`, a leading `firewall-cmd` allowed) for
    /// firewalld, else a ufw command (`route allow proto tcp from any to
    /// any port 80`). A file without commands changes nothing.
    ///
    /// # Errors
    /// A node that is no Docker host's, an unreadable file, or a line the
    /// manager does not take (named by file and line).
    pub fn manager_file(mut self, node: &str, path: impl Into<PathBuf>) -> crate::Result<Self> {
        let Some(p) = self.docker.iter_mut().find(|p| p.name == node) else {
            return Err(crate::Error::invalid(
                crate::error::Subject::lab(self.name()),
                "manager_file",
                format!(
                    "ufw and firewalld run on a Docker host's node; {node:?} is none (Docker hosts: {})",
                    self.docker
                        .iter()
                        .map(|p| p.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        };
        p.host.add_manager_file(path.into())?;
        Ok(self)
    }
    /// Every node's name (the Docker parts' too), in creation order, then
    /// the aliases.
    pub fn node_names(&self) -> Vec<String> {
        let full = self.full_wiring();
        let nodes = full.nodes.into_iter().map(|n| n.name);
        nodes
            .chain(full.aliases.into_iter().map(|(a, _)| a))
            .collect()
    }
    /// The nodes with rules: each Docker part's host, then each node with
    /// rule files, in order.
    pub fn rule_nodes(&self) -> Vec<String> {
        let mut out: Vec<String> = self.docker.iter().map(|p| p.name.clone()).collect();
        for r in &self.rules {
            if !out.contains(&r.node) {
                out.push(r.node.clone());
            }
        }
        out
    }
    /// Shapes an interface.
    #[cfg(test)]
    pub(crate) fn shape(mut self, shape: ShapeSpec) -> Self {
        self.shapes.push(shape);
        self
    }

    #[cfg(test)]
    /// The lab as a topology file that parses back to an equal value
    /// (rule file paths are written as they are: absolute stay absolute; a
    /// Docker part is written as its `file`, so one built in code without a
    /// file is written without one and does not parse back).
    pub(crate) fn to_toml(&self) -> String {
        let s = &self.wiring;
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

    #[cfg(test)]
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

impl From<DockerHost> for LabSpec {
    /// A Docker host's own lab: node `host` (the part `"host"`), a node per
    /// container (named as the container), the internet node and LAN peers.
    fn from(host: DockerHost) -> Self {
        let mut spec = LabSpec::new(host.name());
        spec.docker.push(DockerPartSpec {
            name: HOST_NODE.to_string(),
            file: None,
            host,
            standalone: true,
        });
        spec
    }
}

/// A TOML basic string.
#[cfg(test)]
fn quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

#[cfg(test)]
fn list(items: &[String]) -> String {
    let q: Vec<String> = items.iter().map(|s| quote(s)).collect();
    format!("[{}]", q.join(", "))
}
