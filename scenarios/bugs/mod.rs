//! The bug library: real Docker networking bugs users hit, each a scenario
//! named after what goes wrong, its doc comment citing the issue, and its
//! outcome per Docker version as reported. A scenario passes when netrig
//! reproduces the bug where that Docker version has it, and its absence
//! where Docker fixed it (see `catalogue.rs` for the outcome each cell asserts).
//!
//! - [`routing`] — routed peers and the 28+ raw-table drops, `nat-unprotected`
//!   as the fix, addresses the drops do not cover;
//! - [`firewall`] — Docker next to other firewall owners (INPUT rules, a
//!   libvirt-style NAT, a user's nft table, `flush ruleset`, a user's rule on
//!   the published port);
//! - [`owners`] — a second owner rewriting the host's firewall as data from
//!   `scenarios/rules/`: a platform firewall, a second dockerd, firewalld's
//!   StrictForwardPorts, ufw's route rules, a 28-era rule on a 29 host;
//! - [`host`] — the host's own settings around Docker's rules: a
//!   default-deny INPUT or OUTPUT firewall, a platform's source routing, a
//!   distribution's br_netfilter sysctl;
//! - [`managers`] — the real ufw and firewalld on the host, confined to its
//!   node: `ufw deny`, `ufw route deny` and the ufw-docker recipe against a
//!   published port, firewalld's zones past it, a firewalld reload;
//! - [`nftables`] — the nftables backend: no DOCKER-USER, no forwarding of its own;
//! - [`proxy`] — icc=false and the userland proxy deciding who reaches a
//!   published port, cross-network access without the proxy;
//! - [`ipv6`] — a dual-stack host: the 28+ raw drops cutting a LAN off an
//!   IPv6 bridge, the ip6tables FORWARD DROP policy on other bridges, an
//!   iptables-only DOCKER-USER rule that IPv6 walks past;
//! - [`conntrack`] — the conntrack entries Docker deletes when a container
//!   starts, per point release (29.5's UDP flush).

pub mod conntrack;
pub mod firewall;
pub mod host;
pub mod ipv6;
pub mod managers;
pub mod nftables;
pub mod owners;
pub mod proxy;
pub mod routing;

use std::net::Ipv4Addr;
use std::path::PathBuf;

use netrig::expect::tcp;
use netrig::{Backend, Lab, Result, TcpFlags};

use crate::matrix::Variant;
use crate::support::{HostLab as _, WAIT, at, failure, wait_counted};

/// The host's address on the LAN (where LAN peers reach it).
pub const LAN_HOST: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 129);

/// A rule file of `scenarios/rules/`: another owner's rules, as data.
pub fn rules_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/rules")
        .join(name)
}

/// Loads the rule file `scenarios/rules/NAME` into `node` with `backend`,
/// after what is there (a second firewall owner's rules).
pub fn load_rules_file(
    node: &netrig::Node<'_>,
    backend: netrig::Backend,
    name: &str,
) -> netrig::Result<()> {
    let path = rules_path(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("scenario rule file {}: {e}", path.display()));
    node.load_rules(backend, &text)
}

/// The iptables tool that holds the filter table in this cell: the host's
/// backend, or iptables-nft next to Docker's nftables table (a platform
/// firewall or a user's old script writes iptables whatever Docker uses).
pub fn iptables_of(v: &Variant) -> Backend {
    match v.backend {
        Backend::Nftables => Backend::IptablesNft,
        b => b,
    }
}

/// The packets the filter `FORWARD` policy has counted, as `tool` lists it.
pub fn policy_packets(lab: &Lab, tool: Backend) -> Result<u64> {
    let counters = lab.host_node()?.counters(tool)?;
    match counters.policy("filter", "FORWARD") {
        Some(p) => Ok(p.packets),
        None => Err(failure(
            lab,
            &format!("no filter FORWARD policy in {tool}'s listing of the host"),
        )),
    }
}

/// Waits until the filter `FORWARD` policy (as `tool` lists it) has counted
/// more than `before` packets: the packet was dropped by the policy.
pub fn expect_policy_counted(lab: &Lab, tool: Backend, before: u64) -> Result<u64> {
    wait_counted(lab, &format!("FORWARD policy ({tool})"), before, || {
        policy_packets(lab, tool)
    })
}

/// Connects from the internet to the host's published port 8080 and
/// expects the SYN at the container `web`'s port 80 from `seen_src` (a
/// capture inside the container, started before the connection); returns
/// the connection's outcome. Captures of the caller's must be started first.
pub fn syn_reaches_web(
    lab: &Lab,
    web: Ipv4Addr,
    seen_src: Ipv4Addr,
    timeout: std::time::Duration,
) -> Result<netrig::TcpOutcome> {
    let inside = lab.container("web")?.capture("eth0")?;
    let outcome = lab
        .internet()?
        .tcp_connect(at(lab.host_uplink_ip(), 8080), timeout)?;
    inside
        .expect(tcp().src(seen_src).dst(at(web, 80)).flags(TcpFlags::SYN))
        .within(WAIT)?;
    Ok(outcome)
}
