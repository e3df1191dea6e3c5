//! The Docker host model: daemon options, networks, containers, the internet
//! beside the host and optional LAN peers — validated as a whole by
//! [`DockerHostBuilder::build`] before anything is rendered or created.
//!
//! Creation order is part of the model: Docker inserts some rules and appends
//! others, so the ruleset depends on the order in which networks were created
//! and containers started. Step 0 is the daemon start (the default bridge
//! exists); step *i* is the state after the *i*-th [`Event`].

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::container::{Container, ContainerSpec};
use super::layout::{Daemon, DaemonOptions, Layout};
use super::network::{Network, NetworkSpec};
use crate::backend::Backend;

/// The host's uplink address and prefix (interface `eth0` of node `host`).
pub(crate) const HOST_UPLINK: Ipv4Net = Ipv4Net::new_assert(Ipv4Addr::new(203, 0, 113, 2), 24);
/// The internet's address on the uplink (interface `eth0` of node
/// `internet`): the host's default gateway.
pub(crate) const INTERNET_UPLINK: Ipv4Net = Ipv4Net::new_assert(Ipv4Addr::new(203, 0, 113, 1), 24);
/// The host's IPv6 uplink address and prefix (`eth0` of node `host`).
pub(crate) const HOST_UPLINK6: &str = "2001:db8:113::2/64";
/// The internet's IPv6 address on the uplink: the host's IPv6 default gateway.
pub(crate) const INTERNET_UPLINK6: &str = "2001:db8:113::1/64";
/// The internet server's IPv6 address (on the internet node's `lo`).
pub(crate) const SERVER6: &str = "2001:db8:100::10";
/// The LAN segment LAN peers share with the host (bridge `lan0` in `host`).
pub(crate) const LAN_SUBNET: Ipv4Net = Ipv4Net::new_assert(Ipv4Addr::new(198, 51, 100, 128), 25);
/// The host's address on the LAN.
pub(crate) const LAN_HOST: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 129);
/// The LAN bridge in the host.
pub(crate) const LAN_BRIDGE: &str = "lan0";
/// The default internet server address.
pub(crate) const DEFAULT_SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
/// The lab node that is the Docker host.
pub(crate) const HOST_NODE: &str = "host";
/// The lab node that is the internet.
pub(crate) const INTERNET_NODE: &str = "internet";

/// One thing that happens to the host after the daemon started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    /// `docker network create NAME`.
    CreateNetwork(String),
    /// `docker run --name NAME …`.
    StartContainer(String),
    /// The daemon is stopped and started again (iptables backends; recorded
    /// for 20.10.24 and 28.5.2): containers stop and their rules go. A 28+
    /// daemon re-creates every network's rules, user networks first and the
    /// default bridge last; a 20.10 (classic) one keeps the FORWARD and
    /// POSTROUTING rules where they were, re-inserts the chains it flushed
    /// (nat `DOCKER`, the isolation chains) network by network in id order,
    /// and deletes and re-creates the default bridge on top.
    RestartDaemon,
    /// `docker start NAME`: a container stopped by [`Event::RestartDaemon`]
    /// starts again (its ports and raw rules come back, in start order).
    StartExisting(String),
}

/// A machine on the host's LAN that routes the container subnets straight to
/// the host (docker-rules §2.7), bypassing published ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LanPeer {
    /// Node name.
    pub name: String,
    /// Address on the LAN (198.51.100.128/25, the host being .129).
    pub ip: Ipv4Addr,
}

/// An interface of a real host that the kernel here cannot make (a
/// wireguard, vlan or tun device, `[[interface]]` in a topology file, what
/// `netrig import` writes for them): a veth of the same name and addresses
/// in the host, its peer in a node of its own ([`Substitute::node`]), the
/// routes the host sent through it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Substitute {
    /// The interface's name on the real host (at most 15 bytes).
    pub(crate) name: String,
    /// Its IPv4 addresses with prefix.
    pub(crate) addresses: Vec<String>,
    /// Destinations (with prefix) the host routed out of it.
    pub(crate) routes: Vec<String>,
}

