//! The artifacts directory of a lab (system layer): pcaps, process output and failure
//! evidence. Deleted when the lab is dropped after a success; kept — and its
//! path printed on stderr — when the lab is dropped during a panic or after
//! [`Artifacts::keep`] (which every failed expectation calls).
//!
//! The base directory is `$NETRIG_ARTIFACTS` when set (CI points it at a
//! folder it uploads), else the system temp dir.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result, Subject};

/// A lab's artifacts directory.
#[derive(Debug)]
pub(crate) struct Artifacts {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
    keep: AtomicBool,
    lab: String,
}

impl Artifacts {
    /// Creates `netrig-LAB-XXXX` under the base directory.
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
        let dir = tempfile::Builder::new()
            .prefix(&format!("netrig-{lab}-"))
            .tempdir_in(&base)
            .map_err(|e| {
                Error::io(
                    Subject::lab(lab),
                    format!("create artifacts dir in {}", base.display()),
                    e,
                )
            })?;
        let path = dir.path().to_path_buf();
        Ok(Artifacts {
            dir: Some(dir),
            path,
            keep: AtomicBool::new(std::env::var_os("NETRIG_KEEP_ARTIFACTS").is_some()),
            lab: lab.to_string(),
        })
    }

    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        &self.path
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
        if (self.is_kept() || std::thread::panicking())
            && let Some(d) = self.dir.take()
        {
            let p = d.keep();
            eprintln!(
                "netrig: lab {}: artifacts kept in {}",
                self.lab,
                p.display()
            );
        }
    }
}
