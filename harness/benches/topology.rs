//! Generic labs from a file against the same labs built in code, in the same
//! run; and the "50 LANs of 10 nodes behind routers" lab at 100, 250 and 500
//! nodes: bring-up time per node (linear growth keeps it flat) and the
//! process's memory.
//!
//! The work: a `core` node, and per LAN a router linked to the core and nine
//! hosts on the router's bridge, each with an address and a default route;
//! the core routes every LAN through its router. `file` parses that lab's
//! TOML text (written by `lans_toml`, checked to parse to the very lab
//! `code` builds) and brings it up;
//! `code` brings up the `LabSpec` built in Rust. Each run is torn down and
//! the kernel's asynchronous namespace cleanup waited for (a witness link),
//! untimed, before the next.
//!
//! Then `netrig import` against writing the host by hand: a 50-container
//! Docker host (v28, two user networks, ten published ports) is brought up
//! once as the "real" host; each rep, `netrig snapshot --no-docker` runs in
//! its host node, the Docker JSON a daemon would answer for that host is
//! added (written from the host's model, untimed: it is the daemon's work,
//! not netrig's), `netrig import` makes a topology of the folder and that
//! topology is loaded and brought up — against parsing and bringing up the
//! hand-written file of the same host. The `netrig` binary is the one
//! `cargo build --release -p netrig-cli` leaves beside this bench (the
//! comparison is skipped, saying so, without it); the import must report no
//! drift, so both sides build the same host.
//!
//! Run: `cargo bench --bench topology` (root; prints a skip otherwise).

// The witness namespace netrig's own tests use (public API + rtnetlink).
#[path = "../../tests/common/witness.rs"]
mod witness;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use netrig::docker::{DockerHost, Networking};
use netrig::{Endpoint, Lab, LabSpec, Route};
use witness::Witness;

/// `lans` LANs of ten nodes (a router and nine hosts) behind a core node.
fn lans(name: &str, lans: usize) -> LabSpec {
    let mut spec = Lab::builder(name).node("core");
    for l in 0..lans {
        let r = format!("r{l}");
        spec = spec
            .node(&r)
            .link(
                Endpoint::new("core", format!("c{l}")).addr(format!("10.255.{l}.1/30")),
                Endpoint::new(&r, "up").addr(format!("10.255.{l}.2/30")),
            )
            .bridge(&r, "br0", [format!("10.{l}.0.1/24")])
            .route(&r, Route::to("default").via(format!("10.255.{l}.1")))
            .route(
                "core",
                Route::to(format!("10.{l}.0.0/24")).via(format!("10.255.{l}.2")),
            );
        for h in 0..9 {
            let host = format!("h{l}-{h}");
            spec = spec
                .node(&host)
                .link(
                    Endpoint::new(&r, format!("p{h}")).bridge("br0"),
                    Endpoint::new(&host, "eth0").addr(format!("10.{l}.0.{}/24", h + 2)),
                )
                .route(&host, Route::to("default").via(format!("10.{l}.0.1")));
        }
    }
    spec
}

/// The same lab as [`lans`], as a topology file's text; it parses to a
/// lab equal to [`lans`]'s (checked), so `file` and `code` do the same work.
fn lans_toml(name: &str, n: usize) -> String {
    let mut t = format!("name = {name:?}\n\n[[node]]\nname = \"core\"\n");
    let route = |t: &mut String, node: &str, to: &str, via: &str| {
        let _ = write!(
            t,
            "\n[[route]]\nnode = {node:?}\nto = {to:?}\nvia = {via:?}\n"
        );
    };
    let mut routes = String::new();
    for l in 0..n {
        let r = format!("r{l}");
        let _ = write!(
            t,
            "\n[[node]]\nname = {r:?}\n\n[[link]]\n\
             a = {{ node = \"core\", ifname = \"c{l}\", addresses = [\"10.255.{l}.1/30\"] }}\n\
             b = {{ node = {r:?}, ifname = \"up\", addresses = [\"10.255.{l}.2/30\"] }}\n\n\
             [[bridge]]\nnode = {r:?}\nname = \"br0\"\naddresses = [\"10.{l}.0.1/24\"]\n"
        );
        route(&mut routes, &r, "default", &format!("10.255.{l}.1"));
        route(
            &mut routes,
            "core",
            &format!("10.{l}.0.0/24"),
            &format!("10.255.{l}.2"),
        );
        for h in 0..9 {
            let host = format!("h{l}-{h}");
            let _ = write!(
                t,
                "\n[[node]]\nname = {host:?}\n\n[[link]]\n\
                 a = {{ node = {r:?}, ifname = \"p{h}\", bridge = \"br0\" }}\n\
                 b = {{ node = {host:?}, ifname = \"eth0\", addresses = [\"10.{l}.0.{}/24\"] }}\n",
                h + 2
            );
            route(&mut routes, &host, "default", &format!("10.{l}.0.1"));
        }
    }
    t.push_str(&routes);
    let parsed = netrig::topology::parse(&t, "lans.toml").expect("parse");
    assert_eq!(parsed, lans(name, n), "the file is the lab built in code");
    t
}