impl Substitute {
    /// The node holding the veth's other end: `if-` and the name, with
    /// characters a node name cannot have (`.`, `@` …) as `_`.
    pub(crate) fn node(&self) -> String {
        let tail: String = self
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!("if-{tail}")
    }
}

/// A validated Docker host. Build one with [`DockerHost::builder`] or load a
/// topology file with [`crate::topology::load`] (its model:
/// [`crate::LabSpec::docker_host`]); bring it up with
/// `LabSpec::from(host).up()`.
///
/// ```
/// use netrig::docker::{ContainerSpec, DockerHost};
/// let host = DockerHost::builder()
///     .container(ContainerSpec::new("ca").publish("8080:80"))
///     .network("br")
///     .container(ContainerSpec::new("cb").network("br"))
///     .build()?;
/// assert_eq!(host.container_ip("cb"), Some("172.18.0.2".parse().unwrap()));
/// assert!(host.rendered().rules.contains("--to-destination 172.17.0.2:80"));
/// # Ok::<_, netrig::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerHost {
    pub(crate) name: String,
    pub(crate) daemon: Daemon,
    pub(crate) networks: Vec<Network>,
    pub(crate) containers: Vec<Container>,
    pub(crate) events: Vec<Event>,
    pub(crate) servers: Vec<Ipv4Addr>,
    pub(crate) lan_peers: Vec<LanPeer>,
    pub(crate) rule_files: Vec<std::path::PathBuf>,
    pub(crate) existing_files: Vec<std::path::PathBuf>,
    pub(crate) existing: Option<super::Ruleset>,
    pub(crate) existing_sysctls: Vec<(String, String)>,
    pub(crate) matrix_cells: MatrixCells,
    /// ufw run on the host (real ufw, confined to its node).
    pub(crate) ufw: crate::manager::Ufw,
    /// The host's whole ruleset as found (`ruleset` in a topology file),
    /// loaded instead of Docker's rendering and the `[before]` rules.
    pub(crate) ruleset_file: Option<std::path::PathBuf>,
    /// firewalld run on the host (real firewalld, confined to its node).
    pub(crate) firewalld: crate::manager::Firewalld,
    /// The host's ip6tables rules as found (`ruleset6`), loaded with
    /// `ruleset` in place of Docker's IPv6 rendering.
    pub(crate) ruleset6_file: Option<std::path::PathBuf>,
    /// Interfaces of a real host the kernel here cannot make (`[[interface]]`).
    pub(crate) interfaces: Vec<Substitute>,
    /// What it was built from, for [`DockerHost::with_container`].
    pub(crate) source: Recipe,
}

/// The builder a host was made from. Not part of the host's identity: two
/// hosts that resolved to the same networks, containers and events are
/// equal however they were described.
#[derive(Debug, Clone)]
pub(crate) struct Recipe(pub(crate) Box<DockerHostBuilder>);

impl PartialEq for Recipe {
    fn eq(&self, _: &Recipe) -> bool {
        true
    }
}

impl Eq for Recipe {}

/// Reachability-matrix cells a topology adds to (or puts in place of) the
/// default ones, as `FROM -> ADDR:PORT/PROTO` text (parsed by `netrig::reach`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct MatrixCells {
    /// The cells, e.g. `internet -> 203.0.113.2:22/tcp`.
    pub(crate) cells: Vec<String>,
    /// True when they replace the default cells instead of adding to them.
    pub(crate) replace_defaults: bool,
}

