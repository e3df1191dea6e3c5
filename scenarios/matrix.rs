//! The matrix a scenario runs over: which Docker rule layout, loaded with
//! which firewall backend.
//!
//! Classic (Docker 20.10–27) and V28 (Docker 28.2–28.5) run on both iptables
//! flavours, as their recordings were made; V29 runs on
//! iptables-nft and on its native nftables backend. With nftables Docker
//! never turns `ip_forward` on itself and refuses to start when it is off,
//! so those hosts start with forwarding already on (as a real one must).

use netrig::Backend;
use netrig::docker::{DaemonOptions, DockerHostBuilder, Layout};
use netrig::unique_lab_name;

/// One cell of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variant {
    /// Docker's rule layout.
    pub layout: Layout,
    /// The firewall backend the rules are loaded with.
    pub backend: Backend,
}

/// Every cell: classic and v28 × {iptables-nft, iptables-legacy}, v29 × {iptables-nft, nftables}.
pub const ALL: &[Variant] = &[
    Variant::new(Layout::Classic, Backend::IptablesNft),
    Variant::new(Layout::Classic, Backend::IptablesLegacy),
    Variant::new(Layout::V28, Backend::IptablesNft),
    Variant::new(Layout::V28, Backend::IptablesLegacy),
    Variant::new(Layout::V29, Backend::IptablesNft),
    Variant::new(Layout::V29, Backend::Nftables),
];

/// The cells whose Docker has gateway modes, with an iptables backend (the
/// recorded 28.5.2 rules; v29 shares them).
pub const GATEWAY_MODES: &[Variant] = &[
    Variant::new(Layout::V28, Backend::IptablesNft),
    Variant::new(Layout::V28, Backend::IptablesLegacy),
    Variant::new(Layout::V29, Backend::IptablesNft),
];

/// The 28+ cells with an iptables backend (Docker's own chains in the
/// filter table that a second firewall owner can rewrite).
pub const MODERN_IPTABLES: &[Variant] = GATEWAY_MODES;

/// Classic's cells, and the 28+ cells with gateway modes: a routed peer
/// before and after the raw drops, with `nat-unprotected` as the fix.
pub const ROUTED_PEERS: &[Variant] = &[
    Variant::new(Layout::Classic, Backend::IptablesNft),
    Variant::new(Layout::Classic, Backend::IptablesLegacy),
    Variant::new(Layout::V28, Backend::IptablesNft),
    Variant::new(Layout::V28, Backend::IptablesLegacy),
    Variant::new(Layout::V29, Backend::IptablesNft),
];

/// The nftables backend's cell alone.
pub const NFTABLES: &[Variant] = &[Variant::new(Layout::V29, Backend::Nftables)];

/// The cells with Docker's rules in iptables-legacy (x_tables), next to
/// which an nft table is a second, separate firewall.
pub const LEGACY: &[Variant] = &[
    Variant::new(Layout::Classic, Backend::IptablesLegacy),
    Variant::new(Layout::V28, Backend::IptablesLegacy),
];

impl Variant {
    /// A cell.
    pub const fn new(layout: Layout, backend: Backend) -> Variant {
        Variant { layout, backend }
    }

    /// `classic::iptables-nft`: the trial name's suffix.
    pub fn name(&self) -> String {
        format!("{}::{}", self.layout, self.backend)
    }

    /// A Docker host builder for this cell, with a lab name unique in this
    /// process (`prefix-PID-N`), so parallel trials never collide, and the
    /// cell's daemon flags ([`Variant::daemon`]).
    pub fn host(&self, prefix: &str) -> DockerHostBuilder {
        netrig::docker::DockerHost::builder()
            .name(unique_lab_name(prefix))
            .layout(self.layout)
            .backend(self.backend)
            .daemon(self.daemon())
    }

    /// The cell's daemon flags, Docker's defaults but forwarding already on
    /// with nftables; a scenario changes some with
    /// `.daemon(DaemonOptions { icc: false, ..v.daemon() })`.
    pub fn daemon(&self) -> DaemonOptions {
        DaemonOptions {
            ip_forward_was_on: self.backend == Backend::Nftables,
            ..DaemonOptions::default()
        }
    }
}
