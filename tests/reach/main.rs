//! Reachability matrices on real labs: outcomes, the addresses netrig's
//! servers saw, the rule that decided each cell; before/after diffs of the
//! shipped firewall-change examples; golden matrices; every topology file
//! under every layout and backend.

use std::net::IpAddr;
use std::path::Path;

#[path = "../common/mod.rs"]
mod common;

use common::host_lab::{HostLab as _, Up as _};
use netrig::LabSpec;
use netrig::docker::DockerHost;
use netrig::reach::{Cell, DEFAULT_DEADLINE, Matrix, MatrixDiff, Outcome, Row};
use netrig::topology::Overrides;
use netrig::{Error, Result};

const EXAMPLES: &str = "topologies/examples";

fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().expect("an address"))
}

fn row<'m>(m: &'m Matrix, from: &str, to: &str) -> &'m Row {
    let cell = Cell::parse(from, to).expect("a cell");
    m.row(&cell)
        .unwrap_or_else(|| panic!("no cell {cell} in\n{m}"))
}

/// The example host with extra rule files from topologies/examples.
fn example(topology: &str, rules: &[&str], name: &str) -> Result<LabSpec> {
    let mut spec = netrig::topology::load(Path::new(EXAMPLES).join(topology))?;
    for r in rules {
        spec = spec.rules_file("host", Path::new(EXAMPLES).join(r));
    }
    spec.set_name(name);
    Ok(spec)
}

/// A published port is DNATed (the server sees the client and the container
/// address, the DNAT rule is named) and outbound traffic masqueraded.
fn matrix_shows_dnat_masquerade_and_the_deciding_rule() -> Result<()> {
    let docker = netrig::topology::load("topologies/docker-bridge.toml")?.up()?;
    let m = Matrix::probe(&docker)?;
    let inbound = row(&m, "internet", "203.0.113.2:8080/tcp");
    assert_eq!(
        (inbound.outcome, inbound.seen_src, inbound.seen_dst),
        (Outcome::Delivered, ip("203.0.113.1"), ip("172.17.0.2")),
        "{}",
        m
    );
    assert_eq!(
        (
            inbound.why[0].chain.as_str(),
            inbound.why[0].verdict.as_str()
        ),
        ("DOCKER", "accept")
    );
    assert!(
        inbound
            .why
            .iter()
            .any(|w| w.verdict == "nat" && w.rule.contains("--to-destination 172.17.0.2:80")),
        "{:?}",
        inbound.why
    );
    let outbound = row(&m, "web", "198.51.100.10:80/tcp");
    assert_eq!(outbound.seen_src, ip("203.0.113.2"), "masqueraded");
    assert!(outbound.why.iter().any(|w| w.rule.contains("MASQUERADE")));
    let direct = row(&m, "internet", "172.17.0.2:80/tcp");
    assert_eq!(
        direct.outcome,
        Outcome::Unreachable,
        "no route to docker0 from the internet"
    );
    let local = row(&m, "host", "127.0.0.1:8080/tcp");
    assert_eq!(
        (local.outcome, local.seen_src),
        (Outcome::Delivered, ip("172.17.0.1")),
        "via the userland proxy"
    );
    Ok(())
}

/// 20 consecutive matrices of the same lab are identical (outcomes, seen
/// addresses, why): a Docker host's, and a generic lab's traced in three
/// nodes at once (two Docker parts, the libvirt hosts' nftables tables).
fn twenty_matrices_of_one_lab_are_identical() -> Result<()> {
    let docker = netrig::topology::load("topologies/docker-user-rules.toml")?.up()?;
    let libvirt = generic_lab("docker-libvirt.toml", "twenty-libvirt", &[])?;
    let labs: [(&str, &netrig::Lab); 2] =
        [("docker-user-rules", &docker), ("docker-libvirt", &libvirt)];
    for (name, lab) in labs {
        let first = Matrix::probe(lab)?;
        assert!(
            first.rows.iter().any(|r| r.outcome == Outcome::Dropped),
            "{name}"
        );
        for i in 1..20 {
            let again = Matrix::probe(lab)?;
            assert_eq!(
                again.to_string(),
                first.to_string(),
                "{name}: matrix {i} differs from the first"
            );
        }
    }
    Ok(())
}

/// Matrices stay identical while another thread forks children (as every
/// `nft`/`iptables` of a test running beside this one does): a child holds
/// a copy of every fd until it execs, so a server merely closed at the end
/// of one matrix could still be listening when the next one bound its own
/// (before the fix, every cell to it then read "refused" within a few
/// matrices here).
fn matrices_stay_identical_while_children_fork() -> Result<()> {
    use std::sync::atomic::{AtomicBool, Ordering};
    /// Stops the forking thread however the matrices end (a panic too).
    struct StopOnDrop<'a>(&'a AtomicBool);
    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let docker = netrig::topology::load("topologies/docker-user-rules.toml")?.up()?;
    let host = docker.host_node()?;
    let ns = host;
    let stop = AtomicBool::new(false);
    let forks = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| -> Result<()> {
        let _stop = StopOnDrop(&stop);
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                if ns.command("true").output().is_ok() {
                    forks.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        // UDP servers too: the default cells are all TCP and ICMP here.
        let mut cells = Matrix::default_cells(&docker)?;
        cells.push(Cell::parse("host", "172.17.0.2:5353/udp")?);
        cells.push(Cell::parse("web", "172.17.0.2:5353/udp")?);
        let probe = || Matrix::probe_cells(&docker, cells.clone(), DEFAULT_DEADLINE);
        let first = probe()?;
        let udp = row(&first, "host", "172.17.0.2:5353/udp");
        assert_eq!(udp.outcome, Outcome::Delivered, "{}", first);
        for i in 1..20 {
            let again = probe()?;
            assert_eq!(
                again.to_string(),
                first.to_string(),
                "matrix {i} differs from the first"
            );
        }
        Ok(())
    })?;
    assert!(
        forks.into_inner() > 20,
        "the premise: children forked meanwhile"
    );
    Ok(())
}

