//! The TOML schema of a topology file, with values checked while parsing so
//! that a bad value is reported at its own line and column.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::{Deserializer, Error as _};

use crate::backend::Backend;
use crate::docker::{
    ContainerSpec, DockerHost, DockerHostBuilder, Event, GatewayMode, Layout, NetworkMode,
    NetworkSpec, PortBinding, Version,
};
use crate::error::{Error, Subject};

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct File {
    name: Option<String>,
    /// Creation order of networks and containers, by name (default: every
    /// network in file order, then every container in file order).
    order: Option<Vec<String>>,
    #[serde(default)]
    daemon: Daemon,
    #[serde(default)]
    network: Vec<Network>,
    #[serde(default)]
    container: Vec<Container>,
    #[serde(default)]
    internet: Option<Internet>,
    #[serde(default)]
    lan_peer: Vec<LanPeer>,
    /// User rule files (iptables-save fragments, or `.nft` files) applied
    /// after Docker's rules; relative to the topology file's folder.
    #[serde(default)]
    rules: Vec<String>,
    /// The host's state before the daemon starts.
    #[serde(default)]
    before: Option<Before>,
    /// What the host's owner does once the daemon runs.
    #[serde(default)]
    after: Option<After>,
    /// The host's whole ruleset as found (`netrig import`): loaded instead
    /// of Docker's rendering and the `[before]` rules.
    ruleset: Option<String>,
    /// The host's ip6tables rules as found, loaded with `ruleset`.
    ruleset6: Option<String>,
    /// A real host's interfaces the kernel here cannot make (wireguard,
    /// vlan, tun …): veths of the same name and addresses.
    #[serde(default)]
    interface: Vec<Interface>,
    /// Reachability-matrix cells (`netrig matrix`): added to the defaults.
    #[serde(default)]
    matrix: Option<Matrix>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Before {
    /// Rule files already loaded when the daemon starts (iptables-save
    /// fragments, or `.nft` files); relative to the topology file's folder.
    #[serde(default)]
    rules: Vec<String>,
    /// Host sysctls as they were before the daemon, `key=value`.
    #[serde(default, deserialize_with = "sysctls")]
    sysctls: Vec<(String, String)>,
    /// ufw commands run (by the real ufw, in the host's node) before the
    /// daemon starts, e.g. `allow 22/tcp`, `enable`.
    #[serde(default, deserialize_with = "ufw_commands")]
    ufw: Vec<String>,
    /// The user's copies of ufw's files (`before.rules`, `after.rules` …),
    /// relative to the topology file's folder.
    #[serde(default, deserialize_with = "ufw_files")]
    ufw_files: Vec<String>,
    /// `firewall-cmd` argument lists run (by the real firewalld, in the
    /// host's node, on its own D-Bus) before the daemon starts, e.g.
    /// `--zone=public --add-interface=eth0`.
    #[serde(default, deserialize_with = "firewalld_lists")]
    firewalld: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct After {
    /// ufw commands run once Docker's rules are in.
    #[serde(default, deserialize_with = "ufw_commands")]
    ufw: Vec<String>,
    /// `firewall-cmd` argument lists run once Docker's rules are in (after
    /// one that reloads, Docker's reload handler runs).
    #[serde(default, deserialize_with = "firewalld_lists")]
    firewalld: Vec<String>,
}

/// `firewall-cmd` argument lists, each split as firewall-cmd will get it.
fn firewalld_lists<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let v = Vec::<String>::deserialize(d)?;
    for c in &v {
        crate::manager::firewalld_argv(c).map_err(D::Error::custom)?;
    }
    Ok(v)
}

/// ufw commands, each one ufw's parser will be given.
fn ufw_commands<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let v = Vec::<String>::deserialize(d)?;
    for c in &v {
        crate::manager::ufw_argv(c).map_err(D::Error::custom)?;
    }
    Ok(v)
}

/// Files named as one of ufw's own.
fn ufw_files<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let v = Vec::<String>::deserialize(d)?;
    for f in &v {
        let name = std::path::Path::new(f)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("");
        if !crate::manager::UFW_OWN_FILES.contains(&name) {
            return Err(D::Error::custom(format!(
                "{f:?}: a ufw file is named as the one of ufw's it replaces ({})",
                crate::manager::UFW_OWN_FILES.join(", ")
            )));
        }
    }
    Ok(v)
}

