//! `netrig snapshot` end to end: it snapshots a running lab's Docker host by
//! its pin and by a pid inside it, writes the files it names, says what it
//! could not read, and leaves the node byte-identical.

use std::path::Path;
use std::process::Command;

use crate::cli::{Dirs, as_state, text, up};

/// What must not change: the node's rules (every backend, without counters),
/// addresses, routes, policy rules and network sysctls.
fn state(pin: &Path) -> String {
    let sysctls = r"^net\.(ipv4|ipv6|bridge)\.";
    let reads: &[&[&str]] = &[
        &["iptables-nft-save"],
        &["ip6tables-nft-save"],
        &["iptables-legacy-save"],
        &["ip6tables-legacy-save"],
        &["nft", "list", "ruleset"],
        &["ip", "-j", "addr", "show"],
        &["ip", "-j", "link", "show"],
        &["ip", "-j", "route", "show", "table", "all"],
        &["ip", "-j", "-6", "route", "show", "table", "all"],
        &["ip", "-j", "rule", "show"],
        &["sysctl", "-a", "--pattern", sysctls],
    ];
    let mut all = String::new();
    for argv in reads {
        let o = Command::new("nsenter")
            .arg(format!("--net={}", pin.display()))
            .args(*argv)
            .output()
            .unwrap();
        let body = as_state(&String::from_utf8_lossy(&o.stdout));
        all.push_str(&format!("== {}\n{body}\n", argv.join(" ")));
    }
    all
}

/// Fails with the lines that differ unless the two states are equal.
fn assert_unchanged(before: &str, after: &str) {
    let changed: Vec<String> = before
        .lines()
        .zip(after.lines())
        .filter(|(b, a)| b != a)
        .map(|(b, a)| format!("- {b}\n+ {a}"))
        .collect();
    assert!(
        changed.is_empty() && before.lines().count() == after.lines().count(),
        "the snapshot changed the node:\n{}",
        changed.join("\n")
    );
}

/// A lab's Docker host, snapshotted by pin and by pid: the files are there,
/// a daemon that does not answer is in missing.txt, nft is asked only once
/// the node has a table the iptables saves do not show, and the node's
/// state is byte-identical before and after each snapshot.
fn snapshot_leaves_the_node_unchanged() {
    let dirs = Dirs::new();
    let name = format!("snap{}", std::process::id());
    let (mut child, _) = up(&dirs, "topologies/docker-bridge.toml", &name);
    let pin = dirs.netns.path().join(format!("{name}-host"));
    let before = state(&pin);
    assert!(
        before.contains("--to-destination 172.17.0.2:80") && before.contains("203.0.113.2"),
        "the premise: the node has Docker's rules and the uplink\n{before}"
    );
    let out = tempfile::tempdir().unwrap();
    let by_pin = out.path().join("by-pin");
    let nosock = out.path().join("no-daemon.sock");
    let o = dirs.run(&[
        "snapshot",
        "--netns",
        &format!("{name}-host"),
        "--docker-host",
        &format!("unix://{}", nosock.display()),
        "--out",
        by_pin.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let mid = state(&pin);
    assert_unchanged(&before, &mid);
    // A table of the node's own, which no iptables save shows: the next
    // snapshot must list the ruleset with nft too.
    let nft = Command::new("nsenter")
        .arg(format!("--net={}", pin.display()))
        .args(["nft", "add table inet netrig_native; add chain inet netrig_native c { type filter hook input priority 0; }"])
        .output()
        .unwrap();
    assert!(nft.status.success(), "{}", text(&nft));
    let before = state(&pin);
    // A process inside the node (it says so once it is there): the pid
    // form enters its namespace.
    let mut sleeper = Command::new("nsenter")
        .arg(format!("--net={}", pin.display()))
        .args(["sh", "-c", "echo inside; exec sleep 60"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(sleeper.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line, "inside\n");
    let pid = sleeper.id();
    let by_pid = out.path().join("by-pid");
    let o2 = dirs.run(&[
        "snapshot",
        "--netns",
        &pid.to_string(),
        "--no-docker",
        "--out",
        by_pid.to_str().unwrap(),
    ]);
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    assert!(o2.status.success(), "{}", text(&o2));
    let after = state(&pin);
    let down = dirs.run(&["down", &name]);
    let _ = child.wait();
    assert!(down.status.success(), "{}", text(&down));

    assert_unchanged(&before, &after);
    let read = |dir: &Path, f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
    // Only iptables-nft's tables: their rules are in the saves, and nft is
    // not asked; with a table of its own, it is.
    assert!(
        !by_pin.join("nft.json").exists()
            && read(&by_pin, "missing.txt")
                .contains("nft.json: not needed: the namespace's nf_tables tables (")
            && read(&by_pin, "missing.txt").contains("ip nat"),
        "{}",
        read(&by_pin, "missing.txt")
    );
    assert!(read(&by_pid, "nft.json").contains("\"netrig_native\""));
    for dir in [&by_pin, &by_pid] {
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
        assert!(read("iptables-nft.rules").contains("-j DNAT --to-destination 172.17.0.2:80"));
        assert!(read("ip-addr.json").contains("\"203.0.113.2\""));
        assert!(read("ip-route4.json").contains("\"dst\":\"172.17.0.0/16\""));
        assert!(read("sysctls.txt").contains("net.ipv4.ip_forward = 1"));
        // Per-interface sysctls, read by name for each interface of ip -j link.
        let sysctls = read("sysctls.txt");
        for key in [
            "net.ipv4.conf.docker0.route_localnet = ",
            "net.ipv4.conf.eth0.rp_filter = ",
            "net.ipv4.conf.all.forwarding = ",
        ] {
            assert!(sysctls.contains(key), "{key}\n{sysctls}");
        }
        assert!(!read("kernel.txt").is_empty());
        // Every file it wrote is in its manifest, and nothing else is there.
        let manifest = read("MANIFEST");
        let mut listed: Vec<String> = manifest
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split(" <- ").next().map(str::to_string))
            .chain(["MANIFEST".into(), "missing.txt".into()])
            .collect();
        listed.sort();
        let mut present: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        present.sort();
        assert_eq!(listed, present, "{manifest}");
        assert!(
            read("missing.txt").contains("iptables-legacy.rules: iptables-legacy-save: no tables"),
            "{}",
            read("missing.txt")
        );
    }
    let missing = std::fs::read_to_string(by_pin.join("missing.txt")).unwrap();
    assert!(
        missing.contains("docker: no Docker daemon answered") && missing.contains("no-daemon.sock"),
        "{missing}"
    );
    // A second snapshot into the same folder is refused.
    let again = dirs.run(&["snapshot", "--no-docker", "--out", by_pin.to_str().unwrap()]);
    assert!(!again.status.success() && text(&again).contains("is not empty"));
}

pub fn tests() -> Vec<netrig::testing::Test> {
    netrig::testing::tests![snapshot_leaves_the_node_unchanged]
}
