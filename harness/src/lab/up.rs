//! Bringing a [`LabSpec`] up (lab layer): the wiring built, each Docker
//! part installed (the first one's ruleset loading the moment its host's
//! namespace exists, while the rest of the lab is built; the others at
//! once, one thread each, once the links are there), then in order link
//! shaping (tbf; netem where the kernel has it), each node's rule files in
//! file order, servers, programs. `up` returns only when all of it is
//! done; any failure drops the partial lab, which leaves nothing behind.

use std::time::Instant;

use super::docker;
use super::running::Server;
use crate::error::{Error, Result};
use crate::lab::{Lab, Node};
use crate::net::Proto;
use crate::spec::{LabSpec, ShapeSpec};

impl LabSpec {
    /// Validates the spec and brings the lab up: its namespaces, links,
    /// addresses and routes; each Docker part's rules (the ones there
    /// before Docker, Docker's, then the user's), settings and ports; link
    /// shaping; each node's rule files in order; echo servers (bound when
    /// this returns) and programs. On error everything built so far is torn
    /// down. Usable from any context, `#[tokio::test]` included.
    pub fn up(&self) -> Result<Lab> {
        let _span = tracing::debug_span!("lab_spec_up", lab = %self.name()).entered();
        let started = Instant::now();
        let mut wiring = self.full_wiring();
        if !self.docker.is_empty() {
            for p in &self.docker {
                let b = p.host.backend();
                crate::firewall::check_installed(
                    b,
                    &format!("load Docker's rules ({b} backend) into lab {}", self.name()),
                )?;
            }
            let userns = crate::privilege::in_user_namespace();
            for n in &mut wiring.nodes {
                n.sysctls
                    .retain(|(key, _)| !docker::skipped_in_userns(userns, key));
            }
        }
        let (mut lab, parts) = match self.docker.split_first() {
            None => (Lab::build(&wiring)?, Vec::new()),
            Some((first, rest)) => std::thread::scope(|scope| {
                // The first part's ruleset and wildcard ports start the
                // moment its host's namespace exists, before the other
                // namespaces are made.
                let (building, early) = Lab::begin_with(&wiring, &first.name, |host| {
                    docker::start_early(scope, first, host, started)
                })?;
                let lab = match building.finish() {
                    Ok(lab) => lab,
                    Err(e) => {
                        let _ = early.join();
                        return Err(e);
                    }
                };
                let mut parts = vec![docker::finish(&lab, &wiring, first, || early.join())?];
                parts.extend(docker::install_all(&lab, &wiring, rest)?);
                Ok::<_, Error>((lab, parts))
            })?,
        };
        lab.running.parts = parts;
        lab.start(self)?;
        lab.spec = self.clone();
        tracing::debug!(elapsed_us = started.elapsed().as_micros() as u64, "lab up");
        Ok(lab)
    }
}

impl Lab {
    /// What runs once the wiring and the Docker parts are up: link shaping,
    /// each node's rule files in order, servers, programs.
    fn start(&mut self, spec: &LabSpec) -> Result<()> {
        for s in &spec.shapes {
            shape(&self.node(&s.node)?, s)?;
        }
        for r in &spec.rules {
            tracing::debug!(node = %r.node, file = %r.path.display(), backend = %r.backend, "load rule file");
            r.backend.append_file(self.node(&r.node)?.ns(), &r.path)?;
        }
        let mut servers = Vec::new();
        for s in &spec.servers {
            let node = self.node(&s.node)?;
            tracing::debug!(node = %s.node, proto = s.proto.as_str(), bind = %s.bind, "start server");
            servers.push(match s.proto {
                Proto::Udp => Server::Udp(s.clone(), node.udp_echo_server(s.bind)?),
                _ => Server::Tcp(s.clone(), node.tcp_echo_server(s.bind)?),
            });
        }
        self.running.servers = servers;
        let mut programs = Vec::new();
        for p in &spec.programs {
            tracing::debug!(node = %p.node, argv = ?p.argv, "start program");
            let node = self.node(&p.node)?;
            programs.push(node.command(&p.argv[0]).args(&p.argv[1..]).spawn()?);
        }
        self.running.programs = programs;
        Ok(())
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
