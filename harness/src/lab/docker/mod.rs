//! Emulated Docker hosts in a running lab (lab layer): what the daemon makes
//! in a part's nodes — the rules there before Docker, Docker's ruleset
//! (replayed on them), its kernel settings, a userland proxy per published
//! binding (or dockerd's port reservations), then the user's rule files —
//! and containers started on a running host ([`start`]).
//!
//! What does not depend on each other overlaps: a part's ruleset can be
//! loaded into its host's namespace the moment that namespace exists —
//! before the other namespaces are made, while the links are built (rules
//! name interfaces, they need none to exist) — and with 28+ on
//! iptables-nft its IPv4 ruleset and ip6tables skeleton load at the same
//! time; the proxies and reservations on wildcard addresses bind meanwhile;
//! the kernel settings and the ports on specific addresses follow the links.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

mod firewalld;
mod part;
mod real;
mod reserve;
mod start;
mod ufw;

pub use part::DockerPart;

use crate::backend::{Backend, LoadMode};
use crate::docker::HOST_NODE;
use crate::docker::{DockerHost, DockerProxy, KernelSetting, PortReservation};
use crate::error::{Error, Result};

use crate::lab::Lab;
use crate::proxy::Proxy;
use crate::spec::DockerPartSpec;
use crate::wiring::Wiring;

/// A Docker part of a running lab: its model, and the host ports its
/// daemon holds (docker-proxy listeners, dockerd's reservations), released
/// when the lab goes down.
pub(crate) struct PartState {
    pub(crate) spec: DockerPartSpec,
    held: HeldPorts,
    /// The host's real firewalld and its bus, when the topology runs it.
    firewalld: Option<crate::confined::firewalld::Daemon>,
}

impl std::fmt::Debug for PartState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerPart")
            .field("name", &self.spec.name)
            .field("proxies", &self.held.proxies.len())
            .field("reserved_ports", &self.held.reserved.len())
            .field(
                "firewalld_and_bus",
                &self.firewalld.as_ref().map(|d| d.pids()),
            )
            .finish()
    }
}

impl PartState {
    /// The part's name: its host's node.
    pub(crate) fn name(&self) -> &str {
        &self.spec.name
    }
    /// The part's model.
    pub(crate) fn model(&self) -> &DockerHost {
        &self.spec.host
    }
    /// Tells every proxy to stop (the drop then joins threads already on
    /// their way out).
    pub(crate) fn signal_stop(&self) {
        for p in &self.held.proxies {
            p.signal_stop();
        }
    }
}

/// A part's work that needs only its host's namespace, running on threads
/// of their own: the ruleset load and the ports on wildcard addresses.
pub(crate) struct Early<'scope> {
    rules: Result<std::thread::ScopedJoinHandle<'scope, Result<Loaded>>>,
    ports: Result<std::thread::ScopedJoinHandle<'scope, Result<HeldPorts>>>,
}

impl Early<'_> {
    /// Waits for both; the ports they hold and what loading the rules left
    /// (see [`DockerHost::load_rules`]), or the first error.
    pub(crate) fn join(self) -> Result<(HeldPorts, Loaded)> {
        fn wait<T>(h: std::thread::ScopedJoinHandle<'_, Result<T>>) -> Result<T> {
            h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
        }
        let ports = self.ports.and_then(wait);
        let rules = self.rules.and_then(wait);
        let model = rules?;
        Ok((ports?, model))
    }
}

/// Starts part `part`'s early work on threads of `scope`, the moment its
/// host's namespace `host` exists (`started`: when `up` began, for the
/// timings in the debug log).
pub(crate) fn start_early<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    part: &'scope DockerPartSpec,
    host: &crate::Namespace,
    started: std::time::Instant,
) -> Early<'scope> {
    let (for_rules, for_ports) = (host.clone(), host.clone());
    let model = &part.host;
    Early {
        rules: spawn(scope, "netrig-docker-rules", host, move || {
            model.load_rules(&for_rules, started)
        }),
        ports: spawn(scope, "netrig-docker-ports", host, move || {
            model.hold_ports(&for_ports, true)
        }),
    }
}

