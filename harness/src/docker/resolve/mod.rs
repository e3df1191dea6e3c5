//! Validation and settlement of a [`DockerHostBuilder`] into a [`DockerHost`]:
//! every name, reference, subnet, address and port binding is checked, and
//! subnets, addresses and interface names are allocated the way Docker would.
//! Rejections use Docker's own wording where Docker has one. One file per
//! concern: networks, containers, servers and LAN peers.

mod containers;
mod networks;
mod peers;
mod v6;

pub(crate) use v6::parse_subnet6;

use ipnet::Ipv4Net;

use super::host::{DockerHost, DockerHostBuilder, HOST_UPLINK, LAN_SUBNET};
use super::layout::Layout;
use super::ruleset::Ruleset;
use crate::backend::Backend;
use crate::error::{Error, Result, Subject};
use crate::net::check_name;

struct Ctx {
    lab: String,
}

impl Ctx {
    fn host(&self, field: impl Into<String>, msg: impl Into<String>) -> Error {
        Error::invalid(Subject::lab(&self.lab), field, msg)
    }
    fn net(&self, net: &str, field: &str, msg: impl Into<String>) -> Error {
        Error::invalid(
            Subject::lab(&self.lab),
            format!("network {net:?} {field}"),
            msg,
        )
    }
    fn ctr(&self, ctr: &str, field: &str, msg: impl Into<String>) -> Error {
        Error::invalid(
            Subject::lab(&self.lab).node(ctr),
            format!("container {ctr:?} {field}"),
            msg,
        )
    }
}

impl DockerHostBuilder {
    /// Validates everything and settles names and addresses.
    pub fn build(self) -> Result<DockerHost> {
        resolve(self)
    }
}

fn resolve(mut b: DockerHostBuilder) -> Result<DockerHost> {
    let source = super::host::Recipe(Box::new(b.clone()));
    let lab = b.name.clone().unwrap_or_else(|| "docker".to_string());
    let cx = Ctx { lab: lab.clone() };
    check_name(&lab).map_err(|m| cx.host("host name", m))?;
    let mut d = b.daemon;
    if let Some(v) = d.version
        && !b.layout_given
    {
        d.layout = v.layout();
    }
    super::layout::check_daemon(&d).map_err(|(field, m)| cx.host(field, m))?;
    if d.backend == Backend::Nftables && d.layout != Layout::V29 {
        return Err(cx.host(
            "backend",
            "the nftables firewall backend exists only from Docker 29 (use layout v29, or an iptables backend)",
        ));
    }
    if d.backend == Backend::Nftables && d.ip_forward && !d.ip_forward_was_on {
        return Err(cx.host(
            "ip_forward",
            "IPv4 forwarding is disabled and the nftables backend never enables it: Docker refuses to start \
             (set ip_forward_was_on = true, or ip_forward = false)",
        ));
    }
    if b.firewalld.is_used() && b.ufw.is_used() {
        return Err(cx.host("firewalld", "a host runs ufw or firewalld, not both"));
    }
    if b.firewalld.is_used() && d.backend == Backend::IptablesLegacy {
        return Err(cx.host(
            "firewalld",
            "Docker's rules go through firewalld's passthrough, which runs `iptables` \
             (iptables-nft on Debian): use backend iptables-nft or nftables with firewalld",
        ));
    }
    if b.ufw.is_used() && d.backend == Backend::IptablesLegacy {
        return Err(cx.host(
            "ufw",
            "ufw loads its rules with `iptables` (iptables-nft on Debian): use backend \
             iptables-nft or nftables with ufw",
        ));
    }

    // Fixed reserved segments: the uplink, and the LAN if there are peers.
    let uplink: Ipv4Net = HOST_UPLINK.trunc();
    let lan: Ipv4Net = LAN_SUBNET;
    let mut reserved: Vec<(String, Ipv4Net)> = vec![("the host uplink".into(), uplink)];
    if !b.lan_peers.is_empty() {
        reserved.push(("the LAN".into(), lan));
    }

    let networks = networks::resolve(&b, &d, &cx, &reserved)?;
    if d.layout == Layout::Classic
        && d.programs_ip6tables()
        && b.order
            .iter()
            .any(|e| matches!(e, super::host::Event::RestartDaemon))
    {
        return Err(cx.host(
            "restart",
            "daemon restarts are not emulated with classic --ip6tables (no recording): drop the restart or ip6tables",
        ));
    }
    let forwards6 = b
        .existing_sysctls
        .iter()
        .any(|(k, v)| k == "net.ipv6.conf.all.forwarding" && v.trim() == "1");
    if d.backend == Backend::Nftables
        && d.ip_forward
        && !forwards6
        && networks.iter().any(|n| n.subnet_v6.is_some())
    {
        return Err(cx.host(
            "ip_forward",
            "IPv6 forwarding is disabled and the nftables backend never enables it: Docker cannot \
             create an IPv6 network (set [before] sysctls = [\"net.ipv6.conf.all.forwarding=1\"])",
        ));
    }
    let started = containers::start(&b, &d, &cx, &networks)?;
    let servers = peers::servers(&b, &cx, &networks, &reserved)?;
    let lan_peers = peers::lan_peers(&b, &cx, lan, &started)?;
    if b.ruleset6_file.is_some() && b.ruleset_file.is_none() {
        return Err(cx.host(
            "ruleset6",
            "`ruleset6` (the host's ip6tables rules as found) goes with `ruleset` (its IPv4 rules)",
        ));
    }
    if b.ruleset6_file.is_some()
        && b.ruleset_file
            .as_deref()
            .is_some_and(|r| r.extension().is_some_and(|e| e == "nft"))
    {
        return Err(cx.host(
            "ruleset6",
            "a .nft `ruleset` holds both families (nft lists ip6 tables too): `ruleset6` goes with an iptables-save `ruleset`",
        ));
    }
    if b.ruleset6_file.is_some() && d.backend == Backend::Nftables {
        return Err(cx.host(
            "ruleset6",
            "the nftables backend has no ip6tables rules: its `ruleset` (.nft) holds both families",
        ));
    }
    let interfaces = peers::interfaces(
        std::mem::take(&mut b.interfaces),
        &cx,
        &started,
        &networks,
        &lan_peers,
    )?;
    Ok(DockerHost {
        name: lab,
        daemon: d,
        networks,
        containers: started,
        events: b.order,
        servers,
        lan_peers,
        existing: existing_rules(&b.existing_files, &cx)?,
        existing_files: b.existing_files,
        existing_sysctls: existing_sysctls(b.existing_sysctls, &cx)?,
        rule_files: b.rule_files,
        matrix_cells: b.matrix_cells,
        ufw: b.ufw,
        ruleset_file: b.ruleset_file,
        firewalld: b.firewalld,
        ruleset6_file: b.ruleset6_file,
        interfaces,
        source,
    })
}