/// The examples' base host is the recorded real Docker 20.10 (`ca` on
/// docker0 publishing 8080:80, tests/data/real-docker): its kernel holds the
/// recorded nat and filter rules line for line on both backends, and its
/// matrix shows the recorded behaviour (the internet reaches the container
/// with its real source; the container reaches the internet masqueraded) —
/// so the examples' diffs are what those rule files do to real Docker.
fn examples_run_on_the_recorded_docker_rules() -> Result<()> {
    let recorded = std::fs::read_to_string("tests/data/real-docker/canon/default-1-after-ca.canon")
        .expect("the recording");
    for (topology, save) in [
        ("docker-web.toml", "iptables-nft-save"),
        ("docker-web-legacy.toml", "iptables-legacy-save"),
    ] {
        let docker = example(topology, &[], "recorded")?.up()?;
        let out = docker.host_node()?.command(save).output()?;
        let live = String::from_utf8_lossy(&out.stdout);
        let mut table = "";
        let mut got = String::new();
        for line in live.lines() {
            if let Some(t) = line.strip_prefix('*') {
                table = if t == "nat" || t == "filter" {
                    line
                } else {
                    ""
                };
                if !table.is_empty() {
                    got.push_str(&format!("{table}\n"));
                }
            } else if !table.is_empty() && line.starts_with("-A ") {
                got.push_str(&format!("{line}\n"));
            }
        }
        // The recording lists nat first; the save order of tables may differ.
        let sorted = |text: &str| {
            let mut blocks: Vec<String> = text
                .split('*')
                .filter(|b| !b.is_empty())
                .map(|b| b.to_string())
                .collect();
            blocks.sort();
            blocks
        };
        assert_eq!(sorted(&got), sorted(&recorded), "{topology}: live {save}");
        let m = Matrix::probe(&docker)?;
        let inbound = row(&m, "internet", "203.0.113.2:8080/tcp");
        assert_eq!(
            (inbound.outcome, inbound.seen_src, inbound.seen_dst),
            (Outcome::Delivered, ip("203.0.113.1"), ip("172.17.0.2")),
            "{topology}\n{}",
            m
        );
        let outbound = row(&m, "web", "198.51.100.10:80/tcp");
        assert_eq!(
            (outbound.outcome, outbound.seen_src),
            (Outcome::Delivered, ip("203.0.113.2")),
            "{topology}\n{}",
            m
        );
    }
    Ok(())
}

/// DOCKER-USER `--dport 8080` blocks nothing (the packet was DNATed to 80 before
/// FORWARD); `--ctorigdstport 8080` blocks the published port: exactly that cell
/// changes, and the rule is named with its file:line.
fn docker_user_dport_vs_ctorigdstport() -> Result<()> {
    let before = example("docker-web.toml", &["docker-user-dport.rules"], "dport")?.up()?;
    let after = example(
        "docker-web.toml",
        &["docker-user-ctorigdstport.rules"],
        "ctorig",
    )?
    .up()?;
    let d = MatrixDiff::probe(&before, &after)?;
    assert_eq!(d.changed.len(), 1, "{}", d);
    let (b, a) = &d.changed[0];
    assert_eq!(b.cell, Cell::parse("internet", "203.0.113.2:8080/tcp")?);
    assert_eq!(b.outcome, Outcome::Delivered, "--dport 8080 blocks nothing");
    assert_eq!(a.outcome, Outcome::Dropped);
    assert_eq!(
        (a.why[0].chain.as_str(), a.why[0].verdict.as_str()),
        ("DOCKER-USER", "drop")
    );
    let source = a.why[0].source.as_deref().unwrap_or("");
    assert!(
        source.ends_with("docker-user-ctorigdstport.rules:5"),
        "{source:?}\n{}",
        d
    );
    Ok(())
}