/// Finishes part `part` once `lab` (built from `wiring`) has its links:
/// Docker's kernel settings and the ports on specific addresses, then, once
/// `early` is done, the user's rule files and the ufw commands after
/// Docker. `early` is always waited for.
pub(crate) fn finish(
    lab: &Lab,
    wiring: &Wiring,
    part: &DockerPartSpec,
    early: impl FnOnce() -> Result<(HeldPorts, Loaded)>,
) -> Result<PartState> {
    let userns = crate::privilege::in_user_namespace();
    let settings: Vec<KernelSetting> = part
        .host
        .settings_to_apply(userns)
        .into_iter()
        .map(|s| renamed(s, |n| part.node(n)))
        .collect();
    let late = apply_settings(lab, wiring, &settings)
        .and_then(|()| part.host.hold_ports(lab.node(&part.name)?.ns(), false));
    let early = early();
    let ((mut held, loaded), late) = (early?, late?);
    held.proxies.extend(late.proxies);
    held.reserved.extend(late.reserved);
    let mut spec = part.clone();
    if let Some(m) = loaded.model {
        spec.host = m;
    }
    let state = PartState {
        spec,
        held,
        firewalld: loaded.firewalld,
    };
    let host = lab.node(&part.name)?;
    for file in part.host.rule_files() {
        part.host
            .load_rule_file(host.ns(), file, "loading user rules")?;
    }
    part.host.ufw_after_docker(host.ns())?;
    state.spec.host.firewalld_after_docker(host.ns())?;
    Ok(state)
}

