//! Docker-host bring-up and teardown: `LabSpec::from(host).up()` + drop against, in the
//! same run, (a) a shell script doing the same work (`shell.rs`: the same
//! namespaces, veths, addresses, routes, neighbours and sysctls with
//! `ip -batch`, and the same rendered ruleset loaded with the same restore
//! tool) and (b) the floor: the slowest unavoidable step alone — the bare
//! lab of the same shape (netrig's `LabSpec::up` + drop), or one load of the
//! same ruleset into a fresh namespace, whichever is slower. With 28+ and an
//! iptables backend the host has two rulesets (IPv4, and the ip6tables
//! skeleton), which netrig loads one after the other (with iptables-nft the
//! second once the first one's last table is committed); the floor takes
//! the slower of the two loads, each timed alone in a fresh namespace (the
//! tool until it exits): a lower bound that assumes the two would overlap
//! perfectly, which the kernel does not allow (see `firewall/ip6.rs`).
//!
//! The work, per layout/backend and N = 1, 8, 32, 64: N containers on
//! docker0 each publishing one port (defaults otherwise: userland proxy on).
//! Then many labs at once: K one-container hosts brought up and dropped
//! concurrently (K = 1, 2, 4, 8, 16), total wall against K × one.
//!
//! As in the lab bench, teardown is timed until it returns, and each run
//! waits (untimed) for the kernel to destroy the previous run's namespaces,
//! seen through a witness link. The bench runs in a private mount namespace
//! with a tmpfs on `/run`, so the baseline's `ip netns add` never reaches
//! the host.
//!
//! `NETRIG_BENCH_REPS` (5), `NETRIG_BENCH_SIZES` (1,8,32,64),
//! `NETRIG_BENCH_COMBOS` (all, e.g. `classic/iptables-nft,v29/nftables`),
//! `NETRIG_BENCH_PARALLEL` (1,2,4,8,16; empty to skip),
//! `NETRIG_BENCH_IPV6` (1; 0 to skip: `ipv6.rs`, IPv6 on against off).

mod ipv6;
mod parallel;
mod shell;

// The witness namespace netrig's own tests use (public API + rtnetlink).
#[path = "../../../tests/common/witness.rs"]
mod witness;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use netrig::docker::{ContainerSpec, DaemonOptions, DockerHost, Layout};
use netrig::{Backend, Lab, LabSpec, NodeSpec};
use witness::Witness;

/// The lab node that is the Docker host in a Docker host's own lab.
pub const HOST_NODE: &str = "host";

/// A Docker host with `n` containers on docker0, each publishing one port.
pub fn docker_host(name: &str, layout: Layout, backend: Backend, n: usize) -> DockerHost {
    let mut b = DockerHost::builder()
        .name(name)
        .layout(layout)
        .backend(backend)
        .daemon(DaemonOptions {
            // The nftables backend never turns forwarding on itself.
            ip_forward_was_on: backend == Backend::Nftables,
            ..Default::default()
        });
    for i in 0..n {
        b = b.container(ContainerSpec::new(format!("c{i}")).publish(format!("{}:80", 8000 + i)));
    }
    b.build().expect("a valid Docker host")
}

fn netrig_once(host: &DockerHost, witness: &mut Witness) -> Duration {
    let t = Instant::now();
    let lab = LabSpec::from(host.clone()).up().expect("docker up");
    let up = t.elapsed();
    witness
        .attach(&lab.node(HOST_NODE).unwrap(), "tow", "wit")
        .expect("witness link");
    let t = Instant::now();
    drop(lab);
    let down = t.elapsed();
    wait_witness(witness);
    up + down
}

/// The bare lab of the same shape: namespaces, links, addresses, routes,
/// neighbours and node sysctls; no Docker settings, rules or proxies.
fn bare_lab_once(host: &DockerHost, witness: &mut Witness) -> Duration {
    let spec = bare_spec(host);
    let t = Instant::now();
    let lab = spec.up().expect("lab up");
    let up = t.elapsed();
    witness
        .attach(&lab.node(HOST_NODE).unwrap(), "tow", "wit")
        .expect("witness link");
    let t = Instant::now();
    drop(lab);
    let down = t.elapsed();
    wait_witness(witness);
    up + down
}