impl DockerHost {
    /// Renames the host (and the lab made from it).
    #[cfg(test)]
    pub(crate) fn set_name(&mut self, name: impl Into<String>) {
        self.name = name.into();
    }
    /// User rule files applied after Docker's rules, in order.
    pub(crate) fn rule_files(&self) -> &[std::path::PathBuf] {
        &self.rule_files
    }
    /// Adds a user rule file after the ones it has (as
    /// [`DockerHostBuilder::rules_file`]; e.g. `netrig diff --after FILE`).
    pub(crate) fn add_rules_file(&mut self, path: impl Into<std::path::PathBuf>) {
        self.rule_files.push(path.into());
    }
    /// Rule files already loaded when the daemon starts (the host's state
    /// before Docker), in order.
    pub(crate) fn existing_rule_files(&self) -> &[std::path::PathBuf] {
        &self.existing_files
    }
    /// The IPv4 iptables rules already in the host's raw, nat and filter
    /// tables when the daemon starts (from the iptables-save fragments among
    /// [`DockerHost::existing_rule_files`]): Docker's operations are replayed
    /// on them, so its rules land around them as on a real host.
    pub(crate) fn existing_rules(&self) -> Option<&super::Ruleset> {
        self.existing.as_ref()
    }
    /// The host's sysctls as they were before the daemon started, in the
    /// order they are written (before Docker's own settings, which win
    /// where both set a key).
    pub(crate) fn existing_sysctls(&self) -> &[(String, String)] {
        &self.existing_sysctls
    }
    /// The ufw commands and files the host runs ufw with.
    pub(crate) fn ufw(&self) -> &crate::manager::Ufw {
        &self.ufw
    }
    /// The `firewall-cmd` lists the host runs firewalld with.
    pub(crate) fn firewalld(&self) -> &crate::manager::Firewalld {
        &self.firewalld
    }
    /// The firewall manager the host runs, if any.
    pub(crate) fn manager(&self) -> Option<crate::manager::Manager> {
        use crate::manager::Manager;
        match (self.ufw.is_used(), self.firewalld.is_used()) {
            (true, _) => Some(Manager::Ufw),
            (_, true) => Some(Manager::Firewalld),
            _ => None,
        }
    }
    /// Adds a file of the host's firewall manager's commands, run after its
    /// other commands (`netrig diff --after ufw:FILE`, `firewalld:FILE`):
    /// the manager is the host's, else the one the file's first command
    /// names (a file without commands changes nothing). Refused, naming
    /// the file and line, where a command is not the manager's.
    pub(crate) fn add_manager_file(&mut self, path: std::path::PathBuf) -> crate::Result<()> {
        use crate::manager::Manager;
        let bad = |message: String| crate::Error::Topology {
            file: path.clone(),
            message,
        };
        let text = std::fs::read_to_string(&path).map_err(|e| {
            bad(format!(
                "cannot read the file of firewall manager commands: {e}"
            ))
        })?;
        let Some(manager) = self.manager().or(Manager::of_commands(&text)) else {
            return Ok(());
        };
        manager.check_commands(&text).map_err(|(line, why)| {
            bad(format!(
                "line {line}: {why} (host {} runs {manager})",
                self.name
            ))
        })?;
        match manager {
            Manager::Ufw => self.ufw.command_files.push(path),
            Manager::Firewalld => self.firewalld.command_files.push(path),
        }
        Ok(())
    }
    /// The host with rule file `path` (the rules ufw loaded before the
    /// daemon) first among the rules already there when the daemon starts.
    pub(crate) fn with_existing_rules_first(
        &self,
        path: impl Into<std::path::PathBuf>,
    ) -> crate::Result<DockerHost> {
        let mut b = (*self.source.0).clone();
        b.name = Some(self.name.clone());
        b.rule_files = self.rule_files.clone();
        b.ufw = self.ufw.clone();
        b.firewalld = self.firewalld.clone();
        b.existing_files.insert(0, path.into());
        b.build()
    }
    /// The host's ruleset as found on a real host (`netrig import`), loaded
    /// in place of Docker's rendering and the rules there before it.
    pub(crate) fn ruleset_file(&self) -> Option<&std::path::Path> {
        self.ruleset_file.as_deref()
    }
    /// The host's ip6tables rules as found (`netrig import`), loaded with
    /// [`DockerHost::ruleset_file`].
    pub(crate) fn ruleset6_file(&self) -> Option<&std::path::Path> {
        self.ruleset6_file.as_deref()
    }
    /// The real host's interfaces this lab has as veths (`[[interface]]`).
    pub(crate) fn interfaces(&self) -> &[Substitute] {
        &self.interfaces
    }
    /// The matrix cells the topology adds or puts in place of the defaults.
    pub(crate) fn matrix_cells(&self) -> &MatrixCells {
        &self.matrix_cells
    }
    /// The host once container `spec` has also been started on the running
    /// daemon (`docker run`): the same networks and containers with the
    /// same addresses, and the new one's start as the last event. Refused
    /// as [`DockerHostBuilder::build`] refuses a bad container.
    pub(crate) fn with_container(&self, spec: ContainerSpec) -> crate::Result<DockerHost> {
        let mut b = (*self.source.0).clone();
        b.name = Some(self.name.clone());
        b.rule_files = self.rule_files.clone();
        b.ufw = self.ufw.clone();
        b.firewalld = self.firewalld.clone();
        b.container(spec).build()
    }
    /// Starts a builder with Docker's defaults (classic layout, iptables-nft).
    pub fn builder() -> DockerHostBuilder {
        DockerHostBuilder::default()
    }
    /// The host's name (the lab's name).
    pub(crate) fn name(&self) -> &str {
        &self.name
    }
    /// The daemon: layout, backend and flags.
    pub(crate) fn daemon(&self) -> &Daemon {
        &self.daemon
    }
    /// The rule layout.
    pub fn layout(&self) -> Layout {
        self.daemon.layout
    }
    /// The firewall backend.
    pub fn backend(&self) -> Backend {
        self.daemon.backend
    }
    /// All networks, default bridge first, then in creation order.
    pub fn networks(&self) -> &[Network] {
        &self.networks
    }
    /// All containers, in start order.
    pub fn containers(&self) -> &[Container] {
        &self.containers
    }
    /// The events after daemon start, in order.
    pub(crate) fn events(&self) -> &[Event] {
        &self.events
    }
    /// The internet server addresses.
    pub(crate) fn servers(&self) -> &[Ipv4Addr] {
        &self.servers
    }
    /// The LAN peers.
    pub(crate) fn lan_peers(&self) -> &[LanPeer] {
        &self.lan_peers
    }
    /// A network by name.
    pub(crate) fn network(&self, name: &str) -> Option<&Network> {
        self.networks.iter().find(|n| n.name == name)
    }
    /// A container by name.
    pub(crate) fn container(&self, name: &str) -> Option<&Container> {
        self.containers.iter().find(|c| c.name == name)
    }
    /// Whether any network has IPv6 (then the uplink, the internet and
    /// its server have IPv6 addresses too).
    pub(crate) fn has_ipv6(&self) -> bool {
        self.networks.iter().any(|n| n.subnet_v6.is_some())
    }
    /// The internet server's IPv6 address, on a host with IPv6 networks.
    pub(crate) fn server6(&self) -> Option<std::net::Ipv6Addr> {
        self.has_ipv6()
            .then(|| SERVER6.parse().expect("SERVER6 is an IPv6 address"))
    }
    /// Whether IPv6 forwarding (`net.ipv6.conf.all.forwarding`) was on
    /// before the daemon (`[before] sysctls`).
    pub(crate) fn forwarding6_was_on(&self) -> bool {
        self.existing_sysctls
            .iter()
            .any(|(k, v)| k == "net.ipv6.conf.all.forwarding" && v.trim() == "1")
    }
    /// True when Docker itself turns IPv6 forwarding on at its first IPv6
    /// network (`setupIPv6Forwarding`; never with the nftables backend).
    pub(crate) fn docker_enables_forwarding6(&self) -> bool {
        let d = &self.daemon;
        self.has_ipv6() && d.ip_forward && d.backend.is_iptables() && !self.forwarding6_was_on()
    }
    /// The ip6tables `FORWARD` policy Docker leaves: DROP iff it turned
    /// IPv6 forwarding on with ip6tables on, unless `--ip-forward-no-drop`.
    pub(crate) fn forward6_policy_drop(&self) -> bool {
        self.docker_enables_forwarding6()
            && self.daemon.ip6tables_on()
            && !self.daemon.ip_forward_no_drop
    }
    #[cfg(test)]
    pub(crate) fn steps(&self) -> usize {
        self.events.len() + 1
    }
    /// The host's uplink address, without prefix (203.0.113.2).
    pub(crate) fn host_uplink_ip(&self) -> Ipv4Addr {
        HOST_UPLINK.addr()
    }

