//! Labs kept up for poking at (the CLI's `up`/`ls`/`down`): a state file per
//! lab and a pin per node — the only state netrig ever leaves outside a
//! process, and only when asked.
//!
//! - state: `$NETRIG_RUN_DIR/LAB.toml` (default `/run/netrig`): the owning
//!   pid, the topology file, the firewall backend and each node's pin;
//! - pins: `$NETRIG_NETNS_DIR/LAB-NODE` (default `/run/netns`, so that
//!   `ip netns exec LAB-NODE …` works).
//!
//! [`KeptLab::remove`] unpins and deletes the state, also for a lab whose
//! `up` process was SIGKILLed (its namespaces live on only through the pins,
//! and die with them).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use netrig::{Error, Result, Subject};

/// Where state files live.
pub(crate) fn run_dir() -> PathBuf {
    std::env::var_os("NETRIG_RUN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/netrig"))
}

/// Where pins live.
pub(crate) fn netns_dir() -> PathBuf {
    std::env::var_os("NETRIG_NETNS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/netns"))
}

/// The state of a kept lab, as written by `netrig up`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeptLab {
    /// The lab's name.
    pub lab: String,
    /// The `netrig up` process.
    pub pid: u32,
    /// The topology file it was built from.
    pub topology: String,
    /// The firewall backend of the Docker host, if any.
    pub backend: Option<String>,
    /// Node name → pin path.
    pub nodes: BTreeMap<String, PathBuf>,
    /// Node aliases (Docker `host`/`container:` modes) → node they share.
    #[serde(default)]
    pub aliases: BTreeMap<String, String>,
    /// The lab's artifacts directory (removed by `down` when empty: a
    /// SIGKILLed `up` cannot remove it itself).
    #[serde(default)]
    pub artifacts: Option<PathBuf>,
    /// Node → the binds of its confined programs (lab path, path the
    /// program sees): ufw's or firewalld's files in the lab's artifacts,
    /// mounted over `/etc/ufw`, `/run` … in a private mount namespace for
    /// every `exec` into the node, so that `ufw status` or `firewall-cmd`
    /// there see the lab's, never the machine's.
    #[serde(default)]
    pub confined: BTreeMap<String, Vec<(PathBuf, PathBuf)>>,
}

/// The parent of process `pid` (`PPid:` of its status).
fn parent_of(pid: u32) -> Option<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))?
        .trim()
        .parse()
        .ok()
}

/// The binds the library recorded for `node` in a lab's artifacts
/// (`ARTIFACTS/confined/NODE`, `LAB-PATH<TAB>PATH` a line), if any.
pub(crate) fn recorded_binds(artifacts: &Path, node: &str) -> Vec<(PathBuf, PathBuf)> {
    std::fs::read_to_string(artifacts.join("confined").join(node))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(s, t)| (PathBuf::from(s), PathBuf::from(t)))
        .collect()
}

impl KeptLab {
    fn path_for(lab: &str) -> PathBuf {
        run_dir().join(format!("{lab}.toml"))
    }

    /// Writes the state file.
    pub(crate) fn save(&self) -> Result<()> {
        let dir = run_dir();
        std::fs::create_dir_all(&dir).map_err(|e| {
            Error::io(
                Subject::lab(&self.lab),
                format!("create {}", dir.display()),
                e,
            )
        })?;
        let text = toml::to_string(self).map_err(|e| {
            Error::io(
                Subject::lab(&self.lab),
                "serialise lab state",
                std::io::Error::other(e),
            )
        })?;
        let path = Self::path_for(&self.lab);
        std::fs::write(&path, text).map_err(|e| {
            Error::io(
                Subject::lab(&self.lab),
                format!("write {}", path.display()),
                e,
            )
        })
    }

