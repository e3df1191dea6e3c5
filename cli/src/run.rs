//! `netrig run [FILTER…]`: the scenario catalogue from the command line.
//!
//! The catalogue stays what it is — the `scenarios` test binary, a
//! libtest-compatible harness — and this command executes it. That way
//! there is one catalogue, run the same way by `cargo test`, `cargo nextest`
//! (which shards and archives it) and `netrig run`, and the CLI links no
//! test code. The binary is `--scenarios PATH` (or `$NETRIG_SCENARIOS`), or
//! else built with `cargo test --test scenarios --no-run` in netrig's
//! source tree.
//!
//! The run: the machine's fingerprint (kernel, modules, tools, usable
//! backends) first, then every selected trial with a progress line as it
//! ends (`[done/total]`, failures as they happen), the failures' details,
//! and a summary table scenario × cell. `--junit FILE` writes JUnit XML,
//! `--upgrade-view` adds the outcome per Docker layout side by side. The
//! exit status is non-zero when any trial failed.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use netrig::{Error, Subject};

use crate::report::{self, Outcome, Trial};

/// What `netrig run` was asked for.
#[derive(Debug, Clone)]
pub struct RunArgs {
    /// Substring filters on trial names (as libtest's), e.g. `bug::` or `v29`.
    pub filters: Vec<String>,
    /// Where to write JUnit XML.
    pub junit: Option<PathBuf>,
    /// Print the upgrade view (outcome per layout side by side).
    pub upgrade_view: bool,
    /// The scenarios test binary, instead of building it.
    pub scenarios: Option<PathBuf>,
    /// Trials run at once (default: the catalogue's, four per core).
    pub jobs: Option<usize>,
    /// Directory for the run's records (fingerprint, results).
    pub out: PathBuf,
}

fn fail(op: impl Into<String>, message: impl Into<String>) -> Error {
    Error::io(
        Subject::lab("catalogue"),
        op,
        std::io::Error::other(message.into()),
    )
}

/// Runs the catalogue; see the module docs.
pub fn run(args: &RunArgs) -> netrig::Result<ExitCode> {
    let bin = match args
        .scenarios
        .clone()
        .or_else(|| std::env::var_os("NETRIG_SCENARIOS").map(PathBuf::from))
    {
        Some(b) => b,
        None => build_scenarios()?,
    };
    tracing::debug!(bin = %bin.display(), "catalogue binary");
    std::fs::create_dir_all(&args.out).map_err(|e| {
        Error::io(
            Subject::lab("catalogue"),
            format!("create {}", args.out.display()),
            e,
        )
    })?;
    let fingerprint = fingerprint()?;
    eprintln!("netrig run: this machine\n{}", indent(&fingerprint));
    let fp_path = args.out.join("fingerprint.txt");
    std::fs::write(&fp_path, &fingerprint).map_err(|e| {
        Error::io(
            Subject::lab("catalogue"),
            format!("write {}", fp_path.display()),
            e,
        )
    })?;

    let names = list(&bin, &args.filters)?;
    if names.is_empty() {
        eprintln!("netrig run: no trial matches {:?}", args.filters);
        return Ok(ExitCode::FAILURE);
    }
    let started = Instant::now();
    let (trials, status) = execute(&bin, args, names.len())?;
    let elapsed = started.elapsed();

    for t in trials.iter().filter(|t| t.outcome == Outcome::Failed) {
        eprintln!("\n---- {} ----\n{}", t.name, t.details.trim_end());
    }
    println!("\n{}", report::summary_table(&trials));
    if args.upgrade_view {
        let rows = describe(&bin)?;
        println!("{}", report::upgrade_view(&rows, &trials));
    }
    let (passed, failed, skipped) = report::counts(&trials);
    println!(
        "{passed} passed, {failed} failed, {skipped} skipped in {:.1}s (records in {})",
        elapsed.as_secs_f64(),
        args.out.display()
    );
    let results = args.out.join("results.tsv");
    std::fs::write(&results, report::results_tsv(&trials)).map_err(|e| {
        Error::io(
            Subject::lab("catalogue"),
            format!("write {}", results.display()),
            e,
        )
    })?;
    if let Some(path) = &args.junit {
        std::fs::write(path, report::junit(&trials, &fingerprint, elapsed)).map_err(|e| {
            Error::io(
                Subject::lab("catalogue"),
                format!("write {}", path.display()),
                e,
            )
        })?;
        eprintln!("netrig run: JUnit written to {}", path.display());
    }
    let missing = names.len().saturating_sub(trials.len());
    if failed > 0 || missing > 0 || !status.success() {
        if missing > 0 {
            eprintln!("netrig run: {missing} trial(s) reported no result ({status})");
        }
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Builds the scenarios test binary in netrig's source tree and returns its path.
fn build_scenarios() -> netrig::Result<PathBuf> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    eprintln!("netrig run: building the catalogue (cargo test --test scenarios --no-run)");
    let out = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args([
            "test",
            "--test",
            "scenarios",
            "--no-run",
            "--message-format=json",
            "--manifest-path",
        ])
        .arg(&manifest)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::missing_program(
                "cargo",
                "build the scenario catalogue (or pass --scenarios BIN)",
            ),
            _ => Error::io(Subject::lab("catalogue"), "run cargo", e),
        })?;
    if !out.status.success() {
        return Err(fail(
            "build the catalogue",
            format!("cargo exited with {}", out.status),
        ));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("\"name\":\"scenarios\""))
        .find_map(|l| json_string(l, "executable"))
        .map(PathBuf::from)
        .ok_or_else(|| {
            fail(
                "build the catalogue",
                "cargo reported no scenarios executable",
            )
        })
}

