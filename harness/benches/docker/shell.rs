//! The same-work shell baseline: a Docker host's rendering
//! (`DockerHost::rendered`: its lab wiring, kernel settings and ruleset)
//! turned into a shell script — `ip netns add` (one
//! `ip -batch`), one `ip -batch` per namespace (links, addresses, routes,
//! permanent neighbours, hairpin), one `sysctl` per namespace that has
//! settings, and the same restore tool fed the same text.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use netrig::Endpoint;
use netrig::docker::DockerHost;

use super::HOST_NODE;

/// A rendered baseline: the bring-up script, the teardown script, and the
/// host namespace's name (for the witness link).
pub struct Script {
    /// Creates everything and loads the rules.
    pub up: String,
    /// Deletes every namespace.
    pub down: String,
    /// The `ip netns` name of node `host`.
    pub host_ns: String,
}

/// A bridge of the wiring: node, name, MAC, addresses.
type Bridge<'a> = (&'a str, &'a str, Option<[u8; 6]>, &'a [String]);

/// One interface of the lab as the script names it.
#[derive(Clone)]
struct Iface {
    node: usize,
    name: String,
    mac: String,
    addrs: Vec<String>,
}

/// Renders `host`'s bring-up as a script; rule files are written to `dir`.
pub fn render(host: &DockerHost, prefix: &str, dir: &std::path::Path) -> Script {
    let rendered = host.rendered();
    let spec = &rendered.wiring;
    let ns = |i: usize| format!("{prefix}{i}");
    let node_idx: BTreeMap<&str, usize> = spec
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.as_str(), i))
        .collect();
    // The wiring's own type is private to netrig: its parts go in as slices.
    let links: Vec<(&Endpoint, &Endpoint)> = spec.links.iter().map(|l| (&l.a, &l.b)).collect();
    let addresses: Vec<(&str, &str, &String)> = spec
        .addresses
        .iter()
        .map(|a| (a.node.as_str(), a.ifname.as_str(), &a.cidr))
        .collect();
    let bridges: Vec<Bridge> = (spec.bridges.iter())
        .map(|b| (b.node.as_str(), b.name.as_str(), b.mac, b.addrs.as_slice()))
        .collect();
    let (ifaces, seg) = interfaces(&bridges, &links, &addresses, &node_idx);
    let mut batches: Vec<String> = vec![String::new(); spec.nodes.len()];
    for b in &mut batches {
        b.push_str("link set lo up\n");
    }
    let find = |node: usize, name: &str| {
        ifaces
            .iter()
            .position(|i| i.node == node && i.name == name)
            .expect("interface of the spec")
    };
    for b in &spec.bridges {
        let i = &ifaces[find(node_idx[b.node.as_str()], &b.name)];
        let _ = writeln!(
            batches[i.node],
            "link add {} address {} type bridge\nlink set {} up",
            i.name, i.mac, i.name
        );
    }
    // Veths are created in the node of the bridge-port end (its peer is
    // moved into the other namespace), so every creator runs first.
    let mut peers_up = Vec::new();
    for l in &spec.links {
        let (local, peer) = if l.a.bridge.is_none() && l.b.bridge.is_some() {
            (&l.b, &l.a)
        } else {
            (&l.a, &l.b)
        };
        let (ln, pn) = (node_idx[local.node.as_str()], node_idx[peer.node.as_str()]);
        let (li, pi) = (
            &ifaces[find(ln, &local.ifname)],
            &ifaces[find(pn, &peer.ifname)],
        );
        let netns = if ln == pn {
            String::new()
        } else {
            format!(" netns {}", ns(pn))
        };
        let _ = writeln!(
            batches[ln],
            "link add {} address {} type veth peer name {} address {}{netns}",
            li.name, li.mac, pi.name, pi.mac
        );
        match &local.bridge {
            Some(br) => {
                let _ = writeln!(batches[ln], "link set {} master {br} up", li.name);
            }
            None => {
                let _ = writeln!(batches[ln], "link set {} up", li.name);
            }
        }
        peers_up.push((pn, pi.name.clone(), peer.bridge.clone()));
    }
    for (pn, name, bridge) in peers_up {
        let master = bridge.map(|b| format!(" master {b}")).unwrap_or_default();
        let _ = writeln!(batches[pn], "link set {name}{master} up");
    }
    for i in &ifaces {
        for a in &i.addrs {
            let _ = writeln!(batches[i.node], "addr add {a} dev {}", i.name);
        }
    }
    for r in &spec.routes {
        let n = node_idx[r.node.as_str()];
        let dest = r.route.dest.clone().unwrap_or_else(|| "default".into());
        let via = r
            .route
            .via
            .as_ref()
            .map(|v| format!(" via {v}"))
            .unwrap_or_default();
        let dev = r
            .route
            .dev
            .as_ref()
            .map(|d| format!(" dev {d}"))
            .unwrap_or_default();
        let _ = writeln!(batches[n], "route add {dest}{via}{dev}");
    }
    if spec.static_neighbours {
        neighbours(&ifaces, &seg, &mut batches);
    }
    let mut sysctls: Vec<Vec<String>> = spec
        .nodes
        .iter()
        .map(|n| {
            let mut v = Vec::new();
            if !n.ipv6 {
                v.push("net.ipv6.conf.all.disable_ipv6=1".to_string());
                v.push("net.ipv6.conf.default.disable_ipv6=1".to_string());
            } else {
                v.push("net.ipv6.conf.all.accept_dad=0".to_string());
                v.push("net.ipv6.conf.default.accept_dad=0".to_string());
            }
            if n.forwarding {
                v.push("net.ipv4.ip_forward=1".to_string());
            }
            v.extend(n.sysctls.iter().map(|(k, val)| format!("{k}={val}")));
            v
        })
        .collect();
    for (node, key, value) in &rendered.sysctls {
        // Written once: a setting the node was created with is not repeated.
        let list = &mut sysctls[node_idx[node.as_str()]];
        let s = format!("{key}={value}");
        if !list.contains(&s) {
            list.push(s);
        }
    }
    for (node, port) in &rendered.hairpin {
        let _ = writeln!(
            batches[node_idx[node.as_str()]],
            "link set dev {port} type bridge_slave hairpin on"
        );
    }
    let mut up = String::new();
    let adds: Vec<String> = (0..spec.nodes.len())
        .map(|i| format!("netns add {}", ns(i)))
        .collect();
    let _ = writeln!(up, "ip -batch - <<'EOF'\n{}\nEOF", adds.join("\n"));
    // The host (every veth's creator in a Docker lab) first, then the rest.
    let host_idx = node_idx[HOST_NODE];
    let order = std::iter::once(host_idx).chain((0..spec.nodes.len()).filter(|&i| i != host_idx));
    for i in order {
        let _ = writeln!(up, "ip -n {} -batch - <<'EOF'\n{}EOF", ns(i), batches[i]);
    }
    // After the links: some of Docker's settings name the bridge.
    for (i, s) in sysctls.iter().enumerate() {
        if !s.is_empty() {
            let quoted: Vec<String> = s.iter().map(|kv| format!("'{kv}'")).collect();
            let _ = writeln!(
                up,
                "nsenter --net=/run/netns/{} sysctl -qw {}",
                ns(i),
                quoted.join(" ")
            );
        }
    }
    let rules = dir.join("rules");
    std::fs::write(&rules, &rendered.rules).expect("write rules");
    let argv = match host.backend() {
        netrig::Backend::IptablesNft => "iptables-nft-restore -w",
        netrig::Backend::IptablesLegacy => "iptables-legacy-restore -w",
        netrig::Backend::Nftables => "nft -f -",
    };
    let _ = writeln!(
        up,
        "nsenter --net=/run/netns/{} {argv} < {}",
        ns(host_idx),
        rules.display()
    );
    if let Some(six) = &rendered.rules6 {
        let rules6 = dir.join("rules6");
        std::fs::write(&rules6, six).expect("write rules");
        let _ = writeln!(
            up,
            "nsenter --net=/run/netns/{} {} < {}",
            ns(host_idx),
            argv.replacen("iptables", "ip6tables", 1),
            rules6.display()
        );
    }
    let dels: Vec<String> = (0..spec.nodes.len())
        .map(|i| format!("netns del {}", ns(i)))
        .collect();
    let down = format!("ip -batch - <<'EOF'\n{}\nEOF\n", dels.join("\n"));
    Script {
        up,
        down,
        host_ns: ns(host_idx),
    }
}

