//! What runs in a lab once it is up (lab layer): its Docker parts, the echo
//! servers and programs its spec starts — found by name — and the
//! one-screen summary `netrig up` prints.

use std::fmt::Write as _;
use std::net::SocketAddr;

use super::docker::{DockerPart, PartState};
use crate::error::{Error, Result, Subject};
use crate::lab::Lab;
use crate::process::NodeProcess;
use crate::spec::{LabSpec, ServerSpec};
use crate::traffic::{TcpEchoServer, UdpEchoServer};

/// A server the spec started.
#[derive(Debug)]
pub(crate) enum Server {
    Tcp(ServerSpec, TcpEchoServer),
    Udp(ServerSpec, UdpEchoServer),
}

/// What runs in a lab: dropped (programs, servers, then Docker parts'
/// proxies) before the lab's namespaces close.
#[derive(Debug, Default)]
pub(crate) struct Running {
    pub(crate) programs: Vec<NodeProcess>,
    pub(crate) servers: Vec<Server>,
    pub(crate) parts: Vec<PartState>,
    /// Real Docker daemons (a lab brought up on one), stopped first.
    pub(crate) daemons: Vec<crate::confined::dockerd::RealDaemon>,
}

impl Lab {
    /// The spec this lab was brought up from.
    pub(crate) fn spec(&self) -> &LabSpec {
        &self.spec
    }

    /// The Docker part `name`: `"host"` in a Docker host file's lab, a
    /// `[[docker]]` entry's name in a generic lab.
    pub fn docker(&self, name: &str) -> Result<DockerPart<'_>> {
        match self.running.parts.iter().find(|p| p.name() == name) {
            Some(p) => Ok(DockerPart::new(self, p)),
            None => {
                let names: Vec<&str> = self.running.parts.iter().map(PartState::name).collect();
                Err(Error::invalid(
                    Subject::lab(self.name()),
                    "docker",
                    if names.is_empty() {
                        format!("no Docker part named {name:?}: this lab has no Docker host")
                    } else {
                        format!(
                            "no Docker part named {name:?} (parts: {})",
                            names.join(", ")
                        )
                    },
                ))
            }
        }
    }

    /// Every Docker part, in the spec's order.
    pub(crate) fn dockers(&self) -> impl Iterator<Item = DockerPart<'_>> {
        self.running.parts.iter().map(|p| DockerPart::new(self, p))
    }

    /// The lab is a Docker host file's own (one part, nodes `host`,
    /// `internet` and the containers'), not a generic lab.
    pub(crate) fn single_host(&self) -> Option<DockerPart<'_>> {
        match self.running.parts.as_slice() {
            [p] if self.spec.wiring.nodes.is_empty() => {
                Some(DockerPart::new(self, p)).filter(|d| d.standalone())
            }
            _ => None,
        }
    }

    /// The UDP echo server the spec started in `node` on `bind`.
    pub fn udp_server(&self, node: &str, bind: SocketAddr) -> Result<&UdpEchoServer> {
        self.running
            .servers
            .iter()
            .find_map(|r| match r {
                Server::Udp(s, x) if s.node == node && s.bind == bind => Some(x),
                _ => None,
            })
            .ok_or_else(|| self.no_server(node, "udp", bind))
    }

    /// The TCP echo server the spec started in `node` on `bind`.
    pub fn tcp_server(&self, node: &str, bind: SocketAddr) -> Result<&TcpEchoServer> {
        self.running
            .servers
            .iter()
            .find_map(|r| match r {
                Server::Tcp(s, x) if s.node == node && s.bind == bind => Some(x),
                _ => None,
            })
            .ok_or_else(|| self.no_server(node, "tcp", bind))
    }

    fn no_server(&self, node: &str, proto: &str, bind: SocketAddr) -> Error {
        Error::invalid(
            Subject::lab(self.name()).node(node),
            "server",
            format!("the lab starts no {proto} server on {bind} in node {node}"),
        )
    }

    /// A one-screen description: for a Docker host file, its nodes,
    /// interfaces, addresses and published ports; for a generic lab, each
    /// node's addresses, rule files, servers and programs.
    pub fn summary(&self) -> Result<String> {
        match self.single_host() {
            Some(d) => Ok(self.host_summary(d)),
            None => self.generic_summary(),
        }
    }

    fn host_summary(&self, docker: DockerPart<'_>) -> String {
        let mut s = format!(
            "lab {}: Docker host emulation, layout {}, backend {}, userland proxy {}\n",
            self.name(),
            docker.model().layout(),
            docker.model().backend(),
            if docker.model().daemon().userland_proxy {
                "on"
            } else {
                "off"
            }
        );
        for name in self.namespace_names() {
            let Ok(node) = self.node(&name) else {
                continue;
            };
            s.push_str(&format!("  node {name}\n"));
            for i in node.interfaces() {
                if i.name == "lo" && i.addrs.is_empty() {
                    continue;
                }
                let addrs: Vec<String> = i.addrs.iter().map(|a| a.to_string()).collect();
                s.push_str(&format!("    {:<15} {}\n", i.name, addrs.join(" ")));
            }
        }
        for c in docker.model().containers() {
            let node = docker.model().node_of(&c.name);
            if node != c.name {
                s.push_str(&format!("  container {} shares node {node}\n", c.name));
            }
            for p in &c.ports {
                s.push_str(&format!("  published {p} -> container {}\n", c.name));
            }
        }
        s
    }

    fn generic_summary(&self) -> Result<String> {
        let topo = &self.spec;
        let full = topo.full_wiring();
        let mut s = format!(
            "lab {}: generic lab, {} nodes\n",
            self.name(),
            full.nodes.len()
        );
        for p in self.dockers() {
            let m = p.model();
            let _ = writeln!(
                s,
                "  Docker host {} (layout {}, backend {}): containers {}",
                p.name(),
                m.layout(),
                m.backend(),
                m.containers()
                    .iter()
                    .map(|c| format!("{} in node {}", c.name, p.node_of(&c.name)))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        for n in &full.nodes {
            let node = self.node(&n.name)?;
            let mut addrs: Vec<String> = node
                .addresses()?
                .into_iter()
                .filter(|(_, a)| !a.addr().is_loopback())
                .map(|(i, a)| format!("{i} {a}"))
                .collect();
            if addrs.is_empty() {
                addrs.push("no addresses".into());
            }
            let _ = writeln!(s, "  {:<12} {}", n.name, addrs.join(", "));
            for r in topo.rules.iter().filter(|r| r.node == n.name) {
                let _ = writeln!(
                    s,
                    "  {:<12}   rules ({}): {}",
                    "",
                    r.backend,
                    r.path.display()
                );
            }
            for x in topo.servers.iter().filter(|x| x.node == n.name) {
                let _ = writeln!(
                    s,
                    "  {:<12}   {} echo server on {}",
                    "",
                    x.proto.as_str(),
                    x.bind
                );
            }
            for p in topo.programs.iter().filter(|p| p.node == n.name) {
                let _ = writeln!(s, "  {:<12}   runs: {}", "", p.argv.join(" "));
            }
        }
        Ok(s)
    }
}
