//! Selecting, listing and running tests: libtest's semantics decided here,
//! libtest-mimic used only to run and print the chosen list.
//!
//! Whether a test can run here is decided when the tests are *listed*
//! (`--list --ignored`) and again when they run, the same way: a test that
//! cannot run is *ignored* — `cargo test` counts it as ignored and prints the
//! reason, `cargo nextest run` counts it as skipped — unless privileges are
//! required (`CI=true`, `NETRIG_REQUIRE_PRIVILEGES=1`) and the skip is
//! enforceable: then it is an ordinary test that fails, saying why.

use std::io::Write;
use std::process::ExitCode;

use libtest_mimic::{Arguments, ColorSetting, Completion, Failed, FormatSetting, Trial};

use super::args::{Args, ArgsError, Color, Format, Parsed, USAGE};
use super::test::{Body, NOT_PRIVILEGED, Skip, Test, requirement_source};

/// The counts of a run, as printed on its `test result:` line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Summary {
    /// Tests that passed.
    pub passed: u64,
    /// Tests that failed.
    pub failed: u64,
    /// Tests that were ignored (by `ignore`, or because they cannot run here).
    pub ignored: u64,
    /// Tests left out by filters, `--skip` or `--ignored`.
    pub filtered_out: u64,
}

impl Summary {
    /// 0 when nothing failed, 101 (libtest's code) otherwise.
    pub(crate) fn exit_code(&self) -> ExitCode {
        if self.failed > 0 {
            ExitCode::from(101)
        } else {
            ExitCode::SUCCESS
        }
    }
}