/// Every interface the spec creates (bridges and veth ends; `lo` when it
/// gets addresses: `addresses` are (node, interface, CIDR)), with a MAC,
/// and its L2 segment id.
fn interfaces(
    bridges: &[Bridge],
    links: &[(&Endpoint, &Endpoint)],
    addresses: &[(&str, &str, &String)],
    node_idx: &BTreeMap<&str, usize>,
) -> (Vec<Iface>, Vec<usize>) {
    let mut ifaces: Vec<Iface> = Vec::new();
    let add = |ifaces: &mut Vec<Iface>,
               node: &str,
               name: &str,
               mac: Option<[u8; 6]>,
               addrs: &[String]|
     -> usize {
        let n = node_idx[node];
        let k = ifaces.len();
        let mac = mac.unwrap_or([0x02, 0xb0, (n >> 8) as u8, n as u8, (k >> 8) as u8, k as u8]);
        ifaces.push(Iface {
            node: n,
            name: name.into(),
            mac: mac.map(|b| format!("{b:02x}")).join(":"),
            addrs: addrs.to_vec(),
        });
        k
    };
    let bridge_ifs: Vec<usize> = bridges
        .iter()
        .map(|&(node, name, mac, addrs)| add(&mut ifaces, node, name, mac, addrs))
        .collect();
    let mut parent: Vec<usize> = (0..bridge_ifs.len()).collect();
    for &(la, lb) in links {
        let a = add(&mut ifaces, &la.node, &la.ifname, la.mac, &la.addrs);
        let b = add(&mut ifaces, &lb.node, &lb.ifname, lb.mac, &lb.addrs);
        parent.extend([a, a]);
        for e in [(la, a), (lb, b)] {
            if let Some(br) = &e.0.bridge {
                let bi = bridges.iter().position(|x| x.1 == br && x.0 == e.0.node);
                let root = find(&mut parent, bridge_ifs[bi.expect("bridge of the spec")]);
                let me = find(&mut parent, e.1);
                parent[me] = root;
            }
        }
    }
    for &(node, ifname, cidr) in addresses {
        match ifaces
            .iter_mut()
            .find(|i| i.node == node_idx[node] && i.name == ifname)
        {
            Some(i) => i.addrs.push(cidr.clone()),
            None => {
                let k = add(
                    &mut ifaces,
                    node,
                    ifname,
                    Some([0; 6]),
                    std::slice::from_ref(cidr),
                );
                parent.push(k);
            }
        }
    }
    let seg = (0..ifaces.len()).map(|i| find(&mut parent, i)).collect();
    (ifaces, seg)
}

fn find(p: &mut [usize], mut x: usize) -> usize {
    while p[x] != x {
        p[x] = p[p[x]];
        x = p[x];
    }
    x
}

/// Permanent neighbour entries for every pair of addressed interfaces on
/// one segment, both ways — what netrig's plan adds.
fn neighbours(ifaces: &[Iface], seg: &[usize], batches: &mut [String]) {
    for (x, xi) in ifaces.iter().enumerate() {
        if xi.name == "lo" {
            continue;
        }
        for (y, yi) in ifaces.iter().enumerate() {
            if x == y || seg[x] != seg[y] || yi.name == "lo" || yi.addrs.is_empty() {
                continue;
            }
            for a in &xi.addrs {
                let ip = a.split('/').next().unwrap_or(a);
                let _ = writeln!(
                    batches[yi.node],
                    "neigh add {ip} lladdr {} dev {} nud permanent",
                    xi.mac, yi.name
                );
            }
        }
    }
}
