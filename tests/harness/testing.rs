//! `netrig::testing`, the harness, tested from outside: this binary runs
//! itself as a small demo suite (`NETRIG_TESTING_DEMO=1`) with libtest's
//! command lines and checks what it prints — the counts on `test result:`,
//! `--list` output, skip reasons, failure reports, logs — and its exit code.

use std::process::{Command, ExitCode, Output};

use netrig::testing::{Skip, Test};

/// The demo suite: 9 tests — 3 passing, 2 failing, 1 ignored by choice,
/// 2 blocked by checks (one enforceable, one not), 1 building a lab.
fn demo() -> Vec<Test> {
    let mut tests = netrig::testing::tests![
        #[plain]
        nat::outbound,
        #[plain]
        nat::hairpin,
        #[plain]
        proxy::userland,
        #[plain]
        failing::expectation,
        #[plain]
        failing::panics,
        #[plain]
        #[ignore = "slow"]
        slow::soak,
        lab::privileged,
    ];
    tests.push(Test::plain("needs::tool", || {}).needs(|| {
        Some(Skip::unless_required(
            "demo-tool is not installed (package demo)",
        ))
    }));
    tests.push(
        Test::plain("needs::kernel", || {})
            .needs(|| Some(Skip::always("the kernel lacks the demo qdisc"))),
    );
    tests
}

mod nat {
    pub fn outbound() {}
    pub fn hairpin() -> netrig::Result<()> {
        Ok(())
    }
}

mod proxy {
    pub fn userland() {}
}

mod slow {
    pub fn soak() {}
}

mod failing {
    pub fn expectation() -> netrig::Result<()> {
        Err(netrig::Error::expectation(
            netrig::Subject::lab("demo").node("b").link("eth0"),
            "udp dst 10.0.0.2:53 within 1s",
            vec!["IP 10.0.0.1.5555 > 10.0.0.2.54: UDP, length 1".into()],
            Some("/tmp/demo-evidence".into()),
        ))
    }
    pub fn panics() {
        panic!("boom");
    }
}

mod evidence {
    use std::time::Duration;

    /// Expects a datagram that is never sent: a real expectation failure.
    pub fn no_packet() -> netrig::Result<()> {
        let lab = netrig::Lab::builder(netrig::unique_lab_name("demo-ev"))
            .node("a")
            .node("b")
            .link(
                netrig::Endpoint::new("a", "eth0").addr("10.0.0.1/24"),
                netrig::Endpoint::new("b", "eth0").addr("10.0.0.2/24"),
            )
            .up()?;
        let cap = lab.node("b")?.capture("eth0")?;
        cap.expect(netrig::expect::udp().dst("10.0.0.2:53"))
            .within(Duration::from_millis(100))?;
        Ok(())
    }
}

mod lab {
    pub fn privileged() -> netrig::Result<()> {
        let lab = netrig::Lab::builder(netrig::unique_lab_name("demo"))
            .node("a")
            .up()?;
        lab.node("a")?;
        Ok(())
    }
}

