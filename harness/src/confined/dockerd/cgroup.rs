//! The cgroups of a real daemon's containers: a parent of its own in every
//! hierarchy, named `netrig-dockerd-PID-LAB` after the process that started
//! it, removed when the daemon stops — and, for a process that was killed
//! before it could (SIGKILL), swept at the next start: only trees with our
//! prefix, whose owner is gone and which hold no process.

use std::path::{Path, PathBuf};

/// The prefix of every daemon cgroup parent netrig makes.
const PREFIX: &str = "netrig-dockerd-";

/// The cgroup parent (`--cgroup-parent`) for lab `lab`'s daemon started by this process.
pub(crate) fn parent_for(lab: &str) -> String {
    format!("/{PREFIX}{}-{lab}", std::process::id())
}

/// Every cgroup hierarchy's root (v1: one a controller; v2: the mount itself).
fn roots() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("cgroup.procs").exists())
        .collect();
    out.push(PathBuf::from("/sys/fs/cgroup"));
    out
}

/// Removes cgroup `parent` (and what is below it) from every hierarchy.
pub(crate) fn remove(parent: &str) {
    let rel = parent.trim_start_matches('/');
    for root in roots()
        .into_iter()
        .map(|r| r.join(rel))
        .filter(|p| p.is_dir())
    {
        remove_tree(&root);
        if root.exists() {
            tracing::warn!(cgroup = %root.display(), "could not remove the daemon's cgroup");
        } else {
            tracing::debug!(cgroup = %root.display(), "removed the daemon's cgroup");
        }
    }
}

/// Removes the daemon cgroups left by netrig processes that are gone (a
/// SIGKILLed `netrig verify`): ours by name, owner dead, no process inside.
pub(crate) fn sweep_stale() {
    for root in roots() {
        for e in std::fs::read_dir(&root).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(owner) = owner_of(&name) else {
                continue;
            };
            let path = e.path();
            if Path::new(&format!("/proc/{owner}")).exists() || has_processes(&path) {
                continue;
            }
            remove_tree(&path);
            tracing::info!(cgroup = %path.display(), owner, "removed a stale daemon cgroup (its netrig process is gone)");
        }
    }
}

/// The pid in a `netrig-dockerd-PID-LAB` name.
fn owner_of(name: &str) -> Option<u32> {
    name.strip_prefix(PREFIX)?.split('-').next()?.parse().ok()
}

/// Whether any cgroup in the tree at `dir` has a process.
fn has_processes(dir: &Path) -> bool {
    if std::fs::read_to_string(dir.join("cgroup.procs")).is_ok_and(|p| !p.trim().is_empty()) {
        return true;
    }
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .any(|e| has_processes(&e.path()))
}

/// rmdir of a cgroup directory tree, children first.
fn remove_tree(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_are_read_from_our_names_only() {
        assert_eq!(
            owner_of("netrig-dockerd-9649-verify-real-9649-0"),
            Some(9649)
        );
        assert_eq!(owner_of("netrig-verify-real-9649-0"), None);
        assert_eq!(owner_of("docker"), None);
        assert!(parent_for("lab").starts_with(&format!("/netrig-dockerd-{}-", std::process::id())));
    }

    /// A stale tree (a dead owner, no process) is swept; one of a live
    /// owner, and one holding a process, are kept. Needs root (cgroupfs).
    #[test]
    fn stale_daemon_cgroups_are_swept_and_live_ones_kept() {
        let Some(root) = roots()
            .into_iter()
            .find(|r| r.join("pids").is_dir() || r.ends_with("pids"))
        else {
            return;
        };
        if !nix::unistd::geteuid().is_root() || crate::privilege::in_user_namespace() {
            eprintln!("skipped: making cgroups needs the real root");
            return;
        }
        // A pid no process has: past pid_max.
        let dead = std::fs::read_to_string("/proc/sys/kernel/pid_max")
            .ok()
            .and_then(|m| m.trim().parse::<u32>().ok())
            .map_or(4_194_304, |m| m + 1);
        let stale = root.join(format!("{PREFIX}{dead}-t-stale"));
        let live = root.join(format!("{PREFIX}{}-t-live", std::process::id()));
        let busy = root.join(format!("{PREFIX}{dead}-t-busy"));
        for d in [&stale, &live, &busy] {
            std::fs::create_dir_all(d.join("abc")).unwrap();
        }
        let mut sleeper = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        std::fs::write(busy.join("abc/cgroup.procs"), sleeper.id().to_string()).unwrap();
        sweep_stale();
        let (stale_gone, live_kept, busy_kept) = (!stale.exists(), live.exists(), busy.exists());
        sleeper.kill().unwrap();
        sleeper.wait().unwrap();
        // The sleeper is reaped: its cgroup empties and can go.
        for d in [&stale, &live, &busy] {
            remove_tree(d);
        }
        assert!(
            stale_gone && live_kept && busy_kept,
            "{stale_gone} {live_kept} {busy_kept}"
        );
    }
}
