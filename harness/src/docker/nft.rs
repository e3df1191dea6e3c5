//! Rendering a V29 host with the native nftables backend
//! (`--firewall-backend=nftables`, docker-rules §1.3) into the
//! `table ip docker-bridges` Docker creates, as a value ([`NftRuleset`]) that
//! renders to `nft -f` input. Chain and map layout follow moby's
//! test-verified `integration/network/bridge/nftablesdoc` listings.

use std::fmt;
use std::net::SocketAddr;

use super::host::{DockerHost, Happening};
use super::iptables::rule_mappings_in;
use super::network::{Family, GatewayMode, Network};
use super::version::Version;

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

/// A base chain's hook: `type KIND hook HOOK priority N; policy accept;`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NftBase {
    /// `filter` or `nat`.
    pub kind: &'static str,
    /// `forward`, `prerouting`, `output`, `postrouting`.
    pub hook: &'static str,
    /// The priority Docker writes (numbers: moby `BaseChainPriority*`).
    pub priority: i32,
}

impl NftBase {
    /// The priority as `nft list` (1.0.6) prints it: the standard name
    /// where the hook allows one, else the number (`-100` at `output`).
    fn listed_priority(self) -> String {
        match (self.priority, self.hook) {
            (-300, _) => "raw".into(),
            (0, _) => "filter".into(),
            (-100, "prerouting") => "dstnat".into(),
            (100, "postrouting") => "srcnat".into(),
            (n, _) => n.to_string(),
        }
    }
    /// The declaration as `nft list` prints it.
    fn listed(self) -> String {
        format!(
            "type {} hook {} priority {}; policy accept;",
            self.kind,
            self.hook,
            self.listed_priority()
        )
    }
}

/// A chain; base chains carry their hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NftChain {
    /// Chain name.
    pub name: String,
    /// The base-chain hook, `None` for regular chains.
    pub base: Option<NftBase>,
    /// Rules, as `nft list` prints them (without counters' values).
    pub rules: Vec<String>,
}

/// One of Docker's `docker-bridges` tables (`ip` or `ip6`) as a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NftRuleset {
    /// `ip` or `ip6`.
    pub family: &'static str,
    /// The maps, in listing order.
    pub maps: Vec<NftMap>,
    /// The chains, in listing order: base chains, then per-network chains.
    pub chains: Vec<NftChain>,
    /// Whether the `nft -f` text ends base-chain declarations with `;`
    /// (29.7.2, moby ea57cdf1c7).
    pub semicolon: bool,
}