/// The pre-start sysctls, each checked by [`check_existing_sysctl`] and
/// set once.
fn existing_sysctls(pairs: Vec<(String, String)>, cx: &Ctx) -> Result<Vec<(String, String)>> {
    let mut seen = std::collections::BTreeSet::new();
    for (key, value) in &pairs {
        let field = format!("before.sysctls {key:?}");
        check_existing_sysctl(key, value).map_err(|m| cx.host(&field, m))?;
        if !seen.insert(key) {
            return Err(cx.host(field, "set twice"));
        }
    }
    Ok(pairs)
}

/// A pre-start sysctl must be a network sysctl (the host's network
/// namespace is all a lab has) with a value; IPv4 forwarding has an option
/// of its own, since Docker's FORWARD policy depends on it.
pub(crate) fn check_existing_sysctl(key: &str, value: &str) -> std::result::Result<(), String> {
    let well_formed = key.starts_with("net.")
        && key.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        });
    if !well_formed {
        return Err(format!(
            "{key:?} is not a network sysctl: name it as `sysctl` does, e.g. net.bridge.bridge-nf-call-iptables"
        ));
    }
    if key == "net.ipv4.ip_forward" {
        return Err(
            "IPv4 forwarding before the daemon is `[daemon] ip_forward_was_on` \
                    (DockerHostBuilder::ip_forward_was_on): Docker's FORWARD policy depends on it"
                .into(),
        );
    }
    if value.trim().is_empty() {
        return Err(format!("{key}: empty value"));
    }
    Ok(())
}

/// The IPv4 rules of the pre-start iptables-save fragments (every file not
/// ending in `.nft`), merged in file order.
fn existing_rules(files: &[std::path::PathBuf], cx: &Ctx) -> Result<Option<Ruleset>> {
    let mut merged: Option<Ruleset> = None;
    for f in files
        .iter()
        .filter(|f| f.extension().is_none_or(|e| e != "nft"))
    {
        let text = std::fs::read_to_string(f)
            .map_err(|e| cx.host("before.rules", format!("cannot read {}: {e}", f.display())))?;
        let parsed = Ruleset::parse_save(&text)
            .map_err(|(line, m)| cx.host("before.rules", format!("{}:{line}: {m}", f.display())))?;
        match &mut merged {
            None => merged = Some(parsed),
            Some(m) => m.extend(parsed),
        }
    }
    Ok(merged)
}