/// Installs each of `parts` into `lab` (built from `wiring`) at once, one
/// thread each (a ruleset load mostly waits on the kernel's commit).
pub(crate) fn install_all(
    lab: &Lab,
    wiring: &Wiring,
    parts: &[DockerPartSpec],
) -> Result<Vec<PartState>> {
    let installed: Vec<Result<PartState>> = std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .iter()
            .map(|p| {
                scope.spawn(move || {
                    let _span = tracing::debug_span!("docker_part_up", part = %p.name).entered();
                    let host = lab.node(&p.name)?;
                    let early = p
                        .host
                        .load_rules(host.ns(), std::time::Instant::now())
                        .and_then(|m| Ok((p.host.hold_ports(host.ns(), true)?, m)));
                    finish(lab, wiring, p, || early)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    installed.into_iter().collect()
}

/// What loading a host's rules left: the host's model rebuilt on ufw's
/// rules when ufw made any, and the firewalld it started.
pub(crate) struct Loaded {
    model: Option<DockerHost>,
    firewalld: Option<crate::confined::firewalld::Daemon>,
}

impl DockerHost {
    /// firewalld started and Docker's firewalld setup (real firewalld in
    /// `host`), ufw's commands before the daemon (real ufw in `host`), then the
    /// rules there before Docker — ufw's among them — then Docker's ruleset
    /// (replayed on them) into `host` and, 28+ with an iptables backend, its
    /// ip6tables skeleton (with iptables-nft once the IPv4 ruleset's last
    /// table is committed); returns when all are active, with the host's model
    /// rebuilt on ufw's rules when ufw made any; then Docker's bridges
    /// join firewalld's `docker` zone.
    /// `started`: when `up` began, for the timings in the debug log.
    fn load_rules(&self, host: &crate::Namespace, started: std::time::Instant) -> Result<Loaded> {
        let firewalld = self.firewalld_before_docker(host)?;
        let rebuilt = self.ufw_before_docker(host)?;
        let model = rebuilt.as_ref().unwrap_or(self);
        model.load_docker_rules(host, started)?;
        if firewalld.is_some() {
            model.firewalld_bridges(host)?;
        }
        Ok(Loaded {
            model: rebuilt,
            firewalld,
        })
    }

    /// The rules there before Docker, then Docker's ruleset (see [`DockerHost::load_rules`]).
    fn load_docker_rules(
        &self,
        host: &crate::Namespace,
        started: std::time::Instant,
    ) -> Result<()> {
        if let Some(file) = self.ruleset_file() {
            // A real host's rules as found: in place of Docker's rendering.
            // (A `ruleset6` goes with an iptables-save `ruleset`: resolved so.)
            return match self.ruleset6_file() {
                Some(six) => {
                    tracing::debug!(ipv4 = %file.display(), ipv6 = %six.display(), backend = %self.backend(), "loading the host's ruleset and ip6tables rules as found");
                    self.backend().append_files_both(host, file, six)
                }
                _ => self.load_rule_file(host, file, "loading the host's ruleset as found"),
            };
        }
        for file in self.existing_rule_files() {
            self.load_rule_file(host, file, "loading the rules there before Docker")?;
        }
        let backend = self.backend();
        let four = self.running().firewall().input();
        let six = self.running().ip6tables().map(|r| r.iptables_restore());
        let since_up = |t: std::time::Instant| t.duration_since(started).as_micros() as u64;
        let t = std::time::Instant::now();
        tracing::debug!(backend = %backend, ip6tables = six.is_some(), since_up_us = since_up(t), "loading Docker's ruleset");
        match &six {
            Some(six) => backend.load_both(host, LoadMode::ReplaceTables, &four, six)?,
            None => backend.replace_tables_committed(host, &four)?,
        }
        tracing::debug!(
            backend = %backend,
            took_us = t.elapsed().as_micros() as u64,
            since_up_us = since_up(std::time::Instant::now()),
            "Docker's ruleset loaded"
        );
        Ok(())
    }

    /// Binds the host ports Docker holds — a docker-proxy per published
    /// binding, or dockerd's reservations with the proxy off — on wildcard
    /// addresses (`wildcard`: bindable as soon as the namespace exists) or on
    /// specific ones (only once the addresses are there).
    fn hold_ports(&self, host: &crate::Namespace, wildcard: bool) -> Result<HeldPorts> {
        let running = self.running();
        self.hold(
            host,
            running
                .port_reservations()
                .into_iter()
                .filter(|r| r.addr.ip().is_unspecified() == wildcard)
                .collect(),
            running
                .proxies()
                .into_iter()
                .filter(|p| p.host_ip.is_unspecified() == wildcard)
                .collect(),
        )
    }

    /// Binds `reservations` and starts a docker-proxy for each of `proxies`.
    fn hold(
        &self,
        host: &crate::Namespace,
        reservations: Vec<PortReservation>,
        proxies: Vec<DockerProxy>,
    ) -> Result<HeldPorts> {
        let mappings: Vec<_> = proxies
            .into_iter()
            .filter(|p| {
                // The classic emulation without IPv6 (no `[daemon] ipv6`, no
                // IPv6 network) runs without it: Docker's extra `[::]`
                // docker-proxy has nothing to listen on there.
                let skip =
                    p.host_ip.is_ipv6() && !(self.daemon().host_ipv6() || self.has_ipv6());
                if skip {
                    tracing::debug!(host_ip = %p.host_ip, port = p.host_port, "skipping IPv6 docker-proxy");
                }
                !skip
            })
            .map(|p| {
                (
                    p.proto,
                    SocketAddr::new(p.host_ip, p.host_port),
                    SocketAddr::new(p.container_ip, p.container_port),
                )
            })
            .collect();
        tracing::debug!(
            proxies = mappings.len(),
            reservations = reservations.len(),
            "holding host ports"
        );
        Ok(HeldPorts {
            reserved: reserve::hold(host, &reservations)?,
            proxies: Proxy::start_all(host, &mappings)?,
        })
    }
}

impl DockerHost {
    /// The tool that loads a user's rule file into this host: `nft -f` for
    /// `.nft` files, otherwise the host's iptables backend (iptables-nft
    /// beside the nftables backend).
    fn rule_file_backend(&self, path: &Path) -> Backend {
        if path.extension().is_some_and(|e| e == "nft") {
            Backend::Nftables
        } else if self.backend() == Backend::Nftables {
            Backend::IptablesNft
        } else {
            self.backend()
        }
    }

    /// Adds a user's rule file to `host` with [`DockerHost::rule_file_backend`]'s tool.
    fn load_rule_file(&self, host: &crate::Namespace, path: &Path, what: &str) -> Result<()> {
        let backend = self.rule_file_backend(path);
        tracing::debug!(file = %path.display(), %backend, "{what}");
        backend.append_file(host, path)
    }

    /// The host's sysctls from before the daemon, then Docker's kernel
    /// settings once every event happened (so Docker's win where both set a
    /// key), less the sysctls skipped under a user namespace.
    fn settings_to_apply(&self, userns: bool) -> Vec<KernelSetting> {
        let before = self
            .existing_sysctls()
            .iter()
            .map(|(key, value)| KernelSetting::Sysctl {
                node: HOST_NODE.into(),
                key: key.clone(),
                value: value.clone(),
            });
        before
            .chain(self.running().kernel_settings())
            .filter(|s| match s {
                KernelSetting::Sysctl { key, .. } => !skipped_in_userns(userns, key),
                KernelSetting::Hairpin { .. } => true,
            })
            .collect()
    }
}

/// Setting `s` with its node renamed by `name` (a Docker part's nodes are
/// named by [`crate::docker::part_node`]).
fn renamed(s: KernelSetting, name: impl Fn(&str) -> String) -> KernelSetting {
    match s {
        KernelSetting::Sysctl { node, key, value } => KernelSetting::Sysctl {
            node: name(&node),
            key,
            value,
        },
        KernelSetting::Hairpin { node, port } => KernelSetting::Hairpin {
            node: name(&node),
            port,
        },
    }
}

/// Starts `job` on a thread of `scope` named `name`, working for `host`.
fn spawn<'scope, T: Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    name: &str,
    host: &crate::Namespace,
    job: impl FnOnce() -> T + Send + 'scope,
) -> Result<std::thread::ScopedJoinHandle<'scope, T>> {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn_scoped(scope, job)
        .map_err(|e| Error::io(host.subject().clone(), format!("start thread {name}"), e))
}

/// Host ports Docker holds: docker-proxy listeners, dockerd's reservations.
#[derive(Default)]
pub(crate) struct HeldPorts {
    proxies: Vec<Proxy>,
    reserved: Vec<std::os::fd::OwnedFd>,
}

/// Docker skips `ping_group_range` under user namespaces (the full gid range
/// is not mapped there), and so does netrig when run rootless.
pub(crate) fn skipped_in_userns(userns: bool, key: &str) -> bool {
    userns && key == "net.ipv4.ping_group_range"
}

/// Applies `settings`: a sysctl the node was created with (its
/// [`crate::NodeSpec`] in `spec`) is not written again; each node's other
/// sysctls are written by one thread inside it; hairpin ports are set in one
/// concurrent batch per node.
fn apply_settings(lab: &Lab, spec: &Wiring, settings: &[KernelSetting]) -> Result<()> {
    let at_creation = |node: &str, key: &str, value: &str| {
        spec.nodes
            .iter()
            .any(|n| n.name == node && n.sysctls.iter().any(|(k, v)| k == key && v == value))
    };
    let mut sysctls: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    let mut hairpins: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for s in settings {
        match s {
            KernelSetting::Sysctl { node, key, value } if !at_creation(node, key, value) => {
                sysctls.entry(node).or_default().push((key, value));
            }
            KernelSetting::Sysctl { .. } => {}
            KernelSetting::Hairpin { node, port } => hairpins.entry(node).or_default().push(port),
        }
    }
    for (node, pairs) in sysctls {
        lab.node(node)?.ns().sysctl_set_all(&pairs)?;
    }
    for (node, ports) in hairpins {
        lab.node(node)?.set_hairpins(&ports, true)?;
    }
    Ok(())
}
