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
    pub(crate) const ALL: [Layout; 3] = [Layout::Classic, Layout::V28, Layout::V29];

    /// The name used in topology files (`classic`, `v28`, `v29`).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Layout::Classic => "classic",
            Layout::V28 => "v28",
            Layout::V29 => "v29",
        }
    }

    /// True for the 28+ layouts (`DOCKER-FORWARD`, raw drops, `-use-listen-fd`,
    /// internal networks without a default route, ip6tables skeleton).
    pub(crate) fn is_modern(self) -> bool {
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

use super::version::Version;
use crate::backend::Backend;

/// Daemon-wide flags (`dockerd`'s command line), as plain data: set with
/// [`DockerHostBuilder::daemon`](super::DockerHostBuilder::daemon); the
/// layout and the backend have builder methods of their own. `icc` and
/// `ip_masq` apply to the default bridge only, as in Docker; user networks
/// carry their own.
///
/// ```
/// use netrig::docker::{DaemonOptions, DockerHost, Layout};
/// let host = DockerHost::builder()
///     .layout(Layout::V28)
///     .daemon(DaemonOptions { userland_proxy: false, icc: false, ..Default::default() })
///     .build()?;
/// assert_eq!(host.layout(), Layout::V28);
/// # Ok::<_, netrig::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DaemonOptions {
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
    /// The Docker release (default: the newest of the layout). It implies
    /// the layout when none is set, and selects that release's differences
    /// within it (the table in `harness/src/docker/version.rs`).
    pub version: Option<Version>,
}

impl Default for DaemonOptions {
    fn default() -> Self {
        DaemonOptions {
            icc: true,
            ip_masq: true,
            userland_proxy: true,
            ip_forward: true,
            ip_forward_was_on: false,
            ip_forward_no_drop: false,
            allow_direct_routing: false,
            version: None,
        }
    }
}

/// The daemon a host runs: its layout, its backend and its flags
/// ([`DaemonOptions`]), flat, as the renderers read them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Daemon {
    /// Rule layout (Docker version family).
    pub(crate) layout: Layout,
    /// Firewall backend.
    pub(crate) backend: Backend,
    /// [`DaemonOptions::icc`].
    pub(crate) icc: bool,
    /// [`DaemonOptions::ip_masq`].
    pub(crate) ip_masq: bool,
    /// [`DaemonOptions::userland_proxy`].
    pub(crate) userland_proxy: bool,
    /// [`DaemonOptions::ip_forward`].
    pub(crate) ip_forward: bool,
    /// [`DaemonOptions::ip_forward_was_on`].
    pub(crate) ip_forward_was_on: bool,
    /// [`DaemonOptions::ip_forward_no_drop`].
    pub(crate) ip_forward_no_drop: bool,
    /// [`DaemonOptions::allow_direct_routing`].
    pub(crate) allow_direct_routing: bool,
    /// [`DaemonOptions::version`].
    pub(crate) version: Option<Version>,
    /// `--ipv6` (`[daemon] ipv6`): the default bridge is dual stack.
    pub(crate) ipv6: bool,
    /// `--ip6tables` (`[daemon] ip6tables`); `None`: the release's default
    /// (on from Docker 27, off in 20.10 where it is experimental).
    pub(crate) ip6tables: Option<bool>,
}

impl Default for Daemon {
    fn default() -> Self {
        Daemon::with_options(
            Layout::Classic,
            Backend::IptablesNft,
            DaemonOptions::default(),
        )
    }
}

impl Daemon {
    /// A daemon of `layout` and `backend` with the flags `o`.
    pub(crate) fn with_options(layout: Layout, backend: Backend, o: DaemonOptions) -> Self {
        let DaemonOptions {
            icc,
            ip_masq,
            userland_proxy,
            ip_forward,
            ip_forward_was_on,
            ip_forward_no_drop,
            allow_direct_routing,
            version,
        } = o;
        Daemon {
            layout,
            backend,
            icc,
            ip_masq,
            userland_proxy,
            ip_forward,
            ip_forward_was_on,
            ip_forward_no_drop,
            allow_direct_routing,
            version,
            ipv6: false,
            ip6tables: None,
        }
    }

    /// The release emulated: the version set, or the newest of the layout.
    pub(crate) fn release(&self) -> Version {
        self.version.unwrap_or(Version::newest(self.layout))
    }

    /// Whether a `routed` network opens a container's published ports on
    /// every endpoint, not only the gateway one (29.0, moby #50140).
    pub(crate) fn routed_ports_on_every_endpoint(&self) -> bool {
        self.release() >= Version::new(29, 0, 0)
    }

    /// Whether automatic host ports skip `net.ipv4.ip_local_reserved_ports`
    /// (29.6, moby #52818).
    pub(crate) fn skips_reserved_ports(&self) -> bool {
        self.release() >= Version::new(29, 6, 0)
    }

    /// Whether `DOCKER-USER` ends in `-j RETURN` in the 28+ layouts (until
    /// 28.2.1; removed by dc519a0f18, first in 28.2.2).
    pub(crate) fn docker_user_return(&self) -> bool {
        self.layout == Layout::V28 && self.release() < Version::new(28, 2, 2)
    }

    /// True when Docker itself turns `net.ipv4.ip_forward` from 0 to 1 (never
    /// with the nftables backend).
    pub(crate) fn docker_enables_forwarding(&self) -> bool {
        self.ip_forward && !self.ip_forward_was_on && self.backend.is_iptables()
    }

    /// The filter `FORWARD` policy Docker leaves: DROP iff it turned
    /// forwarding on, unless `--ip-forward-no-drop`.
    pub(crate) fn forward_policy_drop(&self) -> bool {
        self.docker_enables_forwarding() && !self.ip_forward_no_drop
    }

    /// Whether the host forwards IPv4 once the daemon runs.
    pub(crate) fn host_forwards(&self) -> bool {
        self.ip_forward_was_on || self.docker_enables_forwarding()
    }

    /// Whether Docker programs ip6tables (`--ip6tables`, on by default from
    /// Docker 27, 20.10's experimental flag under `Classic`) with an
    /// iptables backend.
    pub(crate) fn programs_ip6tables(&self) -> bool {
        self.ip6tables_on() && self.backend.is_iptables()
    }

    /// Whether the host has IPv6 (the 28+ layouts always: their `[::]`
    /// listeners and ip6tables; the classic one with `--ipv6`).
    pub(crate) fn host_ipv6(&self) -> bool {
        self.layout.is_modern() || self.ipv6
    }

    /// Whether `--ip6tables` is on (whatever the backend): given, or the
    /// release's default (28+ layouts: on; classic: off).
    pub(crate) fn ip6tables_on(&self) -> bool {
        self.ip6tables.unwrap_or(self.layout.is_modern())
    }
}

/// Refuses options the chosen layout's Docker does not have: the field and
/// the message, for the resolver to wrap.
pub(crate) fn check_daemon(d: &Daemon) -> Result<(), (&'static str, String)> {
    if let Some(v) = d.version
        && v.layout() != d.layout
    {
        return Err((
            "version",
            format!(
                "Docker {v} has layout {}, not {}: drop the layout (the version implies it) or pick a {} release",
                v.layout(),
                d.layout,
                d.layout
            ),
        ));
    }
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