/// Runs `tests` with this process's command line (libtest's options,
/// `--help` lists them) and returns the exit code for `main`: the whole of a
/// test binary's `main` is `netrig::testing::run(tests)`.
///
/// As libtest, it runs `--test-threads` tests at once, else
/// `RUST_TEST_THREADS`, else one per CPU (a binary whose tests mostly wait
/// on the wire may set `RUST_TEST_THREADS` in its `main` when it is unset).
/// A command line libtest would reject exits with 101 and libtest's message.
pub fn run(tests: impl IntoIterator<Item = Test>) -> ExitCode {
    match Args::from_env() {
        Ok(Parsed::Run(mut args)) => {
            args.test_threads = args.test_threads.or_else(threads_from_env);
            run_with(&args, tests.into_iter().collect()).exit_code()
        }
        Ok(Parsed::Help) => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Err(ArgsError(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(101)
        }
    }
}

/// `RUST_TEST_THREADS`, when it is a number above 0 (libtest's variable).
fn threads_from_env() -> Option<usize> {
    std::env::var("RUST_TEST_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|n| *n > 0)
}

/// Runs (or, with `--list`, lists) `tests` under `args`; installs netrig's
/// log subscriber first (see `crate::logging`).
pub(crate) fn run_with(args: &Args, tests: Vec<Test>) -> Summary {
    crate::logging::init_for_harness();
    if !args.without_effect.is_empty() {
        eprintln!(
            "netrig::testing: accepted without effect here: {}",
            args.without_effect.join(", ")
        );
    }
    let (mut selected, mut filtered_out): (Vec<Test>, Vec<Test>) =
        tests.into_iter().partition(|t| args.selects(&t.name));
    if args.list {
        list(args, selected);
        return Summary::default();
    }
    let mut plans = Vec::with_capacity(selected.len());
    for mut test in selected.drain(..) {
        match plan(args, &mut test) {
            Some(plan) => plans.push((test, plan)),
            None => filtered_out.push(test),
        }
    }
    report_skips(plans.iter().filter_map(|(_, p)| match p {
        Plan::Ignore(r, d) => Some((r.as_str(), d)),
        _ => None,
    }));
    execute(args, plans, filtered_out)
}

/// What is done with a selected test.
enum Plan {
    /// Run its body.
    Run,
    /// Report it ignored, with this reason (and a longer explanation).
    Ignore(String, Option<String>),
    /// Fail with this message: it cannot run here, and that must not pass silently.
    Fail(String),
}

/// The plan for a selected test; `None` when `--ignored` leaves it out.
fn plan(args: &Args, test: &mut Test) -> Option<Plan> {
    let blocker = test.blocker();
    if let Some(skip) = &blocker
        && skip.is_enforceable()
        && let Some(source) = requirement_source()
    {
        return (!args.ignored).then(|| {
            Plan::Fail(format!(
                "cannot run here: {}\n(failing rather than skipping: {source})",
                explain(skip)
            ))
        });
    }
    let ignored = blocker
        .as_ref()
        .map(|s| s.reason().to_string())
        .or_else(|| test.ignore.clone());
    match ignored {
        None if args.ignored => None,
        None => Some(Plan::Run),
        Some(reason) if !(args.ignored || args.include_ignored) => Some(Plan::Ignore(
            reason,
            blocker.and_then(|s| s.detail().map(String::from)),
        )),
        Some(_) => Some(match blocker {
            // Asked to run a test that cannot run here: say so.
            Some(skip) => Plan::Fail(format!("cannot run here: {}", explain(&skip))),
            None => Plan::Run,
        }),
    }
}

/// The skip's reason and, on the next lines, its detail.
fn explain(skip: &Skip) -> String {
    match skip.detail() {
        Some(d) => format!("{}\n{d}", skip.reason()),
        None => skip.reason().to_string(),
    }
}

/// Whether a test is ignored, as `--list --ignored` reports it, and the
/// skip that makes it so.
fn listed_ignored(test: &mut Test) -> (bool, Option<Skip>) {
    match test.blocker() {
        Some(skip) if skip.is_enforceable() && requirement_source().is_some() => (false, None),
        Some(skip) => (true, Some(skip)),
        None => (test.ignore.is_some(), None),
    }
}

/// `--list`, as libtest prints it: `NAME: test` lines on stdout (nothing
/// else there), then — unless terse — a count. With `--ignored`, only the
/// tests that are ignored here (which needs the privilege and feature checks).
fn list(args: &Args, tests: Vec<Test>) {
    let mut names = Vec::new();
    let mut skips = Vec::new();
    for mut t in tests {
        if !args.ignored {
            names.push(t.name);
            continue;
        }
        let (ignored, skip) = listed_ignored(&mut t);
        if ignored {
            names.push(t.name);
        }
        skips.extend(skip.map(|s| (s.reason().to_string(), s.detail().map(String::from))));
    }
    report_skips(skips.iter().map(|(r, d)| (r.as_str(), d)));
    let mut out = std::io::stdout().lock();
    for n in &names {
        let _ = writeln!(out, "{n}: test");
    }
    if args.format == Format::Pretty {
        if !names.is_empty() {
            let _ = writeln!(out);
        }
        let _ = writeln!(out, "{} tests, 0 benchmarks", names.len());
    }
}

/// One stderr line per distinct skip reason, so skips are never silent (a
/// per-test `ignored (reason)` follows in the results).
fn report_skips<'a>(skips: impl Iterator<Item = (&'a str, &'a Option<String>)>) {
    let mut reasons: Vec<(&str, &Option<String>, usize)> = Vec::new();
    for (r, detail) in skips {
        match reasons.iter_mut().find(|(x, _, _)| *x == r) {
            Some((_, _, n)) => *n += 1,
            None => reasons.push((r, detail, 1)),
        }
    }
    for (reason, detail, n) in reasons {
        let mut line = format!("netrig::testing: SKIPPED {n} test(s): {reason}");
        if let Some(d) = detail {
            line.push_str(&format!("\n  {}", d.replace('\n', "\n  ")));
        }
        if reason == NOT_PRIVILEGED {
            line.push_str(
                "\n  Set NETRIG_REQUIRE_PRIVILEGES=1 (or CI=true) to make this a failure.",
            );
        }
        eprintln!("{line}");
    }
}

/// Hands the plans to libtest-mimic, which prints and counts: filtered-out
/// tests are passed as exact `--skip`s so its counts are libtest's.
fn execute(args: &Args, plans: Vec<(Test, Plan)>, filtered_out: Vec<Test>) -> Summary {
    let mimic = Arguments {
        exact: true,
        skip: filtered_out.iter().map(|t| t.name.clone()).collect(),
        list: false,
        bench: args.bench,
        nocapture: args.nocapture,
        test_threads: args.test_threads,
        logfile: args.logfile.clone(),
        color: Some(match args.color {
            Color::Auto => ColorSetting::Auto,
            Color::Always => ColorSetting::Always,
            Color::Never => ColorSetting::Never,
        }),
        format: Some(match args.format {
            Format::Pretty => FormatSetting::Pretty,
            Format::Terse => FormatSetting::Terse,
            Format::Json => FormatSetting::Json,
        }),
        ..Arguments::default()
    };
    let mut trials: Vec<Trial> = plans.into_iter().map(|(t, p)| trial(t, p)).collect();
    trials.extend(
        filtered_out
            .into_iter()
            .map(|t| Trial::test(t.name, || Ok(()))),
    );
    let c = libtest_mimic::run(&mimic, trials);
    Summary {
        passed: c.num_passed,
        failed: c.num_failed,
        ignored: c.num_ignored,
        filtered_out: c.num_filtered_out,
    }
}

fn trial(test: Test, plan: Plan) -> Trial {
    let name = test.name;
    match plan {
        Plan::Run => {
            let body: Body = test.body;
            let thread_name = name.clone();
            Trial::test(name, move || {
                on_own_thread(thread_name, body).map_err(Failed::from)
            })
        }
        Plan::Ignore(reason, _) => {
            Trial::ignorable_test(name, move || Ok(Completion::ignored_with(reason)))
        }
        Plan::Fail(message) => Trial::test(name, move || Err(Failed::from(message))),
    }
}

/// Runs a test body on a fresh thread named after the test, as libtest does:
/// panics and log lines name the test, and nothing a test does to its thread
/// (a namespace it entered, thread-locals) reaches the next one — libtest-mimic
/// reuses its worker threads. A panic is the failure "test panicked: …".
fn on_own_thread(name: String, body: Body) -> Result<(), String> {
    let span = tracing::error_span!("test", name = %name);
    let joined = std::thread::Builder::new()
        .name(name)
        .spawn(move || span.in_scope(body))
        .map_err(|e| format!("cannot start the test's thread: {e}"))?
        .join();
    match joined {
        Ok(result) => result,
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied());
            Err(match message {
                Some(m) => format!("test panicked: {m}"),
                None => "test panicked".to_string(),
            })
        }
    }
}
