//! Rendering a V29 host with the native nftables backend
//! (`--firewall-backend=nftables`, docker-rules §1.3) into the
//! `table ip docker-bridges` Docker creates, as a value ([`NftRuleset`]) that
//! renders to `nft -f` input. Chain and map layout follow moby's
//! test-verified `integration/network/bridge/nftablesdoc` listings.

use std::fmt;

use super::host::{DockerHost, Happening};
use super::iptables::mappings;
use super::network::Network;

/// The table Docker's nftables backend owns.
pub(crate) const NFT_TABLE: &str = "docker-bridges";

/// A verdict map from interface name to a jump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NftMap {
    /// Map name, e.g. `filter-forward-in-jumps`.
    pub name: String,
    /// (interface, chain) pairs: `"docker0" : jump <chain>`.
    pub elements: Vec<(String, String)>,
}

/// A chain; base chains carry their `type … hook … priority …; policy …;` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NftChain {
    /// Chain name.
    pub name: String,
    /// The base-chain declaration, `None` for regular chains.
    pub base: Option<String>,
    /// Rules, as `nft list` prints them (without counters' values).
    pub rules: Vec<String>,
}

/// Docker's `table ip docker-bridges` as a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NftRuleset {
    /// The maps, in listing order.
    pub maps: Vec<NftMap>,
    /// The chains, in listing order: base chains, then per-network chains.
    pub chains: Vec<NftChain>,
}

impl NftRuleset {
    /// The table as `nft list table ip docker-bridges` prints it (tabs, no counters).
    pub fn render(&self) -> String {
        let mut s = format!("table ip {NFT_TABLE} {{\n");
        let mut blocks: Vec<String> = Vec::new();
        for m in &self.maps {
            let mut b = format!("\tmap {} {{\n\t\ttype ifname : verdict\n", m.name);
            if !m.elements.is_empty() {
                let els: Vec<String> = m
                    .elements
                    .iter()
                    .map(|(i, c)| format!("\"{i}\" : jump {c}"))
                    .collect();
                b.push_str(&format!(
                    "\t\telements = {{ {} }}\n",
                    els.join(",\n\t\t\t     ")
                ));
            }
            b.push_str("\t}\n");
            blocks.push(b);
        }
        for c in &self.chains {
            let mut b = format!("\tchain {} {{\n", c.name);
            if let Some(base) = &c.base {
                b.push_str(&format!("\t\t{base}\n"));
            }
            for r in &c.rules {
                b.push_str(&format!("\t\t{r}\n"));
            }
            b.push_str("\t}\n");
            blocks.push(b);
        }
        s.push_str(&blocks.join("\n"));
        s.push_str("}\n");
        s
    }

    /// `nft -f` input that replaces the table: declares it, deletes it (so
    /// applying twice is safe), then defines it afresh.
    pub fn apply_script(&self) -> String {
        format!(
            "table ip {NFT_TABLE}\ndelete table ip {NFT_TABLE}\n{}",
            self.render()
        )
    }
}

impl fmt::Display for NftRuleset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

fn chain(name: impl Into<String>, base: Option<&str>, rules: Vec<String>) -> NftChain {
    NftChain {
        name: name.into(),
        base: base.map(Into::into),
        rules,
    }
}

struct NetChains {
    fwd_in: Vec<String>,
    fwd_out: Vec<String>,
    nat_in: Vec<String>,
    nat_out: Vec<String>,
}

/// Renders the nftables ruleset at `step`.
pub(crate) fn render(host: &DockerHost, step: usize) -> NftRuleset {
    let proxy = host.daemon().userland_proxy;
    let timeline = host.timeline(step);
    let nets: Vec<&Network> = timeline
        .iter()
        .filter_map(|h| match h {
            Happening::Network(n) => Some(*n),
            Happening::Container(_) => None,
        })
        .collect();
    let mut per: Vec<NetChains> = nets.iter().map(|n| net_chains(n, proxy)).collect();
    let mut raw = Vec::new();
    let mut dnat = Vec::new();
    for h in &timeline {
        let Happening::Container(c) = h else { continue };
        for a in c.attachments().iter().filter(|a| !a.internal) {
            raw.push(format!(
                "ip daddr {} iifname != \"{}\" counter drop comment \"DROP DIRECT ACCESS\"",
                a.ip, a.bridge
            ));
        }
        for m in mappings(host, c) {
            let Some(i) = nets.iter().position(|n| n.name == m.att.network) else {
                continue;
            };
            let p = m.port.proto;
            let iif = if proxy {
                format!("iifname != \"{}\" ", m.att.bridge)
            } else {
                String::new()
            };
            let daddr = m
                .host_ip
                .map(|ip| format!("ip daddr {ip} "))
                .unwrap_or_default();
            dnat.push(format!(
                "{iif}{daddr}{p} dport {} counter dnat to {}:{} comment \"DNAT\"",
                m.port.host_port, m.att.ip, m.port.container_port
            ));
            let accept = format!(
                "ip daddr {} {p} dport {} counter accept",
                m.att.ip, m.port.container_port
            );
            per[i].fwd_in.push(accept);
            if !proxy {
                per[i].nat_in.push(format!(
                    "ip saddr {ip} ip daddr {ip} {p} dport {} counter masquerade comment \"MASQ TO OWN PORT\"",
                    m.port.container_port,
                    ip = m.att.ip
                ));
            }
            if let Some(ip) = m.host_ip.filter(|ip| ip.is_loopback()) {
                raw.push(format!(
                    "iifname != \"lo\" ip daddr {ip} {p} dport {} counter drop comment \"DROP REMOTE LOOPBACK\"",
                    m.port.host_port
                ));
            }
        }
    }
    for (n, pc) in nets.iter().zip(per.iter_mut()) {
        if !n.internal {
            pc.fwd_in
                .push("counter drop comment \"UNPUBLISHED PORT DROP\"".into());
        }
    }

    let (maps, mut chains) = base_chains(&nets, proxy, dnat, raw);
    for (n, pc) in nets.iter().zip(per) {
        let br = &n.bridge;
        chains.push(chain(format!("filter-forward-in__{br}"), None, pc.fwd_in));
        chains.push(chain(format!("filter-forward-out__{br}"), None, pc.fwd_out));
        chains.push(chain(format!("nat-postrouting-in__{br}"), None, pc.nat_in));
        chains.push(chain(
            format!("nat-postrouting-out__{br}"),
            None,
            pc.nat_out,
        ));
    }
    NftRuleset { maps, chains }
}

