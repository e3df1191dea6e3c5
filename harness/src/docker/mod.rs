//! The Docker host model and its rendering — pure, no system calls.
//!
//! A [`DockerHost`] is daemon options, networks and containers in creation
//! order, the internet beside the host and optional LAN peers, validated as a
//! whole. From it this module renders, as values:
//!
//! - the firewall rules Docker leaves at any step ([`DockerHost::iptables_at`]:
//!   `iptables-restore` text and `iptables-save` lines; [`DockerHost::nftables_at`]:
//!   `nft -f` text for the V29 nftables backend; [`DockerHost::firewall_at`]:
//!   whichever the backend uses, with the program that loads it;
//!   [`DockerHost::ip6tables`]: the ip6tables skeleton of the 28+ layouts),
//! - the sysctls and bridge-port settings Docker makes ([`DockerHost::kernel_settings_at`]),
//! - the docker-proxy processes it runs ([`DockerHost::proxies_at`]) and the
//!   ports dockerd holds itself with the proxy off ([`DockerHost::port_reservations`]),
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
//! let fw = host.firewall();
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
pub use layout::{DaemonOptions, Layout};
pub use modern::V29_DERIVED;
pub use network::{
    DEFAULT_BRIDGE, DEFAULT_NETWORK, DEFAULT_SUBNET, GATEWAY_MODE_IPV4, GatewayMode, Network,
    NetworkSpec, bridge_name_for,
};
pub use nft::{NFT_TABLE, NftChain, NftMap, NftRuleset};
pub use port::PortBinding;
pub use ruleset::{Chain, Ruleset, Table, TableRules};

pub(crate) use host::parse_subnet as parse_subnet_text;

use crate::backend::Backend;
use crate::spec::LabSpec;

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

impl DockerHost {
    /// The iptables rules Docker leaves at `step` (0 = daemon start; clamped
    /// to the last step). With the nftables backend this is what Docker
    /// *would* program with iptables; use [`DockerHost::firewall_at`] to get
    /// what the configured backend loads.
    pub fn iptables_at(&self, step: usize) -> Ruleset {
        iptables::render(self, step)
    }
    /// The iptables rules once everything is created and started.
    pub fn iptables(&self) -> Ruleset {
        self.iptables_at(self.last_step())
    }
    /// The ip6tables rules Docker programs (its `--ip6tables` default) — the
    /// filter and nat skeleton of the 28+ layouts with an iptables backend, the
    /// same at every step (no IPv6 network is emulated); `None` otherwise.
    pub fn ip6tables(&self) -> Option<Ruleset> {
        self.daemon()
            .programs_ip6tables()
            .then(|| modern::render6(self))
    }
    /// Docker's `table ip docker-bridges` at `step`, as the V29 nftables
    /// backend programs it (rendered for any layout; meaningful for V29).
    pub fn nftables_at(&self, step: usize) -> NftRuleset {
        nft::render(self, step)
    }
    /// The nftables table once everything is created and started.
    pub fn nftables(&self) -> NftRuleset {
        self.nftables_at(self.last_step())
    }
    /// What the configured backend loads at `step`.
    pub fn firewall_at(&self, step: usize) -> Firewall {
        match self.backend() {
            Backend::Nftables => Firewall::Nftables(self.nftables_at(step)),
            backend => Firewall::Iptables {
                backend,
                ruleset: self.iptables_at(step),
            },
        }
    }
    /// What the configured backend loads once everything runs.
    pub fn firewall(&self) -> Firewall {
        self.firewall_at(self.last_step())
    }
    /// Sysctls and bridge-port settings Docker makes by `step`, per node and
    /// interface (docker-rules §3). Container-namespace sysctls are also in
    /// the container nodes' [`crate::NodeSpec`] from [`DockerHost::lab_spec`].
    pub fn kernel_settings_at(&self, step: usize) -> Vec<KernelSetting> {
        kernel::settings(self, step)
    }
    /// Kernel settings once everything runs.
    pub fn kernel_settings(&self) -> Vec<KernelSetting> {
        self.kernel_settings_at(self.last_step())
    }
    /// The docker-proxy processes running at `step` (none when the userland
    /// proxy is off).
    pub fn proxies_at(&self, step: usize) -> Vec<DockerProxy> {
        kernel::proxies(self, step)
    }
    /// The host ports dockerd holds itself once everything runs (userland
    /// proxy off).
    pub fn port_reservations(&self) -> Vec<PortReservation> {
        kernel::reservations(self, self.last_step())
    }
    /// The docker-proxy processes once everything runs.
    pub fn proxies(&self) -> Vec<DockerProxy> {
        self.proxies_at(self.last_step())
    }
    /// The bridge ports (host-side veths in node `host`) that get `hairpin_mode=1`.
    pub fn hairpin_ports(&self) -> Vec<String> {
        self.kernel_settings()
            .into_iter()
            .filter_map(|k| match k {
                KernelSetting::Hairpin { port, .. } => Some(port),
                KernelSetting::Sysctl { .. } => None,
            })
            .collect()
    }
    /// The lab node a container's traffic comes from (`host` for host mode,
    /// the owner for `container:` mode, itself otherwise).
    pub fn node_of(&self, container: &str) -> String {
        lab::node_of(self, container)
    }
    /// The lab that emulates this host (final state: every network and container).
    pub fn lab_spec(&self) -> LabSpec {
        lab::lab_spec(self)
    }
}
