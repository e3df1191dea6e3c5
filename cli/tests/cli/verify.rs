//! `netrig verify` end to end, against the machine's real dockerd (Debian's
//! docker.io 20.10.24 in CI): every Docker host file 20.10 can run equals
//! the emulation under the classic layout with both iptables backends;
//! `--layout v28` against it differs, naming the raw PREROUTING drop; and
//! the root namespace, `/var/lib/docker`, `/run/docker.sock` and the
//! machine's cgroups are the same before and after. Then the same against
//! Docker 28.5.2 run from the Debian sid tree `real-docker-28.sh install`
//! makes (`--rootfs`), under the v28 layout — skipped, visibly, where that
//! tree does not exist (CI's fresh machine).

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::Instant;

use crate::cli::{Dirs, as_state, text};

/// The Docker host files a 20.10 daemon runs as the file says (classic
/// layout, no ufw, no restart). docker-two-networks holds a container on
/// two networks whose gateway `verify` found by name order (a model fix).
/// Left out: docker-ufw-real (ufw before Docker), docker-v28 (28+ options),
/// the generic labs.
const CLASSIC: &[&str] = &[
    "docker-bridge",
    "docker-internal",
    "docker-modes",
    "docker-no-proxy",
    "docker-two-networks",
    "docker-ufw",
    "docker-user-rules",
];

/// The Docker host files a 28.5.2 daemon runs as the file says: the
/// classic ones (under v28, the daemon's layout) and the v28 ones.
const V28: &[&str] = &[
    "docker-bridge",
    "docker-internal",
    "docker-modes",
    "docker-no-proxy",
    "docker-two-networks",
    "docker-ufw",
    "docker-user-rules",
    "docker-v28",
    "parts/web-host-v28",
];

/// One real daemon at a time: each test reads the machine's state, which
/// another test's daemon would change.
static REAL_DAEMONS: Mutex<()> = Mutex::new(());

/// The Docker 28.5.2 root file system (`NETRIG_DOCKER28_ROOTFS`, default
/// where `real-docker-28.sh install` puts it).
fn rootfs_28() -> PathBuf {
    std::env::var_os("NETRIG_DOCKER28_ROOTFS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/rd-docker/sid/rootfs"))
}

/// The machine's state a real daemon must leave alone.
fn machine_state() -> String {
    let mut all = String::new();
    for argv in [
        &["ip", "-o", "link"][..],
        &["ip", "-o", "addr"],
        &["ip", "route"],
        &["iptables-nft-save"],
        &["iptables-legacy-save"],
        &["nft", "list", "tables"],
    ] {
        let o = Command::new(argv[0]).args(&argv[1..]).output().unwrap();
        let body = as_state(&String::from_utf8_lossy(&o.stdout));
        all.push_str(&format!("== {}\n{body}\n", argv.join(" ")));
    }
    for p in [
        "/var/lib/docker",
        "/run/docker.sock",
        "/run/docker",
        "/var/lib/containerd",
        "/run/containerd",
        "/opt/containerd",
    ] {
        all.push_str(&format!("{p}: {}\n", std::path::Path::new(p).exists()));
    }
    for d in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        for e in std::fs::read_dir(d.path()).into_iter().flatten().flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with("netrig-") {
                all.push_str(&format!("cgroup {}\n", e.path().display()));
            }
        }
    }
    // The machine's daemons: those in this network namespace (confined
    // ones, of this test or of other labs running meanwhile, are in theirs).
    let daemons = Command::new("pgrep")
        .args(["-x", "dockerd|containerd"])
        .output()
        .unwrap();
    let here = std::fs::read_link("/proc/self/ns/net").ok();
    let ours: Vec<&str> = std::str::from_utf8(&daemons.stdout)
        .unwrap_or("")
        .split_whitespace()
        .filter(|p| std::fs::read_link(format!("/proc/{p}/ns/net")).ok() == here)
        .collect();
    all.push_str(&format!("daemons: {ours:?}\n"));
    all
}

/// `netrig verify` with `args`; `None` when it skipped (no dockerd, not in CI).
fn verify(dirs: &Dirs, args: &[&str]) -> Option<Output> {
    let mut all = vec!["verify"];
    all.extend(args);
    let o = dirs.run(&all);
    if String::from_utf8_lossy(&o.stdout).contains("skipped:") {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "verify skipped under CI=true: {}",
            text(&o)
        );
        return None;
    }
    Some(o)
}

/// Every classic Docker host file, both iptables backends: zero differing
/// cells and rules; `--layout v28` differs; the machine unchanged. One
/// test, so that no other verify's daemon runs while the machine's state is read.
fn verify_against_a_real_20_10_daemon() {
    let _one = REAL_DAEMONS.lock().unwrap_or_else(|p| p.into_inner());
    let dirs = Dirs::new();
    let before = machine_state();
    for t in CLASSIC {
        for b in ["iptables-nft", "iptables-legacy"] {
            let file = format!("topologies/{t}.toml");
            let started = Instant::now();
            let Some(o) = verify(&dirs, &[&file, "--backend", b]) else {
                return;
            };
            let out = text(&o);
            println!("verify {t} {b}: {:.1}s", started.elapsed().as_secs_f64());
            assert_eq!(o.status.code(), Some(0), "{t} {b}:\n{out}");
            assert!(
                out.contains("EQUAL") && out.contains(" 0 differ in outcome or seen addresses"),
                "{t} {b}:\n{out}"
            );
        }
    }
    v28_differs_from_20_10(&dirs);
    assert_eq!(before, machine_state(), "the machine's state changed");
}