/// `key=value` settings, each a valid pre-start sysctl.
fn sysctls<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
    let v = Vec::<String>::deserialize(d)?;
    v.iter()
        .map(|kv| {
            let (k, v) = kv
                .split_once('=')
                .map(|(k, v)| (k.trim(), v.trim()))
                .ok_or_else(|| {
                    D::Error::custom(format!(
                        "{kv:?} is not a sysctl setting (key=value, as `sysctl -w` takes it)"
                    ))
                })?;
            crate::docker::check_existing_sysctl(k, v).map_err(D::Error::custom)?;
            Ok((k.to_string(), v.to_string()))
        })
        .collect()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Matrix {
    /// `FROM -> ADDR:PORT/tcp|udp` or `FROM -> ADDR/icmp`.
    #[serde(default, deserialize_with = "cells")]
    cells: Vec<String>,
    /// Replace the default cells instead of adding to them.
    #[serde(default)]
    replace_defaults: bool,
}

fn cells<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let v = Vec::<String>::deserialize(d)?;
    for c in &v {
        let ok = c
            .split_once(" -> ")
            .is_some_and(|(from, to)| !from.trim().is_empty() && to.contains('/'));
        if !ok {
            return Err(D::Error::custom(format!(
                "{c:?}: a cell is \"FROM -> ADDR:PORT/tcp\", \"FROM -> ADDR:PORT/udp\" or \"FROM -> ADDR/icmp\""
            )));
        }
    }
    Ok(v)
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Daemon {
    #[serde(default, deserialize_with = "layout")]
    layout: Option<Layout>,
    #[serde(default, deserialize_with = "version")]
    version: Option<Version>,
    #[serde(default, deserialize_with = "backend")]
    backend: Option<Backend>,
    icc: Option<bool>,
    ip_masq: Option<bool>,
    userland_proxy: Option<bool>,
    ip_forward: Option<bool>,
    ip_forward_was_on: Option<bool>,
    ip_forward_no_drop: Option<bool>,
    allow_direct_routing: Option<bool>,
    #[serde(default, deserialize_with = "subnet")]
    default_subnet: Option<String>,
    ipv6: Option<bool>,
    #[serde(default, deserialize_with = "subnet6")]
    fixed_cidr_v6: Option<String>,
    ip6tables: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Network {
    name: String,
    id: Option<String>,
    bridge: Option<String>,
    #[serde(default, deserialize_with = "subnet")]
    subnet: Option<String>,
    #[serde(default, deserialize_with = "ip")]
    gateway: Option<String>,
    icc: Option<bool>,
    ip_masq: Option<bool>,
    internal: Option<bool>,
    #[serde(default, deserialize_with = "ip")]
    host_binding: Option<String>,
    #[serde(default, deserialize_with = "gateway_mode")]
    gateway_mode_ipv4: Option<GatewayMode>,
    ipv6: Option<bool>,
    #[serde(default, deserialize_with = "subnet6")]
    subnet_v6: Option<String>,
    #[serde(default, deserialize_with = "ip6")]
    gateway_v6: Option<String>,
    #[serde(default, deserialize_with = "gateway_mode")]
    gateway_mode_ipv6: Option<GatewayMode>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Container {
    name: String,
    #[serde(default, deserialize_with = "mode")]
    network: Option<NetworkMode>,
    networks: Option<Vec<String>>,
    #[serde(default, deserialize_with = "ip")]
    ip: Option<String>,
    #[serde(default, deserialize_with = "ip_map")]
    ips: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "ip6")]
    ip6: Option<String>,
    #[serde(default, deserialize_with = "ip6_map")]
    ips6: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "ports")]
    ports: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Internet {
    #[serde(default, deserialize_with = "ip_list")]
    servers: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Interface {
    name: String,
    #[serde(default)]
    addresses: Vec<String>,
    #[serde(default)]
    routes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LanPeer {
    name: String,
    #[serde(default, deserialize_with = "ip")]
    ip: Option<String>,
}

fn layout<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Layout>, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map(Some).map_err(D::Error::custom)
}

fn version<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Version>, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map(Some).map_err(D::Error::custom)
}

fn gateway_mode<'de, D: Deserializer<'de>>(d: D) -> Result<Option<GatewayMode>, D::Error> {
    let s = String::deserialize(d)?;
    GatewayMode::parse(&s).map(Some).map_err(D::Error::custom)
}

fn backend<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Backend>, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map(Some).map_err(D::Error::custom)
}

fn subnet<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    crate::docker::parse_subnet_text(&s).map_err(D::Error::custom)?;
    Ok(Some(s))
}

fn subnet6<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    crate::docker::parse_subnet6_text(&s).map_err(D::Error::custom)?;
    Ok(Some(s))
}

fn check_ip6<E: serde::de::Error>(s: &str) -> Result<(), E> {
    s.trim()
        .parse::<std::net::Ipv6Addr>()
        .map(|_| ())
        .map_err(|_| E::custom(format!("{s:?} is not an IPv6 address")))
}

