//! Real programs confined to a node (DESIGN §10; system layer): a command in
//! the node's network namespace and in a private mount namespace of its
//! own, where lab directories are bind-mounted over the program's
//! configuration and state paths (`/etc/ufw`, `/etc/default/ufw`, `/run`).
//! The mounts are made in the child between `fork` and `exec` and are
//! private (`MS_REC | MS_PRIVATE` on `/` first), so the machine's own
//! files are never written and never see the lab's; everything else —
//! programs, libraries, `/proc` — is the machine's, read-only in spirit.
//! [`ufw`] runs Debian's ufw there.

pub(crate) mod ufw;

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::namespace::Namespace;
use crate::process::NodeCommand;

/// `program` to run in `ns` with each of `binds` (lab path, path the program
/// sees) bind-mounted in a private mount namespace. Both ends of every bind
/// must exist (a directory over a directory, a file over a file).
pub(crate) fn command(
    ns: &Namespace,
    program: &str,
    binds: &[(PathBuf, PathBuf)],
) -> Result<NodeCommand> {
    let mut prepared = Vec::new();
    for (src, target) in binds {
        for p in [src, target] {
            if !p.exists() {
                return Err(Error::invalid(
                    ns.subject().clone(),
                    "confinement",
                    format!(
                        "cannot confine {program}: {} does not exist (bind {} over {})",
                        p.display(),
                        src.display(),
                        target.display()
                    ),
                ));
            }
        }
        prepared.push((cstring(src)?, cstring(target)?));
    }
    tracing::debug!(node = ns.node_name(), program, binds = ?binds, "confined command");
    // SAFETY: only unshare and mount (async-signal-safe syscalls) on strings
    // made before the fork.
    Ok(unsafe {
        ns.command(program)
            .pre_exec_hook(move || private_mounts(&prepared))
    })
}

fn cstring(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| {
        Error::invalid(
            crate::error::Subject::default(),
            "confinement",
            format!("{} has a NUL byte", p.display()),
        )
    })
}

/// In the child: a new mount namespace, every mount made private, then the binds.
fn private_mounts(binds: &[(CString, CString)]) -> io::Result<()> {
    let none = std::ptr::null();
    // SAFETY: plain syscalls on valid NUL-terminated strings.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::mount(
            none,
            c"/".as_ptr(),
            none,
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) != 0
        {
            return Err(io::Error::last_os_error());
        }
        for (src, target) in binds {
            if libc::mount(
                src.as_ptr(),
                target.as_ptr(),
                none,
                libc::MS_BIND | libc::MS_REC,
                std::ptr::null(),
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(())
}
