//! `netrig import` end to end on the ground truth in tests/data/snapshots:
//! the real Docker 20.10.24 and 28.5.2 daemons' snapshots (`netrig snapshot`
//! inside their hermetic namespaces) and `iptables -nvL` listings of the
//! 20.10 host.
//! Imports come up with the daemon's rules rule for rule and the matrix the
//! real daemon showed; folders of bare JSON + iptables-save import too;
//! a ufw-style ruleset is named by the drift report; bad input is refused
//! naming the file and line, with nothing written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::cli::{Dirs, text, up};

fn data(rel: &str) -> PathBuf {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/data/snapshots"
    ))
    .join(rel)
}

/// `netrig import DIR -o OUT/host.toml`.
fn import(dir: &Path, out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_netrig"))
        .arg("import")
        .arg(dir)
        .arg("-o")
        .arg(out.join("host.toml"))
        .output()
        .unwrap()
}

/// Per table, chain declarations and rules without comments or counters
/// (as the recording comparisons normalise them), chain by chain.
fn tables(saved: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut cur = String::new();
    for l in saved.lines() {
        if let Some(t) = l.strip_prefix('*') {
            cur = t.to_string();
        } else if l.starts_with(':') {
            let decl = l.rsplit_once(" [").map_or(l, |(d, _)| d);
            out.entry(cur.clone()).or_default().push(decl.to_string());
        } else if let Some(i) = l.find("-A ") {
            let rule = if l.starts_with('[') { &l[i..] } else { l };
            if rule.starts_with("-A ") {
                out.entry(cur.clone()).or_default().push(rule.to_string());
            }
        }
    }
    // Rule order matters within a chain only (iptables-save prints chain
    // by chain): declarations first, then each chain's rules in order.
    for lines in out.values_mut() {
        lines.sort_by_key(|l| match l.strip_prefix("-A ") {
            Some(r) => (1, r.split(' ').next().unwrap_or_default().to_string()),
            None => (0, String::new()),
        });
    }
    out
}

/// The matrix of `toml` as `(from, to) → (outcome, seen source)`.
fn matrix(dirs: &Dirs, toml: &Path) -> BTreeMap<(String, String), (String, String)> {
    let o = dirs.run(&["matrix", toml.to_str().unwrap(), "--format", "json"]);
    assert!(o.status.success(), "{}", text(&o));
    let cells: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    cells
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or("-").to_string();
            ((s("from"), s("to")), (s("outcome"), s("seen_src")))
        })
        .collect()
}

/// The verdicts the real 20.10.24 daemon showed (tests/data/real-docker
/// default.test.txt): the published port reaches `ca` with the client's
/// own source; `ca` reaches the internet masqueraded to the uplink; `cb`
/// on br is isolated from docker0's containers.
fn assert_recorded_behaviour(m: &BTreeMap<(String, String), (String, String)>) {
    let cell = |from: &str, to: &str| {
        m.get(&(from.to_string(), to.to_string()))
            .unwrap_or_else(|| panic!("no cell {from} -> {to} in {m:#?}"))
            .clone()
    };
    assert_eq!(
        cell("internet", "203.0.113.2:8080/tcp"),
        ("delivered".into(), "203.0.113.1".into())
    );
    assert_eq!(
        cell("ca", "198.51.100.10:80/tcp"),
        ("delivered".into(), "203.0.113.2".into())
    );
    assert_eq!(cell("cb", "172.17.0.2:80/tcp").0, "dropped");
}

