//! Lab bring-up and teardown: netrig against two shell baselines doing the
//! same work in the same run — one `ip` call per operation, and `ip -batch` —
//! and against the floor ([`floor`]): the same kernel work asked as directly
//! as possible.
//!
//! The work, for N = 1, 8, 32, 64: a hub namespace with a bridge, N
//! namespaces each with a veth to the hub bridge and an address, then
//! teardown. Each run also links the hub to a *witness* namespace, whose
//! link the kernel announces removed once the run's namespaces are gone.
//!
//! Teardown is timed until it returns (fds closed / `ip netns del` done);
//! the kernel then destroys the namespaces asynchronously, and the bench
//! waits for that (untimed) before the next run, so no run pays for the
//! previous one's teardown.
//!
//! The bench runs in a private mount namespace with a tmpfs on `/run`, so the
//! `/run/netns` mounts of the baselines' `ip netns add` never reach the host.

// The witness namespace netrig's own tests use (public API + rtnetlink).
#[path = "../../../tests/common/witness.rs"]
mod witness;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

mod floor;

use netrig::LabSpec;
use witness::Witness;

/// The measured work: a hub bridge and `n` namespaces, each with a veth to
/// it and an address (no neighbour entries: the shell baselines add none,
/// and only a topology file turns them off). Built outside the timed region.
fn hub_and_spokes(name: &str, n: usize) -> LabSpec {
    let mut toml = format!(
        "name = {name:?}\nstatic_neighbours = false\n\n[[node]]\nname = \"hub\"\n\n\
         [[bridge]]\nnode = \"hub\"\nname = \"br0\"\naddresses = [\"10.0.0.1/16\"]\n"
    );
    for i in 0..n {
        let _ = write!(
            toml,
            "\n[[node]]\nname = \"n{i}\"\n\n[[link]]\n\
             a = {{ node = \"hub\", ifname = \"v{i}\", bridge = \"br0\" }}\n\
             b = {{ node = \"n{i}\", ifname = \"eth0\", addresses = [\"10.0.{}.{}/16\"] }}\n",
            (i + 2) / 256,
            (i + 2) % 256
        );
    }
    netrig::topology::parse(&toml, "hub-and-spokes.toml").expect("the bench's lab")
}

/// netrig's `up` and its drop, timed apart.
fn netrig_once(n: usize, witness: &mut Witness) -> (Duration, Duration) {
    let spec = hub_and_spokes("bench", n);
    let t = Instant::now();
    let lab = spec.up().expect("lab up");
    let up = t.elapsed();
    // The witness link is bookkeeping, outside the timed region.
    witness
        .attach(&lab.node("hub").unwrap(), "tow", "wit")
        .expect("witness link");
    let t = Instant::now();
    drop(lab);
    let down = t.elapsed();
    assert!(
        witness.wait_link_removed("wit", Duration::from_secs(30)),
        "witness link never removed"
    );
    (up, down)
}

/// The floor's up + down, and its parts (see [`floor::once`]).
fn floor_once(n: usize, witness: &mut Witness) -> (Duration, floor::FloorTimes) {
    let times = floor::once(n, &witness.path());
    assert!(
        witness.wait_link_removed("wit", Duration::from_secs(30)),
        "witness link never removed"
    );
    (times.up + times.down, times)
}

/// Commands for the shell baselines, grouped by the namespace they run in:
/// (namespace or "" for global `ip netns` commands, command) in order.
fn shell_commands(n: usize, prefix: &str) -> Vec<(String, String)> {
    let hub = format!("{prefix}h");
    let mut cmds = vec![(String::new(), format!("netns add {hub}"))];
    cmds.extend((0..n).map(|i| (String::new(), format!("netns add {prefix}{i}"))));
    for c in [
        "link set lo up",
        "link add br0 type bridge",
        "addr add 10.0.0.1/16 dev br0",
        "link set br0 up",
    ] {
        cmds.push((hub.clone(), c.to_string()));
    }
    for i in 0..n {
        cmds.push((
            hub.clone(),
            format!("link add v{i} type veth peer name eth0 netns {prefix}{i}"),
        ));
        cmds.push((hub.clone(), format!("link set v{i} master br0 up")));
    }
    for i in 0..n {
        let ns = format!("{prefix}{i}");
        cmds.push((ns.clone(), "link set lo up".into()));
        cmds.push((
            ns.clone(),
            format!(
                "addr add 10.0.{}.{}/16 dev eth0",
                (i + 2) / 256,
                (i + 2) % 256
            ),
        ));
        cmds.push((ns, "link set eth0 up".into()));
    }
    cmds.push((String::new(), format!("netns del {hub}")));
    cmds.extend((0..n).map(|i| (String::new(), format!("netns del {prefix}{i}"))));
    cmds
}

/// One `ip` process per command.
fn per_call_script(cmds: &[(String, String)]) -> String {
    cmds.iter()
        .map(|(ns, c)| {
            if ns.is_empty() {
                format!("ip {c}")
            } else {
                format!("ip -n {ns} {c}")
            }
        })
        .collect::<Vec<_>>()
        .join(" && ")
}

