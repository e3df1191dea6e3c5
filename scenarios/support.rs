//! Small helpers the scenarios share: addresses from the Docker model, rule
//! counters with evidence on failure, and a TCP connect from a chosen source.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use netrig::Lab;
use netrig::docker::Networking;
use netrig::{Counters, RuleCounter};
use netrig::{Error, Node, Result};

pub use crate::host_lab::{HostLab, Up};

/// The deadline for anything on the wire in a lab (it all happens in microseconds).
pub const WAIT: Duration = Duration::from_secs(2);

/// The internet's address on the uplink: where clients on the internet come from.
pub const INTERNET_CLIENT: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);

/// The internet server the model creates by default (on the internet node's `lo`).
pub const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);

/// The LAN bridge in the host that LAN peers (`DockerHostBuilder::lan_peer`) share.
pub const LAN_BRIDGE: &str = "lan0";

/// `ip:port` as a socket address (for probes and matchers).
pub fn at(ip: impl Into<IpAddr>, port: u16) -> SocketAddr {
    SocketAddr::new(ip.into(), port)
}

/// A container's address on its first network.
pub fn ip_of(lab: &Lab, container: &str) -> Ipv4Addr {
    lab.model().container_ip(container).unwrap_or_else(|| {
        panic!(
            "lab {}: container {container} has no bridge address",
            lab.name()
        )
    })
}

/// A LAN peer's address (`DockerHostBuilder::lan_peer`): its `eth0` on
/// the host's LAN bridge.
pub fn peer_ip(lab: &Lab, peer: &str) -> Ipv4Addr {
    let addrs = (lab.node(peer))
        .and_then(|n| n.addresses())
        .unwrap_or_else(|e| panic!("lab {}: {e}", lab.name()));
    (addrs.into_iter())
        .filter(|(ifname, _)| ifname == "eth0")
        .find_map(|(_, a)| match a.addr() {
            IpAddr::V4(ip) => Some(ip),
            IpAddr::V6(_) => None,
        })
        .unwrap_or_else(|| panic!("lab {}: LAN peer {peer} has no IPv4 address", lab.name()))
}

/// The host side of a container's first veth: the bridge port its frames
/// enter the host by. Captures here see them even when br_netfilter drops
/// them before the bridge device would.
pub fn port_of(lab: &Lab, container: &str) -> String {
    lab.model()
        .containers()
        .iter()
        .find(|c| c.name == container)
        .and_then(|c| match &c.networking {
            Networking::Bridge(attachments) => attachments.first(),
            _ => None,
        })
        .map(|a| a.host_veth.clone())
        .unwrap_or_else(|| panic!("lab {}: container {container} has no veth", lab.name()))
}

/// A network's bridge device in the host.
pub fn bridge_of(lab: &Lab, network: &str) -> String {
    lab.model()
        .networks()
        .iter()
        .find(|n| n.name == network)
        .map(|n| n.bridge.clone())
        .unwrap_or_else(|| panic!("lab {}: no network {network}", lab.name()))
}

/// A network's gateway: the bridge's address in the host.
pub fn gateway_of(lab: &Lab, network: &str) -> Ipv4Addr {
    lab.model()
        .networks()
        .iter()
        .find(|n| n.name == network)
        .map(|n| n.gateway)
        .unwrap_or_else(|| panic!("lab {}: no network {network}", lab.name()))
}

/// One rule of the host's ruleset: its table (`filter`, `raw`, or
/// `ip docker-bridges` for nft), chain, and words its text contains.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Table.
    pub table: &'static str,
    /// Chain.
    pub chain: String,
    /// Substrings of the rule's text, all required.
    pub needles: Vec<String>,
    /// The tool whose listing holds the rule, when it is not the host's
    /// backend (a user's nft table next to iptables-legacy rules).
    pub tool: Option<netrig::Backend>,
}

impl Rule {
    /// A rule in `table`/`chain` whose text contains every needle.
    pub fn new(table: &'static str, chain: impl Into<String>, needles: &[&str]) -> Rule {
        Rule {
            table,
            chain: chain.into(),
            needles: needles.iter().map(|s| s.to_string()).collect(),
            tool: None,
        }
    }

    /// The same rule, read from `tool`'s listing instead of the backend's.
    pub fn listed_by(mut self, tool: netrig::Backend) -> Rule {
        self.tool = Some(tool);
        self
    }

    fn find<'a>(&self, counters: &'a Counters) -> Option<&'a RuleCounter> {
        counters.rules.iter().find(|c| {
            c.table == self.table
                && c.chain == self.chain
                && self.needles.iter().all(|n| c.rule.contains(n.as_str()))
        })
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} rule with {:?}",
            self.table, self.chain, self.needles
        )
    }
}

/// The packet count of `rule` in the host's ruleset now.
pub fn packets(lab: &Lab, rule: &Rule) -> Result<u64> {
    let counters = match rule.tool {
        Some(tool) => lab.host_node()?.counters(tool)?,
        None => lab.docker("host")?.counters()?,
    };
    match rule.find(&counters) {
        Some(c) => Ok(c.packets),
        None => Err(failure(lab, &format!("no {rule} in the host's ruleset"))),
    }
}

