//! The host's other interfaces — not the uplink, not Docker's bridges or
//! their ports — from `ip -j addr` / `ip -j -d link` and `ip -j route`:
//! the kernel here cannot make most of them (wireguard, vlan, tun, a second
//! NIC), so each with an IPv4 address becomes a veth of the same name and
//! addresses (topology `[[interface]]`), with the routes the host sent
//! through it; the report says which were substituted.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

/// One interface of the real host.
#[derive(Debug, Default, Clone)]
pub(crate) struct Iface {
    /// Its kind (`ip -d`'s `info_kind`: wireguard, vlan, tun …), if said.
    pub(crate) kind: Option<String>,
    /// The bridge it is a port of.
    pub(crate) master: Option<String>,
    /// IPv4 addresses with prefix.
    pub(crate) v4: Vec<String>,
    /// IPv6 addresses with prefix, not link-local (not rebuilt).
    pub(crate) v6: Vec<String>,
}

/// The host's interfaces by name, from `ip -j addr` and `ip -j link`.
#[derive(Debug, Default)]
pub(crate) struct Interfaces {
    pub(crate) by_name: BTreeMap<String, Iface>,
    /// `ip -j route` entries of the main table: (destination, device).
    pub(crate) routes: Vec<(String, String)>,
}

/// An interface the lab has as a veth.
#[derive(Debug, Clone)]
pub(crate) struct Substituted {
    pub(crate) name: String,
    pub(crate) kind: String,
    pub(crate) addresses: Vec<String>,
    pub(crate) routes: Vec<String>,
}

impl Interfaces {
    /// Adds `ip -j addr` or `ip -j [-d] link` output (an array of interfaces).
    pub(crate) fn add(&mut self, v: &Value) {
        for i in v.as_array().into_iter().flatten() {
            let Some(name) = i["ifname"].as_str() else {
                continue;
            };
            let e = self.by_name.entry(name.to_string()).or_default();
            if let Some(k) = i["linkinfo"]["info_kind"].as_str() {
                e.kind = Some(k.to_string());
            }
            if let Some(m) = i["master"].as_str() {
                e.master = Some(m.to_string());
            }
            for a in i["addr_info"].as_array().into_iter().flatten() {
                let (Some(local), Some(len)) = (a["local"].as_str(), a["prefixlen"].as_u64())
                else {
                    continue;
                };
                let cidr = format!("{local}/{len}");
                match a["family"].as_str() {
                    Some("inet") if !e.v4.contains(&cidr) => e.v4.push(cidr),
                    Some("inet6")
                        if a["scope"].as_str() != Some("link")
                            && !local.starts_with("fe80:")
                            && !e.v6.contains(&cidr) =>
                    {
                        e.v6.push(cidr)
                    }
                    _ => {}
                }
            }
        }
    }

    /// Adds the host's `ip -j -4 route` (main table routes only).
    pub(crate) fn add_routes(&mut self, v: &Value) {
        for r in v.as_array().into_iter().flatten() {
            let main = r.get("table").is_none_or(|t| t == "main");
            let (Some(dst), Some(dev)) = (r["dst"].as_str(), r["dev"].as_str()) else {
                continue;
            };
            if main && dst != "default" && r["protocol"].as_str() != Some("kernel") {
                let dst = if dst.contains('/') {
                    dst.to_string()
                } else {
                    format!("{dst}/32")
                };
                self.routes.push((dst, dev.to_string()));
            }
        }
    }

    /// The interfaces to substitute, and a note for each one left out that
    /// a reader would miss. `uplink`: the default route's device;
    /// `bridges`: Docker's bridges.
    pub(crate) fn substitutes(
        &self,
        uplink: &str,
        bridges: &[String],
        notes: &mut Vec<String>,
    ) -> Vec<Substituted> {
        let docker_bridge = |n: &str| {
            n == "docker0"
                || bridges.iter().any(|b| b == n)
                || n.strip_prefix("br-")
                    .is_some_and(|h| h.len() == 12 && h.chars().all(|c| c.is_ascii_hexdigit()))
        };
        let mut out = Vec::new();
        for (name, i) in &self.by_name {
            if name == "lo"
                || name == uplink
                || docker_bridge(name)
                || i.master.as_deref().is_some_and(docker_bridge)
            {
                continue;
            }
            let kind = i.kind.clone().unwrap_or_else(|| "device".into());
            if i.v4.is_empty() {
                if i.kind.as_deref() != Some("veth") {
                    notes.push(format!(
                        "interface {name} ({kind}) has no IPv4 address: not rebuilt"
                    ));
                }
                continue;
            }
            if !i.v6.is_empty() {
                notes.push(format!(
                    "interface {name}: IPv6 address(es) {} not rebuilt",
                    i.v6.join(", ")
                ));
            }
            let routes: Vec<String> = self
                .routes
                .iter()
                .filter(|(_, dev)| dev == name)
                .map(|(dst, _)| dst.clone())
                .collect();
            out.push(Substituted {
                name: name.clone(),
                kind,
                addresses: i.v4.clone(),
                routes,
            });
        }
        out
    }
}

/// The report's lines for the substituted interfaces.
pub(crate) fn report(r: &mut String, subs: &[Substituted]) {
    if subs.is_empty() {
        return;
    }
    let _ = writeln!(
        r,
        "\ninterfaces the kernel here cannot make are veths of the same name and addresses (peer: a stub node if-NAME):"
    );
    for s in subs {
        let routes = if s.routes.is_empty() {
            String::new()
        } else {
            format!(", routes {}", s.routes.join(", "))
        };
        let _ = writeln!(
            r,
            "  {} ({} on the real host): veth, {}{routes}",
            s.name,
            s.kind,
            s.addresses.join(", ")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_ports_uplink_and_addressless_veths_are_not_substituted() {
        let mut i = Interfaces::default();
        i.add(&serde_json::json!([
            {"ifname": "lo", "addr_info": [{"family": "inet", "local": "127.0.0.1", "prefixlen": 8}]},
            {"ifname": "ens3", "addr_info": [{"family": "inet", "local": "10.0.0.5", "prefixlen": 24}]},
            {"ifname": "docker0", "addr_info": [{"family": "inet", "local": "172.17.0.1", "prefixlen": 16}]},
            {"ifname": "vethab", "master": "docker0", "addr_info": []},
            {"ifname": "wg0", "addr_info": [
                {"family": "inet", "local": "10.8.0.1", "prefixlen": 24},
                {"family": "inet6", "local": "fd00::1", "prefixlen": 64, "scope": "global"}]},
        ]));
        i.add(&serde_json::json!([{"ifname": "wg0", "linkinfo": {"info_kind": "wireguard"}}]));
        i.add_routes(&serde_json::json!([
            {"dst": "default", "gateway": "10.0.0.1", "dev": "ens3"},
            {"dst": "10.8.0.0/24", "dev": "wg0", "protocol": "kernel", "scope": "link"},
            {"dst": "10.9.0.0/16", "dev": "wg0", "scope": "link"},
        ]));
        let mut notes = Vec::new();
        let s = i.substitutes("ens3", &[], &mut notes);
        assert_eq!(s.len(), 1, "{s:?}");
        assert_eq!(
            (s[0].name.as_str(), s[0].kind.as_str()),
            ("wg0", "wireguard")
        );
        assert_eq!(s[0].addresses, ["10.8.0.1/24"]);
        assert_eq!(s[0].routes, ["10.9.0.0/16"]);
        assert_eq!(
            notes,
            ["interface wg0: IPv6 address(es) fd00::1/64 not rebuilt"]
        );
    }
}