/// Imports the real daemon's snapshot `snapshot`: the report names `best`
/// and no drift (of IPv6 too when `saves` reads ip6tables back), the host
/// comes up, and each `(file of the snapshot, save tool)` read back from
/// the lab equals the daemon's rule for rule. Returns the matrix.
fn imports_rule_for_rule(
    dirs: &Dirs,
    snapshot: &str,
    best: &str,
    saves: &[(&str, &str)],
    out: &Path,
) -> BTreeMap<(String, String), (String, String)> {
    let o = import(&data(snapshot), out);
    assert!(o.status.success(), "{}", text(&o));
    let report = String::from_utf8_lossy(&o.stdout);
    assert!(
        report.contains(&format!("best match: {best}")) && report.contains("\nno drift"),
        "{report}"
    );
    if saves.len() > 1 {
        assert!(report.contains("\nno IPv6 drift"), "{report}");
    }
    let toml = out.join("host.toml");
    // One lab name per snapshot: the tests run at the same time.
    let tag: String = snapshot
        .chars()
        .filter(char::is_ascii_digit)
        .take(4)
        .collect();
    let name = format!("imp{tag}-{}", std::process::id());
    let (mut child, _) = up(dirs, toml.to_str().unwrap(), &name);
    let pin = dirs.netns.path().join(format!("{name}-host"));
    let back: Vec<String> = saves
        .iter()
        .map(|(_, tool)| {
            let o = Command::new("nsenter")
                .arg(format!("--net={}", pin.display()))
                .arg(tool)
                .output()
                .unwrap();
            String::from_utf8_lossy(&o.stdout).into_owned()
        })
        .collect();
    let down = dirs.run(&["down", &name]);
    let _ = child.wait();
    assert!(down.status.success(), "{}", text(&down));
    for ((file, tool), back) in saves.iter().zip(&back) {
        let real = std::fs::read_to_string(data(&format!("{snapshot}/{file}"))).unwrap();
        assert!(!tables(&real).is_empty(), "{file}: no rules");
        assert_eq!(
            tables(back),
            tables(&real),
            "{tool}: the imported host's rules differ from the real daemon's {file}"
        );
    }
    matrix(dirs, &toml)
}

/// The real 20.10.24 daemon's snapshot: no drift against netrig's
/// rendering, the host's rules read back equal the daemon's rule for rule,
/// and the matrix shows what the real daemon did; the listings of the same
/// host give the same verdicts.
fn real_20_10_snapshot_imports_rule_for_rule() {
    let dirs = Dirs::new();
    let out = tempfile::tempdir().unwrap();
    let from_snapshot = imports_rule_for_rule(
        &dirs,
        "docker-20.10.24",
        "layout classic, backend iptables-nft, userland-proxy on",
        &[("iptables-nft.rules", "iptables-nft-save")],
        out.path(),
    );
    assert_recorded_behaviour(&from_snapshot);

    let out2 = tempfile::tempdir().unwrap();
    let o = import(&data("docker-20.10.24-listings"), out2.path());
    assert!(o.status.success(), "{}", text(&o));
    let from_listings = matrix(&dirs, &out2.path().join("host.toml"));
    let verdicts =
        |m: &BTreeMap<(String, String), (String, String)>| -> Vec<(String, String, String)> {
            m.iter()
                .map(|((f, t), (o, _))| (f.clone(), t.clone(), o.clone()))
                .collect()
        };
    assert_eq!(verdicts(&from_listings), verdicts(&from_snapshot));
}

/// The real 28.5.2 daemon's snapshot (tests/data/snapshots/docker-28.5.2,
/// `netrig snapshot` inside real-docker-28.sh's namespace after the
/// standard scenario): no drift against netrig's v28 rendering in IPv4 or
/// IPv6, both families' rules read back equal the daemon's rule for rule,
/// and the matrix shows the verdicts recorded for that daemon
/// (shared/real-docker/28.5.2 `default.test.txt`: the same three as 20.10's;
/// isolation now in raw PREROUTING).
fn real_28_5_snapshot_imports_rule_for_rule() {
    let dirs = Dirs::new();
    let out = tempfile::tempdir().unwrap();
    let m = imports_rule_for_rule(
        &dirs,
        "docker-28.5.2",
        "layout v28, backend iptables-nft, userland-proxy on",
        &[
            ("iptables-nft.rules", "iptables-nft-save"),
            ("ip6tables-nft.rules", "ip6tables-nft-save"),
        ],
        out.path(),
    );
    assert_recorded_behaviour(&m);
    let toml = std::fs::read_to_string(out.path().join("host.toml")).unwrap();
    assert!(toml.contains("ruleset6 = \"host.rules6\""), "{toml}");
}