/// One `ip -batch` process per run of consecutive commands in the same namespace.
fn batch_script(cmds: &[(String, String)]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < cmds.len() {
        let ns = &cmds[i].0;
        let mut lines = Vec::new();
        while i < cmds.len() && &cmds[i].0 == ns {
            lines.push(cmds[i].1.clone());
            i += 1;
        }
        let opt = if ns.is_empty() {
            String::new()
        } else {
            format!("-n {ns} ")
        };
        parts.push(format!(
            "ip {opt}-batch - <<'EOF'\n{}\nEOF",
            lines.join("\n")
        ));
    }
    parts.join("\n")
}

fn shell_once(n: usize, witness: &mut Witness, batch: bool) -> Duration {
    let prefix = format!("nrb{}x", std::process::id() % 10000);
    let cmds = shell_commands(n, &prefix);
    let (up, down): (Vec<_>, Vec<_>) = cmds
        .into_iter()
        .partition(|(_, c)| !c.starts_with("netns del"));
    let render = |c: &[(String, String)]| {
        if batch {
            batch_script(c)
        } else {
            per_call_script(c)
        }
    };
    let (up, down) = (render(&up), render(&down));
    let t = Instant::now();
    run_sh(&up);
    let up_time = t.elapsed();
    run_sh(&format!(
        "ip -n {prefix}h link add tow type veth peer name wit netns {}",
        witness.path()
    ));
    let t = Instant::now();
    run_sh(&down);
    let down_time = t.elapsed();
    assert!(
        witness.wait_link_removed("wit", Duration::from_secs(30)),
        "witness link never removed"
    );
    up_time + down_time
}

fn run_sh(script: &str) {
    let out = std::process::Command::new("sh")
        .args(["-ec", script])
        .output()
        .expect("run sh");
    assert!(
        out.status.success(),
        "shell baseline failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Gives this process a private mount namespace with an empty tmpfs on
/// `/run`, so the shell baselines' `ip netns add` mounts never reach the host.
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

/// What a big lab costs this process: threads, fds and resident memory.
fn scale_report(n: usize) {
    let count = |dir: &str| std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0);
    let rss_kib = || -> u64 {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            })
            .unwrap_or(0)
    };
    let (threads0, fds0, rss0) = (count("/proc/self/task"), count("/proc/self/fd"), rss_kib());
    let spec = hub_and_spokes("scale", n);
    let t = Instant::now();
    let lab = spec.up().expect("lab up");
    let up = t.elapsed();
    let (threads1, fds1, rss1) = (count("/proc/self/task"), count("/proc/self/fd"), rss_kib());
    println!(
        "a lab of {n} nodes: up in {:.1} ms; costs {} thread(s), {} fds, {} KiB resident ({:.1} KiB per node)",
        ms(up),
        threads1 as i64 - threads0 as i64,
        fds1 as i64 - fds0 as i64,
        rss1 as i64 - rss0 as i64,
        (rss1 as f64 - rss0 as f64) / n as f64
    );
    drop(lab);
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    if !netrig::privilege::should_run("bench lab").unwrap_or(false) {
        return;
    }
    private_run_dir();
    let reps: usize = std::env::var("NETRIG_BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let sizes: Vec<usize> = std::env::var("NETRIG_BENCH_SIZES")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 8, 32, 64]);
    let mut witness = Witness::new().expect("witness namespace");
    // Warm up: first namespace creation and module loads are not what we measure.
    let _ = netrig_once(1, &mut witness);
    floor_once(1, &mut witness);
    shell_once(1, &mut witness, true);

    println!(
        "lab up+down (hub bridge + N namespaces with veth and address), median of {reps} runs"
    );
    println!(
        "{:>4} {:>10} {:>10} {:>9} {:>11} {:>12} {:>9} {:>9}   floor parts: ns / acked / oper-up / down ms   netrig parts: up / down ms",
        "N",
        "netrig ms",
        "floor ms",
        "x floor",
        "ip/call ms",
        "ip -batch ms",
        "vs call",
        "vs batch"
    );
    for &n in &sizes {
        let (mut a, mut b, mut c, mut f, mut parts, mut mine) = (
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
        );
        for _ in 0..reps {
            // Interleaved, so drift on a shared machine hits all four alike.
            let (up, down) = netrig_once(n, &mut witness);
            a.push(up + down);
            mine.push((up + down, up, down));
            let (total, p) = floor_once(n, &mut witness);
            f.push(total);
            parts.push((total, p));
            b.push(shell_once(n, &mut witness, false));
            c.push(shell_once(n, &mut witness, true));
        }
        let (a, b, c, f) = (median(a), median(b), median(c), median(f));
        let (_, p) = parts.iter().find(|(t, _)| *t == f).expect("the median run");
        let &(_, my_up, my_down) = mine.iter().find(|(t, ..)| *t == a).expect("the median run");
        println!(
            "{:>4} {:>10.2} {:>10.2} {:>8.2}x {:>11.2} {:>12.2} {:>8.1}x {:>8.1}x   {:.2} / {:.2} / {:.2} / {:.2}   {:.2} / {:.2}",
            n,
            ms(a),
            ms(f),
            ms(a) / ms(f),
            ms(b),
            ms(c),
            ms(b) / ms(a),
            ms(c) / ms(a),
            ms(p.namespaces),
            ms(p.acked - p.namespaces),
            ms(p.up - p.acked),
            ms(p.down),
            ms(my_up),
            ms(my_down)
        );
    }
    let scale: usize = std::env::var("NETRIG_BENCH_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    if scale > 0 {
        scale_report(scale);
    }
}