/// A host INPUT rule on 8080 does not protect the published port from the
/// internet (DNAT then FORWARD); it only stops the host's and containers'
/// traffic that the userland proxy answers in INPUT.
fn host_input_rule_does_not_protect_a_published_port() -> Result<()> {
    let before = example("docker-web.toml", &[], "input-before")?.up()?;
    let after = example("docker-web.toml", &["host-input.rules"], "input-after")?.up()?;
    let d = MatrixDiff::probe(&before, &after)?;
    let internet = Cell::parse("internet", "203.0.113.2:8080/tcp")?;
    assert!(d.changed.iter().all(|(b, _)| b.cell != internet), "{}", d);
    assert!(!d.changed.is_empty(), "the rule must stop something");
    for (b, a) in &d.changed {
        assert_eq!(
            (b.outcome, a.outcome),
            (Outcome::Delivered, Outcome::Dropped)
        );
        let w = &a.why[0];
        assert_eq!(w.chain, "INPUT", "{}", a.cell);
        assert!(
            w.source
                .as_deref()
                .unwrap_or("")
                .ends_with("host-input.rules:6")
        );
    }
    Ok(())
}

/// An nft table with a forward policy drop next to Docker's iptables-legacy
/// rules cuts the containers off, and the nft chain policy is named.
fn nft_table_beside_iptables_legacy() -> Result<()> {
    let before = example("docker-web-legacy.toml", &[], "legacy-before")?.up()?;
    let after = example(
        "docker-web-legacy.toml",
        &["nft-beside-legacy.nft"],
        "legacy-after",
    )?
    .up()?;
    let d = MatrixDiff::probe(&before, &after)?;
    let changed: Vec<String> = d.changed.iter().map(|(b, _)| b.cell.to_string()).collect();
    for cell in [
        "internet -> 203.0.113.2:8080/tcp",
        "web -> 198.51.100.10:80/tcp",
    ] {
        assert!(changed.contains(&cell.to_string()), "{cell} in\n{}", d);
    }
    for (b, a) in d.changed.iter().filter(|(b, _)| !b.why.is_empty()) {
        assert_eq!(a.outcome, Outcome::Dropped);
        assert_eq!(
            (a.why[0].table.as_str(), a.why[0].rule.as_str()),
            ("inet host-fw", "policy DROP"),
            "{}",
            b.cell
        );
        assert_eq!(b.why[0].verdict, "accept", "counters: {}", b.cell);
        assert!(!b.why[0].rule.contains("ESTABLISHED"), "{:?}", b.why[0]);
    }
    Ok(())
}

/// The rule file that drops the containers' echo requests in DOCKER-USER (line 3).
const ICMP_DROP: &str = "*filter\n:DOCKER-USER - [0:0]\n\
    -I DOCKER-USER -i docker0 -p icmp -m icmp --icmp-type 8 -j DROP\nCOMMIT\n";

/// The same drop for Docker 29's nftables backend (no DOCKER-USER there): a
/// table of the user's on the forward hook.
const ICMP_DROP_NFT: &str = "table inet user-fw {\n\tchain forward {\n\t\t\
    type filter hook forward priority -1; policy accept;\n\t\t\
    iifname \"docker0\" icmp type echo-request counter drop comment \"no-ping-out\"\n\t}\n}\n";

/// ICMP echo cells carry their why, like TCP and UDP: an echo request
/// dropped in DOCKER-USER names that rule with its file:line (nftrace on
/// iptables-nft, rule counters on iptables-legacy; on nftables the user's
/// nft rule), the host's accepted ping names the OUTPUT policy, and the
/// container's ping the FORWARD accept and the MASQUERADE that rewrote it.
fn icmp_cells_name_the_deciding_rule() -> Result<()> {
    let dir = tempfile::tempdir().expect("a temp dir");
    let rules = dir.path().join("icmp.rules");
    std::fs::write(&rules, ICMP_DROP).expect("write");
    let nft = dir.path().join("icmp.nft");
    std::fs::write(&nft, ICMP_DROP_NFT).expect("write");
    let text = std::fs::read_to_string(Path::new(EXAMPLES).join("docker-web.toml")).expect("read");
    for (layout, backend) in [
        ("classic", "iptables-nft"),
        ("classic", "iptables-legacy"),
        ("v29", "nftables"),
    ] {
        let what = format!("{layout} {backend}");
        let file = if backend == "nftables" { &nft } else { &rules };
        let parse = |name: &str| -> Result<LabSpec> {
            // (Docker 29's nftables backend leaves forwarding as it found it.)
            let forward = if backend == "nftables" {
                "[daemon]\nip_forward_was_on = true\n"
            } else {
                "[daemon]\n"
            };
            let daemon = with_daemon(&text, layout, backend).replacen("[daemon]\n", forward, 1);
            let mut m = netrig::topology::parse(&daemon, "docker-web.toml")?;
            m.set_name(format!(
                "icmp-{name}-{}",
                backend.rsplit('-').next().unwrap_or(backend)
            ));
            Ok(m)
        };
        let before = parse("b")?.up()?;
        let mut after = parse("a")?;
        after = after.rules_file("host", file);
        let after = after.up()?;
        let (b, a) = (Matrix::probe(&before)?, Matrix::probe(&after)?);

        let out_before = row(&b, "web", "198.51.100.10/icmp");
        assert_eq!(out_before.outcome, Outcome::Delivered, "{what}\n{}", b);
        assert_eq!(
            out_before.why.first().map(|w| w.verdict.as_str()),
            Some("accept"),
            "{what}: {:?}",
            out_before.why
        );
        if backend != "nftables" {
            assert_eq!(
                out_before.why[0].chain, "FORWARD",
                "{what}: {:?}",
                out_before.why
            );
        }
        assert!(
            out_before
                .why
                .iter()
                .any(|w| w.verdict == "nat" && w.rule.to_lowercase().contains("masquerade")),
            "{what}: {:?}",
            out_before.why
        );

        let dropped = row(&a, "web", "198.51.100.10/icmp");
        assert_eq!(dropped.outcome, Outcome::Dropped, "{what}\n{}", a);
        let w = &dropped.why[0];
        assert_eq!(w.verdict, "drop", "{what}: {:?}", dropped.why);
        if backend == "nftables" {
            assert_eq!(
                (w.table.as_str(), w.chain.as_str()),
                ("inet user-fw", "forward"),
                "{what}"
            );
            assert!(w.rule.contains("icmp type echo-request"), "{what}: {w}");
        } else {
            assert_eq!(w.chain, "DOCKER-USER", "{what}: {w}");
            assert!(w.rule.contains("--icmp-type 8 -j DROP"), "{what}: {w}");
            assert_eq!(
                w.source.as_deref(),
                Some(format!("{}:3", rules.display()).as_str()),
                "{what}: {w}"
            );
        }

        // The host's own ping never crosses FORWARD: accepted by OUTPUT, in both.
        for m in [&b, &a] {
            let local = row(m, "host", "198.51.100.10/icmp");
            assert_eq!(local.outcome, Outcome::Delivered, "{what}");
            let w = local
                .why
                .first()
                .unwrap_or_else(|| panic!("{what}: no why for the host's ping"));
            assert_eq!(
                (w.verdict.as_str(), w.source.as_deref()),
                ("accept", None),
                "{what}: {w}"
            );
            if backend != "nftables" {
                assert_eq!(
                    (w.chain.as_str(), w.rule.as_str()),
                    ("OUTPUT", "policy ACCEPT"),
                    "{what}: {w}"
                );
            }
        }
    }
    Ok(())
}

