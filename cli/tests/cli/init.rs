//! `netrig init`: a scaffold that works in someone else's project — files
//! written once and never over a user's own, a CI workflow that names only
//! what the scaffold has, and (as root) `cargo test` passing in a fresh
//! project right after, with the failure example printing its report.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// This checkout: the scaffolded projects depend on it by path.
fn repo() -> PathBuf {
    std::fs::canonicalize(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).unwrap()
}

/// A fresh Cargo project in a temporary folder: made by `cargo init --lib`
/// (offline) when `cargo` is to be run, else written as it writes one (the
/// rootless pass cannot reach root's toolchain).
fn fresh_project(with_cargo: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    if with_cargo {
        let o = Command::new(cargo())
            .args([
                "init",
                "--lib",
                "--vcs",
                "none",
                "--name",
                "demo",
                "--offline",
            ])
            .arg(dir.path())
            .output()
            .expect("run cargo init");
        assert!(o.status.success(), "cargo init: {}", text(&o));
    } else {
        std::fs::write(
            dir.path().join("Cargo.toml"),
            "[package]\nname = \"demo\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[dependencies]\n",
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("src")).unwrap();
        std::fs::write(dir.path().join("src/lib.rs"), "").unwrap();
    }
    dir
}

/// The cargo that runs these tests (or the one on PATH).
fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

fn init(dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_netrig"))
        .arg("init")
        .arg(dir)
        .arg("--path")
        .arg(repo())
        .output()
        .expect("run netrig init")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// init writes its files and Cargo.toml entries once; a second run changes
/// nothing; a file of the user's is named and nothing is changed; a folder
/// without a Cargo project is refused.
fn init_is_idempotent_and_never_overwrites() {
    let dir = fresh_project(false);
    let o = init(dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let manifest = std::fs::read_to_string(dir.path().join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains(&format!("netrig = {{ path = \"{}\" }}", repo().display()))
            && manifest.contains(
                "[[test]]\nname = \"netrig\"\npath = \"tests/netrig.rs\"\nharness = false"
            ),
        "{manifest}"
    );
    for f in [
        "tests/netrig.rs",
        "topologies/web.toml",
        ".github/workflows/netrig.yml",
        ".config/nextest.toml",
    ] {
        assert!(dir.path().join(f).is_file(), "{f}");
    }
    assert_eq!(
        std::fs::read_to_string(dir.path().join(".gitignore")).unwrap(),
        "netrig-artifacts/\n"
    );

    let again = init(dir.path());
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert!(
        text(&again)
            .lines()
            .filter(|l| l.contains(": "))
            .all(|l| l.contains("unchanged") || l.starts_with("next:")),
        "{}",
        text(&again)
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("Cargo.toml")).unwrap(),
        manifest
    );

    let mine = dir.path().join("topologies/web.toml");
    std::fs::write(&mine, "# my own web host\n").unwrap();
    std::fs::remove_file(dir.path().join("tests/netrig.rs")).unwrap();
    let refused = init(dir.path());
    let t = text(&refused);
    assert_eq!(refused.status.code(), Some(2), "{t}");
    assert!(
        t.contains("not overwriting") && t.contains("topologies/web.toml"),
        "{t}"
    );
    assert_eq!(
        std::fs::read_to_string(&mine).unwrap(),
        "# my own web host\n"
    );
    assert!(
        !dir.path().join("tests/netrig.rs").exists(),
        "nothing written when refusing"
    );

    let empty = tempfile::tempdir().unwrap();
    let none = init(empty.path());
    assert_eq!(none.status.code(), Some(2));
    assert!(text(&none).contains("cargo new"), "{}", text(&none));
}

/// The workflow init writes names only what the scaffolded project has (its
/// test target, its nextest profile), none of netrig's own `ci/` scripts; it
/// is the example workflow in netrig's `ci/`.
fn workflow_names_only_what_a_scaffold_has() {
    let dir = fresh_project(false);
    assert!(init(dir.path()).status.success());
    let workflow =
        std::fs::read_to_string(dir.path().join(".github/workflows/netrig.yml")).unwrap();
    let manifest = std::fs::read_to_string(dir.path().join("Cargo.toml")).unwrap();
    let nextest = std::fs::read_to_string(dir.path().join(".config/nextest.toml")).unwrap();
    let runs: Vec<&str> = workflow
        .lines()
        .filter_map(|l| l.trim().strip_prefix("run: "))
        .collect();
    assert!(runs.len() >= 3, "{workflow}");
    for run in &runs {
        assert!(!run.contains("ci/"), "names netrig's own scripts: {run}");
        let words: Vec<&str> = run.split_whitespace().collect();
        for pair in words.windows(2) {
            match pair {
                ["--test", name] => assert!(
                    manifest.contains(&format!("name = \"{name}\"")),
                    "no test target {name} in the scaffold: {run}"
                ),
                ["--profile", name] => assert!(
                    nextest.contains(&format!("[profile.{name}]")),
                    "no nextest profile {name}: {run}"
                ),
                _ => {}
            }
        }
    }
    let example = std::fs::read_to_string(repo().join("ci/github-actions-example.yml")).unwrap();
    assert_eq!(
        example, workflow,
        "ci/github-actions-example.yml is what init writes"
    );
}

/// As root, a fresh project that got `netrig init` passes `cargo test`
/// (offline, netrig by path to this checkout), and its failure example
/// prints the readable report with the evidence's place.
fn a_scaffolded_project_passes_its_tests() {
    let dir = fresh_project(true);
    assert!(init(dir.path()).status.success());
    // The same dependency versions as this checkout's, resolved offline.
    std::fs::copy(repo().join("Cargo.lock"), dir.path().join("Cargo.lock")).unwrap();
    let cargo = |show_failure: bool| {
        let mut c = Command::new(cargo());
        c.args(["test", "--offline", "--test", "netrig"])
            .current_dir(dir.path())
            .env("CI", "true")
            .env("CARGO_TARGET_DIR", repo().join("target/init-scaffold"))
            .env_remove("NETRIG_SHOW_FAILURE");
        if show_failure {
            c.env("NETRIG_SHOW_FAILURE", "1");
        }
        c.output().expect("run cargo test")
    };
    let o = cargo(false);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("2 passed; 0 failed; 1 ignored"), "{t}");
    let o = cargo(true);
    let t = text(&o);
    assert!(!o.status.success(), "{t}");
    assert!(
        t.contains("expected within 300ms: udp src 172.17.0.2 dst 198.51.100.10:53")
            && t.contains("seen instead")
            && t.contains("evidence kept in"),
        "{t}"
    );
}

/// This module's tests.
pub fn tests() -> Vec<netrig::testing::Test> {
    use netrig::testing::{Skip, Test};
    let rootless = crate::rootless();
    vec![
        Test::plain(
            "init_is_idempotent_and_never_overwrites",
            init_is_idempotent_and_never_overwrites,
        ),
        Test::plain(
            "workflow_names_only_what_a_scaffold_has",
            workflow_names_only_what_a_scaffold_has,
        ),
        Test::lab(
            "a_scaffolded_project_passes_its_tests",
            a_scaffolded_project_passes_its_tests,
        )
        .needs(move || {
            rootless.then(|| {
                Skip::always("builds with root's cargo and registry; not in a user namespace")
            })
        }),
    ]
}