/// The four per-network chains' base rules (before published ports add theirs).
fn net_chains(n: &Network, proxy: bool) -> NetChains {
    let br = &n.bridge;
    let ct = "ct state established,related counter accept".to_string();
    if n.internal {
        let icc = if n.icc { "accept" } else { "drop" };
        NetChains {
            fwd_in: vec![
                ct.clone(),
                format!("iifname != \"{br}\" counter drop comment \"INTERNAL NETWORK INGRESS\""),
                format!("counter {icc} comment \"ICC\""),
            ],
            fwd_out: vec![
                ct,
                format!("oifname != \"{br}\" counter drop comment \"INTERNAL NETWORK EGRESS\""),
            ],
            nat_in: Vec::new(),
            nat_out: Vec::new(),
        }
    } else {
        let icc = if n.icc { "accept" } else { "drop" };
        NetChains {
            fwd_in: vec![
                ct.clone(),
                format!("iifname \"{br}\" counter {icc} comment \"ICC\""),
            ],
            fwd_out: vec![ct, "counter accept comment \"OUTGOING\"".into()],
            nat_in: if proxy {
                Vec::new()
            } else {
                vec![
                    "fib saddr type local counter masquerade comment \"MASQUERADE FROM HOST\""
                        .into(),
                ]
            },
            nat_out: if n.ip_masq {
                vec![format!(
                    "oifname != \"{br}\" ip saddr {} counter masquerade comment \"MASQUERADE\"",
                    n.subnet
                )]
            } else {
                Vec::new()
            },
        }
    }
}

/// The maps and the base chains (hooks, the DNAT and raw chains).
fn base_chains(
    nets: &[&Network],
    proxy: bool,
    dnat: Vec<String>,
    raw: Vec<String>,
) -> (Vec<NftMap>, Vec<NftChain>) {
    let map = |name: &str, prefix: &str| NftMap {
        name: name.into(),
        elements: nets
            .iter()
            .map(|n| (n.bridge.clone(), format!("{prefix}__{}", n.bridge)))
            .collect(),
    };
    let maps = vec![
        map("filter-forward-in-jumps", "filter-forward-in"),
        map("filter-forward-out-jumps", "filter-forward-out"),
        map("nat-postrouting-in-jumps", "nat-postrouting-in"),
        map("nat-postrouting-out-jumps", "nat-postrouting-out"),
    ];
    let output_rule = if proxy {
        "ip daddr != 127.0.0.0/8 fib daddr type local counter jump nat-prerouting-and-output"
    } else {
        "fib daddr type local counter jump nat-prerouting-and-output"
    };
    let chains = vec![
        chain(
            "filter-FORWARD",
            Some("type filter hook forward priority filter; policy accept;"),
            vec![
                "oifname vmap @filter-forward-in-jumps".into(),
                "iifname vmap @filter-forward-out-jumps".into(),
            ],
        ),
        chain(
            "nat-OUTPUT",
            Some("type nat hook output priority -100; policy accept;"),
            vec![output_rule.into()],
        ),
        chain(
            "nat-POSTROUTING",
            Some("type nat hook postrouting priority srcnat; policy accept;"),
            vec![
                "iifname vmap @nat-postrouting-out-jumps".into(),
                "oifname vmap @nat-postrouting-in-jumps".into(),
            ],
        ),
        chain(
            "nat-PREROUTING",
            Some("type nat hook prerouting priority dstnat; policy accept;"),
            vec!["fib daddr type local counter jump nat-prerouting-and-output".into()],
        ),
        chain("nat-prerouting-and-output", None, dnat),
        chain(
            "raw-PREROUTING",
            Some("type filter hook prerouting priority raw; policy accept;"),
            raw,
        ),
    ];
    (maps, chains)
}