/// The docker-bridge matrix equals its checked-in golden file.
fn matrix_equals_the_golden_file() -> Result<()> {
    let docker = netrig::topology::load("topologies/docker-bridge.toml")?.up()?;
    Matrix::probe(&docker)?.assert_golden("tests/data/matrix/docker-bridge.txt")
}

/// A golden file that disagrees fails with the expected, observed and
/// comparison grids first (the changed cell marked), then a line diff naming
/// both versions of the changed cell.
fn golden_mismatch_shows_a_readable_diff() -> Result<()> {
    let docker = netrig::topology::load("topologies/docker-bridge.toml")?.up()?;
    let m = Matrix::probe(&docker)?;
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("golden.txt");
    let text = m.to_string();
    let line = text
        .lines()
        .find(|l| l.starts_with("internet  203.0.113.2:8080/tcp"))
        .expect("the published port's row");
    let edited = line.replacen("delivered", "dropped  ", 1);
    std::fs::write(&path, text.replacen(line, &edited, 1)).expect("write");
    let err = m.assert_golden(&path).expect_err("the files differ");
    let msg = err.to_string();
    assert!(msg.contains(&format!("- {}", edited.trim_end())), "{msg}");
    assert!(msg.contains(&format!("+ {}", line.trim_end())), "{msg}");
    assert!(msg.contains("NETRIG_BLESS=1"), "{msg}");
    assert_eq!(
        msg.lines()
            .filter(|l| l.starts_with("- ") || l.starts_with("+ "))
            .count(),
        2
    );
    // The grids: the published port's column, the internet's row in each.
    let column = msg
        .lines()
        .skip_while(|l| *l != "columns:")
        .find_map(|l| l.trim().strip_suffix("  203.0.113.2:8080/tcp"))
        .and_then(|n| n.trim().parse::<usize>().ok())
        .unwrap_or_else(|| panic!("no key for the published port:\n{msg}"));
    let mark = |title: &str| -> char {
        let row = msg
            .lines()
            .skip_while(|l| *l != title)
            .find(|l| l.starts_with("internet "))
            .unwrap_or_else(|| panic!("no internet row under {title}:\n{msg}"));
        let cells = row["internet".len()..].trim_start();
        cells.chars().nth(column - 1).expect("a mark per column")
    };
    assert_eq!(mark("expected (golden)"), 'X', "{msg}");
    assert_eq!(mark("observed"), 'N', "{msg}");
    assert_eq!(mark("comparison"), '*', "{msg}");
    Ok(())
}

/// A wrong rule in a user file is reported with its file and line.
fn wrong_user_rule_is_reported_with_file_and_line() -> Result<()> {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("bad.rules");
    std::fs::write(&path, "*filter\n:DOCKER-USER - [0:0]\n-I DOCKER-USER -p tcp --dport 8080 -j NOSUCHTARGET\nCOMMIT\n")
        .expect("write");
    let spec = netrig::topology::load(Path::new(EXAMPLES).join("docker-web.toml"))?;
    let err = spec
        .rules_file("host", &path)
        .up()
        .expect_err("the rule is wrong");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("{}:3", path.display())) || msg.contains("line 3"),
        "{msg}"
    );
    Ok(())
}