/// The string value of `"key":"…"` in one line of cargo's JSON.
fn json_string(line: &str, key: &str) -> Option<String> {
    let start = line.find(&format!("\"{key}\":\""))? + key.len() + 4;
    let end = line[start..].find('"')? + start;
    Some(line[start..end].replace("\\\\", "\\"))
}

/// The fingerprint, probed in a throwaway one-node lab.
fn fingerprint() -> netrig::Result<String> {
    let lab = netrig::Lab::builder(netrig::unique_lab_name("fingerprint"))
        .node("probe")
        .up()?;
    Ok(lab.node("probe")?.fingerprint().to_string())
}

/// The trial names the filters select (`BIN --list FILTERS`).
fn list(bin: &Path, filters: &[String]) -> netrig::Result<Vec<String>> {
    let out = Command::new(bin)
        .arg("--list")
        .args(filters)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| {
            Error::io(
                Subject::lab("catalogue"),
                format!("run {} --list", bin.display()),
                e,
            )
        })?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_string)
        .collect())
}

/// The catalogue's description (`NETRIG_CATALOGUE_DESCRIBE=1 BIN`): one
/// row of tab-separated fields per scenario.
fn describe(bin: &Path) -> netrig::Result<Vec<Vec<String>>> {
    let out = Command::new(bin)
        .env("NETRIG_CATALOGUE_DESCRIBE", "1")
        .output()
        .map_err(|e| {
            Error::io(
                Subject::lab("catalogue"),
                format!("describe {}", bin.display()),
                e,
            )
        })?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect())
}

/// Runs the selected trials, printing a progress line as each ends, and
/// collects their results (with each failure's details).
fn execute(
    bin: &Path,
    args: &RunArgs,
    total: usize,
) -> netrig::Result<(Vec<Trial>, std::process::ExitStatus)> {
    let mut cmd = Command::new(bin);
    cmd.args(&args.filters)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(j) = args.jobs {
        cmd.arg(format!("--test-threads={j}"));
    }
    // The child should stop on Ctrl-C like any command: unblock what `main` blocked.
    nix::sys::signal::SigSet::all().thread_unblock().ok();
    let mut child = cmd.spawn().map_err(|e| {
        Error::io(
            Subject::lab("catalogue"),
            format!("run {}", bin.display()),
            e,
        )
    })?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut trials: Vec<Trial> = Vec::new();
    let mut failure_block: Option<(String, String)> = None;
    for line in BufReader::new(stdout).lines() {
        let line = line
            .map_err(|e| Error::io(Subject::lab("catalogue"), "read the catalogue's output", e))?;
        if let Some(t) = report::parse_result_line(&line) {
            let done = trials.len() + 1;
            let mark = match t.outcome {
                Outcome::Passed => "ok  ",
                Outcome::Failed => "FAIL",
                Outcome::Skipped => "skip",
            };
            eprintln!("[{done:>3}/{total}] {mark} {}{}", t.name, t.note_suffix());
            trials.push(t);
            continue;
        }
        // Failure details: "---- NAME ----" up to the next block or the list.
        if let Some(name) = line
            .strip_prefix("---- ")
            .and_then(|l| l.strip_suffix(" ----"))
        {
            attach(&mut trials, failure_block.take());
            failure_block = Some((name.to_string(), String::new()));
        } else if line == "failures:" {
            attach(&mut trials, failure_block.take());
        } else if let Some((_, text)) = failure_block.as_mut() {
            text.push_str(&line);
            text.push('\n');
        }
    }
    attach(&mut trials, failure_block.take());
    let status = child
        .wait()
        .map_err(|e| Error::io(Subject::lab("catalogue"), "wait for the catalogue", e))?;
    Ok((trials, status))
}

fn attach(trials: &mut [Trial], block: Option<(String, String)>) {
    if let Some((name, text)) = block
        && let Some(t) = trials.iter_mut().find(|t| t.name == name)
    {
        t.details.push_str(&text);
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}
