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

/// What the lab's host gets on top of Docker's bridge, for every field
/// kind `ip -j` prints: IPv4 and IPv6 addresses (a secondary, a peer), a
/// veth whose peer is down (`NO-CARRIER`, `M-DOWN`), another up (its peer
/// without a queue length), routes in
/// another table, a blackhole, gateways and metrics in both families,
/// policy rules (from, fwmark/mask, not/iif, IPv6), permanent and stale
/// neighbours, and a proxy entry (which `ip neigh show` leaves out).
const EXTRA: &[&str] = &[
    "ip addr add 172.17.0.200/16 dev docker0",
    "ip link add vx0 type veth peer name vx1",
    "ip link set vx0 up",
    "ip link add d0 type veth peer name d1",
    "ip link set d1 txqueuelen 0 up",
    "ip link set d0 up",
    "sysctl -qw net.ipv6.conf.d0.disable_ipv6=0",
    "ip addr add 10.20.0.1/24 dev d0",
    "ip addr add 10.21.0.1 peer 10.21.0.2 dev d0",
    "ip -6 addr add fd00:20::1/64 dev d0 nodad",
    "ip -6 addr add fd00:21::1/64 dev d0",
    "ip route add 10.30.0.0/16 via 10.20.0.2 metric 50",
    "ip route add 10.31.0.0/16 dev d0 table 100",
    "ip route add blackhole 10.32.0.0/16",
    "ip -6 route add fd00:30::/48 via fd00:20::2 metric 10",
    "ip -6 route add fd00:31::/48 dev d0 table 100",
    "ip rule add from 10.20.0.0/24 lookup 100 priority 100",
    "ip rule add fwmark 0x10/0xff lookup 100 priority 101",
    "ip rule add not to 10.40.0.0/16 iif d0 lookup main priority 102",
    "ip -6 rule add from fd00:20::/64 lookup 100 priority 100",
    "ip neigh add 10.20.0.9 lladdr 02:00:00:00:00:09 dev d0 nud permanent",
    "ip neigh add 10.20.0.10 lladdr 02:00:00:00:00:10 dev d0 nud stale",
    "ip -6 neigh add fd00:20::9 lladdr 02:00:00:00:00:09 dev d0 nud permanent",
    "ip neigh add proxy 10.20.0.11 dev d0",
];

/// Takes the bridge and port timers out of `ip -j` JSON (they count down
/// between two reads).
fn without_timers(v: &mut serde_json::Value) {
    for i in v.as_array_mut().unwrap() {
        if let Some(li) = i.get_mut("linkinfo").and_then(|l| l.as_object_mut()) {
            for data in ["info_data", "info_slave_data"] {
                if let Some(d) = li.get_mut(data).and_then(|d| d.as_object_mut()) {
                    d.retain(|k, _| !k.ends_with("_timer"));
                }
            }
        }
    }
}

/// `ip`'s JSON in `pin` for each snapshot file, the timers taken out.
fn ip_json(pin: &Path) -> Vec<(&'static str, serde_json::Value)> {
    [
        ("ip-link.json", "ip -j -d link show"),
        ("ip-addr.json", "ip -j -d addr show"),
        ("ip-neigh.json", "ip -j -d neigh show"),
        ("ip-route4.json", "ip -j -4 route show table all"),
        ("ip-rule4.json", "ip -j -4 rule show"),
        ("ip-route6.json", "ip -j -6 route show table all"),
        ("ip-rule6.json", "ip -j -6 rule show"),
    ]
    .into_iter()
    .map(|(file, cmd)| {
        let o = Command::new("nsenter")
            .arg(format!("--net={}", pin.display()))
            .args(cmd.split(' '))
            .output()
            .unwrap();
        assert!(o.status.success(), "{cmd}: {}", text(&o));
        let mut v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        without_timers(&mut v);
        (file, v)
    })
    .collect()
}

/// The first difference of two `ip -j` lists: the element and its fields.
fn first_difference(ip: &serde_json::Value, ours: &serde_json::Value) -> String {
    let (a, b) = (ip.as_array().unwrap(), ours.as_array().unwrap());
    for (x, y) in a.iter().zip(b) {
        if x != y {
            return format!(
                "ip:   {x}
ours: {y}"
            );
        }
    }
    format!("ip has {} entries, the snapshot {}", a.len(), b.len())
}

/// The snapshot's `ip-*.json`, made in-process from rtnetlink dumps, equal
/// `ip -j`'s own output in every field, a bridge's and its ports' `ip -d`
/// options included (their timers aside: they count down). The node is read by `ip` before and after the
/// snapshot, and compared once both reads agree (addresses finishing DAD,
/// neighbours changing state make a changing node).
fn snapshot_ip_json_equals_ip() {
    let dirs = Dirs::new();
    let name = format!("snapip{}", std::process::id());
    let (mut child, _) = up(&dirs, "topologies/docker-bridge.toml", &name);
    let pin = dirs.netns.path().join(format!("{name}-host"));
    let added = Command::new("nsenter")
        .arg(format!("--net={}", pin.display()))
        .args(["sh", "-ec", &EXTRA.join("\n")])
        .output()
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut attempt = 0;
    let result = loop {
        attempt += 1;
        let before = ip_json(&pin);
        let dir = out.path().join(format!("snap{attempt}"));
        let o = dirs.run(&[
            "snapshot",
            "--netns",
            pin.to_str().unwrap(),
            "--no-docker",
            "--out",
            dir.to_str().unwrap(),
        ]);
        let after = ip_json(&pin);
        if before == after || std::time::Instant::now() > deadline {
            break (before, o, dir);
        }
    };
    let down = dirs.run(&["down", &name]);
    let _ = child.wait();
    assert!(down.status.success(), "{}", text(&down));
    assert!(added.status.success(), "{}", text(&added));
    let (ip, o, dir) = result;
    assert!(o.status.success(), "{}", text(&o));
    // The premise: ip shows every kind of field the extras make.
    let all: String = ip.iter().map(|(_, v)| v.to_string()).collect();
    for needle in [
        "\"secondary\":true",
        "\"address\":\"10.21.0.2\"",
        "\"M-DOWN\"",
        "\"NO-CARRIER\"",
        "\"fd00:21::1\"",
        "\"table\":\"100\"",
        "\"type\":\"blackhole\"",
        "\"gateway\":\"fd00:20::2\"",
        "\"fwmask\":\"0xff\"",
        "\"not\":null",
        "\"STALE\"",
        "\"info_slave_kind\":\"bridge\"",
        "\"nf_call_iptables\":",
        "\"group_fwd_mask_str\":\"0x0\"",
    ] {
        assert!(
            all.contains(needle),
            "the premise: {needle} in ip's output\n{all}"
        );
    }
    for (file, want) in &ip {
        let mut got: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(file)).unwrap()).unwrap();
        without_timers(&mut got);
        assert!(
            &got == want,
            "{file} differs from ip's:\n{}",
            first_difference(want, &got)
        );
    }
    // Everything ip printed here is decoded: nothing is named as left out.
    let missing = std::fs::read_to_string(dir.join("missing.txt")).unwrap();
    assert!(!missing.contains("ip-"), "{missing}");
}

pub fn tests() -> Vec<netrig::testing::Test> {
    netrig::testing::tests![
        snapshot_leaves_the_node_unchanged,
        snapshot_ip_json_equals_ip
    ]
}