/// The v28 emulation against a 20.10 daemon: exit 1, the raw PREROUTING
/// drop named on the emulation's side, and cells whose deciding rules differ
/// named with both sides' rules.
fn v28_differs_from_20_10(dirs: &Dirs) {
    let Some(o) = verify(dirs, &["topologies/docker-bridge.toml", "--layout", "v28"]) else {
        return;
    };
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("DIFFERENT"), "{out}");
    assert!(
        out.contains("- -A PREROUTING -d 172.17.0.2/32 ! -i docker0 -j DROP"),
        "the raw direct-access drop, emulation only:\n{out}"
    );
    // A LAN peer routing to a container: the v28 emulation drops it in raw
    // PREROUTING, the 20.10 daemon delivers it (its DOCKER chain's accept).
    let Some(o) = verify(
        dirs,
        &["topologies/docker-two-networks.toml", "--layout", "v28"],
    ) else {
        return;
    };
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    let cell = out
        .split("\n  lanpc -> 172.18.0.2:80/tcp\n")
        .nth(1)
        .unwrap_or_else(|| panic!("the LAN peer's cell differs:\n{out}"));
    let mut lines = cell.lines();
    let (emul, real) = (lines.next().unwrap(), lines.next().unwrap());
    assert!(
        emul.contains("emulation: dropped")
            && emul.contains("ip raw PREROUTING: -A PREROUTING -d 172.18.0.2/32"),
        "{out}"
    );
    assert!(
        real.contains("real:      delivered 198.51.100.150 -> 172.18.0.2")
            && real.contains("ip filter DOCKER: -A DOCKER -d 172.18.0.2/32"),
        "{out}"
    );
}

/// Docker 28.5.2 from its root file system: every file it runs equals the
/// v28 emulation with both iptables backends; the classic emulation beside
/// it differs (28's `DOCKER-FORWARD`, raw drop); the machine and the tree
/// itself unchanged.
fn verify_against_a_real_28_5_daemon() {
    let _one = REAL_DAEMONS.lock().unwrap_or_else(|p| p.into_inner());
    let dirs = Dirs::new();
    let rootfs = rootfs_28();
    let rootfs_arg = rootfs.display().to_string();
    let marker = tempfile::NamedTempFile::new().unwrap();
    let before = machine_state();
    for t in V28 {
        for b in ["iptables-nft", "iptables-legacy"] {
            let file = format!("topologies/{t}.toml");
            let started = Instant::now();
            let o = verify(&dirs, &[&file, "--rootfs", &rootfs_arg, "--backend", b])
                .expect("a daemon in the tree");
            let out = text(&o);
            println!(
                "verify {t} {b} (28.5.2): {:.1}s",
                started.elapsed().as_secs_f64()
            );
            assert_eq!(o.status.code(), Some(0), "{t} {b}:\n{out}");
            assert!(
                out.contains("real dockerd 28.5.2")
                    && out.contains("layout V28) beside the emulation (layout V28)")
                    && out.contains(" 0 differ in outcome or seen addresses")
                    && out.contains(&format!("ip6 rules ({b} backend)"))
                    && out.contains("EQUAL"),
                "{t} {b}:\n{out}"
            );
        }
    }
    let o = verify(
        &dirs,
        &[
            "topologies/docker-bridge.toml",
            "--rootfs",
            &rootfs_arg,
            "--layout",
            "classic",
        ],
    )
    .expect("a daemon in the tree");
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("+ -A FORWARD -j DOCKER-FORWARD")
            && out.contains("+ -A PREROUTING -d 172.17.0.2/32 ! -i docker0 -j DROP")
            && out.contains("- -A FORWARD -o docker0 -j DOCKER"),
        "28's chains on the real side only, classic's on the emulation's:\n{out}"
    );
    assert_eq!(before, machine_state(), "the machine's state changed");
    // Its tmp/ left out: real-docker-28.sh, when it runs meanwhile, makes
    // its directory's mount point there.
    let written = Command::new("find")
        .arg(&rootfs)
        .args(["-xdev", "-path"])
        .arg(rootfs.join("tmp"))
        .args(["-prune", "-o", "-newer"])
        .arg(marker.path())
        .arg("-print")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&written.stdout),
        "",
        "verify wrote into the root file system"
    );
}

pub fn tests() -> Vec<netrig::testing::Test> {
    let rootless = crate::rootless();
    vec![
        netrig::testing::Test::lab(
            "verify_against_a_real_20_10_daemon",
            verify_against_a_real_20_10_daemon,
        )
        .needs(move || {
            rootless.then(|| {
                netrig::testing::Skip::always(
                    "a real dockerd needs the real root (its socket's group, cgroups): \
                     not in a user namespace",
                )
            })
        }),
        netrig::testing::Test::lab(
            "verify_against_a_real_28_5_daemon",
            verify_against_a_real_28_5_daemon,
        )
        .needs(move || {
            let rootfs = rootfs_28();
            if rootless {
                Some(netrig::testing::Skip::always(
                    "a real dockerd needs the real root: not in a user namespace",
                ))
            } else if !rootfs.join("usr/sbin/dockerd").is_file() {
                // Not a failure under CI=true: ci/setup.sh does not build the tree.
                Some(netrig::testing::Skip::always(format!(
                    "no Docker 28.5.2 root file system at {} (make it with \
                     ../shared/tools/real-docker-28.sh install, or set NETRIG_DOCKER28_ROOTFS)",
                    rootfs.display()
                )))
            } else {
                None
            }
        }),
    ]
}
