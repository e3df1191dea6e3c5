//! The artifacts directory of a lab (system layer): pcaps, process output and failure
//! evidence. Deleted when the lab is dropped after a success; kept — and its
//! path printed on stderr — when the lab is dropped during a panic or after
//! [`Artifacts::keep`] (which every failed expectation calls).
//!
//! The base directory is `$NETRIG_ARTIFACTS` when set (CI points it at a
//! folder it uploads), else the system temp dir. The lab's own directory is
//! named when the lab starts but made only when something asks for it
//! ([`Artifacts::path`]): most labs never write a file, and a directory made
//! and removed per lab is a measurable part of a small lab's bring-up.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use crate::error::{Error, Result, Subject};

/// A lab's artifacts directory.
#[derive(Debug)]
pub(crate) struct Artifacts {
    base: PathBuf,
    /// `netrig-LAB-` (the directory's name is this and a unique suffix).
    prefix: String,
    /// The directory once asked for, and whether this lab made it (only
    /// then is it removed).
    made: OnceLock<(PathBuf, bool)>,
    keep: AtomicBool,
    lab: String,
}

/// Per-process counter for the directories' unique suffixes.
static NEXT: AtomicU32 = AtomicU32::new(0);

impl Artifacts {
    /// Checks the base directory (making it if needed); the lab's own
    /// `netrig-LAB-XXXX` in it is made on first use.
    pub(crate) fn create(lab: &str) -> Result<Self> {
        let base = std::env::var_os("NETRIG_ARTIFACTS")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        std::fs::create_dir_all(&base).map_err(|e| {
            Error::io(
                Subject::lab(lab),
                format!("create artifacts base {}", base.display()),
                e,
            )
        })?;
        Ok(Artifacts {
            base,
            prefix: format!("netrig-{lab}-"),
            made: OnceLock::new(),
            keep: AtomicBool::new(std::env::var_os("NETRIG_KEEP_ARTIFACTS").is_some()),
            lab: lab.to_string(),
        })
    }

    /// The directory, made now if it was not yet. If it cannot be made
    /// (the base vanished, the disk is full) the reason is logged and a
    /// path under the base is returned all the same, so whoever writes
    /// there gets an error naming it.
    pub(crate) fn path(&self) -> &Path {
        let (path, _) = self.made.get_or_init(|| {
            let mut tried = None;
            for _ in 0..64 {
                let n = NEXT.fetch_add(1, Ordering::Relaxed);
                let p = self
                    .base
                    .join(format!("{}{:x}{n:x}", self.prefix, std::process::id()));
                match std::fs::create_dir(&p) {
                    Ok(()) => {
                        tracing::debug!(lab = %self.lab, dir = %p.display(), "artifacts directory made");
                        return (p, true);
                    }
                    // A kept folder of an earlier process with this pid.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => tried = Some((p, e)),
                    Err(e) => {
                        tracing::warn!(lab = %self.lab, dir = %p.display(), error = %e, "cannot make the artifacts directory");
                        return (p, false);
                    }
                }
            }
            let (p, e) = tried.expect("64 names tried");
            tracing::warn!(lab = %self.lab, dir = %p.display(), error = %e, "cannot make the artifacts directory");
            (p, false)
        });
        path
    }

    /// Keeps the directory after the lab is dropped (and prints its path then).
    pub(crate) fn keep(&self) {
        self.keep.store(true, Ordering::Relaxed);
    }

    /// Whether the directory will be kept.
    pub(crate) fn is_kept(&self) -> bool {
        self.keep.load(Ordering::Relaxed)
    }
}

impl Drop for Artifacts {
    fn drop(&mut self) {
        let Some((dir, true)) = self.made.get() else {
            return; // never made by this lab: nothing to keep or remove
        };
        if self.is_kept() || std::thread::panicking() {
            eprintln!(
                "netrig: lab {}: artifacts kept in {}",
                self.lab,
                dir.display()
            );
        } else if let Err(e) = std::fs::remove_dir_all(dir) {
            tracing::debug!(dir = %dir.display(), error = %e, "cannot remove the artifacts directory");
        }
    }
}
