//! Capture benchmark: how long a capture takes to become active, how fast
//! it takes frames in (with zero drops per pcap statistics), and how long a
//! sent datagram takes to satisfy an expectation — each against a baseline
//! measured in the same run on the same lab.
//!
//! Run with `cargo bench --bench capture` (as root). The integrator may also
//! include this file as a module and call [`run_capture_bench`].

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use netrig::expect::{any, udp};
use netrig::{CaptureOptions, Endpoint, Lab};

// Sockets inside a node (public API: `Node::run`).
#[path = "../../tests/common/wire.rs"]
mod wire;
use wire::udp_socket;

const RUNS: usize = 5;
const LATENCY_SAMPLES: usize = 200;
const BURST: usize = 10_000;
const PAYLOAD: usize = 64;
const WINDOW: usize = 32;

/// Runs the capture benchmark and prints a table of medians over several runs.
pub fn run_capture_bench() {
    match netrig::privilege::check() {
        Ok(()) => {}
        Err(e) => {
            println!("capture bench skipped: {e}");
            return;
        }
    }
    if let Err(e) = bench() {
        println!("capture bench failed: {e}");
    }
}

#[derive(Default)]
struct Series(Vec<f64>);

impl Series {
    fn push(&mut self, v: f64) {
        self.0.push(v);
    }
    fn sorted(&self) -> Vec<f64> {
        let mut v = self.0.clone();
        v.sort_by(|a, b| a.total_cmp(b));
        v
    }
    fn median(&self) -> f64 {
        let v = self.sorted();
        if v.is_empty() {
            f64::NAN
        } else {
            v[v.len() / 2]
        }
    }
    fn min(&self) -> f64 {
        self.sorted().first().copied().unwrap_or(f64::NAN)
    }
    fn max(&self) -> f64 {
        self.sorted().last().copied().unwrap_or(f64::NAN)
    }
}