/// Runs the demo with `args`, CI variables cleared, plus `env`.
fn demo_run(args: &[&str], env: &[(&str, &str)]) -> (Output, String, String) {
    let mut cmd = Command::new(std::env::current_exe().expect("own path"));
    cmd.args(args)
        .env("NETRIG_TESTING_DEMO", "1")
        .env_remove("CI")
        .env_remove("NETRIG_REQUIRE_PRIVILEGES")
        .env_remove("RUST_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("the demo runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

/// The `test result:` counts: passed, failed, ignored, filtered out.
fn counts(stdout: &str) -> (u32, u32, u32, u32) {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("test result:"))
        .unwrap_or_else(|| panic!("no result line in:\n{stdout}"));
    let n = |what: &str| -> u32 {
        let end = line.find(&format!(" {what}")).expect(what);
        let start = line[..end].rfind(' ').map_or(0, |i| i + 1);
        line[start..end].parse().expect(what)
    };
    (n("passed"), n("failed"), n("ignored"), n("filtered out"))
}

fn privileged() -> bool {
    netrig::privilege::check().is_ok()
}

/// Several filters select tests matching any of them; libtest-mimic alone aborts on the second.
fn several_filters_select_any() {
    let (out, stdout, _) = demo_run(&["nat", "proxy"], &[]);
    assert!(out.status.success(), "{stdout}");
    assert_eq!(counts(&stdout), (3, 0, 0, 6), "{stdout}");
}

/// `--skip` repeats; `--exact` makes filters and skips match whole names.
fn skip_repeats_and_exact_matches_whole_names() {
    let skips = [
        "--skip",
        "failing",
        "--skip",
        "lab",
        "--skip=needs",
        "--skip",
        "slow",
    ];
    let (out, stdout, _) = demo_run(&skips, &[]);
    assert!(out.status.success(), "{stdout}");
    assert_eq!(counts(&stdout), (3, 0, 0, 6), "{stdout}");
    let (_, stdout, _) = demo_run(&["--exact", "nat::outbound", "nat"], &[]);
    assert_eq!(counts(&stdout), (1, 0, 0, 8), "{stdout}");
    let (_, stdout, _) = demo_run(&["nat", "--exact", "--skip", "nat"], &[]);
    assert_eq!(
        counts(&stdout),
        (0, 0, 0, 9),
        "exact `nat` matches no name: {stdout}"
    );
}

/// `--list` prints libtest's lines; terse prints only `NAME: test`; `--ignored` lists what is ignored here.
fn list_is_what_nextest_reads() {
    let (out, stdout, _) = demo_run(&["--list"], &[]);
    assert!(out.status.success());
    assert!(stdout.ends_with("lab::privileged: test\nneeds::tool: test\nneeds::kernel: test\n\n9 tests, 0 benchmarks\n"), "{stdout}");
    let (_, terse, _) = demo_run(&["--list", "--format", "terse"], &[]);
    assert_eq!(terse.lines().count(), 9, "{terse}");
    assert!(terse.lines().all(|l| l.ends_with(": test")), "{terse}");
    let (_, ignored, stderr) = demo_run(&["--list", "--format", "terse", "--ignored"], &[]);
    let mut expected = vec![
        "slow::soak: test",
        "needs::tool: test",
        "needs::kernel: test",
    ];
    if !privileged() {
        expected.insert(1, "lab::privileged: test");
    }
    assert_eq!(ignored.lines().collect::<Vec<_>>(), expected, "{ignored}");
    assert!(
        stderr.contains("SKIPPED 1 test(s): the kernel lacks the demo qdisc"),
        "{stderr}"
    );
    let (_, required, _) = demo_run(
        &["--list", "--format", "terse", "--ignored"],
        &[("NETRIG_REQUIRE_PRIVILEGES", "1")],
    );
    assert_eq!(
        required, "slow::soak: test\nneeds::kernel: test\n",
        "enforced skips are not ignored"
    );
}

/// A skipped test is counted as ignored and says why, on its line and once on stderr.
fn skipped_tests_say_why() {
    let (out, stdout, stderr) = demo_run(&["--skip", "failing", "--skip", "lab"], &[]);
    assert!(out.status.success(), "{stdout}");
    assert_eq!(counts(&stdout), (3, 0, 3, 3), "{stdout}");
    assert!(
        stdout.contains("... ignored (the kernel lacks the demo qdisc)"),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("test slow::soak ") && l.ends_with("... ignored (slow)")),
        "{stdout}"
    );
    assert!(
        stderr.contains("SKIPPED 1 test(s): demo-tool is not installed"),
        "{stderr}"
    );
}

