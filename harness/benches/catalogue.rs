//! The whole scenario catalogue (every packet walk and the bug library, in
//! every cell), run serially (`--test-threads=1`, the baseline) and in
//! parallel in the same run: one trial per core (libtest's usual default)
//! and the catalogue's default (four per core, `scenarios/main.rs`).
//! Reported as wall times and ratios against the serial run.
//!
//! The catalogue binary is built with `cargo test --test scenarios
//! --no-run` first (untimed). `NETRIG_BENCH_ROUNDS` (default 1) repeats each
//! setting; a round with a failed trial aborts the bench with its output.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// Builds the scenarios test binary and returns its path.
fn scenarios_binary() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let out = Command::new(cargo)
        .args([
            "test",
            "--test",
            "scenarios",
            "--no-run",
            "--message-format=json",
            "--manifest-path",
            manifest,
        ])
        .output()
        .expect("run cargo to build the scenarios binary");
    assert!(
        out.status.success(),
        "cargo test --no-run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.contains("\"name\":\"scenarios\"") && l.contains("\"executable\":\""))
        .expect("cargo reported the scenarios executable");
    let start = line.find("\"executable\":\"").expect("checked") + 14;
    let end = line[start..].find('"').expect("a closing quote") + start;
    PathBuf::from(&line[start..end])
}

/// One run of the whole catalogue with `threads` trials at once (None:
/// libtest's default); its wall time and trial count.
fn run_catalogue(bin: &PathBuf, threads: Option<usize>) -> (Duration, usize) {
    let mut cmd = Command::new(bin);
    if let Some(t) = threads {
        cmd.arg(format!("--test-threads={t}"));
    }
    let started = Instant::now();
    let out = cmd.output().expect("run the scenarios binary");
    let wall = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the catalogue failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let trials = stdout
        .lines()
        .filter(|l| l.starts_with("test ") && l.ends_with(" ok"))
        .count();
    (wall, trials)
}

fn main() {
    let bin = scenarios_binary();
    let rounds: usize = std::env::var("NETRIG_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let settings: [(&str, Option<usize>); 3] = [
        ("serial (--test-threads=1)", Some(1)),
        ("parallel, one per core", Some(cores)),
        ("parallel, the catalogue's default (four per core)", None),
    ];
    println!(
        "catalogue bench: {} ({cores} cores, {rounds} round(s) each)",
        bin.display()
    );
    let mut baseline = None;
    for (label, threads) in settings {
        let mut best = Duration::MAX;
        let mut trials = 0;
        for _ in 0..rounds {
            let (wall, n) = run_catalogue(&bin, threads);
            best = best.min(wall);
            trials = n;
        }
        let base = *baseline.get_or_insert(best);
        println!(
            "{label:<42} {trials} trials  {:>7.2}s  {:>5.2}x vs serial",
            best.as_secs_f64(),
            base.as_secs_f64() / best.as_secs_f64()
        );
    }
}
