//! `netrig verify TOPOLOGY [--dockerd PATH] [--layout L] [--backend B]`:
//! the topology on a real Docker daemon (confined to a lab node, its
//! containers' namespaces adopted as nodes) beside the same topology
//! emulated; the emulation's default cells probed in both at once, both
//! rulesets read back. Prints the cells whose outcome, seen addresses or
//! deciding rule differ, and a rule-for-rule diff of the rulesets
//! (normalised: the real bridges named as the model names them, counters
//! and comments dropped). Exit 0 equal, 1 different, 2 error; without a
//! dockerd, a skip (an error under `CI=true`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use netrig::reach::{Matrix, MatrixDiff, Row};
use netrig::topology::Overrides;
use netrig::{Error, Lab, Subject};

/// `netrig verify`'s arguments.
#[derive(Debug)]
pub(crate) struct Args {
    pub(crate) file: PathBuf,
    pub(crate) dockerd: PathBuf,
    pub(crate) rootfs: Option<PathBuf>,
    pub(crate) over: Overrides,
}

/// Runs `netrig verify`.
pub(crate) fn run(args: &Args) -> ExitCode {
    match verify(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("netrig verify: error: {e}");
            ExitCode::from(2)
        }
    }
}

/// How long a probe waits for an answer no verdict settled: longer than a
/// matrix's default, so that a loaded machine (a real daemon beside the
/// emulation) cannot turn a slow answer into a drop on one side only.
const DEADLINE: std::time::Duration = std::time::Duration::from_millis(1500);

