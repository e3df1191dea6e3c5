//! Generic labs from a file against the same labs built in code, in the same
//! run; and the "50 LANs of 10 nodes behind routers" lab at 100, 250 and 500
//! nodes: bring-up time per node (linear growth keeps it flat) and the
//! process's memory.
//!
//! The work: a `core` node, and per LAN a router linked to the core and nine
//! hosts on the router's bridge, each with an address and a default route;
//! the core routes every LAN through its router. `file` parses that lab's
//! TOML text (written once by `LabSpec::to_toml`) and brings it up;
//! `code` brings up the `LabSpec` built in Rust. Each run is torn down and
//! the kernel's asynchronous namespace cleanup waited for (a witness link),
//! untimed, before the next.
//!
//! Run: `cargo bench --bench topology` (root; prints a skip otherwise).

use std::time::{Duration, Instant};

use netrig::testing::Witness;
use netrig::{Endpoint, Lab, LabSpec, Route};

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
            .route(&r, Route::default_via(format!("10.255.{l}.1")))
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
                .route(&host, Route::default_via(format!("10.{l}.0.1")));
        }
    }
    spec
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

fn main() {
    if !netrig::privilege::should_run("topology bench").unwrap_or(false) {
        return;
    }
    let mut witness = Witness::new().expect("witness namespace");

    // File against code, 10 LANs (101 nodes), alternating which goes first, 6 runs each.
    let text = lans("lans", 10).to_toml();
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
            let text = lans("lans", n).to_toml();
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
}
