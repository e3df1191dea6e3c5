//! Debian's ufw run in a node: its `/etc/ufw` (rules, `user.rules` state,
//! `ufw.conf`), `/etc/default/ufw` and `/run` (its lock) are the lab's, in
//! `ARTIFACTS/ufw/NODE/`, built from the package's pristine files
//! (`/usr/share/ufw`), never from the machine's `/etc/ufw`. ufw's
//! `sysctl.conf` is kept to its per-network-namespace keys
//! ([`crate::manager::netns_sysctls`]), so every sysctl it writes lands in
//! the node. After each run the rules of `user.rules` are written out with
//! the command that made each (`sources.rules`) for the matrix's why.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::manager::{
    UFW_DEFAULTS, UFW_OWN_FILES, Ufw, netns_sysctls, ufw_argv, ufw_sources, ufw_tuples,
};
use crate::namespace::Namespace;
use crate::process::NodeCommand;

/// Where Debian's ufw keeps the pristine copies of its files.
const PACKAGE_DIR: &str = "/usr/share/ufw";

/// The node's ufw directory in the lab's artifacts.
pub(crate) fn dir(ns: &Namespace) -> PathBuf {
    ns.artifacts_dir().join("ufw").join(ns.node_name())
}

/// The node's `sources.rules` (rules of `user.rules` labelled with their
/// commands), once ufw ran there.
pub(crate) fn sources_file(ns: &Namespace) -> Option<PathBuf> {
    Some(dir(ns).join("sources.rules")).filter(|p| p.is_file())
}

fn io(ns: &Namespace, what: String) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::io(ns.subject().clone(), what, e)
}

/// Refuses with the package to install when ufw is missing.
fn check_installed(ns: &Namespace) -> Result<()> {
    let pristine = Path::new(PACKAGE_DIR).join("iptables/user.rules");
    if crate::process::program_on_path("ufw") && pristine.is_file() {
        return Ok(());
    }
    Err(Error::missing_program(
        "ufw",
        format!("run ufw in {}", ns.subject()),
    ))
}

/// Makes the node's ufw directory (once): `etc-ufw/` from the package's
/// files and the user's `files`, `sysctl.conf` kept to per-namespace keys,
/// `default-ufw`, and an empty `run/`.
fn prepare(ns: &Namespace, spec: &Ufw) -> Result<PathBuf> {
    check_installed(ns)?;
    let d = dir(ns);
    let etc = d.join("etc-ufw");
    if etc.is_dir() {
        return Ok(d);
    }
    std::fs::create_dir_all(etc.join("applications.d"))
        .and_then(|()| std::fs::create_dir_all(d.join("run")))
        .map_err(io(ns, format!("create {}", etc.display())))?;
    let pkg = Path::new(PACKAGE_DIR);
    let mut copies: Vec<(PathBuf, &str)> = [
        "before.rules",
        "after.rules",
        "before6.rules",
        "after6.rules",
        "user.rules",
        "user6.rules",
    ]
    .iter()
    .map(|f| (pkg.join("iptables").join(f), *f))
    .collect();
    copies.extend(
        ["before.init", "after.init", "ufw.conf"]
            .iter()
            .map(|f| (pkg.join(f), *f)),
    );
    for (from, name) in copies {
        std::fs::copy(&from, etc.join(name)).map_err(io(
            ns,
            format!("copy {} into the node's /etc/ufw", from.display()),
        ))?;
    }
    for f in &spec.files {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !UFW_OWN_FILES.contains(&name) {
            return Err(Error::invalid(
                ns.subject().clone(),
                "ufw_files",
                format!(
                    "{}: not one of ufw's files ({})",
                    f.display(),
                    UFW_OWN_FILES.join(", ")
                ),
            ));
        }
        std::fs::copy(f, etc.join(name)).map_err(io(
            ns,
            format!("copy {} into the node's /etc/ufw", f.display()),
        ))?;
    }
    // ufw's sysctl.conf is a conffile (no pristine copy): the machine's
    // is read, never written, and only its per-namespace keys kept.
    let conf = std::fs::read_to_string("/etc/ufw/sysctl.conf").unwrap_or_default();
    let (kept, dropped) = netns_sysctls(&conf);
    if !dropped.is_empty() {
        tracing::debug!(
            node = ns.node_name(),
            ?dropped,
            "ufw sysctls not per namespace: not written"
        );
    }
    std::fs::write(etc.join("sysctl.conf"), kept)
        .and_then(|()| std::fs::write(d.join("default-ufw"), UFW_DEFAULTS))
        .map_err(io(ns, format!("write {}", d.display())))?;
    Ok(d)
}

/// `ufw` with `args`, confined to `ns` with the node's ufw directory
/// (made first if need be) over `/etc/ufw`, `/etc/default/ufw` and `/run`.
pub(crate) fn command(ns: &Namespace, spec: &Ufw) -> Result<NodeCommand> {
    let d = prepare(ns, spec)?;
    super::command(
        ns,
        "ufw",
        &[
            (d.join("etc-ufw"), "/etc/ufw".into()),
            (d.join("default-ufw"), "/etc/default/ufw".into()),
            (d.join("run"), "/run".into()),
        ],
    )
}

/// Runs each of `commands` ((where it was given, command)) with ufw in `ns`,
/// in order, recording which `user.rules` tuples each added; then writes
/// `sources.rules`. A command ufw refuses stops the run, naming where it was given.
pub(crate) fn run(ns: &Namespace, spec: &Ufw, commands: &[(String, String)]) -> Result<()> {
    let d = prepare(ns, spec)?;
    let user = d.join("etc-ufw/user.rules");
    let read_user = || std::fs::read_to_string(&user).unwrap_or_default();
    let mut made = Vec::new();
    for (place, command) in commands {
        let argv = ufw_argv(command)
            .map_err(|m| Error::invalid(ns.subject().clone(), "ufw", format!("{place}: {m}")))?;
        let known = ufw_tuples(&read_user());
        tracing::debug!(node = ns.node_name(), %place, ?argv, "ufw");
        let out = self::command(ns, spec)?.args(&argv).output()?;
        if !out.status.success() {
            return Err(Error::invalid(
                ns.subject().clone(),
                "ufw",
                format!(
                    "{place}: `ufw {}` failed ({}): {}{}",
                    argv.join(" "),
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim(),
                    String::from_utf8_lossy(&out.stdout).trim()
                ),
            ));
        }
        for t in ufw_tuples(&read_user()).difference(&known) {
            made.push(format!("{t}\t{command}\n"));
        }
    }
    let log = d.join("commands.tsv");
    let mut all = std::fs::read_to_string(&log).unwrap_or_default();
    all.extend(made);
    std::fs::write(&log, &all).map_err(io(ns, format!("write {}", log.display())))?;
    let map: BTreeMap<String, String> = all
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(t, c)| (t.to_string(), c.to_string()))
        .collect();
    let sources = d.join("sources.rules");
    std::fs::write(&sources, ufw_sources(&read_user(), &map))
        .map_err(io(ns, format!("write {}", sources.display())))
}

/// The node's IPv4 iptables rules now (`iptables-save`, the `iptables`
/// alternative ufw uses), saved as `before-docker.rules` in its ufw
/// directory: the rules there when the daemon starts.
pub(crate) fn save_rules(ns: &Namespace) -> Result<PathBuf> {
    let out = ns.command("iptables-save").checked_output()?;
    let text: String = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    let path = dir(ns).join("before-docker.rules");
    std::fs::write(&path, text).map_err(io(ns, format!("write {}", path.display())))?;
    Ok(path)
}
