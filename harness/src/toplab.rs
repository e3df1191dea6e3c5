//! A generic lab from a topology brought up (lab layer): the wiring built,
//! then in order link shaping (tbf; netem where the kernel has it), each
//! node's rule files in file order, servers, programs.

use std::fmt::Write as _;
use std::net::SocketAddr;

use crate::dockerlab::DockerPart;
use crate::error::{Error, Result};
use crate::lab::{Lab, Node};
use crate::net::Proto;
use crate::process::NodeProcess;
use crate::topology::{LabTopology, ShapeSpec};
use crate::traffic::{TcpEchoServer, UdpEchoServer};

/// A server a [`TopologyLab`] started.
#[derive(Debug)]
enum Running {
    Tcp(String, TcpEchoServer),
    Udp(String, UdpEchoServer),
}

/// A running generic lab: dereferences to its [`Lab`]; dropping it stops
/// its programs and servers, then tears the lab down.
#[derive(Debug)]
pub struct TopologyLab {
    // Fields drop in order: processes, servers and Docker parts before the lab.
    programs: Vec<NodeProcess>,
    servers: Vec<(SocketAddr, Running)>,
    docker: Vec<DockerPart>,
    topology: LabTopology,
    lab: Lab,
}

impl std::ops::Deref for TopologyLab {
    type Target = Lab;
    fn deref(&self) -> &Lab {
        &self.lab
    }
}

impl LabTopology {
    /// Builds the lab (its Docker parts' nodes with it), installs each Docker
    /// part (the rules there before Docker, Docker's rules, settings and
    /// ports, then its rule files), shapes the links, loads each node's rule
    /// files in order, starts its servers (bound when this returns) and
    /// programs. On error everything built so far is torn down.
    pub fn up(self) -> Result<TopologyLab> {
        let _span = tracing::debug_span!("topology_lab_up", lab = %self.name()).entered();
        let mut spec = self.full_spec();
        if !self.docker.is_empty() {
            let backends = self.docker.iter().map(|p| p.host.backend());
            for b in backends {
                crate::firewall::check_installed(
                    b,
                    &format!("load Docker's rules ({b} backend) into lab {}", self.name()),
                )?;
            }
            let userns = crate::privilege::in_user_namespace();
            for n in &mut spec.nodes {
                n.sysctls
                    .retain(|(key, _)| !crate::dockerlab::skipped_in_userns(userns, key));
            }
        }
        let lab = spec.clone().up()?;
        let mut running = TopologyLab {
            programs: Vec::new(),
            servers: Vec::new(),
            docker: Vec::new(),
            topology: self,
            lab,
        };
        // Each part's ruleset load waits mostly on the kernel's commit:
        // the parts install at once, one thread each.
        let (lab, parts) = (&running.lab, &running.topology.docker);
        let installed: Vec<Result<crate::DockerPart>> = std::thread::scope(|scope| {
            let handles: Vec<_> = parts
                .iter()
                .map(|p| scope.spawn(|| p.host.install_part(lab, &spec, &p.name)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        });
        for part in installed {
            running.docker.push(part?);
        }
        running.start()?;
        Ok(running)
    }
}

impl TopologyLab {
    fn start(&mut self) -> Result<()> {
        let topo = &self.topology;
        for s in &topo.shapes {
            shape(&self.lab.node(&s.node)?, s)?;
        }
        for r in &topo.rules {
            tracing::debug!(node = %r.node, file = %r.path.display(), backend = %r.backend, "load rule file");
            r.backend
                .append_file(self.lab.node(&r.node)?.namespace(), &r.path)?;
        }
        for s in &topo.servers {
            let node = self.lab.node(&s.node)?;
            tracing::debug!(node = %s.node, proto = s.proto.as_str(), bind = %s.bind, "start server");
            let r = match s.proto {
                Proto::Udp => Running::Udp(s.node.clone(), node.udp_echo_server(s.bind)?),
                _ => Running::Tcp(s.node.clone(), node.tcp_echo_server(s.bind)?),
            };
            self.servers.push((s.bind, r));
        }
        for p in &topo.programs {
            tracing::debug!(node = %p.node, argv = ?p.argv, "start program");
            let node = self.lab.node(&p.node)?;
            self.programs
                .push(node.command(&p.argv[0]).args(&p.argv[1..]).spawn()?);
        }
        Ok(())
    }

    /// Starts container `spec` on the Docker part `part` of the running lab
    /// (`docker run` on that host), as [`crate::DockerLab::start_container`]
    /// does on a standalone host; its node is `PART-NAME`
    /// ([`DockerPart::node_of`]).
    pub fn start_container(
        &mut self,
        part: &str,
        spec: crate::docker::ContainerSpec,
    ) -> Result<()> {
        self.docker(part)?;
        let i = self
            .docker
            .iter()
            .position(|p| p.name() == part)
            .expect("checked above");
        crate::dockerlab::start_on_part(&mut self.lab, &mut self.docker[i], spec)
    }

    /// The Docker parts, in file order.
    pub(crate) fn parts(&self) -> &[DockerPart] {
        &self.docker
    }

    /// The Docker part named `name` (a `[[docker]]` entry).
    pub fn docker(&self, name: &str) -> Result<&DockerPart> {
        self.docker
            .iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = self.docker.iter().map(DockerPart::name).collect();
                Error::invalid(
                    crate::Subject::lab(self.lab.name()),
                    "docker",
                    format!(
                        "no Docker part named {name:?} (parts: {})",
                        names.join(", ")
                    ),
                )
            })
    }