/// Under NETRIG_REQUIRE_PRIVILEGES an enforceable skip fails, saying why; a kernel gap stays a skip.
fn required_privileges_turn_skips_into_failures() {
    let (out, stdout, _) = demo_run(&["needs"], &[("NETRIG_REQUIRE_PRIVILEGES", "1")]);
    assert_eq!(out.status.code(), Some(101));
    assert_eq!(counts(&stdout), (0, 1, 1, 7), "{stdout}");
    assert!(
        stdout.contains("cannot run here: demo-tool is not installed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("(failing rather than skipping: NETRIG_REQUIRE_PRIVILEGES is set)"),
        "{stdout}"
    );
    let (_, stdout, _) = demo_run(&["needs::tool"], &[("CI", "true")]);
    assert!(
        stdout.contains("failing rather than skipping: CI is set"),
        "{stdout}"
    );
}

/// `--ignored` runs only the ignored tests; a test that cannot run here then fails with its reason.
fn ignored_and_include_ignored() {
    let (out, stdout, _) = demo_run(&["--ignored"], &[]);
    assert_eq!(out.status.code(), Some(101));
    let lab_skipped = u32::from(!privileged());
    assert_eq!(
        counts(&stdout),
        (1, 2 + lab_skipped, 0, 6 - lab_skipped),
        "{stdout}"
    );
    assert!(
        stdout.contains("cannot run here: the kernel lacks the demo qdisc"),
        "{stdout}"
    );
    let (_, stdout, _) = demo_run(
        &["--include-ignored", "--skip", "failing", "--skip", "needs"],
        &[],
    );
    assert_eq!(
        counts(&stdout),
        (4 + 1 - lab_skipped, lab_skipped, 0, 4),
        "{stdout}"
    );
}

/// `-q`, `--format json`, `--test-threads`, `--nocapture`, `--show-output`, `--color`, `-Z`, `--report-time` all work.
fn formats_and_harmless_options() {
    let (out, stdout, _) = demo_run(&["-q", "nat"], &[]);
    assert!(out.status.success());
    assert!(
        stdout.contains("\n..\n") && counts(&stdout) == (2, 0, 0, 7),
        "{stdout}"
    );
    let (_, json, _) = demo_run(&["--format", "json", "-Z", "unstable-options", "nat"], &[]);
    assert!(json.lines().all(|l| l.starts_with('{')), "{json}");
    assert!(json.contains(r#""passed": 2, "failed": 0"#), "{json}");
    let harmless = [
        "--test-threads=1",
        "--nocapture",
        "--show-output",
        "--color",
        "never",
        "--report-time",
        "--shuffle",
        "nat",
    ];
    let (out, stdout, stderr) = demo_run(&harmless, &[]);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert_eq!(counts(&stdout), (2, 0, 0, 7), "{stdout}");
    assert!(
        stderr.contains("accepted without effect here: --show-output, --report-time, --shuffle"),
        "{stderr}"
    );
}

/// A failing `netrig::Result` prints the error's whole multi-line report; a panic prints its message.
fn failures_are_readable() {
    let (out, stdout, _) = demo_run(&["failing"], &[]);
    assert_eq!(out.status.code(), Some(101));
    assert_eq!(counts(&stdout), (0, 2, 0, 7), "{stdout}");
    assert!(
        stdout.contains(
            "---- failing::expectation ----\nError: lab demo, node b, link eth0: expected udp dst 10.0.0.2:53"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("\n  seen instead:\n    IP 10.0.0.1.5555 > 10.0.0.2.54"),
        "{stdout}"
    );
    assert!(
        stdout.contains("\n  evidence kept in /tmp/demo-evidence"),
        "{stdout}"
    );
    assert!(stdout.contains("test panicked: boom"), "{stdout}");
}

/// A real expectation failure prints the whole report: expected, seen instead, evidence kept.
fn real_failure_report() {
    let artifacts = tempfile::tempdir().unwrap();
    let dir = artifacts.path().to_str().unwrap();
    let (out, stdout, _) = demo_run(
        &[],
        &[
            ("NETRIG_TESTING_DEMO", "evidence"),
            ("NETRIG_ARTIFACTS", dir),
        ],
    );
    assert_eq!(out.status.code(), Some(101));
    let report = stdout
        .split_once("---- evidence::no_packet ----\n")
        .unwrap_or_else(|| panic!("no failure section:\n{stdout}"))
        .1;
    assert!(report.starts_with("Error: "), "{report}");
    assert!(report.contains("\n  evidence kept in "), "{report}");
    assert!(
        report.contains(dir),
        "the evidence is under NETRIG_ARTIFACTS: {report}"
    );
    assert!(report.lines().count() > 3, "a multi-line report: {report}");
}

/// A command line libtest rejects exits 101 with libtest's words; `--help` prints the usage.
fn bad_command_lines() {
    let (out, _, stderr) = demo_run(&["--bogus"], &[]);
    assert_eq!(out.status.code(), Some(101));
    assert!(stderr.contains("Unrecognized option: 'bogus'"), "{stderr}");
    let (out, stdout, _) = demo_run(&["--help"], &[]);
    assert!(
        out.status.success() && stdout.contains("--include-ignored"),
        "{stdout}"
    );
}

/// `RUST_LOG=netrig=debug` shows netrig's events on stderr, each naming its test, without colour codes.
fn logs_name_their_test() {
    let (out, stdout, stderr) = demo_run(
        &["--exact", "lab::privileged"],
        &[("RUST_LOG", "netrig=debug")],
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("lab up"))
        .unwrap_or_else(|| panic!("no `lab up` event:\n{stderr}"));
    assert!(line.contains("test{name=lab::privileged}"), "{line}");
    assert!(
        !stderr.contains('\x1b'),
        "colour codes on a pipe:\n{stderr}"
    );
    assert!(
        !stdout.contains("lab up"),
        "logs must stay off stdout:\n{stdout}"
    );
}

/// The demo suite's run when this binary was started as the demo
/// (`NETRIG_TESTING_DEMO` set, by [`demo_run`]): its exit code, for `main`
/// to return before anything else.
pub fn demo_main() -> Option<ExitCode> {
    match std::env::var("NETRIG_TESTING_DEMO").as_deref() {
        Ok("evidence") => Some(netrig::testing::run(netrig::testing::tests![
            evidence::no_packet
        ])),
        Ok(_) => Some(netrig::testing::run(demo())),
        Err(_) => None,
    }
}

/// This module's tests.
pub fn tests() -> Vec<Test> {
    netrig::testing::tests![
        #[plain]
        several_filters_select_any,
        #[plain]
        skip_repeats_and_exact_matches_whole_names,
        #[plain]
        list_is_what_nextest_reads,
        #[plain]
        skipped_tests_say_why,
        #[plain]
        required_privileges_turn_skips_into_failures,
        #[plain]
        ignored_and_include_ignored,
        #[plain]
        formats_and_harmless_options,
        #[plain]
        failures_are_readable,
        #[plain]
        bad_command_lines,
        logs_name_their_test,
        real_failure_report,
    ]
}