/// A snapshot folder made by hand from the real 28.5.2 one, whose `ip -j`
/// files add a wireguard interface (with an AllowedIPs route) and a vlan
/// on the uplink: both become veths of the same name and addresses (the
/// report says so), the route goes through the wireguard stand-in, and
/// the host still delivers its published port.
fn wireguard_and_vlan_become_veths_said_so() {
    let dir = tempfile::tempdir().unwrap();
    for f in [
        "docker-info.json",
        "docker-inspect.json",
        "docker-network-inspect.json",
        "iptables-nft.rules",
        "ip6tables-nft.rules",
    ] {
        std::fs::copy(data(&format!("docker-28.5.2/{f}")), dir.path().join(f)).unwrap();
    }
    let extend = |file: &str, extra: serde_json::Value| {
        let mut v: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(data(&format!("docker-28.5.2/{file}"))).unwrap(),
        )
        .unwrap();
        v.as_array_mut()
            .unwrap()
            .extend(extra.as_array().unwrap().iter().cloned());
        std::fs::write(dir.path().join(file), v.to_string()).unwrap();
    };
    let wg_flags = serde_json::json!(["POINTOPOINT", "NOARP", "UP", "LOWER_UP"]);
    extend(
        "ip-link.json",
        serde_json::json!([
            {"ifindex": 20, "ifname": "wg0", "flags": wg_flags, "mtu": 1420, "operstate": "UNKNOWN",
             "link_type": "none", "linkinfo": {"info_kind": "wireguard"}},
            {"ifindex": 21, "ifname": "uplink0.100", "link": "uplink0", "flags": ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"],
             "mtu": 1500, "operstate": "UP", "link_type": "ether", "address": "02:42:ac:11:00:09",
             "linkinfo": {"info_kind": "vlan", "info_data": {"protocol": "802.1Q", "id": 100, "flags": ["REORDER_HDR"]}}}
        ]),
    );
    extend(
        "ip-addr.json",
        serde_json::json!([
            {"ifindex": 20, "ifname": "wg0", "flags": wg_flags, "mtu": 1420, "link_type": "none",
             "addr_info": [{"family": "inet", "local": "10.8.0.1", "prefixlen": 24, "scope": "global", "label": "wg0"}]},
            {"ifindex": 21, "ifname": "uplink0.100", "link": "uplink0", "mtu": 1500, "link_type": "ether",
             "addr_info": [{"family": "inet", "local": "192.168.100.2", "prefixlen": 24, "scope": "global", "label": "uplink0.100"}]}
        ]),
    );
    extend(
        "ip-route4.json",
        serde_json::json!([
            {"dst": "10.8.0.0/24", "dev": "wg0", "protocol": "kernel", "scope": "link", "prefsrc": "10.8.0.1", "flags": []},
            {"dst": "10.9.0.0/16", "dev": "wg0", "scope": "link", "flags": []},
            {"dst": "192.168.100.0/24", "dev": "uplink0.100", "protocol": "kernel", "scope": "link", "prefsrc": "192.168.100.2", "flags": []}
        ]),
    );
    let out = tempfile::tempdir().unwrap();
    let o = import(dir.path(), out.path());
    assert!(o.status.success(), "{}", text(&o));
    let report = String::from_utf8_lossy(&o.stdout);
    for line in [
        "interfaces the kernel here cannot make are veths of the same name and addresses",
        "  uplink0.100 (vlan on the real host): veth, 192.168.100.2/24\n",
        "  wg0 (wireguard on the real host): veth, 10.8.0.1/24, routes 10.9.0.0/16\n",
    ] {
        assert!(report.contains(line), "{line}\n{report}");
    }
    let toml = out.path().join("host.toml");
    let dirs = Dirs::new();
    let name = format!("wg{}", std::process::id());
    let (mut child, _) = up(&dirs, toml.to_str().unwrap(), &name);
    let in_host = |argv: &[&str]| {
        let o = Command::new("nsenter")
            .arg(format!(
                "--net={}",
                dirs.netns.path().join(format!("{name}-host")).display()
            ))
            .args(argv)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let wg = in_host(&["ip", "-d", "-o", "addr", "show", "dev", "wg0"]);
    let vlan = in_host(&["ip", "-d", "-o", "link", "show", "dev", "uplink0.100"]);
    let vlan_addr = in_host(&["ip", "-o", "-4", "addr", "show", "dev", "uplink0.100"]);
    let routes = in_host(&["ip", "-4", "route", "show"]);
    let down = dirs.run(&["down", &name]);
    let _ = child.wait();
    assert!(down.status.success(), "{}", text(&down));
    assert!(wg.contains("inet 10.8.0.1/24"), "{wg}");
    assert!(vlan.contains("veth"), "{vlan}");
    assert!(vlan_addr.contains("inet 192.168.100.2/24"), "{vlan_addr}");
    assert!(routes.contains("10.9.0.0/16 dev wg0"), "{routes}");
    let m = matrix(&dirs, &toml);
    assert_eq!(
        m[&("internet".to_string(), "203.0.113.2:8080/tcp".to_string())],
        ("delivered".into(), "203.0.113.1".into())
    );
}