/// A topology's `[matrix]` cells replace the defaults; netrig serves the
/// destination (a host port here); a malformed cell is reported at its line.
fn topology_cells_replace_the_defaults() -> Result<()> {
    let text = "[daemon]\nlayout = \"classic\"\n\n[[container]]\nname = \"web\"\nports = [\"8080:80\"]\n\n\
                [matrix]\nreplace_defaults = true\ncells = [\"internet -> 203.0.113.2:2222/tcp\"]\n";
    let docker = netrig::topology::parse(text, "cells.toml")?.up()?;
    let m = Matrix::probe(&docker)?;
    assert_eq!(m.rows.len(), 1, "{}", m);
    let r = row(&m, "internet", "203.0.113.2:2222/tcp");
    assert_eq!(
        (r.outcome, r.seen_src, r.seen_dst),
        (Outcome::Delivered, ip("203.0.113.1"), ip("203.0.113.2"))
    );
    assert_eq!(
        (r.why[0].chain.as_str(), r.why[0].rule.as_str()),
        ("INPUT", "policy ACCEPT")
    );
    let bad = "[matrix]\ncells = [\"internet 203.0.113.2:22\"]\n";
    let err = netrig::topology::parse(bad, "bad.toml")
        .expect_err("malformed cell")
        .to_string();
    assert!(err.contains("bad.toml") && err.contains("line 2"), "{err}");
    Ok(())
}

/// Every topology file gives a matrix under every layout and backend it can be
/// built with (a generic lab's Docker parts under each; a lab without parts
/// once): each delivered TCP/UDP cell has the addresses its server saw.
fn every_topology_every_layout_and_backend() -> Result<()> {
    let mut files: Vec<_> = std::fs::read_dir("topologies")
        .expect("topologies/")
        .chain(std::fs::read_dir(EXAMPLES).expect("examples"))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    let combos = [
        ("classic", "iptables-nft"),
        ("classic", "iptables-legacy"),
        ("v28", "iptables-nft"),
        ("v28", "iptables-legacy"),
        ("v29", "iptables-nft"),
        ("v29", "nftables"),
    ];
    let (mut probed, mut generic) = (0, 0);
    for file in &files {
        let plain = netrig::topology::load(file)?.rule_nodes().is_empty();
        for (layout, backend) in combos {
            let over = Overrides {
                layout: Some(layout.parse().expect("a layout")),
                backend: Some(backend.parse().expect("a backend")),
                ..Overrides::default()
            };
            let over = if plain { Overrides::default() } else { over };
            let topology = match netrig::topology::load_with(file, &over) {
                Ok(t) => t,
                Err(Error::Topology { .. } | Error::Invalid { .. }) => continue, // not for this layout
                Err(e) => return Err(e),
            };
            let what = format!("{} {layout} {backend}", file.display());
            let m = match topology
                .docker_host("host")
                .filter(|_| topology.node_names().contains(&"internet".to_string()))
            {
                Some(_) => Matrix::probe(&topology.up()?)?,
                None => {
                    let lab = topology;
                    generic += 1;
                    let m = Matrix::probe(&lab.up()?)?;
                    // Whatever decided a generic lab's cell is named with its node.
                    assert!(
                        m.rows.iter().flat_map(|r| &r.why).all(|w| w.node.is_some()),
                        "{what}\n{}",
                        m
                    );
                    m
                }
            };
            assert!(
                m.rows.iter().any(|r| r.outcome == Outcome::Delivered),
                "{what}\n{}",
                m
            );
            for r in m.rows.iter().filter(|r| r.outcome == Outcome::Delivered) {
                if r.cell.service != netrig::reach::Service::Icmp {
                    assert!(
                        r.seen_src.is_some() && r.seen_dst.is_some(),
                        "{what}: {}",
                        r.cell
                    );
                }
            }
            probed += 1;
            if plain {
                break;
            }
        }
    }
    assert!(probed >= files.len() * 3, "only {probed} labs probed");
    assert!(generic >= 10, "only {generic} generic labs probed");
    Ok(())
}

/// A host with ten containers (514 cells, the bench's lab): the trace events
/// of every probe and its answer (about 40 000) fit, read as the probes go
/// out in waves; sent at once they overflowed the trace socket's buffer.
fn a_large_matrix_fits_the_trace_buffer() -> Result<()> {
    let mut b = DockerHost::builder().name(netrig::unique_lab_name("reach-large"));
    for i in 0..10u16 {
        b = b.container(
            netrig::docker::ContainerSpec::new(format!("c{i}")).publish(format!("{}:80", 8080 + i)),
        );
    }
    let docker = b.build()?.up()?;
    let m = Matrix::probe(&docker)?;
    assert!(m.rows.len() > 500, "{} rows", m.rows.len());
    for i in 0..10u16 {
        let r = row(&m, "internet", &format!("203.0.113.2:{}/tcp", 8080 + i));
        assert_eq!(r.outcome, Outcome::Delivered, "{}", m);
        assert!(r.why.iter().any(|w| w.rule.contains("DNAT")), "{}", m);
    }
    Ok(())
}

/// A generic lab brought up from topologies/.
fn generic_lab(file: &str, name: &str, extra: &[(&str, &str)]) -> Result<netrig::Lab> {
    let path = Path::new("topologies").join(file);
    let mut l = netrig::topology::load(&path)?;
    for (part, rules) in extra {
        assert!(l.docker_host(part).is_some(), "{file} has the part {part}");
        l = l.rules_file(*part, Path::new(EXAMPLES).join(rules));
    }
    l.set_name(name);
    l.up()
}

