//! A forked child that holds this process's fds (shared by the proxy unit
//! tests, which include this file by path, and the integration tests).

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
