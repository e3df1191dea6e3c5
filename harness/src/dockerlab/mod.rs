//! A Docker host emulation brought up: the lab built from
//! [`DockerHost::lab_spec`], Docker's sysctls and bridge-port settings
//! applied, Docker's rules loaded with the real tools inside node `host`, and
//! a userland proxy per published binding when docker-proxy would run.
//!
//! What does not depend on each other overlaps: Docker's ruleset is loaded
//! into the host's namespace the moment that namespace exists — before the
//! other namespaces are made, while the links are built (rules name
//! interfaces, they need none to exist) — and with 28+ on iptables-nft
//! its IPv4 ruleset and ip6tables skeleton load at the same time;
//! the proxies and reservations on wildcard addresses bind meanwhile; the
//! kernel settings and the ports on specific addresses follow the links
//! while the ruleset commits. User rule files come last (they are "applied
//! after Docker's"). `up` returns only when all of it is done. Any failure
//! drops the partial lab, which leaves nothing behind.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

mod part;
mod reserve;
mod start;

pub use part::DockerPart;
pub(crate) use start::start_on_part;

use crate::backend::Backend;
use crate::docker::{
    DockerHost, DockerProxy, HOST_NODE, INTERNET_NODE, KernelSetting, PortReservation,
};
use crate::error::{Error, Result, Subject};
use crate::firewall::{self, Counters};
use crate::lab::{Building, Lab, Node};
use crate::proxy::Proxy;
use crate::spec::LabSpec;

/// A running emulated Docker host. Dereferences to its [`Lab`]
/// (`docker.node(..)`, `docker.artifacts_dir()`).
///
/// ```no_run
/// let docker = netrig::topology::load("topologies/docker-bridge.toml")?.up()?;
/// let web = docker.container("web")?;
/// println!("{}", docker.summary());
/// # Ok::<_, netrig::Error>(())
/// ```
pub struct DockerLab {
    proxies: Vec<Proxy>,
    /// Host ports dockerd holds itself (userland proxy off).
    reserved: Vec<std::os::fd::OwnedFd>,
    lab: Lab,
    host: DockerHost,
}

impl std::fmt::Debug for DockerLab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerLab")
            .field("lab", &self.lab)
            .field("proxies", &self.proxies.len())
            .field("reserved_ports", &self.reserved.len())
            .finish()
    }
}