    /// The topology this lab was built from.
    pub fn topology(&self) -> &LabTopology {
        &self.topology
    }

    /// The programs the topology started, in file order.
    pub fn programs(&self) -> &[NodeProcess] {
        &self.programs
    }

    /// The UDP echo server the topology started in `node` on `bind`.
    pub fn udp_server(&self, node: &str, bind: SocketAddr) -> Result<&UdpEchoServer> {
        self.servers
            .iter()
            .find_map(|(b, r)| match r {
                Running::Udp(n, s) if n == node && *b == bind => Some(s),
                _ => None,
            })
            .ok_or_else(|| self.no_server(node, "udp", bind))
    }

    /// The TCP echo server the topology started in `node` on `bind`.
    pub fn tcp_server(&self, node: &str, bind: SocketAddr) -> Result<&TcpEchoServer> {
        self.servers
            .iter()
            .find_map(|(b, r)| match r {
                Running::Tcp(n, s) if n == node && *b == bind => Some(s),
                _ => None,
            })
            .ok_or_else(|| self.no_server(node, "tcp", bind))
    }

    fn no_server(&self, node: &str, proto: &str, bind: SocketAddr) -> Error {
        Error::invalid(
            crate::Subject::lab(self.lab.name()).node(node),
            "server",
            format!("the topology starts no {proto} server on {bind} in node {node}"),
        )
    }

    /// A one-screen description: each node's interfaces and addresses, its
    /// rule files, servers and programs.
    pub fn summary(&self) -> Result<String> {
        let topo = &self.topology;
        let full = topo.full_spec();
        let mut s = format!(
            "lab {}: generic lab, {} nodes\n",
            self.lab.name(),
            full.nodes.len()
        );
        for p in &self.docker {
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
            let node = self.lab.node(&n.name)?;
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

/// Applies tbf and netem to one interface with `tc`; netem missing from the
/// kernel is reported as such, naming the link.
fn shape(node: &Node<'_>, s: &ShapeSpec) -> Result<()> {
    tracing::debug!(node = %s.node, ifname = %s.ifname, rate = ?s.rate, delay = ?s.delay, loss = ?s.loss, "shape link");
    let mut parent = vec!["root".to_string()];
    if s.delay.is_some() || s.loss.is_some() {
        let mut args: Vec<String> = [
            "qdisc", "add", "dev", &s.ifname, "root", "handle", "1:", "netem",
        ]
        .map(String::from)
        .to_vec();
        if let Some(d) = &s.delay {
            args.extend(["delay".into(), d.clone()]);
        }
        if let Some(l) = &s.loss {
            args.extend(["loss".into(), l.clone()]);
        }
        tc(node, s, &args, "delay/loss (netem)")?;
        parent = vec!["parent".into(), "1:1".into(), "handle".into(), "10:".into()];
    }
    if let Some(rate) = &s.rate {
        let mut args: Vec<String> = ["qdisc", "add", "dev", &s.ifname]
            .map(String::from)
            .to_vec();
        args.extend(parent);
        args.extend(["tbf", "rate", rate, "burst", "32kbit", "latency", "400ms"].map(String::from));
        tc(node, s, &args, "rate (tbf)")?;
    }
    Ok(())
}

fn tc(node: &Node<'_>, s: &ShapeSpec, args: &[String], what: &str) -> Result<()> {
    if !crate::process::program_on_path("tc") {
        return Err(Error::missing_program(
            "tc",
            format!("shape link {}:{}", s.node, s.ifname),
        ));
    }
    let out = node.command("tc").args(args).output()?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let subject = node.subject().clone().link(&s.ifname);
    let unknown_qdisc =
        stderr.contains("qdisc kind is unknown") || stderr.contains("Unknown qdisc");
    let message = if unknown_qdisc && what.contains("netem") {
        "netem is not available on this kernel (no sch_netem): delay and loss cannot be emulated here; \
         remove `delay`/`loss` from this link, or run on a kernel with CONFIG_NET_SCH_NETEM"
            .to_string()
    } else {
        format!("tc {} failed: {}", args.join(" "), stderr.trim())
    };
    Err(Error::invalid(subject, what, message))
}