/// Copies `files` of the real snapshot into a new folder under names
/// that say nothing (content decides, not names).
fn folder(files: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (i, f) in files.iter().enumerate() {
        std::fs::copy(data(f), dir.path().join(format!("pasted-{i}"))).unwrap();
    }
    dir
}

/// Docker JSON and an iptables-save alone, under meaningless names (also
/// without `docker inspect`: containers placed by address, ports read from
/// the DNAT rules), import and deliver the published port from outside.
fn bare_json_and_save_deliver_the_published_port() {
    let dirs = Dirs::new();
    for files in [
        &[
            "docker-20.10.24/docker-network-inspect.json",
            "docker-20.10.24/docker-inspect.json",
            "docker-20.10.24/iptables-nft.rules",
        ][..],
        &[
            "docker-20.10.24/docker-network-inspect.json",
            "docker-20.10.24/iptables-nft.rules",
        ][..],
    ] {
        let dir = folder(files);
        let out = tempfile::tempdir().unwrap();
        let o = import(dir.path(), out.path());
        assert!(o.status.success(), "{files:?}: {}", text(&o));
        let m = matrix(&dirs, &out.path().join("host.toml"));
        assert_eq!(
            m[&("internet".to_string(), "203.0.113.2:8080/tcp".to_string())],
            ("delivered".into(), "203.0.113.1".into()),
            "{files:?}"
        );
    }
}

/// ufw's chains added to the daemon's rules are what the drift report
/// lists as added, and nothing else differs.
fn drift_report_names_a_ufw_ruleset() {
    let real = std::fs::read_to_string(data("docker-20.10.24/iptables-nft.rules")).unwrap();
    let ufw = [
        "-A INPUT -j ufw-before-input",
        "-A ufw-before-input -i lo -j ACCEPT",
        "-A ufw-before-input -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        "-A ufw-before-input -j ufw-user-input",
        "-A ufw-user-input -p tcp -m tcp --dport 22 -j ACCEPT",
    ];
    let with_ufw = real.replacen(
        ":DOCKER-USER - [0:0]\n",
        &format!(
            ":DOCKER-USER - [0:0]\n:ufw-before-input - [0:0]\n:ufw-user-input - [0:0]\n{}\n",
            ufw.join("\n")
        ),
        1,
    );
    assert_ne!(with_ufw, real);
    let dir = folder(&[
        "docker-20.10.24/docker-network-inspect.json",
        "docker-20.10.24/docker-inspect.json",
        "docker-20.10.24/docker-info.json",
    ]);
    std::fs::write(dir.path().join("rules"), with_ufw).unwrap();
    let out = tempfile::tempdir().unwrap();
    let o = import(dir.path(), out.path());
    assert!(o.status.success(), "{}", text(&o));
    let report = std::fs::read_to_string(out.path().join("host.drift.txt")).unwrap();
    assert!(report.contains("best match: layout classic"), "{report}");
    assert!(
        report.contains("added by someone else (not Docker's): 7"),
        "{report}"
    );
    for line in ufw
        .iter()
        .copied()
        .chain([":ufw-before-input -", ":ufw-user-input -"])
    {
        assert!(
            report.contains(&format!("filter: {line}\n")),
            "{line}\n{report}"
        );
    }
    assert!(
        !report.contains("missing (Docker would have them)"),
        "{report}"
    );
    // The host's rules, ufw's included, are what the lab loads (`ruleset`),
    // not netrig's rendering of Docker.
    let rules = std::fs::read_to_string(out.path().join("host.rules")).unwrap();
    assert!(rules.contains("-A ufw-user-input -p tcp -m tcp --dport 22 -j ACCEPT"));
    let dirs = Dirs::new();
    let name = format!("ufw{}", std::process::id());
    let toml = out.path().join("host.toml");
    let (mut child, _) = up(&dirs, toml.to_str().unwrap(), &name);
    let back = Command::new("nsenter")
        .arg(format!(
            "--net={}",
            dirs.netns.path().join(format!("{name}-host")).display()
        ))
        .arg("iptables-nft-save")
        .output()
        .unwrap();
    let down = dirs.run(&["down", &name]);
    let _ = child.wait();
    assert!(down.status.success(), "{}", text(&down));
    assert_eq!(
        tables(&String::from_utf8_lossy(&back.stdout)),
        tables(&rules)
    );
}

