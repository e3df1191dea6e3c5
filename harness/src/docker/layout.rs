//! Which Docker the host emulates: the rule [`Layout`], the firewall
//! [`Backend`] and the daemon-wide [`DaemonOptions`].
//!
//! These are the knobs `dockerd` takes on its command line. They are plain
//! values; nothing here touches the system.

use std::fmt;

/// The shape of Docker's firewall rules, by Docker version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Layout {
    /// Docker 20.10 – 27.x (docker-rules §1.1): per-bridge rules directly in
    /// `FORWARD`, `DOCKER-ISOLATION-STAGE-1/2`, `DOCKER-USER -j RETURN`, nat
    /// `DOCKER -i <bridge> -j RETURN`. Checked rule for rule against a real
    /// Docker 20.10.24.
    #[default]
    Classic,
    /// Docker 29.x (docker-rules §1.2, §1.3): `DOCKER-FORWARD`, `DOCKER-CT`,
    /// `DOCKER-BRIDGE`, `DOCKER-INTERNAL`, per-network default drop, raw
    /// direct-access drops, optional native nftables backend.
    V29,
}

impl Layout {
    /// The name used in topology files (`classic`, `v29`).
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::Classic => "classic",
            Layout::V29 => "v29",
        }
    }
}

impl std::str::FromStr for Layout {
    type Err = String;
    /// Parses the names used in topology files and on the command line.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "classic" => Ok(Layout::Classic),
            "v29" => Ok(Layout::V29),
            _ => Err(format!("unknown layout {s:?} (use \"classic\" or \"v29\")")),
        }
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

use crate::backend::Backend;

/// Daemon-wide options (`dockerd` flags). `icc` and `ip_masq` apply to the
/// default bridge only, as in Docker; user networks carry their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DaemonOptions {
    /// Rule layout (Docker version family).
    pub layout: Layout,
    /// Firewall backend.
    pub backend: Backend,
    /// `--icc` for `docker0` (default true).
    pub icc: bool,
    /// `--ip-masq` for `docker0` (default true).
    pub ip_masq: bool,
    /// `--userland-proxy` (default true). When false Docker runs in "hairpin
    /// mode": no docker-proxy, `route_localnet` on bridges, hairpin on ports.
    pub userland_proxy: bool,
    /// `--ip-forward` (default true): Docker enables `net.ipv4.ip_forward`.
    pub ip_forward: bool,
    /// Whether `net.ipv4.ip_forward` was already 1 before the daemon started.
    /// Docker sets the filter `FORWARD` policy to DROP only when it turned
    /// forwarding on itself (0 → 1).
    pub ip_forward_was_on: bool,
}

impl Default for DaemonOptions {
    fn default() -> Self {
        DaemonOptions {
            layout: Layout::Classic,
            backend: Backend::IptablesNft,
            icc: true,
            ip_masq: true,
            userland_proxy: true,
            ip_forward: true,
            ip_forward_was_on: false,
        }
    }
}

impl DaemonOptions {
    /// True when Docker itself turns `net.ipv4.ip_forward` from 0 to 1 (never
    /// with the nftables backend).
    pub fn docker_enables_forwarding(&self) -> bool {
        self.ip_forward && !self.ip_forward_was_on && self.backend.is_iptables()
    }

    /// The filter `FORWARD` policy Docker leaves: DROP iff it turned forwarding on.
    pub fn forward_policy_drop(&self) -> bool {
        self.docker_enables_forwarding()
    }

    /// Whether the host forwards IPv4 once the daemon runs.
    pub fn host_forwards(&self) -> bool {
        self.ip_forward_was_on || self.docker_enables_forwarding()
    }
}