fn ip6<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    check_ip6::<D::Error>(&s)?;
    Ok(Some(s))
}

fn ip6_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let m = BTreeMap::<String, String>::deserialize(d)?;
    for s in m.values() {
        check_ip6::<D::Error>(s)?;
    }
    Ok(m)
}

fn check_ip<E: serde::de::Error>(s: &str) -> Result<(), E> {
    s.trim()
        .parse::<std::net::Ipv4Addr>()
        .map(|_| ())
        .map_err(|_| E::custom(format!("{s:?} is not an IPv4 address")))
}

fn ip<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    check_ip::<D::Error>(&s)?;
    Ok(Some(s))
}

fn ip_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let v = Vec::<String>::deserialize(d)?;
    for s in &v {
        check_ip::<D::Error>(s)?;
    }
    Ok(v)
}

fn ip_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let m = BTreeMap::<String, String>::deserialize(d)?;
    for s in m.values() {
        check_ip::<D::Error>(s)?;
    }
    Ok(m)
}

fn mode<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NetworkMode>, D::Error> {
    let s = String::deserialize(d)?;
    s.parse::<NetworkMode>().map(Some).map_err(D::Error::custom)
}

fn ports<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let v = Vec::<String>::deserialize(d)?;
    for p in &v {
        PortBinding::parse(p).map_err(D::Error::custom)?;
    }
    Ok(v)
}

impl File {
    pub(crate) fn into_builder(self, default_name: String) -> crate::Result<DockerHostBuilder> {
        let lab = self.name.unwrap_or(default_name);
        let mut b = DockerHost::builder().name(&lab);
        for r in &self.rules {
            b = b.rules_file(r);
        }
        if self.ruleset.is_some() && self.before.as_ref().is_some_and(|x| !x.rules.is_empty()) {
            return Err(Error::invalid(
                Subject::default(),
                "ruleset",
                "`ruleset` is the host's whole ruleset as found: it replaces `[before] rules` (put those rules in it, or drop one of the two)",
            ));
        }
        b.ruleset_file = self.ruleset.map(Into::into);
        b.ruleset6_file = self.ruleset6.map(Into::into);
        b.interfaces = (self.interface.into_iter())
            .map(|i| crate::docker::Substitute {
                name: i.name,
                addresses: i.addresses,
                routes: i.routes,
            })
            .collect();
        for r in self.before.iter().flat_map(|x| &x.rules) {
            b = b.existing_rules_file(r);
        }
        for (k, v) in self.before.iter().flat_map(|x| &x.sysctls) {
            b = b.existing_sysctl(k, v);
        }
        b = b.ufw(crate::manager::Ufw {
            before: self.before.iter().flat_map(|x| x.ufw.clone()).collect(),
            after: self.after.iter().flat_map(|x| x.ufw.clone()).collect(),
            command_files: Vec::new(),
            files: (self.before.iter())
                .flat_map(|x| &x.ufw_files)
                .map(Into::into)
                .collect(),
        });
        b = b.firewalld(crate::manager::Firewalld {
            before: self
                .before
                .iter()
                .flat_map(|x| x.firewalld.clone())
                .collect(),
            after: self
                .after
                .iter()
                .flat_map(|x| x.firewalld.clone())
                .collect(),
            command_files: Vec::new(),
        });
        if let Some(m) = self.matrix {
            b = b.matrix_cells(crate::docker::MatrixCells {
                cells: m.cells,
                replace_defaults: m.replace_defaults,
            });
        }
        let d = self.daemon;
        if let Some(x) = d.layout {
            b = b.layout(x);
        }
        if let Some(x) = d.version {
            b = b.version(x);
        }
        if let Some(x) = d.backend {
            b = b.backend(x);
        }
        if let Some(x) = d.icc {
            b = b.icc(x);
        }
        if let Some(x) = d.ip_masq {
            b = b.ip_masq(x);
        }
        if let Some(x) = d.userland_proxy {
            b = b.userland_proxy(x);
        }
        if let Some(x) = d.ip_forward {
            b = b.ip_forward(x);
        }
        if let Some(x) = d.ip_forward_was_on {
            b = b.ip_forward_was_on(x);
        }
        if let Some(x) = d.ip_forward_no_drop {
            b = b.ip_forward_no_drop(x);
        }
        if let Some(x) = d.allow_direct_routing {
            b = b.allow_direct_routing(x);
        }
        if let Some(x) = d.default_subnet {
            b = b.default_subnet(x);
        }
        if let Some(x) = d.ipv6 {
            b = b.ipv6(x);
        }
        if let Some(x) = d.fixed_cidr_v6 {
            b = b.fixed_cidr_v6(x);
        }
        if let Some(x) = d.ip6tables {
            b = b.ip6tables(x);
        }
        for n in self.network {
            let mut s = NetworkSpec::new(n.name);
            s.id = n.id;
            s.bridge = n.bridge;
            s.subnet = n.subnet;
            s.gateway = n.gateway;
            s.icc = n.icc.unwrap_or(true);
            s.ip_masq = n.ip_masq.unwrap_or(true);
            s.internal = n.internal.unwrap_or(false);
            s.host_binding = n.host_binding;
            s.gateway_mode_ipv4 = n.gateway_mode_ipv4.unwrap_or_default();
            s.ipv6 = n.ipv6.unwrap_or(false);
            s.subnet_v6 = n.subnet_v6;
            s.gateway_v6 = n.gateway_v6;
            s.gateway_mode_ipv6 = n.gateway_mode_ipv6.unwrap_or_default();
            b = b.network(s);
        }
        for c in self.container {
            let mut s = ContainerSpec::new(&c.name);
            match (c.network, c.networks) {
                (Some(m), None) => s = s.mode(m),
                (None, Some(list)) => s = s.mode(NetworkMode::Bridge(list)),
                (Some(_), Some(_)) => {
                    return Err(Error::invalid(
                        Subject::lab(&lab).node(&c.name),
                        format!("container {:?} network", c.name),
                        "give either `network` or `networks`, not both",
                    ));
                }
                (None, None) => {}
            }
            let first = match &s.mode {
                NetworkMode::Bridge(n) => n.first().cloned().unwrap_or_default(),
                _ => String::new(),
            };
            if let Some(ip) = c.ip {
                s = s.ip(first.clone(), ip);
            }
            if let Some(ip) = c.ip6 {
                s = s.ip(first, ip);
            }
            for (n, ip) in c.ips.into_iter().chain(c.ips6) {
                s = s.ip(n, ip);
            }
            for p in c.ports {
                s = s.publish(p);
            }
            b = b.container(s);
        }
        if let Some(i) = self.internet {
            for s in i.servers {
                b = b.server(s);
            }
        }
        for p in self.lan_peer {
            b = match p.ip {
                Some(ip) => b.lan_peer_at(p.name, ip),
                None => b.lan_peer(p.name),
            };
        }
        if let Some(order) = self.order {
            b.order = ordered(&lab, &b.order, order)?;
        }
        Ok(b)
    }
}

