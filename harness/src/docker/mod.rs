//! Docker hosts as data — pure, no system calls.
//!
//! A [`DockerHost`] is daemon options, networks and containers in creation
//! order, the internet beside the host and optional LAN peers, validated as a
//! whole by [`DockerHostBuilder::build`]. Describe one in code with
//! [`DockerHost::builder`] ([`ContainerSpec`], [`NetworkSpec`],
//! [`DaemonOptions`], [`Layout`]) or load a topology file
//! ([`crate::topology::load`]); read its addresses back
//! ([`DockerHost::container_ip`],
//! [`DockerHost::networks`], [`DockerHost::containers`]); bring it up with
//! `LabSpec::from(host).up()`.
//!
//! From the model netrig renders what Docker leaves on the host at every step
//! of its timeline — iptables or nftables rules, ip6tables rules (`--ip6tables`:
//! the 28+ layouts' default; IPv6 networks, issue 21), sysctls and
//! bridge-port settings, docker-proxy processes
//! and the ports dockerd holds — and the lab that emulates it;
//! [`DockerHost::rendered`] shows the final rules, settings and wiring.
//!
//! Layouts ([`Layout`]): `Classic` is proved against a real Docker 20.10.24,
//! `V28` against a real Docker 28.5.2 (`tests/data/real-docker*`); `V29`
//! shares V28's code where the versions agree and is checked against moby's
//! own iptabler/nftabler goldens (`tests/data/moby-goldens`; what stays
//! derived is listed in `harness/src/docker/modern.rs`, `V29_DERIVED`).
//! A [`Version`] ([`DaemonOptions::version`]) picks a point release.
//!
//! ```
//! use netrig::docker::{ContainerSpec, DockerHost, Layout};
//! let host = DockerHost::builder()
//!     .layout(Layout::V29)
//!     .container(ContainerSpec::new("web").publish("8080:80"))
//!     .build()?;
//! assert_eq!(host.backend(), netrig::Backend::IptablesNft);
//! assert!(host.rendered().rules.contains("-A DOCKER-FORWARD -i docker0 -j ACCEPT"));
//! # Ok::<_, netrig::Error>(())
//! ```

mod container;
#[cfg(test)]
mod fidelity;
mod flush;
mod host;
mod iptables;
#[cfg(test)]
mod ipv6_tests;
mod kernel;
mod lab;
mod layout;
mod live;
mod modern;
mod network;
mod nft;
mod port;
mod resolve;
mod restart;
mod ruleset;
#[cfg(test)]
mod tests;
mod version;

pub(crate) use container::NetworkMode;
pub use container::{Attachment, Container, ContainerSpec, Networking};
pub use host::{DockerHost, DockerHostBuilder};
pub use layout::{DaemonOptions, Layout};
pub use network::{GatewayMode, Network, NetworkSpec};
pub use port::PortBinding;
pub use version::Version;

pub(crate) use flush::conntrack_flushes;
pub(crate) use host::parse_subnet as parse_subnet_text;
pub(crate) use host::{Event, HOST_NODE, INTERNET_NODE, MatrixCells, Substitute};
pub(crate) use kernel::{DockerProxy, KernelSetting, PortReservation};
pub(crate) use lab::{container_gateway, container_links, container_node, part_node};
pub(crate) use live::{container_start_script, parse_live};
pub(crate) use nft::NftRuleset;
pub(crate) use resolve::check_existing_sysctl;
pub(crate) use resolve::parse_subnet6 as parse_subnet6_text;
pub(crate) use ruleset::Ruleset;

use crate::backend::Backend;
use crate::wiring::Wiring;

/// A rendered firewall, ready for its loader: `iptables-restore` text for the
/// iptables backends, `nft -f` text for nftables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Firewall {
    /// iptables (nft or legacy flavour).
    Iptables {
        /// Which flavour loads it.
        backend: Backend,
        /// The ruleset.
        ruleset: Ruleset,
    },
    /// Docker's native nftables tables: `ip` and (`--ip6tables`) `ip6`.
    Nftables(NftRuleset, NftRuleset),
}

