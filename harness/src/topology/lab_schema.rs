//! The TOML schema of a generic lab file (`[[node]]`, `[[bridge]]`,
//! `[[link]]`, `[[address]]`, `[[route]]`, `[[alias]]`), and its checks: each
//! value that names something is kept with its span, so an error points at
//! the offending entry's own line, column and key.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::backend::Backend;
use crate::docker::DockerHost;
use crate::net::{Mac, Proto, check_ifname, check_name, parse_cidr};
use crate::spec::{DockerPartSpec, LabSpec, ProgramSpec, RuleFileSpec, ServerSpec, ShapeSpec};
use crate::wiring::{BridgeSpec, Endpoint, NodeSpec, Route, Wiring};

/// A check that failed: where, which key, what.
#[derive(Debug)]
pub(crate) struct Located {
    pub(crate) span: Range<usize>,
    pub(crate) key: &'static str,
    pub(crate) message: String,
}

type Checked<T> = std::result::Result<T, Located>;

fn at<T>(v: &Spanned<T>, key: &'static str, message: impl Into<String>) -> Located {
    Located {
        span: v.span(),
        key,
        message: message.into(),
    }
}

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LabFile {
    name: Option<String>,
    static_neighbours: Option<bool>,
    #[serde(default)]
    node: Vec<Node>,
    #[serde(default)]
    alias: Vec<Alias>,
    #[serde(default)]
    bridge: Vec<Bridge>,
    #[serde(default)]
    link: Vec<Link>,
    #[serde(default)]
    address: Vec<Address>,
    #[serde(default)]
    route: Vec<RouteEntry>,
    #[serde(default)]
    pub(crate) docker: Vec<DockerEntry>,
}

