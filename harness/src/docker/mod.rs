//! The Docker host model and its rendering — pure, no system calls.
//!
//! A [`DockerHost`] is daemon options, networks and containers in creation
//! order, the internet beside the host and optional LAN peers, validated as a
//! whole. From it this module renders, as values:
//!
//! - at any step of its timeline ([`DockerHost::at`]; [`DockerHost::running`]
//!   once everything happened), a [`Stage`]: the firewall rules Docker leaves
//!   ([`Stage::iptables`]: `iptables-restore` text and `iptables-save` lines;
//!   [`Stage::nftables`]: `nft -f` text for the V29 nftables backend;
//!   [`Stage::firewall`]: whichever the backend uses; [`Stage::ip6tables`]:
//!   the ip6tables skeleton of the 28+ layouts), the sysctls and bridge-port
//!   settings ([`Stage::kernel_settings`]), the docker-proxy processes
//!   ([`Stage::proxies`]) and the ports dockerd holds itself with the proxy
//!   off ([`Stage::port_reservations`]),
//! - the lab that emulates the host ([`DockerHost::lab_spec`]).
//!
//! Layouts ([`Layout`]): `Classic` is proved against a real Docker 20.10.24,
//! `V28` against a real Docker 28.5.2 (`tests/data/real-docker*`); `V29`
//! shares V28's code where the versions agree and lists what stays derived
//! in [`V29_DERIVED`].
//!
//! Presets are data: render, then apply. Applying is the system layer's job.
//!
//! ```
//! use netrig::docker::{ContainerSpec, DockerHost, Layout};
//! let host = DockerHost::builder()
//!     .layout(Layout::V29)
//!     .container(ContainerSpec::new("web").publish("8080:80"))
//!     .build()?;
//! let fw = host.running().firewall();
//! assert_eq!(fw.backend(), netrig::Backend::IptablesNft);
//! assert!(fw.input().contains("-A DOCKER-FORWARD -i docker0 -j ACCEPT"));
//! # Ok::<_, netrig::Error>(())
//! ```

mod container;
mod host;
mod iptables;
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

pub use container::{
    Attachment, Container, ContainerSpec, NetworkMode, Networking, mac_for, mac_in,
};
pub use host::{
    DEFAULT_SERVER, DockerHost, DockerHostBuilder, Event, HOST_NODE, HOST_UPLINK, Happening,
    INTERNET_NODE, INTERNET_UPLINK, LAN_BRIDGE, LAN_HOST, LAN_SUBNET, LanPeer, MatrixCells,
};
pub use kernel::{DockerProxy, KernelSetting, PortReservation};
pub use lab::part_node;
pub use layout::{DaemonOptions, Layout};
pub use modern::V29_DERIVED;
pub use network::{
    DEFAULT_BRIDGE, DEFAULT_NETWORK, DEFAULT_SUBNET, GATEWAY_MODE_IPV4, GatewayMode, Network,
    NetworkSpec, bridge_name_for, network_id_for,
};
pub use nft::{NFT_TABLE, NftChain, NftMap, NftRuleset};
pub use port::PortBinding;
pub use ruleset::{Chain, Ruleset, Table, TableRules};

pub(crate) use host::parse_subnet as parse_subnet_text;
pub(crate) use lab::{container_gateway, container_links, container_node};
pub(crate) use live::{container_start_script, parse_live};
pub(crate) use resolve::check_existing_sysctl;

use crate::backend::Backend;
use crate::wiring::Wiring;

/// A rendered firewall, ready for its loader: `iptables-restore` text for the
/// iptables backends, `nft -f` text for nftables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Firewall {
    /// iptables (nft or legacy flavour).
    Iptables {
        /// Which flavour loads it.
        backend: Backend,
        /// The ruleset.
        ruleset: Ruleset,
    },
    /// Docker's native nftables table.
    Nftables(NftRuleset),
}

impl Firewall {
    /// The backend that loads it (with [`Backend::replace_tables`]).
    pub fn backend(&self) -> Backend {
        match self {
            Firewall::Iptables { backend, .. } => *backend,
            Firewall::Nftables(_) => Backend::Nftables,
        }
    }
    /// The text to feed on stdin.
    pub fn input(&self) -> String {
        match self {
            Firewall::Iptables { ruleset, .. } => ruleset.iptables_restore(),
            Firewall::Nftables(n) => n.apply_script(),
        }
    }
}

/// What Docker has made by one step of a host's timeline (0 = daemon start,
/// then one step per event; clamped to the last): its rules, kernel
/// settings and proxies, rendered as values. From [`DockerHost::at`] or
/// [`DockerHost::running`].
#[derive(Debug, Clone, Copy)]
pub struct Stage<'a> {
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
    /// The ip6tables rules Docker programs (its `--ip6tables` default) — the
    /// filter and nat skeleton of the 28+ layouts with an iptables backend, the
    /// same at every step (no IPv6 network is emulated); `None` otherwise.
    pub fn ip6tables(&self) -> Option<Ruleset> {
        self.host
            .daemon()
            .programs_ip6tables()
            .then(|| modern::render6(self.host))
    }
    /// Docker's `table ip docker-bridges`, as the V29 nftables backend
    /// programs it (rendered for any layout; meaningful for V29).
    pub fn nftables(&self) -> NftRuleset {
        nft::render(self.host, self.step)
    }
    /// What the configured backend loads.
    pub fn firewall(&self) -> Firewall {
        match self.host.backend() {
            Backend::Nftables => Firewall::Nftables(self.nftables()),
            backend => Firewall::Iptables {
                backend,
                ruleset: self.iptables(),
            },
        }
    }
    /// Sysctls and bridge-port settings Docker has made, per node and
    /// interface (docker-rules §3). Container-namespace sysctls are also in
    /// the container nodes' [`crate::NodeSpec`] from [`DockerHost::lab_spec`].
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
    pub fn at(&self, step: usize) -> Stage<'_> {
        Stage {
            host: self,
            step: step.min(self.last_step()),
        }
    }
    /// What Docker has made once every event happened: what `up()` builds.
    pub fn running(&self) -> Stage<'_> {
        self.at(self.last_step())
    }
    /// The lab node a container's traffic comes from (`host` for host mode,
    /// the owner for `container:` mode, itself otherwise).
    pub fn node_of(&self, container: &str) -> String {
        lab::node_of(self, container)
    }
    /// The lab that emulates this host (final state: every network and container).
    pub fn lab_spec(&self) -> Wiring {
        lab::lab_spec(self)
    }
    /// This host's nodes, bridges and links as the part `part` of a larger
    /// lab: node names from [`part_node`], no internet node, the host's
    /// `eth0` and default route left to the larger lab.
    pub fn part_spec(&self, part: &str) -> Wiring {
        lab::part_spec(self, part)
    }
}
