//! The matrix a scenario runs over: which Docker rule layout, loaded with
//! which firewall backend.
//!
//! Classic (Docker 20.10–27) and V28 (Docker 28.2–28.5) run on both iptables
//! flavours, as their recordings were made; V29 runs on
//! iptables-nft and on its native nftables backend. With nftables Docker
//! never turns `ip_forward` on itself and refuses to start when it is off,
//! so those hosts start with forwarding already on (as a real one must).
//!
//! A cell may name a point release ([`Variant::version`]); without one it is
//! the newest release of its layout (29.7.2 for v29, 28.5.2 for v28). The bug
//! library also runs at [`POINT_RELEASES`] (trials `LAYOUT@VERSION::BACKEND`).

use netrig::Backend;
use netrig::docker::{DaemonOptions, DockerHostBuilder, Layout, Version};
use netrig::unique_lab_name;

/// One cell of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variant {
    /// Docker's rule layout.
    pub layout: Layout,
    /// The firewall backend the rules are loaded with.
    pub backend: Backend,
    /// A point release within the layout; `None` for the layout's newest.
    pub version: Option<Version>,
}

/// Docker 29.0.4, the newest 29.0: the first 29 (`docker-v29.0.x`).
pub const V29_0: Version = Version {
    major: 29,
    minor: 0,
    patch: 4,
};

/// Docker 29.5.0: the release of moby#52423's UDP conntrack flush by
/// container port and address (29.5.1 changed it again; 29.5.1–29.7.2 do
/// the same as v29's newest for everything netrig models on iptables-nft).
pub const V29_5_0: Version = Version {
    major: 29,
    minor: 5,
    patch: 0,
};

/// The point releases the bug library runs at besides each layout's newest,
/// oldest first, as versions of v29 (see [`Variant::with_releases`]).
pub const POINT_RELEASES: &[Version] = &[V29_0, V29_5_0];

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

/// Every 28+ cell: v28 × {iptables-nft, iptables-legacy}, v29 × {iptables-nft, nftables}.
pub const MODERN: &[Variant] = &[
    Variant::new(Layout::V28, Backend::IptablesNft),
    Variant::new(Layout::V28, Backend::IptablesLegacy),
    Variant::new(Layout::V29, Backend::IptablesNft),
    Variant::new(Layout::V29, Backend::Nftables),
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
        Variant {
            layout,
            backend,
            version: None,
        }
    }

    /// The same cell at point release `version` (of its layout).
    pub const fn at(mut self, version: Version) -> Variant {
        self.version = Some(version);
        self
    }

    /// `classic`, `v29`, `v29@29.0`, `v29@29.5.0`: the Docker version the
    /// cell emulates, as trial names and the catalogue's description spell
    /// it. A release is written `MAJOR.MINOR` when it is that minor's newest
    /// patch (what `"29.0"` parses to), else in full.
    pub fn key(&self) -> String {
        match self.version {
            None => self.layout.to_string(),
            Some(v) => {
                let short = format!("{}.{}", v.major, v.minor);
                match short.parse::<Version>() {
                    Ok(newest) if newest == v => format!("{}@{short}", self.layout),
                    _ => format!("{}@{v}", self.layout),
                }
            }
        }
    }

    /// `classic::iptables-nft`, `v29@29.0::iptables-nft`: the trial name's suffix.
    pub fn name(&self) -> String {
        format!("{}::{}", self.key(), self.backend)
    }

    /// `cells` and, where they hold a v29 cell without a version, that
    /// cell at each of [`POINT_RELEASES`] — on iptables-nft when it is among
    /// them, else on the first v29 backend.
    pub fn with_releases(cells: &[Variant]) -> Vec<Variant> {
        let v29 = |v: &&Variant| v.layout == Layout::V29 && v.version.is_none();
        let base = cells
            .iter()
            .filter(v29)
            .find(|v| v.backend == Backend::IptablesNft)
            .or_else(|| cells.iter().find(v29));
        let mut out = cells.to_vec();
        if let Some(base) = base {
            out.extend(POINT_RELEASES.iter().map(|r| base.at(*r)));
        }
        out
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

    /// The cell's daemon flags, Docker's defaults (of its release) but
    /// forwarding already on with nftables; a scenario changes some with
    /// `.daemon(DaemonOptions { icc: false, ..v.daemon() })`.
    pub fn daemon(&self) -> DaemonOptions {
        DaemonOptions {
            ip_forward_was_on: self.backend == Backend::Nftables,
            version: self.version,
            ..DaemonOptions::default()
        }
    }
}
