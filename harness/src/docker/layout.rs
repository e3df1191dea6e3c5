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
    /// Docker 28.2.2 – 28.5.x (docker-rules §1.2 as amended by §1.4):
    /// `DOCKER-FORWARD`, `DOCKER-CT`, `DOCKER-BRIDGE`, still
    /// `DOCKER-ISOLATION-STAGE-1/2` (no `DOCKER-INTERNAL`), nat RETURN rules,
    /// raw direct-routing drops, an ip6tables skeleton. Checked rule for rule
    /// against a real Docker 28.5.2.
    V28,
    /// Docker 29.x (docker-rules §1.2, §1.3): `DOCKER-FORWARD`, `DOCKER-CT`,
    /// `DOCKER-BRIDGE`, `DOCKER-INTERNAL`, per-network default drop, raw
    /// direct-access drops, optional native nftables backend. Derived from
    /// Docker's source and corrected by the 28.5.2 recording where both
    /// versions share code; no real 29.x daemon was recorded.
    V29,
}

impl Layout {
    /// Every layout, oldest first.
    pub const ALL: [Layout; 3] = [Layout::Classic, Layout::V28, Layout::V29];

    /// The name used in topology files (`classic`, `v28`, `v29`).
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::Classic => "classic",
            Layout::V28 => "v28",
            Layout::V29 => "v29",
        }
    }

    /// True for the 28+ layouts (`DOCKER-FORWARD`, raw drops, `-use-listen-fd`,
    /// internal networks without a default route, ip6tables skeleton).
    pub fn is_modern(self) -> bool {
        self != Layout::Classic
    }
}

impl std::str::FromStr for Layout {
    type Err = String;
    /// Parses the names used in topology files and on the command line.
    fn from_str(s: &str) -> Result<Self, String> {
        Layout::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| format!("unknown layout {s:?} (use \"classic\", \"v28\" or \"v29\")"))
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
    /// `--ip-forward-no-drop` (Docker 28+, default false): Docker still enables
    /// forwarding but leaves the filter `FORWARD` policy ACCEPT.
    pub ip_forward_no_drop: bool,
    /// `--allow-direct-routing` (Docker 28.2+, default false): no raw
    /// `PREROUTING` drops of packets addressed straight to containers.
    pub allow_direct_routing: bool,
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
            ip_forward_no_drop: false,
            allow_direct_routing: false,
        }
    }
}

impl DaemonOptions {
    /// True when Docker itself turns `net.ipv4.ip_forward` from 0 to 1 (never
    /// with the nftables backend).
    pub fn docker_enables_forwarding(&self) -> bool {
        self.ip_forward && !self.ip_forward_was_on && self.backend.is_iptables()
    }

    /// The filter `FORWARD` policy Docker leaves: DROP iff it turned
    /// forwarding on, unless `--ip-forward-no-drop`.
    pub fn forward_policy_drop(&self) -> bool {
        self.docker_enables_forwarding() && !self.ip_forward_no_drop
    }

    /// Whether the host forwards IPv4 once the daemon runs.
    pub fn host_forwards(&self) -> bool {
        self.ip_forward_was_on || self.docker_enables_forwarding()
    }

    /// Whether Docker programs ip6tables (`--ip6tables`, on by default from
    /// Docker 27; emulated for the 28+ layouts with an iptables backend).
    pub fn programs_ip6tables(&self) -> bool {
        self.layout.is_modern() && self.backend.is_iptables()
    }
}

/// Refuses options the chosen layout's Docker does not have: the field and
/// the message, for the resolver to wrap.
pub(crate) fn check_daemon(d: &DaemonOptions) -> Result<(), (&'static str, String)> {
    let modern = |flag: &str, since: &str| {
        format!(
            "{flag} exists from Docker {since}: use layout v28 or v29 (layout {} is Docker 20.10–27)",
            d.layout
        )
    };
    if d.ip_forward_no_drop && !d.layout.is_modern() {
        return Err(("ip_forward_no_drop", modern("--ip-forward-no-drop", "28.0")));
    }
    if d.allow_direct_routing && !d.layout.is_modern() {
        return Err((
            "allow_direct_routing",
            modern("--allow-direct-routing", "28.2"),
        ));
    }
    if d.allow_direct_routing && !d.backend.is_iptables() {
        return Err((
            "allow_direct_routing",
            "--allow-direct-routing is emulated with the iptables backends only (no recording of the nftables one)".into(),
        ));
    }
    Ok(())
}
