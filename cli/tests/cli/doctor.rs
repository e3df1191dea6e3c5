//! `netrig doctor`: all green here as root; a program taken off PATH is named
//! with its package and makes it exit 1; run rootless (a user namespace, as
//! `nobody`) it says what rootless lacks.

use std::os::unix::fs::symlink;
use std::process::{Command, Output};

fn doctor(path: Option<&std::path::Path>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_netrig"));
    c.arg("doctor");
    if let Some(p) = path {
        c.env("PATH", p);
    }
    c.output().expect("run netrig doctor")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// As root here every required check passes and doctor exits 0.
fn doctor_is_green_here() {
    let o = doctor(None);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains("labs can run here"), "{t}");
    assert!(!t.contains("MISSING"), "{t}");
    for line in [
        "a lab (namespaces, bridge, veth)",
        "br_netfilter",
        "backend iptables-nft",
        "program nft",
    ] {
        assert!(
            t.lines().any(|l| l.starts_with("ok") && l.contains(line)),
            "{line}:\n{t}"
        );
    }
}

/// With `nft` off PATH (a PATH of links to every other program), doctor
/// names it and its package, and exits 1.
fn a_missing_program_is_named_with_its_package() {
    let bin = tempfile::tempdir().unwrap();
    for dir in [
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ] {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            if name == "nft" || bin.path().join(&name).exists() {
                continue;
            }
            let _ = symlink(e.path(), bin.path().join(&name));
        }
    }
    let o = doctor(Some(bin.path()));
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    let line = t
        .lines()
        .find(|l| l.contains("program nft"))
        .unwrap_or_else(|| panic!("no nft line:\n{t}"));
    assert!(
        line.starts_with("MISSING") && line.contains("apt-get install nftables"),
        "{line}"
    );
    assert!(t.contains("labs cannot run here"), "{t}");
}

/// Rootless (as `nobody` in a user namespace of its own) labs still run, and
/// doctor says what rootless lacks: the xtables lock, the pins folder.
fn rootless_says_what_it_lacks() {
    let me = std::path::Path::new(env!("CARGO_BIN_EXE_netrig"));
    // `nobody` must reach the binary: a copy in a world-readable folder.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("netrig");
    std::fs::copy(me, &copy).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    // Already rootless (ci/rootless.sh runs this binary so): run it as is.
    let rootless = crate::rootless();
    let mut c = if rootless {
        Command::new(&copy)
    } else {
        let mut c = Command::new("runuser");
        c.args(["-u", "nobody", "--", "unshare", "-Urnm"])
            .arg(&copy);
        c
    };
    let o = c
        .arg("doctor")
        .env_remove("XTABLES_LOCKFILE")
        // The suite's artifacts folder is root's; a user's labs go to the temp dir.
        .env_remove("NETRIG_ARTIFACTS")
        .env_remove("NETRIG_NETNS_DIR")
        .output()
        .expect("runuser");
    let t = text(&o);
    assert!(t.contains("a user namespace (rootless)"), "{t}");
    assert!(
        t.lines()
            .any(|l| l.contains("xtables lock") && l.contains("XTABLES_LOCKFILE")),
        "{t}"
    );
    assert!(
        t.lines()
            .any(|l| l.contains("pins folder") && l.contains("NETRIG_NETNS_DIR")),
        "{t}"
    );
    assert_eq!(o.status.code(), Some(0), "{t}");
}

/// This module's tests (lab tests: they need root).
pub fn tests() -> Vec<netrig::testing::Test> {
    netrig::testing::tests![
        doctor_is_green_here,
        a_missing_program_is_named_with_its_package,
        rootless_says_what_it_lacks,
    ]
}
