//! Reachability matrix of a Docker host with 10 containers (each publishing
//! one port), and its diff against the same host with a DOCKER-USER rule,
//! against the way people do it today in the same run: a shell loop of
//! `nsenter --net=PIN nc -w 1 …` (the `ip netns exec … nc -w 1` idiom, on
//! pins in a temporary folder instead of /run/netns) per cell, one after the
//! other, against servers started beforehand.
//!
//! Reports wall time, cells/s and the ratio to the baseline. Where netrig's
//! time goes (servers, tracing every source at once under one trace table,
//! the ruleset read, the parallel probes): each phase's elapsed time is a
//! debug event, `RUST_LOG=netrig::nftrace=debug,netrig::reach::matrix=debug`.
//!
//! `cargo bench --bench matrix` (root; CAP_NET_ADMIN and CAP_SYS_ADMIN).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use netrig::docker::{ContainerSpec, DockerHost, Networking};
use netrig::reach::{Cell, Matrix, MatrixDiff, Service};

const CONTAINERS: usize = 10;
const RUNS: usize = 5;

fn host(name: &str, rules: Option<&Path>) -> netrig::LabSpec {
    let mut b = DockerHost::builder().name(name);
    for i in 0..CONTAINERS {
        b = b.container(ContainerSpec::new(format!("c{i}")).publish(format!("{}:80", 8080 + i)));
    }
    let spec = netrig::LabSpec::from(b.build().expect("a valid host"));
    match rules {
        Some(r) => spec.rules_file("host", r),
        None => spec,
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// One shell command per cell, as a user's script would run them.
fn shell_loop(pins: &[(String, PathBuf)], cells: &[Cell]) -> Duration {
    let pin = |node: &str| {
        pins.iter()
            .find(|(n, _)| n == node)
            .expect("a pin")
            .1
            .clone()
    };
    let mut script = String::new();
    for c in cells {
        let net = pin(&c.from).display().to_string();
        let ip = c.to.to_string();
        script.push_str(&match c.service {
            Service::Tcp(port) => {
                format!("nsenter --net={net} nc -z -w 1 {ip} {port}; echo $?\n")
            }
            Service::Udp(port) => {
                format!("echo q | nsenter --net={net} nc -u -w 1 {ip} {port}; echo $?\n")
            }
            Service::Icmp => {
                format!("nsenter --net={net} ping -c 1 -W 1 {ip} >/dev/null; echo $?\n")
            }
        });
    }
    let t = Instant::now();
    let out = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("sh");
    let elapsed = t.elapsed();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        cells.len(),
        "one result per cell"
    );
    elapsed
}

fn main() {
    if !netrig::privilege::should_run("bench matrix").unwrap_or(false) {
        return;
    }
    for tool in ["nc", "nsenter", "ping"] {
        assert!(
            Command::new("sh")
                .arg("-c")
                .arg(format!("command -v {tool}"))
                .output()
                .unwrap()
                .status
                .success(),
            "{tool} is missing: run ci/setup.sh (packages netcat-openbsd, util-linux, iputils-ping)"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("user.rules");
    std::fs::write(&rules, "*filter\n:DOCKER-USER - [0:0]\n-I DOCKER-USER -i eth0 -p tcp -m conntrack --ctorigdstport 8081 -j DROP\nCOMMIT\n").unwrap();
    let before = host("bench-before", None).up().expect("up");
    let after = host("bench-after", Some(&rules)).up().expect("up");
    let cells = Matrix::default_cells(&before).unwrap();
    let n = cells.len();

    let matrix = median(
        (0..RUNS)
            .map(|_| {
                let t = Instant::now();
                let m = Matrix::probe(&before).expect("matrix");
                assert_eq!(m.rows.len(), n);
                t.elapsed()
            })
            .collect(),
    );
    let diff = median(
        (0..RUNS)
            .map(|_| {
                let t = Instant::now();
                let d = MatrixDiff::probe(&before, &after).expect("diff");
                assert_eq!(
                    d.changed.len(),
                    1,
                    "{}",
                    d.to_string()
                        .lines()
                        .take(40)
                        .collect::<Vec<_>>()
                        .join("\n")
                );
                t.elapsed()
            })
            .collect(),
    );

    let pins_dir = tempfile::tempdir().unwrap();
    let pins = before.pin_all(pins_dir.path()).expect("pins");
    // The baseline's servers, where netrig's would be (bound before the loop).
    let mut servers = Vec::new();
    let docker = before.docker("host").unwrap();
    for c in docker.model().containers() {
        let node = docker.container(&c.name).unwrap();
        let attachments = match &c.networking {
            Networking::Bridge(attachments) => attachments.as_slice(),
            _ => &[],
        };
        for a in attachments {
            servers.push(node.tcp_echo_server(format!("{}:80", a.ip)).unwrap());
            servers.push(node.tcp_echo_server(format!("{}:9000", a.ip)).unwrap());
        }
    }
    servers.push(
        before
            .node("internet")
            .unwrap()
            .tcp_echo_server("198.51.100.10:80")
            .unwrap(),
    );
    let shell = shell_loop(&pins, &cells);
    drop(servers);

    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    println!(
        "matrix bench: Docker host, {CONTAINERS} containers, {n} cells, median of {RUNS} runs"
    );
    println!(
        "  netrig matrix   {:>8.1} ms  {:>8.0} cells/s",
        matrix.as_secs_f64() * 1e3,
        rate(matrix)
    );
    println!(
        "  netrig diff     {:>8.1} ms  {:>8.0} cells/s (both labs)",
        diff.as_secs_f64() * 1e3,
        rate(diff)
    );
    println!(
        "  shell nc loop   {:>8.1} ms  {:>8.0} cells/s (one run)",
        shell.as_secs_f64() * 1e3,
        rate(shell)
    );
    println!(
        "  ratio: matrix {:.1}x faster than the shell loop, diff {:.1}x",
        shell.as_secs_f64() / matrix.as_secs_f64(),
        shell.as_secs_f64() / diff.as_secs_f64()
    );
    println!(
        "  phases (servers, tracing, ruleset read, probes): \
         RUST_LOG=netrig::nftrace=debug,netrig::reach::matrix=debug"
    );
}