/// Whether a row's why has a rule of `node` with `verdict` whose text has `text`.
fn why_has(r: &Row, node: &str, verdict: &str, text: &str) -> bool {
    r.why.iter().any(|w| {
        w.node.as_deref() == Some(node) && w.verdict == verdict && w.to_string().contains(text)
    })
}

/// A generic lab's matrix: each cell decided in the node whose rules it
/// crossed, named; NAT by two hosts on one path; the lab's own echo
/// servers answer with what they saw.
fn generic_labs_name_the_node_that_decided() -> Result<()> {
    // Two Docker hosts: h1 masquerades its container, h2 DNATs it into its own.
    let two = generic_lab("two-docker-hosts.toml", "gen-two", &[])?;
    let m = Matrix::probe(&two)?;
    let t = m.to_string();
    let r = row(&m, "h1-web", "198.51.100.22:8080/tcp");
    assert_eq!(
        (r.outcome, r.seen_src, r.seen_dst),
        (Outcome::Delivered, ip("198.51.100.21"), ip("172.17.0.2")),
        "{t}"
    );
    assert!(why_has(r, "h1", "nat", "MASQUERADE"), "{t}");
    assert!(
        why_has(r, "h2", "nat", "DNAT --to-destination 172.17.0.2:80"),
        "{t}"
    );
    assert!(
        why_has(r, "h2", "accept", "-A DOCKER -d 172.17.0.2/32"),
        "{t}"
    );
    // A gateway's own nftables ruleset; wan's echo servers answer the probes.
    let gw = generic_lab("gateway-nft.toml", "gen-gw", &[])?;
    let m = Matrix::probe(&gw)?;
    let t = m.to_string();
    let telnet = row(&m, "client", "198.51.100.10:23/tcp");
    assert_eq!(telnet.outcome, Outcome::Dropped, "{t}");
    assert!(why_has(telnet, "gw", "drop", "tcp dport 23"), "{t}");
    assert_eq!(telnet.why.len(), 1, "{t}");
    let dns = row(&m, "client", "198.51.100.10:53/udp");
    assert_eq!(
        (dns.outcome, dns.seen_src, dns.seen_dst),
        (Outcome::Delivered, ip("198.51.100.1"), ip("198.51.100.10")),
        "{t}"
    );
    assert!(why_has(dns, "gw", "nat", "masquerade"), "{t}");
    // Docker 28's direct-access drop, for a routed peer.
    let peer = generic_lab("docker-routed-peer.toml", "gen-peer", &[])?;
    let m = Matrix::probe(&peer)?;
    let t = m.to_string();
    let direct = row(&m, "peer", "172.17.0.2:80/tcp");
    assert_eq!(direct.outcome, Outcome::Dropped, "{t}");
    assert_eq!(direct.why[0].node.as_deref(), Some("host"), "{t}");
    assert_eq!(direct.why[0].table, "ip raw", "{t}");
    let published = row(&m, "peer", "198.51.100.2:8080/tcp");
    assert_eq!(published.seen_src, ip("198.51.100.50"), "{t}");
    // Docker beside libvirt: the FORWARD policy DROP on `off` wins over libvirt's accept.
    let libvirt = generic_lab("docker-libvirt.toml", "gen-libvirt", &[])?;
    let m = Matrix::probe(&libvirt)?;
    let t = m.to_string();
    let off = row(&m, "vm-off", "198.51.100.1:80/tcp");
    assert_eq!(off.outcome, Outcome::Dropped, "{t}");
    assert!(why_has(off, "off", "drop", "FORWARD: policy DROP"), "{t}");
    let on = row(&m, "vm-on", "198.51.100.1:80/tcp");
    assert_eq!(
        (on.outcome, on.seen_src),
        (Outcome::Delivered, ip("198.51.100.12")),
        "{t}"
    );
    Ok(())
}