/// The host's lab wiring (`DockerHost::rendered().wiring`) as a lab spec of
/// its own: the same nodes, aliases, bridges, links, addresses and routes,
/// no Docker part (written as a topology file and parsed, outside the timed
/// region).
fn bare_spec(host: &DockerHost) -> LabSpec {
    let w = host.rendered().wiring;
    let q = |s: &str| toml::Value::String(s.to_string()).to_string();
    let list = |items: &[String]| {
        let q: Vec<String> = items.iter().map(|s| q(s)).collect();
        format!("[{}]", q.join(", "))
    };
    let mac = |m: &[u8; 6]| {
        let hex: Vec<String> = m.iter().map(|b| format!("{b:02x}")).collect();
        q(&hex.join(":"))
    };
    let mut out = format!("name = {}\n", q(&w.name));
    if !w.static_neighbours {
        out.push_str("static_neighbours = false\n");
    }
    for n in &w.nodes {
        let _ = write!(out, "\n[[node]]\nname = {}\n", q(&n.name));
        let _ = writeln!(out, "ipv6 = {}\nforwarding = {}", n.ipv6, n.forwarding);
        let kv: Vec<String> = n.sysctls.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(out, "sysctls = {}", list(&kv));
    }
    for (name, target) in &w.aliases {
        let _ = write!(
            out,
            "\n[[alias]]\nname = {}\nnode = {}\n",
            q(name),
            q(target)
        );
    }
    for b in &w.bridges {
        let _ = write!(
            out,
            "\n[[bridge]]\nnode = {}\nname = {}\naddresses = {}\n",
            q(&b.node),
            q(&b.name),
            list(&b.addrs)
        );
        if let Some(m) = &b.mac {
            let _ = writeln!(out, "mac = {}", mac(m));
        }
    }
    for l in &w.links {
        out.push_str("\n[[link]]\n");
        for (key, e) in [("a", &l.a), ("b", &l.b)] {
            let mut parts = vec![
                format!("node = {}", q(&e.node)),
                format!("ifname = {}", q(&e.ifname)),
                format!("addresses = {}", list(&e.addrs)),
            ];
            if let Some(b) = &e.bridge {
                parts.push(format!("bridge = {}", q(b)));
            }
            if let Some(m) = &e.mac {
                parts.push(format!("mac = {}", mac(m)));
            }
            if let Some(m) = e.mtu {
                parts.push(format!("mtu = {m}"));
            }
            let _ = writeln!(out, "{key} = {{ {} }}", parts.join(", "));
        }
    }
    for a in &w.addresses {
        let _ = write!(
            out,
            "\n[[address]]\nnode = {}\nifname = {}\naddress = {}\n",
            q(&a.node),
            q(&a.ifname),
            q(&a.cidr)
        );
    }
    for r in &w.routes {
        let to = r.route.dest.as_deref().unwrap_or("default");
        let _ = write!(out, "\n[[route]]\nnode = {}\nto = {}\n", q(&r.node), q(to));
        if let Some(v) = &r.route.via {
            let _ = writeln!(out, "via = {}", q(v));
        }
        if let Some(d) = &r.route.dev {
            let _ = writeln!(out, "dev = {}", q(d));
        }
    }
    netrig::topology::parse(&out, "bare.toml").expect("the host's wiring as a file")
}

/// One load of the host's rendered ruleset into a fresh namespace (made
/// and destroyed outside the timed region).
fn rules_once(host: &DockerHost, text: &str, witness: &mut Witness) -> Duration {
    let lab = Lab::builder("floor")
        .node(HOST_NODE)
        .up()
        .expect("namespace");
    let node = lab.node(HOST_NODE).unwrap();
    let t = Instant::now();
    node.load_rules(host.backend(), text).expect("ruleset load");
    let load = t.elapsed();
    witness.attach(&node, "tow", "wit").expect("witness link");
    drop(lab);
    wait_witness(witness);
    load
}

