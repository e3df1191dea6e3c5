//! Real firewalld on an emulated Docker host: started before the daemon
//! with the owner's `firewall-cmd` lists (`[before] firewalld`), then what
//! the Docker daemon asks of a running firewalld (moby's
//! `libnetwork/iptables/firewalld.go`: the permanent `docker` zone, from
//! 27.0 the `docker-forwarding` policy, a reload, each bridge in the
//! `docker` zone), then the owner's lists after Docker (`[after]
//! firewalld`, files of them). After a list that reloads firewalld — which
//! flushes the iptables tables Docker's rules are in and forgets runtime
//! zone bindings — Docker's reload handler runs as Docker's does on
//! firewalld's `Reloaded` signal: its rules again, its bridges back in the
//! `docker` zone.

use crate::confined::firewalld::{self, Daemon};
use crate::docker::DockerHost;
use crate::error::{Error, Result};
use crate::manager::{
    commands_in, firewalld_argv, firewalld_docker_bridge, firewalld_docker_setup, firewalld_reloads,
};

impl DockerHost {
    /// Starts firewalld in `host`, runs the `[before] firewalld` lists, then
    /// Docker's firewalld setup (`None`: firewalld not used).
    pub(super) fn firewalld_before_docker(
        &self,
        host: &crate::Namespace,
    ) -> Result<Option<Daemon>> {
        let spec = self.firewalld();
        if !spec.is_used() {
            return Ok(None);
        }
        let daemon = firewalld::start(host)?;
        let mut lists = Vec::new();
        for (i, c) in spec.before.iter().enumerate() {
            let argv = firewalld_argv(c).map_err(|m| {
                Error::invalid(
                    host.subject().clone(),
                    "firewalld",
                    format!("[before] firewalld[{i}]: {m}"),
                )
            })?;
            lists.push((format!("[before] firewalld[{i}]"), argv));
        }
        let release = self.daemon().release();
        lists.extend(
            firewalld_docker_setup(release)
                .into_iter()
                .map(|a| (format!("Docker {release}'s firewalld setup"), a)),
        );
        firewalld::run(host, &lists)?;
        Ok(Some(daemon))
    }

    /// Puts each of Docker's bridges in firewalld's `docker` zone.
    pub(super) fn firewalld_bridges(&self, host: &crate::Namespace) -> Result<()> {
        let lists: Vec<_> = (self.networks().iter())
            .map(|n| {
                (
                    format!("Docker's bridge {}", n.bridge),
                    firewalld_docker_bridge(&n.bridge),
                )
            })
            .collect();
        firewalld::run(host, &lists)
    }

    /// Runs the `[after] firewalld` lists, then each file of them, in
    /// `host`; after one that reloads firewalld, Docker's reload handler.
    pub(crate) fn firewalld_after_docker(&self, host: &crate::Namespace) -> Result<()> {
        let spec = self.firewalld();
        if !spec.is_used() {
            return Ok(());
        }
        let mut lists: Vec<(String, String)> = (spec.after.iter().enumerate())
            .map(|(i, c)| (format!("[after] firewalld[{i}]"), c.clone()))
            .collect();
        for f in &spec.command_files {
            let text = std::fs::read_to_string(f).map_err(|e| Error::Topology {
                file: f.clone(),
                message: format!("cannot read the file of firewall-cmd lists: {e}"),
            })?;
            lists.extend(
                commands_in(&text)
                    .into_iter()
                    .map(|(n, c)| (format!("{}:{n}", f.display()), c)),
            );
        }
        for (place, c) in lists {
            let argv = firewalld_argv(&c).map_err(|m| {
                Error::invalid(host.subject().clone(), "firewalld", format!("{place}: {m}"))
            })?;
            let reload = firewalld_reloads(&argv);
            firewalld::run(host, &[(place, argv)])?;
            if reload {
                self.docker_on_firewalld_reload(host)?;
            }
        }
        Ok(())
    }

    /// What Docker does on firewalld's `Reloaded` signal (every version
    /// registers `iptables.OnReloaded` handlers: 20.10's bridge driver
    /// re-creates its chains, network rules, port mappings and the
    /// DOCKER-USER jump; 28+'s `handleFirewalldReload` re-applies each
    /// network's rules): Docker's ruleset again, its bridges back in the
    /// `docker` zone.
    fn docker_on_firewalld_reload(&self, host: &crate::Namespace) -> Result<()> {
        tracing::debug!(node = host.node_name(), "Docker's firewalld reload handler");
        self.load_docker_rules(host, std::time::Instant::now())?;
        self.firewalld_bridges(host)
    }
}
