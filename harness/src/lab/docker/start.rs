//! A container started on a running Docker host (`docker run` after `up`),
//! standalone or a part of a larger lab: its namespace and veths added to
//! the running lab, Docker's rules for it made on top of the live rules —
//! so they land around whatever a user added since, as on a real host —
//! then its settings and host ports.

use crate::backend::Backend;
use crate::docker::{
    ContainerSpec, DockerHost, HOST_NODE, conntrack_flushes, container_gateway, container_links,
    container_node, container_start_script, parse_live,
};
use crate::error::{Error, Result, Subject};
use crate::lab::Lab;
use crate::spec::DockerPartSpec;
use crate::wiring::Wiring;

use super::{HeldPorts, apply_settings, renamed, skipped_in_userns};

impl Lab {
    /// Starts container `spec` on the Docker part `part` of the running lab
    /// (`"host"` for a Docker host file), as `docker run` on a running
    /// daemon does: its namespace (bridge and none modes; its node is named
    /// as the container, `PART-NAME` in a generic lab), a veth onto each of
    /// its networks' bridges with its address and default route, Docker's
    /// rules for it, hairpin settings, and a docker-proxy or dockerd's
    /// reservation per published binding. Returns once all of it is
    /// active, like `up`.
    ///
    /// With an iptables backend Docker's operations for the start (its
    /// inserts and appends, from the same model as `up`) are made on the
    /// rules as they are now, with `iptables-restore --noflush`: a rule a
    /// user appended to `DOCKER` since `up` stays above the new container's
    /// ACCEPT, and every counter is kept. With the nftables backend Docker's
    /// own table is made again (its counters restart; other tables are
    /// untouched). A bad spec (a name in use, an unknown network, a port
    /// taken) is refused as [`crate::docker::DockerHostBuilder::build`]
    /// refuses it, and changes nothing.
    pub fn start_container(&mut self, part: &str, spec: ContainerSpec) -> Result<()> {
        self.docker(part)?;
        let index = (self.running.parts.iter())
            .position(|p| p.name() == part)
            .expect("checked above");
        let current = self.running.parts[index].spec.clone();
        let (next, held) = start_in_lab(self, &current, spec)?;
        let state = &mut self.running.parts[index];
        state.held.proxies.extend(held.proxies);
        state.held.reserved.extend(held.reserved);
        state.spec.host = next;
        Ok(())
    }
}

/// Starts `spec` on the part `part` of `lab`: returns the host with the
/// container started and the ports it holds for it.
fn start_in_lab(
    lab: &mut Lab,
    part: &DockerPartSpec,
    spec: ContainerSpec,
) -> Result<(DockerHost, HeldPorts)> {
    let host = &part.host;
    let next = host.with_container(spec)?;
    let c = next
        .containers()
        .last()
        .expect("the started container is the last")
        .clone();
    let name = |n: &str| part.node(n);
    let _span =
        tracing::debug_span!("docker_start_container", lab = %lab.name(), container = %c.name)
            .entered();
    let userns = crate::privilege::in_user_namespace();
    let node = container_node(&c).map(|mut n| {
        n.name = name(&n.name);
        n.sysctls.retain(|(key, _)| !skipped_in_userns(userns, key));
        n
    });
    match &node {
        Some(n) => lab.add_node(n)?,
        None => lab.add_alias(&name(&c.name), &name(&next.node_of(&c.name)))?,
    }
    for (mut a, mut b) in container_links(&c) {
        (a.node, b.node) = (name(&a.node), name(&b.node));
        lab.add_link(&a, &b)?;
    }
    for route in container_gateway(&next, &c) {
        lab.node(&name(&c.name))?.add_route(&route)?;
    }

    let mut created = Wiring::new(lab.name());
    if let Some(n) = node {
        created = created.node_with(n);
    }
    let before = host.settings_to_apply(userns);
    let settings: Vec<_> = next
        .settings_to_apply(userns)
        .into_iter()
        .filter(|s| !before.contains(s))
        .map(|s| renamed(s, name))
        .collect();
    apply_settings(lab, &created, &settings)?;

    let host_node = lab.node(&name(HOST_NODE))?;
    match next.backend() {
        Backend::Nftables => {
            tracing::debug!("making Docker's nftables table again");
            Backend::Nftables.append(host_node.ns(), &next.running().nftables().apply_script())?;
        }
        backend => {
            let saved = backend.save(host_node.ns())?;
            let live = parse_live(&saved).map_err(|(line, m)| {
                Error::invalid(
                    Subject::lab(lab.name()).node(host_node.name()),
                    "rules",
                    format!("the host's rules as {backend}-save prints them, line {line}: {m}"),
                )
            })?;
            let script = container_start_script(&next, &live);
            tracing::debug!(%backend, lines = script.lines().count(), "Docker's operations for the container, on the live rules");
            if !script.is_empty() {
                backend.append(host_node.ns(), &script)?;
            }
        }
    }

    // Docker then deletes the conntrack entries of the endpoint and of its
    // UDP ports, as its release does (docker::conntrack_flushes).
    for argv in conntrack_flushes(&next, &c) {
        let cmd = host_node.command("conntrack").args(&argv);
        let shown = cmd.argv();
        let out = cmd.output()?;
        // `conntrack -D` exits 1 when no entry matched.
        if !matches!(out.status.code(), Some(0 | 1)) {
            return Err(Error::Command {
                subject: Subject::lab(lab.name()).node(host_node.name()),
                argv: shown,
                status: out.status,
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
    }

    let (old, new) = (host.running(), next.running());
    let (old_reservations, old_proxies) = (old.port_reservations(), old.proxies());
    let reservations: Vec<_> = new
        .port_reservations()
        .into_iter()
        .filter(|r| !old_reservations.contains(r))
        .collect();
    let proxies: Vec<_> = new
        .proxies()
        .into_iter()
        .filter(|p| !old_proxies.contains(p))
        .collect();
    let held = next.hold(host_node.ns(), reservations, proxies)?;
    Ok((next, held))
}