/// A diff of a generic lab whose Docker part h2 gained a DOCKER-USER rule:
/// the cells into h2's published port change, named with h2 and file:line.
fn generic_lab_diff_names_the_node_and_rule() -> Result<()> {
    let before = generic_lab("two-docker-hosts.toml", "gen-before", &[])?;
    let after = generic_lab(
        "two-docker-hosts.toml",
        "gen-after",
        &[("h2", "docker-user-ctorigdstport.rules")],
    )?;
    let d = MatrixDiff::probe(&before, &after)?;
    let t = d.to_string();
    let (b, a) = d
        .changed
        .iter()
        .find(|(b, _)| b.cell.to_string() == "router -> 198.51.100.22:8080/tcp")
        .unwrap_or_else(|| panic!("router's cell did not change:\n{t}"));
    assert_eq!(
        (b.outcome, a.outcome),
        (Outcome::Delivered, Outcome::Dropped)
    );
    let w = &a.why[0];
    assert_eq!(w.node.as_deref(), Some("h2"), "{t}");
    assert_eq!(
        w.source.as_deref(),
        Some("topologies/examples/docker-user-ctorigdstport.rules:5"),
        "{t}"
    );
    // h2's container calling h1's published port: the probe passes, the rule drops its answer.
    let (b, a) = d
        .changed
        .iter()
        .find(|(b, _)| b.cell.to_string() == "h2-web -> 198.51.100.21:8080/tcp")
        .unwrap_or_else(|| panic!("h2-web's cell did not change:\n{t}"));
    assert_eq!(
        (b.outcome, a.outcome),
        (Outcome::Delivered, Outcome::Dropped)
    );
    let w = &a.why[0];
    assert!(
        w.answer && w.node.as_deref() == Some("h2") && w.chain == "DOCKER-USER",
        "{t}"
    );
    assert_eq!(
        w.source.as_deref(),
        Some("topologies/examples/docker-user-ctorigdstport.rules:5"),
        "{t}"
    );
    assert!(b.why.iter().all(|w| !w.answer), "{t}");
    // Into h1's published port only h2's container changed (the rule drops its answers).
    assert!(
        d.changed
            .iter()
            .all(|(b, _)| b.cell.to != ip("198.51.100.21").unwrap() || b.cell.from == "h2-web"),
        "{t}"
    );
    Ok(())
}

/// The ipv6-router's IPv6 cells from the client, each named by the
/// ip6tables rule (file:line) or policy that decided it, and IPv4 open.
fn ipv6_router_rows(m: &Matrix) {
    let t = m.to_string();
    let web = row(m, "client", "[2001:db8:61:2::2]:80/tcp");
    assert_eq!(
        (web.outcome, web.seen_src, web.seen_dst),
        (
            Outcome::Delivered,
            ip("2001:db8:61:1::2"),
            ip("2001:db8:61:2::2")
        ),
        "{t}"
    );
    assert!(
        why_has(web, "router", "accept", "--dport 80 -j ACCEPT"),
        "{t}"
    );
    assert_eq!(web.why[0].table, "ip6 filter", "{t}");
    assert_eq!(
        web.why[0].source.as_deref(),
        Some("topologies/rules/ipv6-router.v6:7"),
        "{t}"
    );
    let rejected = row(m, "client", "[2001:db8:61:2::2]:81/tcp");
    assert_eq!(rejected.outcome, Outcome::Refused, "{t}");
    assert_eq!(
        rejected.why[0].source.as_deref(),
        Some("topologies/rules/ipv6-router.v6:8"),
        "{t}"
    );
    let dns = row(m, "client", "[2001:db8:61:2::2]:53/udp");
    assert_eq!(dns.outcome, Outcome::Dropped, "{t}");
    assert!(
        why_has(dns, "router", "drop", "FORWARD: policy DROP"),
        "{t}"
    );
    let echo = row(m, "client", "2001:db8:61:2::2/icmp6");
    assert_eq!(echo.outcome, Outcome::Delivered, "{t}");
    assert_eq!(
        echo.why[0].source.as_deref(),
        Some("topologies/rules/ipv6-router.v6:6"),
        "{t}"
    );
    // The same ports over IPv4 pass: the router's iptables has no rules.
    for v4 in ["10.61.2.2:81/tcp", "10.61.2.2:53/udp", "10.61.2.2/icmp"] {
        assert_eq!(row(m, "client", v4).outcome, Outcome::Delivered, "{t}");
    }
}

/// The same IPv6 cells with the router's rules in iptables-legacy, which
/// the kernel cannot trace: each named from the ip6tables rule counters.
fn ipv6_matrix_on_iptables_legacy() -> Result<()> {
    let text = std::fs::read_to_string("topologies/ipv6-router.toml").expect("the topology");
    let text = text.replace(
        "rules = [\"rules/ipv6-router.v6\"]",
        "iptables = \"iptables-legacy\"\nrules = [\"rules/ipv6-router.v6\"]",
    );
    assert!(text.contains("iptables-legacy"));
    let mut spec = netrig::topology::parse(&text, "topologies/ipv6-router.toml")?;
    spec.set_name("v6-legacy");
    let lab = spec.up()?;
    ipv6_router_rows(&Matrix::probe(&lab)?);
    let c = lab
        .node("router")?
        .counters(netrig::Backend::IptablesLegacy)?;
    assert!(
        c.policy("ip6 filter", "FORWARD")
            .is_some_and(|p| p.policy == "DROP" && p.packets > 0),
        "{c:?}"
    );
    Ok(())
}