/// One load of the host's ip6tables skeleton (28+, iptables backends) into
/// a fresh namespace with IPv6 on, timed as [`rules_once`].
fn rules6_once(host: &DockerHost, text: &str, witness: &mut Witness) -> Duration {
    let lab = Lab::builder("floor6")
        .node(NodeSpec {
            ipv6: true,
            ..NodeSpec::from(HOST_NODE)
        })
        .up()
        .expect("namespace");
    let node = lab.node(HOST_NODE).unwrap();
    let t = Instant::now();
    let restore = match host.backend() {
        Backend::IptablesLegacy => "ip6tables-legacy-restore",
        _ => "ip6tables-nft-restore",
    };
    node.command(restore)
        .arg("-w")
        .input(text)
        .checked_output()
        .expect("ip6tables load");
    let load = t.elapsed();
    witness.attach(&node, "tow", "wit").expect("witness link");
    drop(lab);
    wait_witness(witness);
    load
}

/// The pure part: rendering the lab wiring, the ruleset(s) and the kernel
/// settings from the model (`DockerHost::rendered`; no system calls).
fn render_once(host: &DockerHost) -> Duration {
    let t = Instant::now();
    let rendered = host.rendered();
    let took = t.elapsed();
    std::hint::black_box(rendered);
    took
}

fn shell_once(host: &DockerHost, witness: &mut Witness) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("nd{}x", std::process::id() % 10000);
    let script = shell::render(host, &prefix, dir.path());
    let (up_file, down_file) = (dir.path().join("up.sh"), dir.path().join("down.sh"));
    std::fs::write(&up_file, &script.up).unwrap();
    std::fs::write(&down_file, &script.down).unwrap();
    let t = Instant::now();
    run_sh_file(&up_file);
    let up = t.elapsed();
    run_sh(&format!(
        "ip -n {} link add tow type veth peer name wit netns {}",
        script.host_ns,
        witness.path()
    ));
    let t = Instant::now();
    run_sh_file(&down_file);
    let down = t.elapsed();
    wait_witness(witness);
    up + down
}

pub fn wait_witness(witness: &mut Witness) {
    assert!(
        witness.wait_link_removed("wit", Duration::from_secs(30)),
        "witness link never removed"
    );
}

/// Runs a script file (a big lab's script is too long for `sh -c`).
fn run_sh_file(path: &std::path::Path) {
    let out = std::process::Command::new("sh")
        .arg("-e")
        .arg(path)
        .output()
        .expect("run sh");
    assert!(
        out.status.success(),
        "shell baseline failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(path).unwrap_or_default()
    );
}