    /// Reads the state of lab `name`.
    pub(crate) fn load(name: &str) -> Result<KeptLab> {
        let path = Self::path_for(name);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                let known = KeptLab::list()
                    .map(|l| l.into_iter().map(|k| k.lab).collect::<Vec<_>>().join(", "))
                    .unwrap_or_default();
                Error::invalid(
                    Subject::lab(name),
                    "lab",
                    format!(
                        "no kept lab named {name:?} (kept labs: {})",
                        if known.is_empty() {
                            "none".into()
                        } else {
                            known
                        }
                    ),
                )
            } else {
                Error::io(Subject::lab(name), format!("read {}", path.display()), e)
            }
        })?;
        toml::from_str(&text).map_err(|e| Error::Topology {
            file: path,
            message: format!("corrupt lab state: {e}"),
        })
    }

    /// All kept labs, sorted by name.
    pub(crate) fn list() -> Result<Vec<KeptLab>> {
        let dir = run_dir();
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(lab) = name.strip_suffix(".toml") {
                out.push(KeptLab::load(lab)?);
            }
        }
        out.sort_by(|a, b| a.lab.cmp(&b.lab));
        Ok(out)
    }

    /// Whether the `up` process is still alive.
    pub(crate) fn owner_alive(&self) -> bool {
        let proc_dir = PathBuf::from(format!("/proc/{}", self.pid));
        // A recycled pid would not be running the netrig binary.
        std::fs::read_link(proc_dir.join("exe"))
            .map(|exe| {
                exe.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("netrig"))
            })
            .unwrap_or(false)
    }

    /// The pin of `node` (aliases resolved).
    pub(crate) fn pin_of(&self, node: &str) -> Result<&Path> {
        let target = self.aliases.get(node).map(String::as_str).unwrap_or(node);
        self.nodes.get(target).map(PathBuf::as_path).ok_or_else(|| {
            let mut names: Vec<&str> = self.nodes.keys().map(String::as_str).collect();
            names.extend(self.aliases.keys().map(String::as_str));
            Error::invalid(
                Subject::lab(&self.lab).node(node),
                "node",
                format!(
                    "no node named {node:?} in lab {} (nodes: {})",
                    self.lab,
                    names.join(", ")
                ),
            )
        })
    }

    /// The binds of `node`'s confinement (aliases resolved; empty: none).
    pub(crate) fn binds_of(&self, node: &str) -> &[(PathBuf, PathBuf)] {
        let target = self.aliases.get(node).map(String::as_str).unwrap_or(node);
        self.confined.get(target).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Processes still running inside the lab's namespaces (started with
    /// `netrig exec`, `ip netns exec` or `nsenter`), found by comparing each
    /// process's network namespace with the pins'.
    pub(crate) fn processes_inside(&self) -> Vec<(u32, String)> {
        use std::os::unix::fs::MetadataExt;
        let inodes: Vec<u64> = self
            .nodes
            .values()
            .filter_map(|p| std::fs::metadata(p).ok().map(|m| m.ino()))
            .collect();
        let me = std::process::id();
        let Ok(procs) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        procs
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|&pid| pid != me && pid != self.pid)
            // The lab's own programs (firewalld and its bus) end with `up`.
            .filter(|&pid| parent_of(pid) != Some(self.pid))
            .filter_map(|pid| {
                let ino = std::fs::metadata(format!("/proc/{pid}/ns/net")).ok()?.ino();
                inodes.contains(&ino).then(|| {
                    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm"))
                        .unwrap_or_default()
                        .trim()
                        .to_string();
                    (pid, comm)
                })
            })
            .collect()
    }

    /// Unpins every node and deletes the state file, reporting every error.
    pub(crate) fn remove(&self) -> Result<()> {
        let mut errors = Vec::new();
        for (node, pin) in &self.nodes {
            if let Err(e) = remove_pin(pin) {
                errors.push(Error::io(
                    Subject::lab(&self.lab).node(node),
                    format!("remove pin {}", pin.display()),
                    e,
                ));
            }
        }
        let state = Self::path_for(&self.lab);
        if let Err(e) = std::fs::remove_file(&state)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            errors.push(Error::io(
                Subject::lab(&self.lab),
                format!("remove {}", state.display()),
                e,
            ));
        }
        // Leave no empty folders behind either (remove_dir only removes empty ones).
        if let Some(a) = &self.artifacts {
            let _ = std::fs::remove_dir(a);
        }
        let _ = std::fs::remove_dir(run_dir());
        let _ = std::fs::remove_dir(netns_dir());
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Teardown {
                subject: Subject::lab(&self.lab),
                errors,
            })
        }
    }
}

/// Unmounts and removes a namespace pin (a bind mount `Lab::pin_all` made),
/// also one left behind by a process killed before it could remove it; a
/// pin already gone is not an error.
fn remove_pin(path: &Path) -> std::io::Result<()> {
    match nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => return Err(e.into()),
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}