fn settle(lab: Lab, witness: &mut Witness) -> Duration {
    // The last namespace made is the last closed: its veth goes with the
    // kernel's last cleanup batch of this lab, so the next lab does not
    // pay for this one's teardown.
    let last = lab.namespace_names().pop().expect("a node");
    witness
        .attach(&lab.node(&last).unwrap(), "tow", "wit")
        .expect("witness link");
    let t = Instant::now();
    drop(lab);
    let down = t.elapsed();
    assert!(
        witness.wait_link_removed("wit", Duration::from_secs(60)),
        "witness link never removed"
    );
    down
}

fn from_file(text: &str, witness: &mut Witness) -> Duration {
    let t = Instant::now();
    let lab = netrig::topology::parse(text, "lans.toml")
        .expect("parse")
        .up()
        .expect("up");
    let up = t.elapsed();
    settle(lab, witness);
    up
}

fn from_code(n: usize, witness: &mut Witness) -> Duration {
    let t = Instant::now();
    let lab = lans("lans", n).up().expect("up");
    let up = t.elapsed();
    settle(lab, witness);
    up
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The hand-written Docker host: 50 containers, 17 on the default bridge,
/// 17 on `n1`, 16 on `n2`, every fifth publishing a port.
fn fifty_containers() -> String {
    let mut t = String::from(
        "name = \"hand\"\n[daemon]\nlayout = \"v28\"\nbackend = \"iptables-nft\"\n\n\
         [[network]]\nname = \"n1\"\n\n[[network]]\nname = \"n2\"\n",
    );
    for i in 0..50 {
        let _ = write!(t, "\n[[container]]\nname = \"c{i:02}\"\n");
        match i / 17 {
            0 => {}
            1 => t.push_str("network = \"n1\"\n"),
            _ => t.push_str("network = \"n2\"\n"),
        }
        if i % 5 == 0 {
            let _ = writeln!(t, "ports = [\"{}:80\"]", 8000 + i);
        }
    }
    t
}

/// `docker info`, `docker network inspect` and `docker inspect` JSON as a
/// daemon answers them for `host` (the fields `netrig import` reads, in the
/// daemon's format), creation times in the host's order.
fn docker_json(host: &DockerHost, dir: &Path) {
    let time = |i: usize| format!("2026-12-05T16:00:{:02}.{:09}Z", i / 1000, i % 1000 + 1);
    // A 64-hex id per name (FNV-1a, repeated), as Docker's ids look.
    let hex = |seed: &str| {
        let mut x: u64 = 0xcbf2_9ce4_8422_2325;
        for b in seed.bytes() {
            x = (x ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        format!("{x:016x}").repeat(4)
    };
    let mut nets = Vec::new();
    for (i, n) in host.networks().iter().enumerate() {
        let members: Vec<String> = host
            .containers()
            .iter()
            .filter_map(|c| match &c.networking {
                Networking::Bridge(a) => a.iter().find(|a| a.network == n.name).map(|a| {
                    format!(
                        "\"{}\": {{\"Name\": \"{}\", \"IPv4Address\": \"{}/{}\"}}",
                        hex(&c.name),
                        c.name,
                        a.ip,
                        a.prefix
                    )
                }),
                _ => None,
            })
            .collect();
        let opts = if n.is_default {
            format!(
                "\"com.docker.network.bridge.default_bridge\": \"true\", \"com.docker.network.bridge.name\": \"{}\"",
                n.bridge
            )
        } else {
            String::new()
        };
        nets.push(format!(
            "{{\"Name\": \"{}\", \"Id\": \"{}\", \"Created\": \"{}\", \"Driver\": \"bridge\", \"Internal\": false, \
             \"IPAM\": {{\"Config\": [{{\"Subnet\": \"{}\", \"Gateway\": \"{}\"}}]}}, \"Options\": {{{opts}}}, \"Containers\": {{{}}}}}",
            n.name,
            n.id,
            time(i),
            n.subnet,
            n.gateway,
            members.join(", ")
        ));
    }
    let mut ctrs = Vec::new();
    for (i, c) in host.containers().iter().enumerate() {
        let Networking::Bridge(a) = &c.networking else {
            panic!("bridge containers only");
        };
        let mode = if a[0].network == "bridge" {
            "bridge"
        } else {
            &a[0].network
        };
        let ports: Vec<String> = c
            .ports
            .iter()
            .map(|p| {
                format!(
                    "\"{}/tcp\": [{{\"HostIp\": \"\", \"HostPort\": \"{}\"}}]",
                    p.container_port, p.host_port
                )
            })
            .collect();
        ctrs.push(format!(
            "{{\"Id\": \"{}\", \"Name\": \"/{}\", \"Created\": \"{}\", \"State\": {{\"Running\": true}}, \
             \"HostConfig\": {{\"NetworkMode\": \"{mode}\", \"PortBindings\": {{{}}}}}, \
             \"NetworkSettings\": {{\"Networks\": {{\"{}\": {{\"IPAddress\": \"{}\"}}}}}}}}",
            hex(&c.name),
            c.name,
            time(100 + i),
            ports.join(", "),
            a[0].network,
            a[0].ip
        ));
    }
    let w = |f: &str, t: String| std::fs::write(dir.join(f), t).expect("write JSON");
    w(
        "docker-info.json",
        format!(
            "{{\"ServerVersion\": \"28.5.2\", \"Containers\": {}}}",
            ctrs.len()
        ),
    );
    w(
        "docker-network-inspect.json",
        format!("[{}]", nets.join(",\n")),
    );
    w("docker-inspect.json", format!("[{}]", ctrs.join(",\n")));
}

/// The `netrig` binary of this build (release: beside the bench's deps dir).
fn netrig_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.parent()?.join("netrig");
    bin.is_file().then_some(bin)
}

/// One rep of snapshot + import + up: (snapshot, import, load + up).
fn imported(
    real: &Lab,
    host: &DockerHost,
    bin: &Path,
    witness: &mut Witness,
) -> (Duration, Duration, Duration) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (snap, out) = (dir.path().join("snap"), dir.path().join("imported.toml"));
    let t = Instant::now();
    real.node("host")
        .expect("host")
        .command(bin)
        .args(["snapshot", "--no-docker", "--out"])
        .arg(&snap)
        .checked_output()
        .expect("netrig snapshot");
    let snapshot = t.elapsed();
    docker_json(host, &snap);
    let t = Instant::now();
    let o = std::process::Command::new(bin)
        .arg("import")
        .arg(&snap)
        .arg("-o")
        .arg(&out)
        .output()
        .expect("netrig import");
    let import = t.elapsed();
    let report = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && report.contains("\nno drift") && report.contains("\nno IPv6 drift"),
        "import of the 50-container host: {report}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let t = Instant::now();
    let lab = netrig::topology::load(&out)
        .expect("load")
        .up()
        .expect("up");
    let up = t.elapsed();
    settle(lab, witness);
    (snapshot, import, up)
}

/// The machine's 1-minute load average (/proc/loadavg), as printed.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// Snapshot + import + up of the 50-container host against `up` of its
/// hand-written file, 25 reps each (one `up` of this host varies by ±10%
/// on a shared machine: with 9 reps the ratio of medians spread 1.10–1.39
/// over nine runs), alternating which goes first; the load
/// average before and after says how shared the machine was.
fn import_against_hand(witness: &mut Witness) {
    const REPS: usize = 25;
    let Some(bin) = netrig_binary() else {
        println!(
            "50-container host, import vs hand: skipped: no netrig binary beside this bench (run `cargo build --release -p netrig-cli` first)"
        );
        return;
    };
    let text = fifty_containers();
    let spec = netrig::topology::parse(&text.replace("\"hand\"", "\"real\""), "real.toml")
        .expect("the 50-container host parses");
    let host = spec.docker_host("host").expect("a Docker host").clone();
    let real = spec.up().expect("the real host up");
    let hand = |witness: &mut Witness| {
        let t = Instant::now();
        let lab = netrig::topology::parse(&text, "hand.toml")
            .expect("parse")
            .up()
            .expect("up");
        let up = t.elapsed();
        settle(lab, witness);
        up
    };
    let (mut by_hand, mut total, mut parts) = (Vec::new(), Vec::new(), Vec::new());
    let load_before = load();
    for i in 0..REPS {
        let first_hand = i % 2 == 0;
        if first_hand {
            by_hand.push(hand(witness));
        }
        let (s, imp, up) = imported(&real, &host, &bin, witness);
        total.push(s + imp + up);
        parts.push((s, imp, up));
        if !first_hand {
            by_hand.push(hand(witness));
        }
    }
    drop(real);
    let (h, t) = (median(by_hand), median(total.clone()));
    let mid = total.iter().position(|x| *x == t).unwrap();
    let (s, imp, up) = parts[mid];
    println!(
        "50-container host: snapshot + import + up {:.0} ms (snapshot {:.0}, import {:.0}, up {:.0}), \
         up of the hand-written file {:.0} ms (median of {REPS}): import/hand = {:.2}; load average {} before, {} after",
        ms(t),
        ms(s),
        ms(imp),
        ms(up),
        ms(h),
        t.as_secs_f64() / h.as_secs_f64(),
        load_before,
        load()
    );
}

fn main() {
    if !netrig::privilege::should_run("topology bench").unwrap_or(false) {
        return;
    }
    let mut witness = Witness::new().expect("witness namespace");
    if std::env::var_os("NETRIG_BENCH_IMPORT_ONLY").is_some() {
        import_against_hand(&mut witness);
        return;
    }

    // File against code, 10 LANs (101 nodes), alternating which goes first, 6 runs each.
    let text = lans_toml("lans", 10);
    let (mut file, mut code) = (Vec::new(), Vec::new());
    for i in 0..6 {
        // Alternate which goes first, so neither always runs on a warmer kernel.
        if i % 2 == 0 {
            file.push(from_file(&text, &mut witness));
            code.push(from_code(10, &mut witness));
        } else {
            code.push(from_code(10, &mut witness));
            file.push(from_file(&text, &mut witness));
        }
    }
    let t = Instant::now();
    for _ in 0..100 {
        netrig::topology::parse(&text, "lans.toml").expect("parse");
    }
    let parse = t.elapsed() / 100;
    let (f, c) = (median(file), median(code));
    println!(
        "101-node lab: file {:.1} ms, code {:.1} ms (median of 6): file/code = {:.3}; parsing the file alone {:.2} ms",
        ms(f),
        ms(c),
        f.as_secs_f64() / c.as_secs_f64(),
        ms(parse)
    );

    // Growth: 10, 25, 50 LANs; time per node, memory after each bring-up.
    // The sizes take turns, rep after rep (NETRIG_BENCH_REPS, default 3),
    // so a slow moment of the machine does not land on one size only.
    let reps: usize = std::env::var("NETRIG_BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    let sizes = [10, 25, 50];
    let mut ups: Vec<Vec<Duration>> = vec![Vec::new(); sizes.len()];
    for _ in 0..reps {
        for (i, &n) in sizes.iter().enumerate() {
            let nodes = n * 10 + 1;
            let text = lans_toml("lans", n);
            let rss0 = status_kib("VmRSS:");
            let t = Instant::now();
            let lab = netrig::topology::parse(&text, "lans.toml")
                .expect("parse")
                .up()
                .expect("up");
            let up = t.elapsed();
            let (rss, hwm) = (status_kib("VmRSS:"), status_kib("VmHWM:"));
            let down = settle(lab, &mut witness);
            ups[i].push(up);
            println!(
                "{nodes}-node lab from a file: up {:.0} ms ({:.0} µs per node), down {:.0} ms; \
                 process RSS {} MiB with the lab up (+{} MiB), peak {} MiB",
                ms(up),
                up.as_secs_f64() * 1e6 / nodes as f64,
                ms(down),
                rss / 1024,
                (rss.saturating_sub(rss0)) / 1024,
                hwm / 1024
            );
        }
    }
    let per_node: Vec<f64> = sizes
        .iter()
        .zip(ups)
        .map(|(&n, v)| {
            let us = median(v).as_secs_f64() * 1e6 / (n * 10 + 1) as f64;
            println!(
                "{} nodes: {us:.0} µs per node (median of {reps})",
                n * 10 + 1
            );
            us
        })
        .collect();
    println!(
        "time per node, 501 nodes against 101: {:.2}× (1.0 is linear growth)",
        per_node[2] / per_node[0]
    );

    import_against_hand(&mut witness);
}