fn run_sh(script: &str) {
    let out = std::process::Command::new("sh")
        .args(["-ec", script])
        .output()
        .expect("run sh");
    assert!(
        out.status.success(),
        "shell baseline failed: {}\n{script}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Gives this process a private mount namespace with an empty tmpfs on
/// `/run`, so the baseline's `ip netns add` mounts never reach the host.
fn private_run_dir() {
    use nix::mount::{MsFlags, mount};
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).expect("unshare mount namespace");
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .expect("make / private");
    mount(
        Some("tmpfs"),
        "/run",
        Some("tmpfs"),
        MsFlags::empty(),
        None::<&str>,
    )
    .expect("tmpfs on /run");
    std::fs::create_dir_all("/run/netns").unwrap();
}

pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn env_list<T: std::str::FromStr>(key: &str, default: &str) -> Vec<T> {
    std::env::var(key)
        .unwrap_or_else(|_| default.to_string())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

/// Valid layout/backend pairs (nftables exists only from Docker 29).
fn combos() -> Vec<(Layout, Backend)> {
    let all = "classic/iptables-nft,classic/iptables-legacy,v28/iptables-nft,v28/iptables-legacy,v29/iptables-nft,v29/iptables-legacy,v29/nftables";
    std::env::var("NETRIG_BENCH_COMBOS")
        .unwrap_or_else(|_| all.to_string())
        .split(',')
        .filter_map(|c| {
            let (l, b) = c.trim().split_once('/')?;
            Some((l.parse().ok()?, b.parse().ok()?))
        })
        .collect()
}

fn table(layout: Layout, backend: Backend, sizes: &[usize], reps: usize, witness: &mut Witness) {
    println!(
        "\n{layout} / {backend}: LabSpec::from(host).up() + drop, N containers publishing one port each, median of {reps}"
    );
    println!(
        "{:>4} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>9} {:>9} {:>8}",
        "N",
        "netrig ms",
        "shell ms",
        "lab ms",
        "rules ms",
        "rules6 ms",
        "lab+rules",
        "render ms",
        "vs shell",
        "vs floor",
        "overlap"
    );
    for &n in sizes {
        let host = docker_host("bench", layout, backend, n);
        let rendered = host.rendered();
        let (text, six) = (rendered.rules, rendered.rules6);
        let (mut a, mut b, mut c, mut d, mut e) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..reps {
            // Interleaved, so drift on a shared machine hits all of them alike.
            a.push(netrig_once(&host, witness));
            b.push(shell_once(&host, witness));
            c.push(bare_lab_once(&host, witness));
            d.push(rules_once(&host, &text, witness));
            if let Some(six) = &six {
                e.push(rules6_once(&host, six, witness));
            }
        }
        let (a, b, c, d) = (ms(median(a)), ms(median(b)), ms(median(c)), ms(median(d)));
        // The floor's rules step: the slower family's load alone.
        let e = (!e.is_empty()).then(|| ms(median(e)));
        let rules = d.max(e.unwrap_or(0.0));
        let r = ms(median((0..reps).map(|_| render_once(&host)).collect()));
        let floor = c.max(rules);
        // How much of the shorter step netrig hid behind the longer one.
        let overlap = ((c + rules - a) / c.min(rules)).clamp(-9.99, 9.99);
        let e = e.map_or_else(|| "-".to_string(), |e| format!("{e:.2}"));
        println!(
            "{n:>4} {a:>10.2} {b:>10.2} {c:>10.2} {d:>10.2} {e:>10} {:>10.2} {r:>10.2} {:>8.2}x {:>8.2}x {:>7.0}%",
            c + rules,
            b / a,
            a / floor,
            overlap * 100.0
        );
    }
}

fn main() {
    if !netrig::privilege::should_run("bench docker").unwrap_or(false) {
        return;
    }
    private_run_dir();
    let reps = env_list::<usize>("NETRIG_BENCH_REPS", "5")
        .first()
        .copied()
        .unwrap_or(5)
        .max(1);
    let sizes = env_list::<usize>("NETRIG_BENCH_SIZES", "1,8,32,64");
    let mut witness = Witness::new().expect("witness namespace");
    let combos = combos();
    // Warm up: first namespace creation, module loads and tool caches are not what we measure.
    for &(layout, backend) in &combos {
        let host = docker_host("warm", layout, backend, 1);
        netrig_once(&host, &mut witness);
        shell_once(&host, &mut witness);
    }
    println!(
        "columns: netrig = LabSpec::from(host).up() + drop; shell = the same work as a script (ip -batch, sysctl, restore tool);"
    );
    println!(
        "lab = the bare lab of the same shape; rules = one load of the same (IPv4) ruleset into a fresh namespace;"
    );
    println!(
        "rules6 = one load of the ip6tables skeleton (28+, iptables backends) alone (netrig loads it after the IPv4 one);"
    );
    println!(
        "vs shell = shell / netrig (goal >= 1.5x); vs floor = netrig / max(lab, rules, rules6) (goal <= 1.3x);"
    );
    println!(
        "overlap = (lab + max(rules, rules6) - netrig) / min(lab, max(rules, rules6)): the share of the shorter step hidden behind the longer;"
    );
    println!(
        "render = the pure part (lab wiring, rulesets, settings rendered from the model), included in netrig"
    );
    for (layout, backend) in combos {
        table(layout, backend, &sizes, reps, &mut witness);
    }
    if env_list::<usize>("NETRIG_BENCH_IPV6", "1").first() == Some(&1) {
        ipv6::report(reps, &mut witness);
    }
    let ks = env_list::<usize>("NETRIG_BENCH_PARALLEL", "1,2,4,8,16");
    if !ks.is_empty() {
        parallel::report(&ks, reps);
    }
}
