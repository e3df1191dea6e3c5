//! Waiting for a started dockerd on events, not by polling (rule 4): the
//! daemon's log is watched with inotify until it says `API listen on` (its
//! socket listens from then on, so one `GET /_ping` queued on it is answered
//! as soon as the daemon serves), and the process that ends with dockerd is
//! watched through a pidfd, so a daemon that dies at start is reported at
//! once, not at the deadline.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

/// What dockerd logs when its API socket listens (every release from 1.x to 29.x).
const LISTENING: &str = "API listen on";

/// Why a started daemon is not ready.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NotReady {
    /// The process watched (whose end is dockerd's) exited.
    Exited,
    /// The deadline passed; what was last waited for.
    Deadline(&'static str),
}

/// Waits until the daemon logging to `log` answers `GET /_ping` on `sock`,
/// process `pid` (a child not reaped yet, ending when dockerd ends) exits,
/// or `deadline` passes.
pub(crate) fn wait(
    pid: u32,
    log: &Path,
    sock: &Path,
    deadline: Instant,
) -> io::Result<Result<(), NotReady>> {
    let pidfd = pidfd_open(pid)?;
    let inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)?;
    let dir = log.parent().unwrap_or(Path::new("/"));
    inotify.add_watch(dir, AddWatchFlags::IN_MODIFY | AddWatchFlags::IN_CREATE)?;
    let mut seen = 0usize;
    loop {
        // Read after the watch is set: a line written before it is seen here.
        if logged_listening(log, &mut seen) {
            break;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let mut fds = [
            PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
            PollFd::new(inotify.as_fd(), PollFlags::POLLIN),
        ];
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
        if fds[0].any().unwrap_or(false) {
            return Ok(Err(NotReady::Exited));
        }
        if left.is_zero() {
            return Ok(Err(NotReady::Deadline("its log to say `API listen on`")));
        }
        // Drain the events; the log is read again above.
        while inotify.read_events().is_ok_and(|e| !e.is_empty()) {}
    }
    let left = deadline.saturating_duration_since(Instant::now());
    if ping(sock, left.max(Duration::from_millis(1))) {
        return Ok(Ok(()));
    }
    let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
    let _ = poll(&mut fds, PollTimeout::ZERO);
    Ok(Err(if fds[0].any().unwrap_or(false) {
        NotReady::Exited
    } else {
        NotReady::Deadline("its answer to GET /_ping")
    }))
}

/// Whether `log` (from byte `seen` on, which is advanced) has the listening line.
fn logged_listening(log: &Path, seen: &mut usize) -> bool {
    let Ok(text) = std::fs::read(log) else {
        return false;
    };
    // Back up by the line's length, so that a line split over two writes is found.
    let from = seen.saturating_sub(LISTENING.len()).min(text.len());
    *seen = text.len();
    String::from_utf8_lossy(&text[from..]).contains(LISTENING)
}

/// A pidfd for `pid` (it becomes readable when the process exits).
fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; the returned fd is owned below.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pidfd_open returned a new fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(raw as RawFd) })
}

/// Whether the daemon on `sock` answers `GET /_ping` with `OK` within
/// `timeout` (the request waits in the socket's backlog until the daemon
/// serves; a daemon that dies closes it).
pub(crate) fn ping(sock: &Path, timeout: Duration) -> bool {
    let Ok(mut s) = UnixStream::connect(sock) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(timeout));
    let _ = s.set_write_timeout(Some(timeout));
    if s.write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.") && answer.contains(" 200 ") && answer.ends_with("OK")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;
    use std::process::Command;

    /// A "daemon" that dies at start is reported at once, not at the deadline.
    #[test]
    fn a_daemon_that_exits_is_seen_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("dockerd.log");
        let mut child = Command::new("sh")
            .args(["-c", "echo failed to start >&2; exit 1"])
            .spawn()
            .unwrap();
        let start = Instant::now();
        let r = wait(
            child.id(),
            &log,
            &dir.path().join("docker.sock"),
            start + Duration::from_secs(60),
        )
        .unwrap();
        assert_eq!(r, Err(NotReady::Exited));
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{:?}",
            start.elapsed()
        );
        child.wait().unwrap();
    }

    /// A daemon that logs `API listen on` later and then serves is ready
    /// once it answers; before that, the wait blocks on events only.
    #[test]
    fn a_daemon_that_logs_listening_and_answers_is_ready() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("dockerd.log");
        let sock = dir.path().join("docker.sock");
        let listener = UnixListener::bind(&sock).unwrap();
        let (go, gate) = std::sync::mpsc::channel::<()>();
        let log2 = log.clone();
        let server = std::thread::spawn(move || {
            gate.recv().unwrap();
            std::fs::write(&log2, "level=info msg=\"API listen on /x/docker.sock\"\n").unwrap();
            let (mut c, _) = listener.accept().unwrap();
            let mut req = [0u8; 256];
            let _ = c.read(&mut req).unwrap();
            c.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nOK")
                .unwrap();
        });
        let mut child = Command::new("sleep").arg("60").spawn().unwrap();
        std::fs::write(&log, "level=info msg=\"starting up\"\n").unwrap();
        go.send(()).unwrap();
        let r = wait(
            child.id(),
            &log,
            &sock,
            Instant::now() + Duration::from_secs(30),
        )
        .unwrap();
        server.join().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(r, Ok(()));
    }

    /// Without the listening line nothing is pinged: the deadline says so.
    #[test]
    fn a_silent_daemon_meets_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("dockerd.log");
        std::fs::write(&log, "level=info msg=\"starting up\"\n").unwrap();
        let mut child = Command::new("sleep").arg("60").spawn().unwrap();
        let r = wait(
            child.id(),
            &log,
            &dir.path().join("docker.sock"),
            Instant::now() + Duration::from_millis(300),
        )
        .unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(matches!(r, Err(NotReady::Deadline(_))), "{r:?}");
    }
}