fn verify(args: &Args) -> netrig::Result<ExitCode> {
    let rootfs = args.rootfs.as_deref();
    let release = match netrig::LabSpec::real_docker_release(&args.dockerd, rootfs) {
        Ok(v) => v,
        Err(Error::MissingProgram { program, .. }) => {
            let why = format!(
                "no Docker daemon: {program} is not installed{} (install docker.io, or pass --dockerd PATH)",
                rootfs
                    .map(|r| format!(" in {}", r.display()))
                    .unwrap_or_default()
            );
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                return Err(Error::invalid(Subject::default(), "--dockerd", why));
            }
            println!("netrig verify: skipped: {why}");
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => return Err(e),
    };
    netrig::privilege::check()?;
    let real_over = Overrides {
        version: Some(release),
        layout: None,
        backend: args.over.backend,
    };
    // The emulation's layout: the one asked for, else the daemon's release.
    let emul_over = Overrides {
        version: args.over.layout.is_none().then_some(release),
        ..args.over
    };
    let mut real_spec = netrig::topology::load_with(&args.file, &real_over)?;
    let mut emul_spec = netrig::topology::load_with(&args.file, &emul_over)?;
    real_spec.set_name(netrig::unique_lab_name("verify-real"));
    emul_spec.set_name(netrig::unique_lab_name("verify-emul"));
    let emul_layout = emul_spec
        .docker_host("host")
        .map(|h| h.layout())
        .unwrap_or_default();
    println!(
        "netrig verify {}: real dockerd {release} ({}{}, layout {:?}) beside the emulation (layout {emul_layout:?})",
        args.file.display(),
        args.dockerd.display(),
        rootfs
            .map(|r| format!(" in {}", r.display()))
            .unwrap_or_default(),
        real_spec
            .docker_host("host")
            .map(|h| h.layout())
            .unwrap_or_default(),
    );
    let t0 = Instant::now();
    let (real, emul) = std::thread::scope(|s| {
        let emul = s.spawn(|| {
            let t = Instant::now();
            emul_spec.up().map(|l| (l, t.elapsed()))
        });
        let real = real_spec
            .up_real_docker(&args.dockerd, rootfs)
            .map(|l| (l, t0.elapsed()));
        (real, emul.join().expect("emulation thread panicked"))
    });
    let ((real, real_up), (emul, emul_up)) = (real?, emul?);
    let t_rules = Instant::now();
    let bridges = bridge_names(&real)?;
    let real_rules = normalise(&real.docker("host")?.rules()?, &bridges);
    let emul_rules = normalise(&emul.docker("host")?.rules()?, &BTreeMap::new());
    let real_rules6 = normalise(&rules6(&real)?, &bridges);
    let emul_rules6 = normalise(&rules6(&emul)?, &BTreeMap::new());
    let rules_read = t_rules.elapsed();
    let t1 = Instant::now();
    let cells = Matrix::default_cells(&emul)?;
    let (e, r) = std::thread::scope(|s| {
        let e = s.spawn(|| Matrix::probe_cells(&emul, cells.clone(), DEADLINE));
        let r = Matrix::probe_cells(&real, cells.clone(), DEADLINE);
        (e.join().expect("probe thread panicked"), r)
    });
    let (e, r) = (e?, r?);
    let matrices = t1.elapsed();
    let d = MatrixDiff::between(&e, &r);
    let differing: Vec<(&Row, &Row)> = d.changed.iter().map(|(a, b)| (a, b)).collect();
    let why_differs: Vec<(&Row, &Row)> = d
        .why_changed
        .iter()
        .filter(|(a, b)| deciding(a, &BTreeMap::new()) != deciding(b, &bridges))
        .map(|(a, b)| (a, b))
        .collect();
    // iptables-legacy cannot be traced: its deciding rules are counter
    // deltas, which traffic of other cells (a dropped probe's SYN
    // retransmitted into another's window) can move. They are shown, not
    // counted; the traced backends' are counted.
    let counted = real.docker("host")?.model().backend() == netrig::Backend::IptablesLegacy;
    let missing = d.removed.len() + d.added.len();
    println!(
        "{} cells probed in both; {} differ in outcome or seen addresses, {} in the deciding rule{}{}",
        cells.len(),
        differing.len(),
        why_differs.len(),
        if counted && !why_differs.is_empty() {
            " (counted on iptables-legacy: shown, not compared)"
        } else {
            ""
        },
        if missing > 0 {
            format!(" ({missing} probed on one side only)")
        } else {
            String::new()
        }
    );
    for (a, b) in differing.iter().chain(&why_differs) {
        println!("  {}", a.cell);
        println!(
            "    emulation: {:<32} {}",
            a.reach(),
            deciding(a, &BTreeMap::new())
        );
        println!("    real:      {:<32} {}", b.reach(), deciding(b, &bridges));
    }
    let backend = real.docker("host")?.model().backend();
    let mut changed = 0;
    for (family, emul_rules, real_rules) in [
        ("rules", &emul_rules, &real_rules),
        ("ip6 rules", &emul_rules6, &real_rules6),
    ] {
        if family == "ip6 rules" && emul_rules.is_empty() && real_rules.is_empty() {
            continue;
        }
        let diff = line_diff(emul_rules, real_rules);
        let differ = diff.iter().filter(|l| !l.starts_with(' ')).count();
        println!(
            "{family} ({backend} backend): {} lines emulated, {} real, {differ} differ (- emulation only, + real only)",
            emul_rules.len(),
            real_rules.len()
        );
        for l in diff.iter().filter(|l| !l.starts_with(' ')) {
            println!("  {l}");
        }
        changed += differ;
    }
    let equal =
        differing.is_empty() && (counted || why_differs.is_empty()) && missing == 0 && changed == 0;
    let t_down = Instant::now();
    drop(real);
    drop(emul);
    let down = t_down.elapsed();
    println!(
        "time: real daemon and containers up {:.2}s, emulation up {:.2}s (at once), rules read {:.2}s, \
         both matrices {:.2}s, both labs down {:.2}s, total {:.2}s",
        real_up.as_secs_f64(),
        emul_up.as_secs_f64(),
        rules_read.as_secs_f64(),
        matrices.as_secs_f64(),
        down.as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
    println!("{}", if equal { "EQUAL" } else { "DIFFERENT" });
    Ok(if equal {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The host's ip6tables rules, with counters (empty for the nftables
/// backend, whose one ruleset [`DockerPart::rules`] has both families).
///
/// [`DockerPart::rules`]: netrig::DockerPart::rules
fn rules6(lab: &Lab) -> netrig::Result<String> {
    let part = lab.docker("host")?;
    let Some(argv) = part.model().backend().save_argv().get(1).copied() else {
        return Ok(String::new());
    };
    let out = part.host()?.command(argv[0]).args(&argv[1..]).output()?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The real host's bridge names → the model's, matched by the network's gateway address.
fn bridge_names(real: &Lab) -> netrig::Result<BTreeMap<String, String>> {
    let part = real.docker("host")?;
    let addrs = part.host()?.addresses()?;
    let mut map = BTreeMap::new();
    for n in part.model().networks() {
        if let Some((name, _)) = addrs
            .iter()
            .find(|(_, a)| a.addr() == std::net::IpAddr::V4(n.gateway))
            && *name != n.bridge
        {
            map.insert(name.clone(), n.bridge.clone());
        }
    }
    Ok(map)
}

/// `text` with every real bridge name replaced by the model's.
fn rename(text: &str, bridges: &BTreeMap<String, String>) -> String {
    let mut out = text.to_string();
    for (real, model) in bridges {
        out = out.replace(real.as_str(), model);
    }
    out
}

/// A row's deciding rule (its first why that is not a NAT rule),
/// normalised. A cell no rule decided (only base chains' ACCEPT policies
/// on its path) is named so, whichever base chain the trace ended in: the
/// chains' hook order in one kernel table is not a rule of Docker's.
fn deciding(r: &Row, bridges: &BTreeMap<String, String>) -> String {
    const NO_RULE: &str = "no rule (policies accept)";
    match r.why.iter().find(|w| w.verdict != "nat") {
        Some(w) if w.rule == "policy ACCEPT" && w.verdict == "accept" && !w.answer => {
            NO_RULE.to_string()
        }
        Some(w) => rename(&strip_comments(&w.to_string()), bridges),
        None => NO_RULE.to_string(),
    }
}

/// `-m comment --comment "…"` (or a bare word) removed.
fn strip_comments(line: &str) -> String {
    let Some(at) = line.find("-m comment --comment ") else {
        return line.to_string();
    };
    let rest = &line[at + "-m comment --comment ".len()..];
    let after = if let Some(q) = rest.strip_prefix('"') {
        q.find('"').map_or("", |e| &q[e + 1..])
    } else {
        rest.find(' ').map_or("", |e| &rest[e..])
    };
    format!("{}{}", line[..at].trim_end(), after)
        .trim_end()
        .to_string()
}

/// A ruleset's lines as compared: comments, counters and `-m comment`
/// dropped, bridges renamed, tables in name order (iptables-legacy-save
/// prints them in the order the kernel registered them).
fn normalise(rules: &str, bridges: &BTreeMap<String, String>) -> Vec<String> {
    let mut tables: Vec<Vec<String>> = Vec::new();
    for l in lines(rules, bridges) {
        if l.starts_with('*') || tables.is_empty() {
            tables.push(Vec::new());
        }
        tables.last_mut().expect("a table").push(l);
    }
    tables.sort();
    tables.concat()
}

/// [`normalise`]'s lines, in the tool's order.
fn lines(rules: &str, bridges: &BTreeMap<String, String>) -> Vec<String> {
    rules
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let mut l = l.to_string();
            if l.starts_with('[')
                && let Some(e) = l.find("] ")
            {
                l = l[e + 2..].to_string();
            }
            if l.starts_with(':')
                && let Some(b) = l.rfind(" [")
            {
                l.truncate(b);
            }
            rename(&strip_comments(&l), bridges)
        })
        .collect()
}

/// A line diff (longest common subsequence): `  ` kept, `- ` only in `a`, `+ ` only in `b`.
fn line_diff(a: &[String], b: &[String]) -> Vec<String> {
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            out.push(format!("  {}", a[i]));
            (i, j) = (i + 1, j + 1);
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push(format!("+ {}", b[j]));
            j += 1;
        } else {
            out.push(format!("- {}", a[i]));
            i += 1;
        }
    }
    out
}
