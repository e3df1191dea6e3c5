//! `netrig run` against a stand-in catalogue: a script that speaks libtest's
//! `--list` and result lines, with one trial passing, one failing and one
//! ignored. The run must show progress, put the failure's details and a
//! summary out, write JUnit with the failure and the machine's fingerprint,
//! show the upgrade view from the catalogue's description, and exit non-zero. (The real catalogue is run by `cargo test --test
//! scenarios`; this checks the runner's side of the contract.)

use std::process::Command;

const FAKE: &str = r#"#!/bin/sh
if [ -n "$NETRIG_CATALOGUE_DESCRIBE" ]; then
  printf '#layouts\tclassic\tv28\tv29@29.0\tv29@29.5.0\tv29\n'
  printf 'walk_one\twalk\t-\tfine\tfine\t\t\tfine\tclassic::iptables-nft\n'
  printf 'bug::broken\tbug\toff\treached\tBUG: cut\tBUG: cut\tBUG: cut\tBUG: cut\tv29::nftables,v29@29.0::nftables\n'
  exit 0
fi
if [ "$1" = "--list" ]; then
  echo "walk_one::classic::iptables-nft: test"
  echo "bug::broken::v29::nftables: test"
  echo "walk_two::v28::iptables-legacy: test"
  exit 0
fi
echo "running 3 tests"
echo "test walk_one::classic::iptables-nft      ... ok"
echo "test bug::broken::v29::nftables           ... FAILED"
echo "test walk_two::v28::iptables-legacy       ... ignored, the nftables firewall backend is unavailable"
echo
echo "failures:"
echo
echo "---- bug::broken::v29::nftables ----"
echo "Error: lab x: expected <a SYN> & got none"
echo
echo "failures:"
echo "    bug::broken::v29::nftables"
exit 101
"#;

fn run_shows_progress_failure_summary_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("scenarios");
    std::fs::write(&fake, FAKE).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let junit = dir.path().join("junit.xml");
    let out = Command::new(env!("CARGO_BIN_EXE_netrig"))
        .arg("run")
        .arg("--scenarios")
        .arg(&fake)
        .arg("--junit")
        .arg(&junit)
        .arg("--upgrade-view")
        .arg("--out")
        .arg(dir.path().join("records"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a failed trial must fail the run");
    assert!(
        stderr.contains("[  2/3] FAIL bug::broken::v29::nftables"),
        "{stderr}"
    );
    assert!(stderr.contains("expected <a SYN> & got none"), "{stderr}");
    assert!(
        stderr.contains("kernel: "),
        "the fingerprint is printed: {stderr}"
    );
    assert!(stdout.contains("1 passed, 1 failed, 1 skipped"), "{stdout}");
    let row = stdout
        .lines()
        .find(|l| l.starts_with("bug::broken"))
        .unwrap_or_else(|| panic!("no summary row: {stdout}"));
    assert!(row.trim_end().ends_with("FAIL"), "{row}");
    let view = stdout
        .split("Upgrade view")
        .nth(1)
        .unwrap_or_else(|| panic!("no upgrade view: {stdout}"));
    let bug = view
        .lines()
        .find(|l| l.starts_with("bug::broken"))
        .unwrap_or_else(|| panic!("no upgrade view row: {view}"));
    assert!(
        bug.contains("BUG: cut [FAIL]") && bug.trim_end().ends_with("appears in 28.x"),
        "{bug}"
    );
    // v29's point releases are columns of their own: 29.0's trial did not run.
    assert!(
        view.lines().nth(1).is_some_and(|h| {
            let words: Vec<&str> = h.split_whitespace().collect();
            words.windows(3).any(|w| w == ["29.0", "29.5.0", "29.7"])
        }),
        "{view}"
    );
    assert!(bug.contains("BUG: cut [not run]"), "{bug}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("failures=\"1\"") && xml.contains("skipped=\"1\""),
        "{xml}"
    );
    assert!(xml.contains("&lt;a SYN&gt; &amp; got none"), "{xml}");
    assert!(xml.contains("<property name=\"kernel\""), "{xml}");
    let fp = dir.path().join("records/fingerprint.txt");
    assert!(
        std::fs::read_to_string(fp)
            .unwrap()
            .contains("backend nftables")
    );
}

fn run_with_a_filter_matching_nothing_fails() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("scenarios");
    std::fs::write(&fake, "#!/bin/sh\nexit 0\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_netrig"))
        .args(["run", "no_such_scenario", "--scenarios"])
        .arg(&fake)
        .arg("--out")
        .arg(dir.path().join("records"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no trial matches"));
}

/// This module's tests (lab tests: without privileges they are skipped, as before).
pub fn tests() -> Vec<netrig::testing::Test> {
    netrig::testing::tests![
        run_shows_progress_failure_summary_and_exits_non_zero,
        run_with_a_filter_matching_nothing_fails,
    ]
}