/// The IPv6 cells of a dual-stack router whose ip6tables FORWARD ruleset
/// is not its IPv4 one: delivered, refused (REJECT) and dropped (policy)
/// IPv6 cells each name the router's ip6tables rule with file:line, while
/// the same ports over IPv4 are delivered; the router's ip6tables counters,
/// IPv6 conntrack entries and evidence show the same traffic.
fn ipv6_matrix_names_the_ip6tables_rules() -> Result<()> {
    let lab = generic_lab("ipv6-router.toml", "v6-matrix", &[])?;
    let m = Matrix::probe(&lab)?;
    ipv6_router_rows(&m);
    let json = m.render(netrig::reach::Format::Json);
    assert!(
        json.contains("\"to\": \"[2001:db8:61:2::2]:80/tcp\"")
            && json.contains("\"to\": \"2001:db8:61:2::2/icmp6\""),
        "{json}"
    );
    let router = lab.node("router")?;
    let c = router.counters(netrig::Backend::IptablesNft)?;
    let policy = c
        .policy("ip6 filter", "FORWARD")
        .expect("ip6 FORWARD policy");
    assert!(policy.policy == "DROP" && policy.packets > 0, "{c:?}");
    let reject = c
        .rule("ip6 filter", "FORWARD", "--dport 81 -j REJECT")
        .expect("the REJECT rule's counter");
    assert!(reject.packets > 0, "{c:?}");
    let ct = router.conntrack()?;
    ct.expect("tcp", "2001:db8:61:1::2", "[2001:db8:61:2::2]:80")?;
    let ev = lab.collect_evidence("ipv6 evidence")?;
    let read = |f: &str| std::fs::read_to_string(ev.dir.join("router").join(f)).unwrap();
    assert!(
        read("ruleset.txt").contains("--dport 81 -j REJECT"),
        "ip6tables rules"
    );
    assert!(
        read("routes.txt").contains("2001:db8:61:2::/64"),
        "IPv6 routes"
    );
    assert!(
        read("neighbours.txt").contains("2001:db8:61:1::2"),
        "IPv6 neighbours"
    );
    Ok(())
}

/// `trace` of one IPv6 cell names the deciding ip6tables rule, hook by hook.
fn ipv6_trace_names_the_ip6tables_rule() -> Result<()> {
    let lab = generic_lab("ipv6-router.toml", "v6-trace", &[])?;
    let cell = Cell::parse("client", "[2001:db8:61:2::2]:81/tcp")?;
    let trace = netrig::reach::trace_cell(&lab, &cell, DEFAULT_DEADLINE)?;
    let text = trace.to_string();
    let why = trace.why();
    assert_eq!(
        (
            why[0].node.as_deref(),
            why[0].table.as_str(),
            why[0].chain.as_str()
        ),
        (Some("router"), "ip6 filter", "FORWARD"),
        "{text}"
    );
    assert!(why[0].rule.contains("--dport 81 -j REJECT"), "{text}");
    assert_eq!(
        why[0].source.as_deref(),
        Some("topologies/rules/ipv6-router.v6:8"),
        "{text}"
    );
    assert!(
        text.contains("flow tcp [2001:db8:61:1::2]:") && text.contains("-> [2001:db8:61:2::2]:81"),
        "{text}"
    );
    Ok(())
}

/// A diff of the IPv6 router before and after an ip6tables rule that lets
/// DNS through: the one IPv6 cell it opens, named with the new rule's file:line.
fn ipv6_diff_shows_an_ip6tables_change() -> Result<()> {
    let before = generic_lab("ipv6-router.toml", "v6-before", &[])?;
    let mut after = netrig::topology::load("topologies/ipv6-router.toml")?
        .rules_file("router", "topologies/rules/ipv6-router-open.v6");
    after.set_name("v6-after");
    let after = after.up()?;
    let d = MatrixDiff::probe(&before, &after)?;
    let t = d.to_string();
    assert_eq!(d.changed.len(), 1, "{t}");
    let (b, a) = &d.changed[0];
    assert_eq!(
        b.cell.to_string(),
        "client -> [2001:db8:61:2::2]:53/udp",
        "{t}"
    );
    assert_eq!(
        (b.outcome, a.outcome),
        (Outcome::Dropped, Outcome::Delivered),
        "{t}"
    );
    assert_eq!(
        a.why[0].source.as_deref(),
        Some("topologies/rules/ipv6-router-open.v6:5"),
        "{t}"
    );
    Ok(())
}

/// The topology text with its `[daemon]` layout and backend replaced.
fn with_daemon(text: &str, layout: &str, backend: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let key = line.split('=').next().unwrap_or("").trim();
        if key == "layout" || key == "backend" {
            continue;
        }
        out.push_str(line);
        out.push('\n');
        if line.trim() == "[daemon]" {
            out.push_str(&format!("layout = \"{layout}\"\nbackend = \"{backend}\"\n"));
        }
    }
    out
}

netrig::testing::main!(
    matrix_shows_dnat_masquerade_and_the_deciding_rule,
    twenty_matrices_of_one_lab_are_identical,
    matrices_stay_identical_while_children_fork,
    examples_run_on_the_recorded_docker_rules,
    docker_user_dport_vs_ctorigdstport,
    host_input_rule_does_not_protect_a_published_port,
    nft_table_beside_iptables_legacy,
    matrix_equals_the_golden_file,
    golden_mismatch_shows_a_readable_diff,
    wrong_user_rule_is_reported_with_file_and_line,
    every_topology_every_layout_and_backend,
    topology_cells_replace_the_defaults,
    icmp_cells_name_the_deciding_rule,
    generic_labs_name_the_node_that_decided,
    generic_lab_diff_names_the_node_and_rule,
    a_large_matrix_fits_the_trace_buffer,
    ipv6_matrix_names_the_ip6tables_rules,
    ipv6_matrix_on_iptables_legacy,
    ipv6_trace_names_the_ip6tables_rule,
    ipv6_diff_shows_an_ip6tables_change,
);