/// Truncated JSON, JSON of another tool, an unknown format, an
/// iptables-save cut short: an error naming the file and line, and
/// nothing written. A listing with lines cut out imports, naming them.
fn bad_input_is_named_and_nothing_is_written() {
    let inspect = std::fs::read_to_string(data("docker-20.10.24/docker-inspect.json")).unwrap();
    let save = std::fs::read_to_string(data("docker-20.10.24/iptables-nft.rules")).unwrap();
    let cut_save: String = save.lines().take(20).map(|l| format!("{l}\n")).collect();
    let cases: &[(&str, String, &str)] = &[
        (
            "inspect.json",
            inspect[..inspect.len() / 2].to_string(),
            "inspect.json: line ",
        ),
        (
            "package.json",
            "{\"name\": \"web\", \"dependencies\": {}}".into(),
            "JSON netrig import does not know",
        ),
        (
            "notes.txt",
            "my server is broken, please help\n".into(),
            "notes.txt: line 1: \"my server is broken, please help\" is not a format",
        ),
        ("rules", cut_save, "has no COMMIT: the file is cut short"),
    ];
    for (name, content, want) in cases {
        let dir = folder(&["docker-20.10.24/docker-network-inspect.json"]);
        std::fs::write(dir.path().join(name), content).unwrap();
        let out = tempfile::tempdir().unwrap();
        let o = import(dir.path(), out.path());
        assert!(!o.status.success(), "{name} was accepted");
        assert!(text(&o).contains(want), "{name}: {}", text(&o));
        assert_eq!(
            std::fs::read_dir(out.path()).unwrap().count(),
            0,
            "{name}: something was written"
        );
    }
    // A listing with a rule cut out and a match netrig does not read.
    let filter = std::fs::read_to_string(data("docker-20.10.24-listings/filter.txt")).unwrap();
    let mut partial = String::new();
    let mut in_input = false;
    for l in filter.lines().filter(|l| !l.contains("DOCKER-USER  0")) {
        partial.push_str(l);
        partial.push('\n');
        in_input = in_input || l.starts_with("Chain INPUT");
        if in_input && l.trim_start().starts_with("pkts") {
            partial.push_str("    0     0 ACCEPT     6    --  *      *       0.0.0.0/0            0.0.0.0/0            tcp flags:0x17/0x02\n");
            in_input = false;
        }
    }
    let dir = folder(&["docker-20.10.24/docker-network-inspect.json"]);
    std::fs::write(dir.path().join("listing"), partial).unwrap();
    let out = tempfile::tempdir().unwrap();
    let o = import(dir.path(), out.path());
    assert!(o.status.success(), "{}", text(&o));
    let report = String::from_utf8_lossy(&o.stdout);
    assert!(
        report.contains("chain DOCKER-USER says 1 references, the listing shows 0 jump(s)"),
        "{report}"
    );
    assert!(report.contains("not converted: listing: line "), "{report}");
}

pub fn tests() -> Vec<netrig::testing::Test> {
    netrig::testing::tests![
        real_20_10_snapshot_imports_rule_for_rule,
        real_28_5_snapshot_imports_rule_for_rule,
        wireguard_and_vlan_become_veths_said_so,
        bare_json_and_save_deliver_the_published_port,
        drift_report_names_a_ufw_ruleset,
        #[plain]
        bad_input_is_named_and_nothing_is_written,
    ]
}
