//! Real programs confined to a node (DESIGN §10; system layer): a command in
//! the node's network namespace and in a private mount namespace of its
//! own, where lab directories are bind-mounted over the program's
//! configuration and state paths (`/etc/ufw`, `/etc/default/ufw`, `/run`).
//! The mounts are made in the child between `fork` and `exec` and are
//! private (`MS_REC | MS_PRIVATE` on `/` first), so the machine's own
//! files are never written and never see the lab's; everything else —
//! programs, libraries, `/proc` — is the machine's, read-only in spirit.
//! [`ufw`] runs Debian's ufw there, [`firewalld`] firewalld on a private
//! D-Bus; [`dockerd`] a real Docker daemon (containerd and dockerd in a pid
//! namespace of their own besides).
//!
//! Each node's binds are also written to `ARTIFACTS/confined/NODE` (one
//! `LAB-PATH<TAB>PATH-THE-PROGRAM-SEES` a line): the CLI's `netrig up`
//! records them for the kept lab, so that `netrig exec LAB NODE -- ufw …`
//! runs in the same confinement instead of against the machine's files.

pub(crate) mod dockerd;
pub(crate) mod firewalld;
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
        prepared.push(Mount::Bind(cstring(src)?, cstring(target)?));
    }
    record(ns, binds)?;
    tracing::debug!(node = ns.node_name(), program, binds = ?binds, "confined command");
    Ok(with_mounts(ns.command(program), prepared))
}

/// `cmd` (a command in `ns`) in the node's confinement when programs run
/// confined there (the binds [`record`]ed for it): what a node's commands
/// see is what its ufw or firewalld sees, as with `netrig exec`.
pub(crate) fn as_recorded(ns: &Namespace, cmd: NodeCommand) -> NodeCommand {
    let Ok(text) = std::fs::read_to_string(binds_file(ns)) else {
        return cmd;
    };
    let binds: Vec<Mount> = text
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .filter_map(|(s, t)| {
            Some(Mount::Bind(
                cstring(Path::new(s)).ok()?,
                cstring(Path::new(t)).ok()?,
            ))
        })
        .collect();
    if binds.is_empty() {
        return cmd;
    }
    with_mounts(cmd, binds)
}

/// Where the node's binds are written for the CLI.
pub(crate) fn binds_file(ns: &Namespace) -> PathBuf {
    ns.artifacts_dir().join("confined").join(ns.node_name())
}

/// Writes the node's binds to [`binds_file`] (when they changed).
fn record(ns: &Namespace, binds: &[(PathBuf, PathBuf)]) -> Result<()> {
    let text: String = binds
        .iter()
        .map(|(s, t)| format!("{}\t{}\n", s.display(), t.display()))
        .collect();
    let path = binds_file(ns);
    if std::fs::read_to_string(&path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    std::fs::create_dir_all(path.parent().unwrap_or(&path))
        .and_then(|()| std::fs::write(&path, text))
        .map_err(|e| Error::io(ns.subject().clone(), format!("write {}", path.display()), e))
}

/// One step of a confined program's private mount namespace, made in the
/// child in order.
#[derive(Debug)]
pub(crate) enum Mount {
    /// A recursive bind mount of the first path on the second.
    Bind(CString, CString),
    /// A fresh tmpfs on the path.
    Tmpfs(CString),
    /// A fresh sysfs on the path (it shows the node's interfaces).
    Sysfs(CString),
    /// A lazy unmount of the path (errors ignored: it may be gone already).
    Detach(CString),
    /// The path (a mount point) made the root: `pivot_root` into it, the
    /// old root lazily unmounted, the working directory `/`.
    PivotRoot(CString),
}

/// `cmd` with a private mount namespace made of `mounts` in its child.
pub(crate) fn with_mounts(cmd: NodeCommand, mounts: Vec<Mount>) -> NodeCommand {
    // SAFETY: only unshare, mount and umount2 (async-signal-safe syscalls)
    // on strings made before the fork.
    unsafe { cmd.pre_exec_hook(move || private_mounts(&mounts)) }
}

pub(crate) fn cstring(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| {
        Error::invalid(
            crate::error::Subject::default(),
            "confinement",
            format!("{} has a NUL byte", p.display()),
        )
    })
}

/// `pivot_root(".", ".")` in `root`: the old root is stacked under the new
/// one and lazily unmounted, so no directory for it is needed in `root`.
///
/// # Safety
/// Plain syscalls on a valid NUL-terminated string.
unsafe fn pivot_root(root: &CString) -> libc::c_int {
    // SAFETY: as the caller's.
    unsafe {
        if libc::chdir(root.as_ptr()) != 0
            || libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) != 0
            || libc::umount2(c".".as_ptr(), libc::MNT_DETACH) != 0
        {
            return -1;
        }
        libc::chdir(c"/".as_ptr())
    }
}

/// In the child: a new mount namespace, every mount made private, then the mounts.
fn private_mounts(mounts: &[Mount]) -> io::Result<()> {
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
        for m in mounts {
            let r = match m {
                Mount::Bind(src, target) => libc::mount(
                    src.as_ptr(),
                    target.as_ptr(),
                    none,
                    libc::MS_BIND | libc::MS_REC,
                    std::ptr::null(),
                ),
                Mount::Tmpfs(target) => libc::mount(
                    c"netrig".as_ptr(),
                    target.as_ptr(),
                    c"tmpfs".as_ptr(),
                    libc::MS_NOSUID | libc::MS_NODEV,
                    c"mode=755".as_ptr().cast(),
                ),
                Mount::Sysfs(target) => libc::mount(
                    c"netrig-sysfs".as_ptr(),
                    target.as_ptr(),
                    c"sysfs".as_ptr(),
                    libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                    std::ptr::null(),
                ),
                Mount::Detach(target) => {
                    libc::umount2(target.as_ptr(), libc::MNT_DETACH);
                    0
                }
                Mount::PivotRoot(root) => pivot_root(root),
            };
            if r != 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(())
}