impl Firewall {
    /// The backend that loads it (with [`Backend::replace_tables`]).
    #[cfg(test)]
    pub fn backend(&self) -> Backend {
        match self {
            Firewall::Iptables { backend, .. } => *backend,
            Firewall::Nftables(..) => Backend::Nftables,
        }
    }
    /// The text to feed on stdin.
    pub fn input(&self) -> String {
        match self {
            Firewall::Iptables { ruleset, .. } => ruleset.iptables_restore(),
            Firewall::Nftables(ip, ip6) => ip.apply_script() + &ip6.apply_script(),
        }
    }
}

/// What Docker has made by one step of a host's timeline (0 = daemon start,
/// then one step per event; clamped to the last): its rules, kernel
/// settings and proxies, rendered as values. From [`DockerHost::at`] or
/// [`DockerHost::running`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stage<'a> {
    host: &'a DockerHost,
    step: usize,
}

impl Stage<'_> {
    /// The iptables rules Docker leaves. With the nftables backend this is
    /// what Docker *would* program with iptables; [`Stage::firewall`] is what
    /// the configured backend loads.
    pub fn iptables(&self) -> Ruleset {
        match self.host.layout() {
            Layout::Classic => iptables::classic(self.host, self.step),
            Layout::V28 | Layout::V29 => modern::render(self.host, self.step),
        }
    }
    /// The ip6tables rules Docker programs (`--ip6tables`: on by default in
    /// the 28+ layouts, 20.10's experimental flag under `Classic`) with an
    /// iptables backend: the skeleton and the rules of each IPv6 network and
    /// published port; `None` otherwise.
    pub fn ip6tables(&self) -> Option<Ruleset> {
        let d = self.host.daemon();
        d.programs_ip6tables().then(|| match d.layout {
            Layout::Classic => iptables::classic6(self.host, self.step),
            Layout::V28 | Layout::V29 => modern::render6(self.host, self.step),
        })
    }
    /// Docker's `table ip docker-bridges`, as the V29 nftables backend
    /// programs it (rendered for any layout; meaningful for V29).
    pub fn nftables(&self) -> NftRuleset {
        nft::render(self.host, self.step)
    }
    /// Docker's `table ip6 docker-bridges` (the nftables backend with
    /// `--ip6tables`, its default): the skeleton and the IPv6 networks' rules.
    pub fn nftables6(&self) -> NftRuleset {
        nft::render6(self.host, self.step)
    }
    /// What the configured backend loads.
    pub fn firewall(&self) -> Firewall {
        match self.host.backend() {
            Backend::Nftables => Firewall::Nftables(self.nftables(), self.nftables6()),
            backend => Firewall::Iptables {
                backend,
                ruleset: self.iptables(),
            },
        }
    }
    /// Sysctls and bridge-port settings Docker has made, per node and
    /// interface (docker-rules §3). Container-namespace sysctls are also in
    /// the container nodes' `NodeSpec` from [`DockerHost::lab_spec`].
    pub fn kernel_settings(&self) -> Vec<KernelSetting> {
        kernel::settings(self.host, self.step)
    }
    /// The docker-proxy processes running (none when the userland proxy is off).
    pub fn proxies(&self) -> Vec<DockerProxy> {
        kernel::proxies(self.host, self.step)
    }
    /// The host ports dockerd holds itself (userland proxy off).
    pub fn port_reservations(&self) -> Vec<PortReservation> {
        kernel::reservations(self.host, self.step)
    }
    /// The bridge ports (host-side veths in node `host`) that have `hairpin_mode=1`.
    #[cfg(test)]
    pub fn hairpin_ports(&self) -> Vec<String> {
        self.kernel_settings()
            .into_iter()
            .filter_map(|k| match k {
                KernelSetting::Hairpin { port, .. } => Some(port),
                KernelSetting::Sysctl { .. } => None,
            })
            .collect()
    }
}

