//! Helpers shared by the harness's own integration tests.
#![allow(dead_code)]

pub mod host_lab;
pub mod labs;
pub mod recordings;
pub mod recordings28;

use std::time::Duration;

/// Held by every lab test for its duration (shared); tests that count the
/// namespaces this process holds take it exclusively, so no other test
/// builds labs meanwhile. (Privilege skips are the harness's job.)
pub static LABS: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// The shared hold on [`LABS`].
pub fn shared() -> std::sync::RwLockReadGuard<'static, ()> {
    LABS.read().unwrap_or_else(|p| p.into_inner())
}

/// The exclusive hold on [`LABS`].
pub fn exclusive() -> std::sync::RwLockWriteGuard<'static, ()> {
    LABS.write().unwrap_or_else(|p| p.into_inner())
}

/// Inodes of every network namespace this process holds through an fd or a thread.
pub fn held_netns_inodes() -> Vec<u64> {
    let mut out = Vec::new();
    let me = std::process::id();
    for entry in std::fs::read_dir(format!("/proc/{me}/fd"))
        .unwrap()
        .flatten()
    {
        if let Ok(target) = std::fs::read_link(entry.path())
            && let Some(s) = target.to_str()
            && let Some(inode) = s.strip_prefix("net:[").and_then(|r| r.strip_suffix(']'))
        {
            out.push(inode.parse().unwrap());
        }
    }
    out.sort();
    out
}

#[allow(unused_imports)]
pub use netrig::testing::Witness;

/// Waits for process `pid` (not our child) to exit.
pub fn wait_pid_gone(pid: i32, deadline: Duration) -> bool {
    netrig::testing::wait_for_exit(pid as u32, deadline).unwrap()
}

/// Names of a node's links, as the kernel reports them.
pub fn link_names(lab: &netrig::Lab, node: &str) -> Vec<String> {
    lab.node(node)
        .unwrap()
        .links()
        .unwrap()
        .into_iter()
        .map(|l| l.name)
        .collect()
}

/// A topology file of `topologies/`, its lab renamed uniquely for this test.
pub fn topology(file: &str, prefix: &str) -> netrig::docker::DockerHost {
    let path = format!("{}/topologies/{file}", env!("CARGO_MANIFEST_DIR"));
    let mut host = host_lab::model_of(&netrig::topology::load(&path).unwrap());
    host.set_name(netrig::unique_lab_name(prefix));
    host
}

/// A forked child of this process that holds a copy of every fd open at the
/// fork and does not exec until dropped: what every child netrig spawns
/// (`nft`, `iptables`, `ip`) is, from another thread, between its fork and
/// its exec (`O_CLOEXEC` acts only at the exec). A server that is merely
/// closed meanwhile stays bound in it.
pub struct ForkedFdHolder {
    pid: libc::pid_t,
    release: std::os::fd::OwnedFd,
}

impl ForkedFdHolder {
    /// Forks the child; it waits on a pipe, calling only async-signal-safe functions.
    pub fn start() -> ForkedFdHolder {
        use std::os::fd::FromRawFd;
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills two fds we then own.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: the child only calls read(2) and _exit(2), both async-signal-safe.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
        if pid == 0 {
            let mut b = 0u8;
            // SAFETY: read(2) into a byte we own, then _exit(2).
            unsafe {
                while libc::read(fds[0], (&mut b as *mut u8).cast(), 1) < 0 {}
                libc::_exit(0);
            }
        }
        // SAFETY: both fds are ours; the read end is not needed here.
        unsafe { libc::close(fds[0]) };
        ForkedFdHolder {
            pid,
            release: unsafe { std::os::fd::OwnedFd::from_raw_fd(fds[1]) },
        }
    }
}

impl Drop for ForkedFdHolder {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: a one-byte write to our pipe, then reaping our own child.
        unsafe {
            libc::write(self.release.as_raw_fd(), b"x".as_ptr().cast(), 1);
            libc::waitpid(self.pid, std::ptr::null_mut(), 0);
        }
    }
}
