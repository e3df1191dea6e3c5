//! What a `netrig verify` run costs, and where it goes, against the floor
//! of one real daemon, in the same run.
//!
//! The floor: a Docker host with nothing in it brought up on the real
//! daemon (`LabSpec::up_real_docker`: its host namespace, dockerd started
//! confined and answering `GET /_ping`; no image is made without
//! containers) and dropped (the daemon stopped, its namespaces gone) —
//! what any verify pays before its first container.
//!
//! The run: the `netrig` binary `cargo build --release -p netrig-cli`
//! leaves beside this bench, `netrig verify topologies/docker-bridge.toml`
//! (and `docker-v28.toml`), timed from outside; its `time:` line says where
//! the time went (the real daemon and its containers, the emulation beside
//! it, the rules read back, both matrices, both labs down). Floor and run
//! alternate, so that both see the same load.
//!
//! Against the machine's dockerd, and Docker 28.5.2 from the tree
//! `real-docker-28.sh install` makes when it exists
//! (`NETRIG_DOCKER28_ROOTFS`, default `/var/tmp/rd-docker/sid/rootfs`).
//! `NETRIG_BENCH_REPS` (5). Run: `cargo build --release -p netrig-cli &&
//! cargo bench --bench verify` (root; prints a skip otherwise).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use netrig::docker::Version;
use netrig::topology::Overrides;

/// The `netrig` binary of this build (release: beside the bench's deps dir).
fn netrig_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.parent()?.join("netrig");
    bin.is_file().then_some(bin)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn s(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// One floor: an empty Docker host up on the real daemon, then dropped: (up, down).
fn floor(file: &Path, rootfs: Option<&Path>, version: Version) -> (Duration, Duration) {
    let over = Overrides {
        version: Some(version),
        ..Overrides::default()
    };
    let mut spec = netrig::topology::load_with(file, &over).expect("the empty host file");
    spec.set_name(netrig::unique_lab_name("bench-floor"));
    let t = Instant::now();
    let lab = spec
        .up_real_docker(Path::new("dockerd"), rootfs)
        .expect("the real daemon up");
    let up = t.elapsed();
    let t = Instant::now();
    drop(lab);
    (up, t.elapsed())
}

/// One `netrig verify` run: its wall time and its `time:` line.
fn run(bin: &Path, topology: &str, rootfs: Option<&Path>) -> (Duration, String) {
    let mut cmd = Command::new(bin);
    cmd.arg("verify")
        .arg(topology)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if let Some(r) = rootfs {
        cmd.arg("--rootfs").arg(r);
    }
    let t = Instant::now();
    let out = cmd.output().expect("run netrig verify");
    let wall = t.elapsed();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "verify {topology} is not equal:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let time = text
        .lines()
        .find(|l| l.starts_with("time: "))
        .unwrap_or("")
        .trim_start_matches("time: ")
        .to_string();
    (wall, time)
}

/// The floor and the runs for one daemon (the machine's, or a tree's).
fn bench(bin: &Path, rootfs: Option<&Path>, topologies: &[&str], reps: usize) {
    let version = match netrig::LabSpec::real_docker_release(Path::new("dockerd"), rootfs) {
        Ok(v) => v,
        Err(e) => {
            println!("verify bench ({rootfs:?}): skipped: {e}");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.toml");
    std::fs::write(&empty, "[daemon]\nbackend = \"iptables-nft\"\n").unwrap();
    let what = match rootfs {
        Some(r) => format!("Docker {version} in {}", r.display()),
        None => format!("Docker {version} (the machine's dockerd)"),
    };
    let (mut ups, mut downs, mut floors) = (Vec::new(), Vec::new(), Vec::new());
    let mut walls: Vec<Vec<Duration>> = vec![Vec::new(); topologies.len()];
    let mut lines: Vec<Vec<String>> = vec![Vec::new(); topologies.len()];
    for _ in 0..reps {
        let (up, down) = floor(&empty, rootfs, version);
        ups.push(up);
        downs.push(down);
        floors.push(up + down);
        for (i, t) in topologies.iter().enumerate() {
            let (wall, line) = run(bin, t, rootfs);
            walls[i].push(wall);
            lines[i].push(line);
        }
    }
    let f = median(floors);
    println!(
        "{what}: floor (an empty host on the real daemon: up until _ping answers, then down) \
         {:.2}s = up {:.2}s + down {:.2}s (medians of {reps})",
        s(f),
        s(median(ups)),
        s(median(downs)),
    );
    for (i, t) in topologies.iter().enumerate() {
        let w = median(walls[i].clone());
        // The time line of the median run.
        let at = walls[i].iter().position(|x| *x == w).unwrap_or(0);
        println!(
            "  netrig verify {t}: {:.2}s (median of {reps}) = {:.2} × the floor; that run: {}",
            s(w),
            s(w) / s(f),
            lines[i][at]
        );
    }
}

fn main() {
    if !netrig::privilege::should_run("bench verify").unwrap_or(false) {
        return;
    }
    let Some(bin) = netrig_binary() else {
        println!(
            "verify bench: skipped: no netrig binary beside this bench (run `cargo build --release -p netrig-cli` first)"
        );
        return;
    };
    let reps: usize = std::env::var("NETRIG_BENCH_REPS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    bench(&bin, None, &["topologies/docker-bridge.toml"], reps);
    let tree = std::env::var_os("NETRIG_DOCKER28_ROOTFS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/rd-docker/sid/rootfs"));
    if tree.join("usr/sbin/dockerd").is_file() {
        bench(
            &bin,
            Some(&tree),
            &[
                "topologies/docker-bridge.toml",
                "topologies/docker-v28.toml",
            ],
            reps,
        );
    } else {
        println!(
            "verify bench (Docker 28.5.2): skipped: no tree at {} (real-docker-28.sh install)",
            tree.display()
        );
    }
}