impl DockerHost {
    /// What Docker has made by `step` (0 = daemon start; clamped to the last step).
    pub(crate) fn at(&self, step: usize) -> Stage<'_> {
        Stage {
            host: self,
            step: step.min(self.last_step()),
        }
    }
    /// What Docker has made once every event happened: what `up()` builds.
    pub(crate) fn running(&self) -> Stage<'_> {
        self.at(self.last_step())
    }
    /// The lab node a container's traffic comes from (`host` for host mode,
    /// the owner for `container:` mode, itself otherwise).
    pub(crate) fn node_of(&self, container: &str) -> String {
        lab::node_of(self, container)
    }
    /// The lab that emulates this host (final state: every network and container).
    pub(crate) fn lab_spec(&self) -> Wiring {
        lab::lab_spec(self)
    }
    /// This host's nodes, bridges and links as the part `part` of a larger
    /// lab: node names from [`part_node`], no internet node, the host's
    /// `eth0` and default route left to the larger lab.
    pub(crate) fn part_spec(&self, part: &str) -> Wiring {
        lab::part_spec(self, part)
    }
}

/// What netrig builds and loads for a host once every event happened,
/// rendered as text and values without building anything: Docker's rules as
/// the host's backend loads them, its kernel settings, and the lab's wiring.
/// From [`DockerHost::rendered`].
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The lab that emulates the host: its nodes (`host`, `internet`, one
    /// per container with a namespace of its own, the LAN peers), aliases,
    /// bridges, links, addresses and routes.
    pub wiring: Wiring,
    /// Docker's ruleset as the host's backend loads it: `iptables-restore`
    /// input for the iptables backends, `nft -f` input for nftables.
    pub rules: String,
    /// The ip6tables rules Docker programs (`--ip6tables`, the 28+ layouts'
    /// default, with an iptables backend), as `ip6tables-restore` input;
    /// `None` otherwise.
    pub rules6: Option<String>,
    /// The sysctls Docker sets, in the order it sets them: (node, key, value).
    pub sysctls: Vec<(String, String, String)>,
    /// The bridge ports Docker puts in hairpin mode: (node, port).
    pub hairpin: Vec<(String, String)>,
}

impl DockerHost {
    /// What netrig builds and loads for this host, rendered: Docker's rules
    /// as the backend loads them, its kernel settings, the lab's wiring.
    ///
    /// ```
    /// use netrig::docker::{ContainerSpec, DockerHost};
    /// let host = DockerHost::builder()
    ///     .container(ContainerSpec::new("web").publish("8080:80"))
    ///     .build()?;
    /// let r = host.rendered();
    /// assert!(r.rules.contains("--dport 8080 -j DNAT --to-destination 172.17.0.2:80"));
    /// let forwarding = ("host".to_string(), "net.ipv4.ip_forward".to_string(), "1".to_string());
    /// assert!(r.sysctls.contains(&forwarding));
    /// assert!(r.rules6.is_none(), "the classic layout programs no ip6tables");
    /// # Ok::<_, netrig::Error>(())
    /// ```
    pub fn rendered(&self) -> Rendered {
        let running = self.running();
        let mut sysctls = Vec::new();
        let mut hairpin = Vec::new();
        for k in running.kernel_settings() {
            match k {
                KernelSetting::Sysctl { node, key, value } => sysctls.push((node, key, value)),
                KernelSetting::Hairpin { node, port } => hairpin.push((node, port)),
            }
        }
        Rendered {
            wiring: self.lab_spec(),
            rules: running.firewall().input(),
            rules6: running.ip6tables().map(|r| r.iptables_restore()),
            sysctls,
            hairpin,
        }
    }
}