impl DockerHost {
    /// Builds the lab and applies Docker's settings, rules and proxies.
    ///
    /// Docker's ruleset does not depend on links (its rules name interfaces,
    /// they do not look them up), and proxies on wildcard addresses depend on
    /// neither: the host's namespace is created first, and as soon as it
    /// exists the ruleset is loaded into it on a thread of its own (IPv4 and,
    /// 28+ on an iptables backend, the ip6tables skeleton, at the same time
    /// with iptables-nft) and
    /// those proxies bind on another, while the other namespaces and the
    /// links are made; the kernel settings and the proxies on specific
    /// addresses follow the links. `up` returns once all of it is done:
    /// rules active, proxies listening, links up, addresses usable.
    pub fn up(&self) -> Result<DockerLab> {
        let _span = tracing::debug_span!("docker_up", lab = %self.name()).entered();
        let started = std::time::Instant::now();
        let backend = self.backend();
        firewall::check_installed(
            backend,
            &format!(
                "load Docker's rules ({backend} backend) into lab {}",
                self.name()
            ),
        )?;
        let userns = crate::privilege::in_user_namespace();
        let mut spec = self.lab_spec();
        for n in &mut spec.nodes {
            n.sysctls.retain(|(key, _)| !skipped_in_userns(userns, key));
        }
        // Three things at once, none waiting for another: Docker's ruleset
        // into the host's namespace (started the moment that namespace
        // exists, before the others are made), the ports on wildcard
        // addresses bound there, and the rest of the lab; then what needs
        // the links.
        let running = std::thread::scope(|scope| {
            let (building, (rules, early)) = Lab::begin_with(&spec, HOST_NODE, |host| {
                let (for_rules, for_ports) = (host.clone(), host.clone());
                let rules = spawn(scope, "netrig-docker-rules", host, move || {
                    self.load_rules(&for_rules, started)
                        .map(|()| HeldPorts::default())
                });
                let ports = spawn(scope, "netrig-docker-ports", host, move || {
                    self.hold_ports(&for_ports, true)
                });
                (rules, ports)
            })?;
            let join = |h: std::thread::ScopedJoinHandle<'_, Result<HeldPorts>>| {
                h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
            };
            let built = self.finish_up(building, &spec, userns);
            let early = early.and_then(join);
            let loaded = rules.and_then(join);
            let (lab, late) = built?;
            let (early, _) = (early?, loaded?);
            Ok::<_, Error>(DockerLab {
                proxies: early.proxies.into_iter().chain(late.proxies).collect(),
                reserved: early.reserved.into_iter().chain(late.reserved).collect(),
                lab,
                host: self.clone(),
            })
        })?;
        for file in self.rule_files() {
            running.apply_rules_file(file)?;
        }
        tracing::debug!(
            elapsed_us = started.elapsed().as_micros() as u64,
            "Docker host up"
        );
        Ok(running)
    }

    /// The rules there before Docker, then Docker's ruleset (replayed on
    /// them) into `host` and, 28+ with an iptables backend, its ip6tables
    /// skeleton (at once with iptables-nft: they touch tables of two
    /// families); returns when all are active.
    /// `started`: when `up` began, for the timings in the debug log.
    fn load_rules(&self, host: &crate::Namespace, started: std::time::Instant) -> Result<()> {
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
            Some(six) => backend.replace_tables_both(host, &four, six)?,
            None => backend.replace_tables(host, &four)?,
        }
        tracing::debug!(
            backend = %backend,
            took_us = t.elapsed().as_micros() as u64,
            since_up_us = since_up(std::time::Instant::now()),
            "Docker's ruleset loaded"
        );
        Ok(())
    }

    /// The rest of the lab (links, addresses, routes), then Docker's kernel
    /// settings and the ports on specific addresses (which need those addresses).
    fn finish_up(
        &self,
        building: Building,
        spec: &LabSpec,
        userns: bool,
    ) -> Result<(Lab, HeldPorts)> {
        let lab = building.finish()?;
        apply_settings(&lab, spec, &self.settings_to_apply(userns))?;
        let held = self.hold_ports(&*lab.node(HOST_NODE)?, false)?;
        Ok((lab, held))
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
                // The classic emulation runs without IPv6: Docker's extra
                // `[::]` docker-proxy has nothing to listen on there.
                let skip = p.host_ip.is_ipv6() && !self.layout().is_modern();
                if skip {
                    tracing::debug!(host_ip = %p.host_ip, port = p.host_port, "skipping IPv6 docker-proxy");
                }
                !skip
            })
            .map(|p| {
                (
                    p.proto,
                    SocketAddr::new(p.host_ip, p.host_port),
                    SocketAddr::new(IpAddr::V4(p.container_ip), p.container_port),
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
struct HeldPorts {
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
fn apply_settings(lab: &Lab, spec: &LabSpec, settings: &[KernelSetting]) -> Result<()> {
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
        lab.node(node)?.sysctl_set_all(&pairs)?;
    }
    for (node, ports) in hairpins {
        lab.node(node)?.set_hairpins(&ports, true)?;
    }
    Ok(())
}

impl Drop for DockerLab {
    /// Every proxy is told to stop before any is waited for (the fields'
    /// drop then joins threads that are already on their way out).
    fn drop(&mut self) {
        for p in &self.proxies {
            p.signal_stop();
        }
    }
}

impl std::ops::Deref for DockerLab {
    type Target = Lab;
    fn deref(&self) -> &Lab {
        &self.lab
    }
}

impl DockerLab {
    /// The model it was built from.
    pub fn model(&self) -> &DockerHost {
        &self.host
    }

    /// The Docker host's node.
    pub fn host_node(&self) -> Result<Node<'_>> {
        self.lab.node(HOST_NODE)
    }

    /// The internet node.
    pub fn internet(&self) -> Result<Node<'_>> {
        self.lab.node(INTERNET_NODE)
    }

    /// A container's node (for host/container-mode containers: the namespace it shares).
    pub fn container(&self, name: &str) -> Result<Node<'_>> {
        if self.host.container(name).is_none() {
            let names: Vec<&str> = self
                .host
                .containers()
                .iter()
                .map(|c| c.name.as_str())
                .collect();
            return Err(Error::invalid(
                Subject::lab(self.lab.name()),
                "container",
                format!(
                    "no container named {name:?} (containers: {})",
                    names.join(", ")
                ),
            ));
        }
        self.lab.node(name)
    }

    /// The host's uplink address (what masqueraded traffic carries as source).
    pub fn host_uplink_ip(&self) -> IpAddr {
        IpAddr::V4(self.host.host_uplink_ip())
    }

    /// The host's ruleset as the backend's tool prints it, with counters.
    pub fn rules(&self) -> Result<String> {
        let host = self.host_node()?;
        self.host.backend().save(&host)
    }

    /// Per-rule counters of the host's ruleset.
    pub fn counters(&self) -> Result<Counters> {
        let host = self.host_node()?;
        self.host.backend().counters(&host)
    }

    /// Loads a user rule file into the host after Docker's rules: an nft
    /// file (`.nft`) with `nft -f`, anything else as an iptables-save
    /// fragment with the host's iptables backend (`--noflush`). A malformed
    /// file fails with the tool's message, naming the file and line.
    pub fn apply_rules_file(&self, path: &Path) -> Result<()> {
        self.host
            .load_rule_file(&*self.host_node()?, path, "loading user rules")
    }

    /// A one-screen description: nodes, interfaces, addresses, published
    /// ports and how to enter each node.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "lab {}: Docker host emulation, layout {}, backend {}, userland proxy {}\n",
            self.lab.name(),
            self.host.layout(),
            self.host.backend(),
            if self.host.daemon().userland_proxy {
                "on"
            } else {
                "off"
            }
        );
        for name in self.lab.namespace_names() {
            let Ok(node) = self.lab.node(&name) else {
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
        for c in self.host.containers() {
            let node = self.host.node_of(&c.name);
            if node != c.name {
                s.push_str(&format!("  container {} shares node {node}\n", c.name));
            }
            for p in &c.ports {
                s.push_str(&format!("  published {p} -> container {}\n", c.name));
            }
        }
        s
    }
}