impl NftRuleset {
    /// The table as `nft list table FAMILY docker-bridges` prints it (tabs, no counters).
    pub fn render(&self) -> String {
        let mut s = format!("table {} {NFT_TABLE} {{\n", self.family);
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
            if let Some(base) = c.base {
                b.push_str(&format!("\t\t{}\n", base.listed()));
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

    /// The `nft -f` input Docker applies to make the table whole, shaped as
    /// moby's reload template (`daemon/libnetwork/internal/nftables/
    /// reload.nft.gotmpl`, 29.7; the same text inline in
    /// `nftables_linux.go` from 29.0): declare the table, delete it, define
    /// it afresh — maps with their elements, then chains with numeric
    /// priorities. Applying it twice is safe.
    pub fn apply_script(&self) -> String {
        let (f, t) = (self.family, NFT_TABLE);
        let mut s = format!("table {f} {t} {{}}\ndelete table {f} {t}\ntable {f} {t} {{\n");
        for m in &self.maps {
            s.push_str(&format!("\tmap {} {{\n\t\ttype ifname : verdict\n", m.name));
            if !m.elements.is_empty() {
                s.push_str("\t\telements = {\n");
                for (i, c) in &m.elements {
                    s.push_str(&format!("\t\t\t\"{i}\" : jump {c},\n"));
                }
                s.push_str("\t\t}\n");
            }
            s.push_str("\t}\n");
        }
        for c in &self.chains {
            s.push_str(&format!("\tchain {} {{\n", c.name));
            if let Some(b) = c.base {
                let end = if self.semicolon { ";" } else { "" };
                s.push_str(&format!(
                    "\t\ttype {} hook {} priority {}; policy accept{end}\n",
                    b.kind, b.hook, b.priority
                ));
            }
            for r in &c.rules {
                s.push_str(&format!("\t\t{r}\n"));
            }
            s.push_str("\t}\n");
        }
        s.push_str("}\n");
        s
    }
}

impl fmt::Display for NftRuleset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

fn chain(name: impl Into<String>, base: Option<NftBase>, rules: Vec<String>) -> NftChain {
    NftChain {
        name: name.into(),
        base,
        rules,
    }
}

fn hook(kind: &'static str, hook: &'static str, priority: i32) -> Option<NftBase> {
    Some(NftBase {
        kind,
        hook,
        priority,
    })
}

struct NetChains {
    fwd_in: Vec<String>,
    fwd_out: Vec<String>,
    nat_in: Vec<String>,
    nat_out: Vec<String>,
}

/// Renders the `ip` table at `step`.
pub(crate) fn render(host: &DockerHost, step: usize) -> NftRuleset {
    render_in(host, step, Family::V4)
}

/// Renders the `ip6` table at `step` (`--ip6tables`, on by default): the
/// maps and base chains, and the chains and rules of each IPv6 network
/// (moby's nftabler runs one pass per family: `ip6 daddr`, `ip6 saddr !=
/// fe80::/10` on DNAT, `meta l4proto ipv6-icmp`, no loopback-binding drop).
pub(crate) fn render6(host: &DockerHost, step: usize) -> NftRuleset {
    render_in(host, step, Family::V6)
}

/// One family's table at `step`: the networks that have that family, seen
/// through [`Network::in_family`].
fn render_in(host: &DockerHost, step: usize, fam: Family) -> NftRuleset {
    let proxy = host.daemon().userland_proxy;
    let timeline = host.timeline(step);
    let (ip, family, not_loopback, ll_skip) = match fam {
        Family::V4 => ("ip", "ip", "ip daddr != 127.0.0.0/8 ", ""),
        Family::V6 => ("ip6", "ip6", "ip6 daddr != ::1 ", "ip6 saddr != fe80::/10 "),
    };
    let nets: Vec<(String, Network)> = timeline
        .iter()
        .filter_map(|h| match h {
            Happening::Network(n) => n.in_family(fam),
            Happening::Container(_) => None,
        })
        .collect();
    let mode = |name: &str| {
        nets.iter()
            .find(|(_, n)| n.name == name)
            .map_or(GatewayMode::Nat, |(_, n)| n.gateway_mode)
    };
    let mut per: Vec<NetChains> = nets
        .iter()
        .map(|(sub, n)| net_chains(n, sub, proxy, fam))
        .collect();
    let mut raw = Vec::new();
    let mut dnat = Vec::new();
    for h in &timeline {
        let Happening::Container(c) = h else { continue };
        // filterDirectAccess: only on `nat` networks (nftabler/endpoint.go).
        for a in c.attachments().iter().filter(|a| !a.internal) {
            let Some(addr) = a.ip_in(fam) else { continue };
            if nets.iter().any(|(_, n)| n.name == a.network) && mode(&a.network) == GatewayMode::Nat
            {
                raw.push(format!(
                    "{ip} daddr {addr} iifname != \"{}\" counter drop comment \"DROP DIRECT ACCESS\"",
                    a.bridge
                ));
            }
        }
        for m in rule_mappings_in(host, c, fam) {
            let Some(i) = nets.iter().position(|(_, n)| n.name == m.att.network) else {
                continue;
            };
            let gwm = mode(&m.att.network);
            let p = m.port.proto;
            // A routed binding has no host port (moby's routed port mapper
            // clears it): no DNAT, no hairpin masquerade, no loopback drop.
            if gwm != GatewayMode::Routed {
                let iif = if proxy {
                    format!("iifname != \"{}\" ", m.att.bridge)
                } else {
                    String::new()
                };
                let daddr = m
                    .host_ip
                    .map(|h| format!("{ip} daddr {h} "))
                    .unwrap_or_default();
                dnat.push(format!(
                    "{iif}{ll_skip}{daddr}{p} dport {} counter dnat to {} comment \"DNAT\"",
                    m.port.host_port,
                    SocketAddr::new(m.ip, m.port.container_port)
                ));
            }
            if gwm != GatewayMode::NatUnprotected {
                per[i].fwd_in.push(format!(
                    "{ip} daddr {} {p} dport {} counter accept",
                    m.ip, m.port.container_port
                ));
            }
            if gwm == GatewayMode::Routed {
                continue;
            }
            if !proxy {
                per[i].nat_in.push(format!(
                    "{ip} saddr {a} {ip} daddr {a} {p} dport {} counter masquerade comment \"MASQ TO OWN PORT\"",
                    m.port.container_port,
                    a = m.ip
                ));
            }
            if let Some(h) = m.host_ip.filter(|h| h.is_loopback() && h.is_ipv4()) {
                raw.push(format!(
                    "iifname != \"lo\" ip daddr {h} {p} dport {} counter drop comment \"DROP REMOTE LOOPBACK\"",
                    m.port.host_port
                ));
            }
        }
    }
    for ((_, n), pc) in nets.iter().zip(per.iter_mut()) {
        if n.internal {
            continue;
        }
        pc.fwd_in.push(match n.gateway_mode {
            GatewayMode::NatUnprotected => "counter accept comment \"UNPROTECTED\"".into(),
            _ => "counter drop comment \"UNPUBLISHED PORT DROP\"".into(),
        });
    }

    let net_refs: Vec<&Network> = nets.iter().map(|(_, n)| n).collect();
    let (maps, mut chains) = base_chains(&net_refs, proxy, not_loopback, dnat, raw);
    for ((_, n), pc) in nets.iter().zip(per) {
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
    NftRuleset {
        family,
        maps,
        chains,
        semicolon: semicolon(host),
    }
}

fn semicolon(host: &DockerHost) -> bool {
    host.daemon().release() >= Version::new(29, 7, 2)
}

/// The four per-network chains' base rules (before published ports add theirs).
fn net_chains(n: &Network, sub: &str, proxy: bool, fam: Family) -> NetChains {
    let br = &n.bridge;
    let ip = match fam {
        Family::V4 => "ip",
        Family::V6 => "ip6",
    };
    let ct = "ct state established,related counter accept".to_string();
    let icc = if n.icc { "accept" } else { "drop" };
    if n.internal {
        return NetChains {
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
        };
    }
    let mut fwd_in = vec![ct.clone()];
    if n.routed() {
        fwd_in.push(match fam {
            Family::V4 => "ip protocol icmp counter accept comment \"ICMP\"".into(),
            Family::V6 => "meta l4proto ipv6-icmp counter accept comment \"ICMP\"".into(),
        });
    }
    fwd_in.push(format!("iifname \"{br}\" counter {icc} comment \"ICC\""));
    let nat_out = match (n.masquerades(), n.host_nat()) {
        (false, _) => Vec::new(),
        (true, Some(addr)) => vec![format!(
            "oifname != \"{br}\" {ip} saddr {sub} counter snat to {to} comment \"SNAT\"",
            to = addr
        )],
        (true, None) => vec![format!(
            "oifname != \"{br}\" {ip} saddr {sub} counter masquerade comment \"MASQUERADE\""
        )],
    };
    NetChains {
        fwd_in,
        fwd_out: vec![ct, "counter accept comment \"OUTGOING\"".into()],
        nat_in: match (proxy, n.host_nat()) {
            (true, _) => Vec::new(),
            (false, Some(ip)) => vec![format!(
                "fib saddr type local counter snat to {ip} comment \"SNAT FROM HOST\""
            )],
            (false, None) => vec![
                "fib saddr type local counter masquerade comment \"MASQUERADE FROM HOST\"".into(),
            ],
        },
        nat_out,
    }
}

/// The maps and the base chains (hooks, the DNAT and raw chains).
fn base_chains(
    nets: &[&Network],
    proxy: bool,
    not_loopback: &str,
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
    // Without the proxy, loopback traffic is DNATed too (hairpin).
    let skip = if proxy { not_loopback } else { "" };
    let output_rule = format!("{skip}fib daddr type local counter jump nat-prerouting-and-output");
    let chains = vec![
        chain(
            "filter-FORWARD",
            hook("filter", "forward", 0),
            vec![
                "oifname vmap @filter-forward-in-jumps".into(),
                "iifname vmap @filter-forward-out-jumps".into(),
            ],
        ),
        chain("nat-OUTPUT", hook("nat", "output", -100), vec![output_rule]),
        chain(
            "nat-POSTROUTING",
            hook("nat", "postrouting", 100),
            vec![
                "iifname vmap @nat-postrouting-out-jumps".into(),
                "oifname vmap @nat-postrouting-in-jumps".into(),
            ],
        ),
        chain(
            "nat-PREROUTING",
            hook("nat", "prerouting", -100),
            vec!["fib daddr type local counter jump nat-prerouting-and-output".into()],
        ),
        chain("nat-prerouting-and-output", None, dnat),
        chain("raw-PREROUTING", hook("filter", "prerouting", -300), raw),
    ];
    (maps, chains)
}