    /// A container's address on its first network (`None` for host, none
    /// and container: modes).
    pub fn container_ip(&self, name: &str) -> Option<Ipv4Addr> {
        self.container(name)?.attachments().first().map(|a| a.ip)
    }

    /// What exists at `step` (clamped to the last step), in the order the
    /// running daemon made it: the default network first, then each event's
    /// network or container. After a daemon restart: the networks as the
    /// restarted daemon re-creates them — user networks in creation order
    /// (28+ layouts, recorded for 28.5.2) or by network id (classic: 20.10
    /// restores them as its store lists them), then the default bridge — then
    /// the containers started since.
    pub(crate) fn timeline(&self, step: usize) -> Vec<Happening<'_>> {
        let step = step.min(self.events.len());
        let mut out = Vec::new();
        let default = self.networks.iter().find(|n| n.is_default);
        out.extend(default.map(Happening::Network));
        for e in &self.events[..step] {
            match e {
                Event::CreateNetwork(n) => out.extend(self.network(n).map(Happening::Network)),
                Event::StartContainer(c) | Event::StartExisting(c) => {
                    out.extend(self.container(c).map(Happening::Container))
                }
                Event::RestartDaemon => {
                    let mut nets: Vec<&Network> = out
                        .iter()
                        .filter_map(|h| match h {
                            Happening::Network(n) if !n.is_default => Some(*n),
                            _ => None,
                        })
                        .collect();
                    if !self.daemon.layout.is_modern() {
                        // 20.10's bridge driver restores its stored networks
                        // as its store lists them: by id.
                        nets.sort_by(|a, b| a.id.cmp(&b.id));
                    }
                    out = nets.into_iter().map(Happening::Network).collect();
                    out.extend(default.map(Happening::Network));
                }
            }
        }
        out
    }

    /// The last step (everything created and started).
    pub(crate) fn last_step(&self) -> usize {
        self.events.len()
    }
}