fn median_of(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn bench() -> netrig::Result<()> {
    let lab = Lab::builder(netrig::unique_lab_name("capbench"))
        .node("a")
        .node("b")
        .link(
            Endpoint::new("a", "eth0").addr("10.0.0.1/24"),
            Endpoint::new("b", "eth0").addr("10.0.0.2/24"),
        )
        .up()?;
    let (a, b) = (lab.node("a")?, lab.node("b")?);
    let tx: UdpSocket = udp_socket(&a, "10.0.0.1:0".parse().unwrap())?;
    let rx: UdpSocket = udp_socket(&b, "10.0.0.2:9001".parse().unwrap())?;
    let sink: UdpSocket = udp_socket(&b, "10.0.0.2:9002".parse().unwrap())?;
    rx.set_read_timeout(Some(Duration::from_secs(1))).ok();
    let io =
        |e: std::io::Error| netrig::Error::io(netrig::Subject::lab(a.name()), "bench socket", e);

    let mut open_ms = Series::default();
    let mut lat_capture_us = Series::default();
    let mut lat_socket_us = Series::default();
    let mut pps_send_only = Series::default();
    let mut pps_windowed = Series::default();
    let mut drops_windowed = 0u64;
    let mut burst_rate = [Series::default(), Series::default()];
    let mut burst_kept = [Series::default(), Series::default()];
    let mut burst_drops = [0u64, 0u64];
    let payload = vec![b'x'; PAYLOAD];
    let mut buf = [0u8; 2048];

    for _run in 0..RUNS {
        // Baseline latency: send -> the receiving socket has it, no capture running.
        let mut samples = Vec::with_capacity(LATENCY_SAMPLES);
        for _ in 0..LATENCY_SAMPLES {
            let t = Instant::now();
            tx.send_to(&payload, "10.0.0.2:9001").map_err(io)?;
            rx.recv_from(&mut buf).map_err(io)?;
            samples.push(t.elapsed().as_secs_f64() * 1e6);
        }
        lat_socket_us.push(median_of(samples));

        // Capture latency: send -> expectation matched.
        let t = Instant::now();
        let cap = b.capture_with("eth0", CaptureOptions::filter("udp and dst port 9001"))?;
        open_ms.push(t.elapsed().as_secs_f64() * 1e3);
        let mut samples = Vec::with_capacity(LATENCY_SAMPLES);
        for i in 0..LATENCY_SAMPLES {
            let tag = format!("lat-{i:06}");
            let t = Instant::now();
            tx.send_to(tag.as_bytes(), "10.0.0.2:9001").map_err(io)?;
            cap.expect(udp().payload(&tag))
                .within(Duration::from_secs(1))?;
            samples.push(t.elapsed().as_secs_f64() * 1e6);
            rx.recv_from(&mut buf).map_err(io)?;
        }
        lat_capture_us.push(median_of(samples));
        drop(cap);

        // Baseline throughput: the sender alone.
        let t = Instant::now();
        for _ in 0..BURST {
            tx.send_to(&payload, "10.0.0.2:9002").map_err(io)?;
        }
        pps_send_only.push(BURST as f64 / t.elapsed().as_secs_f64());
        drain(&sink);

        // Sustained rate with zero drops: windows of WINDOW frames, each
        // sent once the previous one is decoded (default options).
        let cap = b.capture_with("eth0", CaptureOptions::filter("udp and dst port 9002"))?;
        let t = Instant::now();
        let mut sent = 0;
        while sent < BURST {
            for _ in 0..WINDOW {
                tx.send_to(&payload, "10.0.0.2:9002").map_err(io)?;
            }
            sent += WINDOW;
            let target = sent;
            cap.expect_count(any(), target)
                .within(Duration::from_secs(5))?;
        }
        let secs = t.elapsed().as_secs_f64();
        pps_windowed.push(cap.packets().len() as f64 / secs);
        drops_windowed += u64::from(cap.stats()?.dropped);
        drop(cap);
        drain(&sink);

        // Unpaced bursts: how much of a flood each ring layout absorbs.
        let layouts = [
            CaptureOptions::filter("udp and dst port 9002"),
            CaptureOptions {
                snaplen: 1600,
                ..CaptureOptions::filter("udp and dst port 9002")
            },
        ];
        for (i, opts) in layouts.into_iter().enumerate() {
            let cap = b.capture_with("eth0", opts)?;
            let t = Instant::now();
            for _ in 0..BURST {
                tx.send_to(&payload, "10.0.0.2:9002").map_err(io)?;
            }
            let stats = cap.stats()?;
            let expected = stats.received.saturating_sub(stats.dropped) as usize;
            cap.expect_count(any(), expected)
                .within(Duration::from_secs(10))?;
            let elapsed = t.elapsed().as_secs_f64();
            let kept = cap.packets().len();
            let stats = cap.stats()?;
            burst_rate[i].push(kept as f64 / elapsed);
            burst_kept[i].push(100.0 * kept as f64 / BURST as f64);
            burst_drops[i] += u64::from(stats.dropped);
            drop(cap);
            drain(&sink);
        }
    }

    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!("\nnetrig capture bench ({profile} build, {RUNS} runs; each value is a run's median)");
    println!(
        "{:<56} {:>12} {:>12} {:>12}",
        "metric", "median", "min", "max"
    );
    let row = |name: &str, s: &Series| {
        println!(
            "{name:<56} {:>12.1} {:>12.1} {:>12.1}",
            s.median(),
            s.min(),
            s.max()
        );
    };
    let count = |name: &str, n: u64| println!("{name:<56} {n:>12}");
    row("capture open -> active (ms)", &open_ms);
    row(
        "baseline: send -> socket recv, no capture (us)",
        &lat_socket_us,
    );
    row("send -> expectation matched (us)", &lat_capture_us);
    row(
        &format!("baseline: send-only rate, {BURST} x {PAYLOAD} B (pkt/s)"),
        &pps_send_only,
    );
    row(
        &format!("capture rate, zero-drop windows of {WINDOW} (pkt/s)"),
        &pps_windowed,
    );
    count("  pcap drops in windowed runs (all runs)", drops_windowed);
    for (i, name) in ["snaplen 65535", "snaplen 1600"].iter().enumerate() {
        row(
            &format!("unpaced burst, {name}, 8 MiB ring: kept (%)"),
            &burst_kept[i],
        );
        row(
            &format!("unpaced burst, {name}, 8 MiB ring: rate (pkt/s)"),
            &burst_rate[i],
        );
        count("  pcap drops (all runs)", burst_drops[i]);
    }
    println!(
        "{:<56} {:>12.2}",
        "ratio: matched latency / socket latency",
        lat_capture_us.median() / lat_socket_us.median()
    );
    println!(
        "{:<56} {:>12.2}",
        "ratio: zero-drop capture rate / send-only rate",
        pps_windowed.median() / pps_send_only.median()
    );
    let dir = lab.artifacts_dir().to_path_buf();
    drop(lab);
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}

fn drain(sock: &UdpSocket) {
    let mut buf = [0u8; 2048];
    sock.set_nonblocking(true).ok();
    while sock.recv_from(&mut buf).is_ok() {}
    sock.set_nonblocking(false).ok();
}

#[allow(dead_code)]
fn main() {
    run_capture_bench();
}