/// Waits until `rule` has counted more than `before` packets. The counter is
/// bumped while the kernel handles the packet, which a capture upstream of
/// the rule has already seen; the deadline covers the handful of
/// microseconds between. Each read runs the save tool, so this does not spin.
pub fn expect_counted(lab: &Lab, rule: &Rule, before: u64) -> Result<u64> {
    wait_counted(lab, &rule.to_string(), before, || packets(lab, rule))
}

/// Waits until `read` (a packet counter, `what` in messages) is above
/// `before`; each read runs the save tool, so this does not spin.
pub fn wait_counted(
    lab: &Lab,
    what: &str,
    before: u64,
    read: impl Fn() -> Result<u64>,
) -> Result<u64> {
    let deadline = Instant::now() + WAIT;
    loop {
        let now = read()?;
        if now > before {
            return Ok(now);
        }
        if Instant::now() >= deadline {
            return Err(failure(
                lab,
                &format!(
                    "expected the {what} to count the packet within {WAIT:?}, but it stayed at {now}"
                ),
            ));
        }
    }
}

/// A failure that is not a capture's: the message, the host's ruleset with
/// counters, and the lab's state kept on disk.
pub fn failure(lab: &Lab, message: &str) -> Error {
    let rules = lab
        .docker("host")
        .and_then(|d| d.rules())
        .unwrap_or_else(|e| format!("(cannot read the rules: {e})"));
    let evidence = lab.collect_evidence(message).ok().map(|ev| ev.dir);
    Error::expectation(
        netrig::Subject::lab(lab.name()),
        message,
        std::iter::once("host ruleset with counters:".to_string())
            .chain(rules.lines().map(|l| format!("  {l}")))
            .collect(),
        evidence,
    )
}

/// Connects over TCP from `src` (an address of `node`) to `dst`, giving up
/// after `timeout`; true when the handshake completed.
pub fn tcp_connects_from(
    node: &Node<'_>,
    src: Ipv4Addr,
    dst: SocketAddr,
    timeout: Duration,
) -> Result<bool> {
    Ok(node
        .tcp_connect_from(src.into(), dst, timeout)?
        .is_connected())
}

/// Fails unless `rule` still counts `before` packets: the packet took
/// another path (e.g. docker-proxy instead of the kernel's DNAT).
pub fn expect_not_counted(lab: &Lab, rule: &Rule, before: u64) -> Result<()> {
    let now = packets(lab, rule)?;
    if now != before {
        return Err(failure(
            lab,
            &format!("expected the {rule} not to count the packet, but it went {before} -> {now}"),
        ));
    }
    Ok(())
}

/// The published-port DNAT rule for host port `port` (nat `DOCKER`, or the
/// nftables backend's `nat-prerouting-and-output`).
pub fn dnat_rule(backend: netrig::Backend, port: u16) -> Rule {
    match backend {
        netrig::Backend::Nftables => Rule::new(
            "ip docker-bridges",
            "nat-prerouting-and-output",
            &[&format!("dport {port} "), "dnat to"],
        ),
        _ => Rule::new("nat", "DOCKER", &[&format!("--dport {port} -j DNAT")]),
    }
}

/// The raw PREROUTING direct-access drop for container address `ip` on
/// `bridge` (Docker 28.2+).
pub fn raw_direct_drop(backend: netrig::Backend, ip: Ipv4Addr, bridge: &str) -> Rule {
    match backend {
        netrig::Backend::Nftables => Rule::new(
            "ip docker-bridges",
            "raw-PREROUTING",
            &[&format!("ip daddr {ip} iifname != \"{bridge}\""), "drop"],
        ),
        _ => Rule::new(
            "raw",
            "PREROUTING",
            &[&format!("-d {ip}/32 ! -i {bridge} -j DROP")],
        ),
    }
}

/// Fails with the lab's evidence unless `ok`.
pub fn ensure(lab: &Lab, ok: bool, message: impl FnOnce() -> String) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(failure(lab, &message()))
    }
}

/// Adds a user's filter INPUT rule for TCP port `port` with `verdict`
/// (`accept` or `drop`) — ufw-style, after Docker's rules — and returns it
/// as a [`Rule`] to read its counter.
pub fn input_rule(lab: &Lab, backend: netrig::Backend, port: u16, verdict: &str) -> Result<Rule> {
    let host = lab.host_node()?;
    match backend {
        netrig::Backend::Nftables => {
            host.load_rules(
                backend,
                &format!(
                    "table ip user-input {{\n chain input {{\n  type filter hook input priority filter; policy accept;\n  tcp dport {port} counter {verdict}\n }}\n}}\n"
                ),
            )?;
            Ok(Rule::new(
                "ip user-input",
                "input",
                &[&format!("dport {port} "), verdict],
            ))
        }
        _ => {
            let target = verdict.to_uppercase();
            host.load_rules(
                backend,
                &format!("*filter\n-A INPUT -p tcp -m tcp --dport {port} -j {target}\nCOMMIT\n"),
            )?;
            Ok(Rule::new(
                "filter",
                "INPUT",
                &[&format!("--dport {port} -j {target}")],
            ))
        }
    }
}

/// The packets the filter `FORWARD` chain's policy has counted (iptables
/// backends; the nftables backend sets no policy).
pub fn forward_policy_packets(lab: &Lab) -> Result<u64> {
    let counters = lab.docker("host")?.counters()?;
    match counters.policy("filter", "FORWARD") {
        Some(p) => Ok(p.packets),
        None => Err(failure(
            lab,
            "no filter FORWARD policy in the host's ruleset",
        )),
    }
}