/// One entry of [`DockerHost::timeline`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Happening<'a> {
    /// A network was created (the default bridge at daemon start).
    Network(&'a Network),
    /// A container was started.
    Container(&'a Container),
}

/// Builds a [`DockerHost`]; [`build`](Self::build) validates everything.
#[derive(Debug, Clone, Default)]
pub struct DockerHostBuilder {
    pub(crate) name: Option<String>,
    pub(crate) daemon: Daemon,
    /// Whether [`DockerHostBuilder::layout`] was called (else a version implies the layout).
    pub(crate) layout_given: bool,
    pub(crate) default_subnet: Option<String>,
    /// `--fixed-cidr-v6` (`[daemon] fixed_cidr_v6`): the default bridge's IPv6 subnet.
    pub(crate) fixed_cidr_v6: Option<String>,
    pub(crate) networks: Vec<NetworkSpec>,
    pub(crate) containers: Vec<ContainerSpec>,
    pub(crate) order: Vec<Event>,
    pub(crate) servers: Option<Vec<String>>,
    pub(crate) lan_peers: Vec<(String, Option<String>)>,
    pub(crate) rule_files: Vec<std::path::PathBuf>,
    pub(crate) existing_files: Vec<std::path::PathBuf>,
    pub(crate) existing_sysctls: Vec<(String, String)>,
    pub(crate) matrix_cells: MatrixCells,
    pub(crate) ufw: crate::manager::Ufw,
    pub(crate) ruleset_file: Option<std::path::PathBuf>,
    pub(crate) firewalld: crate::manager::Firewalld,
    pub(crate) ruleset6_file: Option<std::path::PathBuf>,
    pub(crate) interfaces: Vec<Substitute>,
}

impl DockerHostBuilder {
    /// Runs real firewalld on the host with these `firewall-cmd` lists.
    pub(crate) fn firewalld(mut self, firewalld: crate::manager::Firewalld) -> Self {
        self.firewalld = firewalld;
        self
    }
    /// Runs real ufw on the host with these commands and files.
    pub(crate) fn ufw(mut self, ufw: crate::manager::Ufw) -> Self {
        self.ufw = ufw;
        self
    }
    /// Matrix cells to add to the default ones (`replace_defaults`: instead of them).
    pub(crate) fn matrix_cells(mut self, cells: MatrixCells) -> Self {
        self.matrix_cells = cells;
        self
    }
    /// Names the host (and the lab made from it); default `docker`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    /// Sets the daemon's flags (all of them: `..Default::default()` for
    /// the rest); the layout and the backend are set apart.
    pub fn daemon(mut self, options: DaemonOptions) -> Self {
        let (ipv6, ip6tables) = (self.daemon.ipv6, self.daemon.ip6tables);
        self.daemon = Daemon::with_options(self.daemon.layout, self.daemon.backend, options);
        (self.daemon.ipv6, self.daemon.ip6tables) = (ipv6, ip6tables);
        self
    }
    /// Sets the rule layout.
    pub fn layout(mut self, layout: Layout) -> Self {
        self.daemon.layout = layout;
        self.layout_given = true;
        self
    }
    /// The Docker release (`[daemon] version`; [`DaemonOptions::version`]).
    pub(crate) fn version(mut self, v: super::Version) -> Self {
        self.daemon.version = Some(v);
        self
    }
    /// Sets the firewall backend.
    pub fn backend(mut self, backend: Backend) -> Self {
        self.daemon.backend = backend;
        self
    }
    /// `--icc` for the default bridge.
    pub(crate) fn icc(mut self, on: bool) -> Self {
        self.daemon.icc = on;
        self
    }
    /// `--ip-masq` for the default bridge.
    pub(crate) fn ip_masq(mut self, on: bool) -> Self {
        self.daemon.ip_masq = on;
        self
    }
    /// `--userland-proxy`.
    pub(crate) fn userland_proxy(mut self, on: bool) -> Self {
        self.daemon.userland_proxy = on;
        self
    }
    /// `--ip-forward`.
    pub(crate) fn ip_forward(mut self, on: bool) -> Self {
        self.daemon.ip_forward = on;
        self
    }
    /// Whether forwarding was already on before the daemon started.
    pub(crate) fn ip_forward_was_on(mut self, on: bool) -> Self {
        self.daemon.ip_forward_was_on = on;
        self
    }
    /// `--ipv6`: the default bridge gets an IPv6 subnet as well.
    pub(crate) fn ipv6(mut self, on: bool) -> Self {
        self.daemon.ipv6 = on;
        self
    }
    /// `--ip6tables` on or off (default: the release's).
    pub(crate) fn ip6tables(mut self, on: bool) -> Self {
        self.daemon.ip6tables = Some(on);
        self
    }
    /// `--fixed-cidr-v6`: the default bridge's IPv6 subnet.
    pub(crate) fn fixed_cidr_v6(mut self, cidr: impl Into<String>) -> Self {
        self.fixed_cidr_v6 = Some(cidr.into());
        self
    }
    /// `--bip`-like: the default bridge's subnet (default 172.17.0.0/16, gateway .1).
    pub(crate) fn default_subnet(mut self, cidr: impl Into<String>) -> Self {
        self.default_subnet = Some(cidr.into());
        self
    }
    /// Creates a network (next in creation order): a name (`.network("br")`)
    /// for one with Docker's defaults, a [`NetworkSpec`] for one with options.
    pub fn network(mut self, net: impl Into<NetworkSpec>) -> Self {
        let net = net.into();
        self.order.push(Event::CreateNetwork(net.name.clone()));
        self.networks.push(net);
        self
    }
    /// Starts a container (next in creation order).
    pub fn container(mut self, c: ContainerSpec) -> Self {
        self.order.push(Event::StartContainer(c.name.clone()));
        self.containers.push(c);
        self
    }
    /// Restarts the daemon (next in order; iptables backends, recorded for
    /// 20.10.24 and 28.5.2): every container stops and its rules go. A 28+
    /// daemon re-creates every network's rules, user networks first and the
    /// default bridge last; a 20.10 (classic) one keeps the FORWARD and
    /// POSTROUTING rules where they were, re-inserts the chains it flushed
    /// network by network in id order, and re-creates the default bridge on top.
    pub fn restart_daemon(mut self) -> Self {
        self.order.push(Event::RestartDaemon);
        self
    }
    /// `docker start NAME` of a container stopped by a daemon restart (its
    /// ports and raw rules come back, in start order).
    pub fn start_existing(mut self, name: impl Into<String>) -> Self {
        self.order.push(Event::StartExisting(name.into()));
        self
    }
    /// `--ip-forward-no-drop` (28+ layouts).
    pub(crate) fn ip_forward_no_drop(mut self, on: bool) -> Self {
        self.daemon.ip_forward_no_drop = on;
        self
    }
    /// `--allow-direct-routing` (28+ layouts).
    pub(crate) fn allow_direct_routing(mut self, on: bool) -> Self {
        self.daemon.allow_direct_routing = on;
        self
    }
    /// Adds an internet server address (replaces the default 198.51.100.10).
    pub(crate) fn server(mut self, ip: impl Into<String>) -> Self {
        self.servers.get_or_insert_with(Vec::new).push(ip.into());
        self
    }
    /// Adds a LAN peer with an allocated address (198.51.100.138, .139 …).
    pub fn lan_peer(mut self, name: impl Into<String>) -> Self {
        self.lan_peers.push((name.into(), None));
        self
    }
    /// Adds a LAN peer with a fixed address in 198.51.100.128/25.
    pub(crate) fn lan_peer_at(mut self, name: impl Into<String>, ip: impl Into<String>) -> Self {
        self.lan_peers.push((name.into(), Some(ip.into())));
        self
    }
    /// Adds a user rule file, applied after Docker's rules when the host is
    /// brought up: an iptables-save fragment (e.g. `DOCKER-USER` rules), or an
    /// nft file when its name ends in `.nft`.
    pub(crate) fn rules_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.rule_files.push(path.into());
        self
    }
    /// Adds a rule file that is already loaded when the daemon starts (the
    /// host's state before Docker: ufw's or libvirt's rules): an nft file
    /// (`.nft`), or an iptables-save fragment whose raw, nat and filter
    /// rules Docker then inserts and appends its own around — never
    /// replacing them. Read when the host is built; a malformed fragment is
    /// refused naming the file and line.
    pub fn existing_rules_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.existing_files.push(path.into());
        self
    }
    /// Sets a host sysctl as it was before the daemon started, e.g.
    /// `net.bridge.bridge-nf-call-iptables` = `0` (br_netfilter off for
    /// bridged traffic: same-bridge packets then skip iptables' FORWARD
    /// unless Docker turns it on, which it does for `--icc=false`). Written
    /// before Docker's settings, which win where both set a key. IPv4
    /// forwarding before the daemon is [`DaemonOptions::ip_forward_was_on`].
    pub fn existing_sysctl(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.existing_sysctls.push((key.into(), value.into()));
        self
    }
}

/// Parses an IPv4 subnet and insists it is written as a network address.
pub(crate) fn parse_subnet(s: &str) -> std::result::Result<Ipv4Net, String> {
    let net: Ipv4Net = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not an IPv4 subnet like 172.18.0.0/16"))?;
    if net.trunc() != net {
        return Err(format!(
            "{s:?} is not a network address (did you mean {}?)",
            net.trunc()
        ));
    }
    if net.prefix_len() > 30 {
        return Err(format!("{s:?} is too small for a gateway and a container"));
    }
    Ok(net)
}

/// Parses an IPv4 address.
pub(crate) fn parse_ip(s: &str) -> std::result::Result<Ipv4Addr, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("{s:?} is not an IPv4 address"))
}
