//! topologies/docker-ufw-real.toml: the real ufw (Debian's) on a Docker
//! host, confined to the host's node. `ufw deny 8080` leaves the published
//! port open (moby#4737); `ufw route deny … port 80` closes it (through
//! the ufw-docker DOCKER-USER jump in the topology's after.rules), and the
//! why names the ufw command. The machine's /etc/ufw, /etc/default/ufw,
//! /run and sysctls stay as they were.

use std::collections::BTreeMap;
use std::path::Path;

use netrig::reach::{Cell, Matrix, Outcome};
use netrig::testing::{Skip, Test};
use netrig::{LabSpec, Result};

const TOPOLOGY: &str = "topologies/docker-ufw-real.toml";

fn spec(name: &str) -> Result<LabSpec> {
    let mut spec = netrig::topology::load(TOPOLOGY)?;
    spec.set_name(netrig::unique_lab_name(name));
    Ok(spec)
}

fn internet_to_published() -> Cell {
    Cell::parse("internet", "203.0.113.2:8080/tcp").expect("cell")
}

/// `ufw deny 8080` with ufw enabled before Docker: the internet still
/// reaches the published port 8080, accepted in Docker's DOCKER chain.
fn ufw_deny_leaves_the_published_port_open() -> Result<()> {
    let lab = spec("ufw-real")?.up()?;
    let m = Matrix::probe(&lab)?;
    let row = m
        .row(&internet_to_published())
        .expect("the published port's cell");
    assert_eq!(
        row.outcome,
        Outcome::Delivered,
        "{}",
        m.render(netrig::reach::Format::Text)
    );
    assert_eq!(row.why[0].chain, "DOCKER", "{:?}", row.why);
    // ufw's rules are there: the container reaching the host's 8080 is
    // dropped by the rule `ufw deny 8080` made, named so.
    let web = m
        .row(&Cell::parse("web", "172.17.0.1:8080/tcp").expect("cell"))
        .expect("web -> host:8080");
    assert_eq!(web.outcome, Outcome::Dropped);
    assert_eq!(web.why[0].chain, "ufw-user-input");
    assert_eq!(web.why[0].source.as_deref(), Some("ufw deny 8080"));
    Ok(())
}

/// A ufw route rule on the container port, added after Docker from a file
/// of ufw commands, drops the published port's cell in ufw-user-forward,
/// and the why names the command.
fn ufw_route_deny_closes_it_and_is_named() -> Result<()> {
    let before = spec("ufw-real-b")?.up()?;
    let after = spec("ufw-real-a")?
        .manager_file("host", "topologies/ufw/route-deny-80.txt")?
        .up()?;
    let d = netrig::reach::MatrixDiff::probe(&before, &after)?;
    let (_, now) = (d.changed.iter())
        .find(|(b, _)| b.cell == internet_to_published())
        .expect("the published port's cell changed");
    assert_eq!(now.outcome, Outcome::Dropped);
    assert_eq!(now.why[0].chain, "ufw-user-forward", "{:?}", now.why);
    assert_eq!(
        now.why[0].source.as_deref(),
        Some("ufw route deny proto tcp from any to any port 80")
    );
    Ok(())
}

/// Every file under each of `paths` (a missing path too), by path, with a
/// hash of its bytes (`None`: absent).
fn snapshot(paths: &[&str]) -> BTreeMap<String, Option<u64>> {
    use std::hash::{Hash, Hasher};
    let mut out = BTreeMap::new();
    let mut todo: Vec<std::path::PathBuf> = paths.iter().map(Into::into).collect();
    while let Some(p) = todo.pop() {
        if p.is_dir() {
            for e in std::fs::read_dir(&p).expect("read dir").flatten() {
                todo.push(e.path());
            }
        } else {
            let hash = std::fs::read(&p).ok().map(|bytes| {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                bytes.hash(&mut h);
                h.finish()
            });
            out.insert(p.display().to_string(), hash);
        }
    }
    out
}

/// The root namespace's values of every sysctl ufw's sysctl.conf names.
fn root_sysctls() -> BTreeMap<String, String> {
    let conf = std::fs::read_to_string("/etc/ufw/sysctl.conf").unwrap_or_default();
    conf.lines()
        .filter(|l| !l.trim_start().starts_with('#') && l.contains('='))
        .map(|l| l.split('=').next().unwrap_or("").trim().replace('.', "/"))
        .map(|k| {
            let v = std::fs::read_to_string(Path::new("/proc/sys").join(&k)).unwrap_or_default();
            (k, v)
        })
        .collect()
}

/// ufw runs with the lab's /etc/ufw, /etc/default/ufw and /run: the
/// machine's stay byte-identical (no /run/ufw.lock appears), the sysctls
/// ufw writes land in the node (accept_redirects 0 there) and the root
/// namespace's are unchanged.
fn ufw_leaves_the_machine_untouched() -> Result<()> {
    let files = snapshot(&["/etc/ufw", "/etc/default/ufw", "/run/ufw.lock"]);
    let sysctls = root_sysctls();
    assert!(
        !sysctls.is_empty(),
        "no sysctl read from /etc/ufw/sysctl.conf"
    );
    {
        let lab = spec("ufw-real-h")?
            .manager_file("host", "topologies/ufw/route-deny-80.txt")?
            .up()?;
        let host = lab.node("host")?;
        let status = host.command("iptables-save").checked_output()?;
        assert!(String::from_utf8_lossy(&status.stdout).contains("-A ufw-user-forward"));
        let redirects = host
            .command("sysctl")
            .args(["-n", "net.ipv4.conf.all.accept_redirects"])
            .checked_output()?;
        assert_eq!(
            String::from_utf8_lossy(&redirects.stdout).trim(),
            "0",
            "ufw's sysctl did not land in the node"
        );
    }
    assert_eq!(
        snapshot(&["/etc/ufw", "/etc/default/ufw", "/run/ufw.lock"]),
        files
    );
    assert_eq!(root_sysctls(), sysctls);
    Ok(())
}

/// A ufw command ufw refuses fails the bring-up naming where it was given.
fn a_refused_ufw_command_names_its_line() -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.txt");
    std::fs::write(&bad, "allow 22/tcp\nroute frobnicate 80\n").expect("write");
    let err = spec("ufw-real-e")?
        .manager_file("host", &bad)?
        .up()
        .expect_err("ufw refuses `route frobnicate`")
        .to_string();
    assert!(err.contains(&format!("{}:2", bad.display())), "{err}");
    assert!(err.contains("ufw route frobnicate 80"), "{err}");
    Ok(())
}

/// Skips (fails under CI=true) where ufw is not installed.
fn ufw_installed() -> Option<Skip> {
    let ok = Path::new("/usr/sbin/ufw").is_file() && Path::new("/usr/share/ufw/iptables").is_dir();
    (!ok).then(|| {
        Skip::unless_required("ufw is not installed (package ufw; ci/setup.sh installs it)")
    })
}

/// This module's tests.
pub fn tests() -> Vec<Test> {
    netrig::testing::tests![
        ufw_deny_leaves_the_published_port_open,
        ufw_route_deny_closes_it_and_is_named,
        ufw_leaves_the_machine_untouched,
        a_refused_ufw_command_names_its_line,
    ]
    .into_iter()
    .map(|t| t.needs(ufw_installed))
    .collect()
}