/// `[[docker]]`: an emulated Docker host as a part of the lab.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DockerEntry {
    pub(crate) name: Spanned<String>,
    pub(crate) file: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Node {
    name: Spanned<String>,
    ipv6: Option<bool>,
    forwarding: Option<bool>,
    #[serde(default)]
    sysctls: Vec<Spanned<String>>,
    iptables: Option<Spanned<String>>,
    #[serde(default)]
    rules: Vec<Spanned<String>>,
    #[serde(default)]
    servers: Vec<Spanned<String>>,
    #[serde(default)]
    programs: Vec<Spanned<Vec<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Alias {
    name: Spanned<String>,
    node: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Bridge {
    node: Spanned<String>,
    name: Spanned<String>,
    #[serde(default)]
    addresses: Vec<Spanned<String>>,
    mac: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a link endpoint: an inline table such as { node = \"a\", ifname = \"eth0\", \
                 addresses = [\"10.0.0.1/24\"] } (also: bridge, mac, mtu, rate, delay, loss)"
)]
struct End {
    node: Spanned<String>,
    ifname: Spanned<String>,
    #[serde(default)]
    addresses: Vec<Spanned<String>>,
    bridge: Option<Spanned<String>>,
    mac: Option<Spanned<String>>,
    mtu: Option<Spanned<u32>>,
    rate: Option<Spanned<String>>,
    delay: Option<Spanned<String>>,
    loss: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Link {
    a: End,
    b: End,
    mtu: Option<Spanned<u32>>,
    rate: Option<Spanned<String>>,
    delay: Option<Spanned<String>>,
    loss: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Address {
    node: Spanned<String>,
    ifname: Spanned<String>,
    address: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteEntry {
    node: Spanned<String>,
    to: Spanned<String>,
    via: Option<Spanned<String>>,
    dev: Option<Spanned<String>>,
}

/// Interfaces known per node while checking: name → is a bridge.
#[derive(Default)]
struct Seen {
    nodes: BTreeMap<String, bool>,
    ifaces: BTreeMap<(String, String), bool>,
}

impl Seen {
    fn node(&self, n: &Spanned<String>, what: &str) -> Checked<()> {
        if self.nodes.contains_key(n.get_ref()) {
            return Ok(());
        }
        let known: Vec<&str> = self.nodes.keys().map(String::as_str).collect();
        Err(at(
            n,
            "node",
            format!(
                "{what} refers to unknown node {:?} (known nodes: {})",
                n.get_ref(),
                known.join(", ")
            ),
        ))
    }
    fn ipv6(&self, node: &str) -> bool {
        self.nodes.get(node).copied().unwrap_or(false)
    }
    fn add_iface(&mut self, node: &str, name: &Spanned<String>, bridge: bool) -> Checked<()> {
        check_ifname(name.get_ref()).map_err(|m| at(name, "ifname", m))?;
        let key = (node.to_string(), name.get_ref().clone());
        if self.ifaces.insert(key, bridge).is_some() {
            return Err(at(
                name,
                if bridge { "name" } else { "ifname" },
                format!(
                    "interface {:?} is used twice in node {node}",
                    name.get_ref()
                ),
            ));
        }
        Ok(())
    }
}

fn addresses(seen: &Seen, node: &str, list: &[Spanned<String>]) -> Checked<Vec<String>> {
    list.iter()
        .map(|a| {
            let net = parse_cidr(a.get_ref()).map_err(|m| at(a, "addresses", m))?;
            if net.addr().is_ipv6() && !seen.ipv6(node) {
                return Err(at(
                    a,
                    "addresses",
                    format!(
                        "{} is IPv6 but node {node} has IPv6 off (set ipv6 = true on the node)",
                        a.get_ref()
                    ),
                ));
            }
            Ok(a.get_ref().clone())
        })
        .collect()
}

fn mac(v: &Option<Spanned<String>>) -> Checked<Option<Mac>> {
    let Some(v) = v else { return Ok(None) };
    let parts: Vec<Option<u8>> = v
        .get_ref()
        .split(':')
        .map(|p| {
            (p.len() == 2)
                .then(|| u8::from_str_radix(p, 16).ok())
                .flatten()
        })
        .collect();
    match parts.as_slice() {
        [a, b, c, d, e, f] if parts.iter().all(Option::is_some) => Ok(Some(
            [*a, *b, *c, *d, *e, *f].map(|x| x.expect("checked above")),
        )),
        _ => Err(at(
            v,
            "mac",
            format!("{:?} is not a MAC address (aa:bb:cc:dd:ee:ff)", v.get_ref()),
        )),
    }
}

/// tc's syntax for a value: a number and one of `units`.
fn tc_value(
    v: &Option<Spanned<String>>,
    key: &'static str,
    units: &[&str],
) -> Checked<Option<String>> {
    let Some(v) = v else { return Ok(None) };
    let s = v.get_ref().trim();
    let digits = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let ok = digits > 0 && s[..digits].parse::<f64>().is_ok() && units.contains(&&s[digits..]);
    if !ok {
        return Err(at(
            v,
            key,
            format!(
                "{s:?} is not a {key} (a number followed by one of: {})",
                units.join(", ")
            ),
        ));
    }
    Ok(Some(s.to_string()))
}

const RATE_UNITS: &[&str] = &["bit", "kbit", "mbit", "gbit", "bps", "kbps", "mbps", "gbps"];
const TIME_UNITS: &[&str] = &["us", "ms", "s"];

impl LabFile {
    /// Checks every entry and converts the file; `base` resolves rule files.
    /// `parts` are the `[[docker]]` entries' hosts, read by the caller (a
    /// Docker file's own errors name that file).
    pub(crate) fn into_topology(
        self,
        default_name: String,
        base: &Path,
        parts: Vec<(PathBuf, DockerHost)>,
    ) -> Checked<LabSpec> {
        let mut spec = Wiring::new(self.name.unwrap_or(default_name));
        if let Some(on) = self.static_neighbours {
            spec = spec.static_neighbours(on);
        }
        let mut topo = LabSpec::new("");
        let mut seen = Seen::default();
        for (entry, (file, host)) in self.docker.iter().zip(parts) {
            docker_entry(&mut seen, &mut topo, entry, file, host)?;
        }
        for n in self.node {
            nodes_entry(&mut seen, &mut spec, &mut topo, n, base)?;
        }
        for a in self.alias {
            check_name(a.name.get_ref()).map_err(|m| at(&a.name, "name", m))?;
            if seen.nodes.contains_key(a.name.get_ref()) {
                return Err(at(
                    &a.name,
                    "name",
                    format!("duplicate node name {:?}", a.name.get_ref()),
                ));
            }
            seen.node(&a.node, &format!("alias {}", a.name.get_ref()))?;
            spec = spec.alias(a.name.into_inner(), a.node.into_inner());
        }
        for b in self.bridge {
            seen.node(&b.node, &format!("bridge {}", b.name.get_ref()))?;
            seen.add_iface(b.node.get_ref(), &b.name, true)?;
            spec = spec.bridge_with(BridgeSpec {
                addrs: addresses(&seen, b.node.get_ref(), &b.addresses)?,
                mac: mac(&b.mac)?,
                node: b.node.into_inner(),
                name: b.name.into_inner(),
            });
        }
        for l in self.link {
            let link_shape = (&l.rate, &l.delay, &l.loss);
            let a = end(&mut seen, &mut topo, &l.a, l.mtu.as_ref(), link_shape)?;
            let b = end(&mut seen, &mut topo, &l.b, l.mtu.as_ref(), link_shape)?;
            spec = spec.link(a, b);
        }
        for a in self.address {
            seen.node(&a.node, &format!("address {}", a.address.get_ref()))?;
            let key = (a.node.get_ref().clone(), a.ifname.get_ref().clone());
            if a.ifname.get_ref() != "lo" && !seen.ifaces.contains_key(&key) {
                return Err(at(
                    &a.ifname,
                    "ifname",
                    format!(
                        "no interface named {:?} in node {}",
                        a.ifname.get_ref(),
                        a.node.get_ref()
                    ),
                ));
            }
            let cidr = addresses(&seen, a.node.get_ref(), std::slice::from_ref(&a.address))?;
            spec = spec.address(a.node.into_inner(), a.ifname.into_inner(), cidr[0].clone());
        }
        for r in self.route {
            seen.node(&r.node, "route")?;
            spec = spec.route(r.node.get_ref().clone(), route(&seen, &r)?);
        }
        topo.wiring = spec;
        Ok(topo)
    }
}

fn docker_entry(
    seen: &mut Seen,
    topo: &mut LabSpec,
    entry: &DockerEntry,
    file: PathBuf,
    host: DockerHost,
) -> Checked<()> {
    let name = entry.name.get_ref();
    check_name(name).map_err(|m| at(&entry.name, "name", m))?;
    let part = host.part_spec(name);
    for n in &part.nodes {
        if seen.nodes.insert(n.name.clone(), n.ipv6).is_some() {
            return Err(at(
                &entry.name,
                "name",
                format!(
                    "Docker host {name:?}: its node {:?} is already a node of the lab",
                    n.name
                ),
            ));
        }
    }
    for (alias, _) in &part.aliases {
        seen.nodes.insert(alias.clone(), false);
    }
    for b in &part.bridges {
        seen.ifaces.insert((b.node.clone(), b.name.clone()), true);
    }
    for l in &part.links {
        for e in [&l.a, &l.b] {
            seen.ifaces
                .insert((e.node.clone(), e.ifname.clone()), false);
        }
    }
    topo.docker.push(DockerPartSpec {
        name: name.clone(),
        file: Some(file),
        host,
        standalone: false,
    });
    Ok(())
}

fn nodes_entry(
    seen: &mut Seen,
    spec: &mut Wiring,
    topo: &mut LabSpec,
    n: Node,
    base: &Path,
) -> Checked<()> {
    let name = n.name.get_ref().clone();
    check_name(&name).map_err(|m| at(&n.name, "name", m))?;
    if seen
        .nodes
        .insert(name.clone(), n.ipv6.unwrap_or(false))
        .is_some()
    {
        return Err(at(&n.name, "name", format!("duplicate node name {name:?}")));
    }
    let mut node = NodeSpec::new(&name)
        .ipv6(n.ipv6.unwrap_or(false))
        .forwarding(n.forwarding.unwrap_or(false));
    for kv in &n.sysctls {
        let (k, v) = kv
            .get_ref()
            .split_once('=')
            .map(|(k, v)| (k.trim(), v.trim()))
            .filter(|(k, v)| !k.is_empty() && !v.is_empty() && !k.contains(' '))
            .ok_or_else(|| {
                at(
                    kv,
                    "sysctls",
                    format!(
                        "{:?} is not a sysctl setting (key=value, as `sysctl -w` takes it)",
                        kv.get_ref()
                    ),
                )
            })?;
        node = node.sysctl(k, v);
    }
    *spec = std::mem::replace(spec, Wiring::new("")).node_with(node);
    let iptables = match &n.iptables {
        None => Backend::IptablesNft,
        Some(v) => match v.get_ref().parse::<Backend>() {
            Ok(b) if b.is_iptables() => b,
            _ => {
                return Err(at(
                    v,
                    "iptables",
                    format!(
                        "{:?} is not an iptables backend (iptables-nft | iptables-legacy)",
                        v.get_ref()
                    ),
                ));
            }
        },
    };
    for r in &n.rules {
        let path = Path::new(r.get_ref());
        let path = if path.is_relative() {
            base.join(path)
        } else {
            path.to_path_buf()
        };
        if !path.is_file() {
            return Err(at(
                r,
                "rules",
                format!(
                    "rule file {} does not exist (paths are relative to the topology file's folder)",
                    path.display()
                ),
            ));
        }
        topo.rules
            .push(RuleFileSpec::new(name.clone(), path, iptables));
    }
    for s in &n.servers {
        let (proto, bind) = server(s)?;
        topo.servers.push(ServerSpec {
            node: name.clone(),
            proto,
            bind,
        });
    }
    for p in n.programs {
        if p.get_ref().is_empty() {
            return Err(at(&p, "programs", "a program needs at least its name"));
        }
        topo.programs.push(ProgramSpec {
            node: name.clone(),
            argv: p.into_inner(),
        });
    }
    Ok(())
}

/// `tcp:ADDR:PORT` or `udp:ADDR:PORT` (`udp:[::1]:53` for IPv6).
fn server(s: &Spanned<String>) -> Checked<(Proto, SocketAddr)> {
    let bad = || {
        at(
            s,
            "servers",
            format!(
                "{:?} is not a server (tcp:ADDRESS:PORT or udp:ADDRESS:PORT)",
                s.get_ref()
            ),
        )
    };
    let (proto, addr) = s.get_ref().split_once(':').ok_or_else(bad)?;
    let proto = match proto {
        "tcp" => Proto::Tcp,
        "udp" => Proto::Udp,
        _ => return Err(bad()),
    };
    Ok((proto, addr.parse().map_err(|_| bad())?))
}

type LinkShape<'a> = (
    &'a Option<Spanned<String>>,
    &'a Option<Spanned<String>>,
    &'a Option<Spanned<String>>,
);

fn end(
    seen: &mut Seen,
    topo: &mut LabSpec,
    e: &End,
    link_mtu: Option<&Spanned<u32>>,
    link: LinkShape,
) -> Checked<Endpoint> {
    let node = e.node.get_ref();
    seen.node(&e.node, &format!("link end {node}:{}", e.ifname.get_ref()))?;
    seen.add_iface(node, &e.ifname, false)?;
    let mut ep = Endpoint::new(node, e.ifname.get_ref());
    ep.addrs = addresses(seen, node, &e.addresses)?;
    ep.mac = mac(&e.mac)?;
    if let Some(b) = &e.bridge {
        if seen.ifaces.get(&(node.clone(), b.get_ref().clone())) != Some(&true) {
            return Err(at(
                b,
                "bridge",
                format!(
                    "no bridge named {:?} in node {node} (bridges come from [[bridge]] entries)",
                    b.get_ref()
                ),
            ));
        }
        ep.bridge = Some(b.get_ref().clone());
    }
    if let Some(m) = e.mtu.as_ref().or(link_mtu) {
        if !(68..=65535).contains(m.get_ref()) {
            return Err(at(
                m,
                "mtu",
                format!("{} is not an MTU (68 to 65535)", m.get_ref()),
            ));
        }
        ep.mtu = Some(*m.get_ref());
    }
    let shape = ShapeSpec {
        node: node.clone(),
        ifname: e.ifname.get_ref().clone(),
        rate: tc_value(
            if e.rate.is_some() { &e.rate } else { link.0 },
            "rate",
            RATE_UNITS,
        )?,
        delay: tc_value(
            if e.delay.is_some() { &e.delay } else { link.1 },
            "delay",
            TIME_UNITS,
        )?,
        loss: match if e.loss.is_some() { &e.loss } else { link.2 } {
            None => None,
            Some(l) => {
                let n = l
                    .get_ref()
                    .trim()
                    .strip_suffix('%')
                    .and_then(|x| x.parse::<f64>().ok());
                match n {
                    Some(p) if (0.0..=100.0).contains(&p) => Some(l.get_ref().trim().to_string()),
                    _ => {
                        return Err(at(
                            l,
                            "loss",
                            format!(
                                "{:?} is not a loss (a percentage, e.g. \"1%\")",
                                l.get_ref()
                            ),
                        ));
                    }
                }
            }
        },
    };
    if shape.rate.is_some() || shape.delay.is_some() || shape.loss.is_some() {
        topo.shapes.push(shape);
    }
    Ok(ep)
}

fn route(seen: &Seen, r: &RouteEntry) -> Checked<Route> {
    let mut route = if r.to.get_ref() == "default" {
        Route {
            dest: None,
            via: None,
            dev: None,
        }
    } else {
        parse_cidr(r.to.get_ref()).map_err(|m| at(&r.to, "to", format!("{m} (or \"default\")")))?;
        Route::to(r.to.get_ref())
    };
    if let Some(v) = &r.via {
        v.get_ref()
            .trim()
            .parse::<IpAddr>()
            .map_err(|_| at(v, "via", format!("{:?} is not an IP address", v.get_ref())))?;
        route = route.via(v.get_ref());
    }
    if let Some(d) = &r.dev {
        if !seen
            .ifaces
            .contains_key(&(r.node.get_ref().clone(), d.get_ref().clone()))
            && d.get_ref() != "lo"
        {
            return Err(at(
                d,
                "dev",
                format!(
                    "no interface named {:?} in node {}",
                    d.get_ref(),
                    r.node.get_ref()
                ),
            ));
        }
        route = route.dev(d.get_ref());
    }
    if route.via.is_none() && route.dev.is_none() {
        return Err(at(
            &r.to,
            "to",
            "a route needs a gateway (via) or a device (dev)",
        ));
    }
    Ok(route)
}