/// The events in the order the file's `order` key gives: each network and
/// container exactly once, `network:NAME`/`container:NAME` where a name is both;
/// `restart` restarts the daemon and `start:NAME` starts a container it stopped.
fn ordered(lab: &str, events: &[Event], order: Vec<String>) -> crate::Result<Vec<Event>> {
    let bad = |m: String| Error::invalid(Subject::lab(lab), "order", m);
    let mut out = Vec::new();
    for entry in order {
        if entry == "restart" {
            out.push(Event::RestartDaemon);
            continue;
        }
        if let Some(name) = entry.strip_prefix("start:") {
            out.push(Event::StartExisting(name.to_string()));
            continue;
        }
        let (kind, name) = match entry.split_once(':') {
            Some((k @ ("network" | "container"), n)) => (Some(k), n),
            _ => (None, entry.as_str()),
        };
        let matches: Vec<&Event> = events
            .iter()
            .filter(|e| match e {
                Event::CreateNetwork(n) => n == name && kind != Some("container"),
                Event::StartContainer(c) => c == name && kind != Some("network"),
                Event::RestartDaemon | Event::StartExisting(_) => false,
            })
            .collect();
        let e = match matches.as_slice() {
            [] => {
                return Err(bad(format!(
                    "{entry:?} is neither a network nor a container of this file"
                )));
            }
            [e] => (*e).clone(),
            _ => {
                return Err(bad(format!(
                    "{entry:?} names both a network and a container; write network:{name} or container:{name}"
                )));
            }
        };
        if out.contains(&e) {
            return Err(bad(format!("{entry:?} is listed twice")));
        }
        out.push(e);
    }
    if let Some(missing) = events.iter().find(|e| !out.contains(e)) {
        let name = match missing {
            Event::CreateNetwork(n) => format!("network {n}"),
            Event::StartContainer(c) => format!("container {c}"),
            Event::RestartDaemon | Event::StartExisting(_) => unreachable!("only in `order`"),
        };
        return Err(bad(format!("{name} is missing from the order")));
    }
    Ok(out)
}
