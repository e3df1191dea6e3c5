//! Processes inside nodes: commands entered into a namespace with `setns` in
//! `pre_exec`, and long-lived children that cannot outlive their lab.
//!
//! Guarantees:
//! - the child enters the node's namespace before `exec`; the parent thread
//!   never changes namespace;
//! - every child runs in its own process group and gets `PR_SET_PDEATHSIG =
//!   SIGKILL`; long-lived children are spawned from a lab-owned thread
//!   ([`Spawner`]) so the death signal fires when the lab (or the whole
//!   process, even by SIGKILL) goes away, not when some short-lived thread ends;
//! - dropping a [`NodeProcess`] kills its whole process group; dropping the lab
//!   kills every group it still has ([`ProcessRegistry`]).
//! - a program that is not installed gives [`Error::MissingProgram`] naming
//!   the Debian package.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::io;
use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::backend::package_for;
use crate::error::{Error, Result, Subject};
use crate::netns::Netns;

/// Whether `program` is an executable on `PATH`.
pub(crate) fn program_on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path).any(|d| {
        std::fs::metadata(d.join(program))
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    })
}

/// Waits until process `pid` (any process, not only a child) has exited,
/// up to `timeout`, on a pidfd — it wakes the moment the process ends.
/// Returns whether it has exited; a pid that does not exist counts as exited.
///
pub(crate) fn wait_for_exit(pid: u32, timeout: Duration) -> io::Result<bool> {
    // SAFETY: plain syscall; the returned fd is owned below.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if raw < 0 {
        let e = io::Error::last_os_error();
        return if e.raw_os_error() == Some(libc::ESRCH) {
            Ok(true)
        } else {
            Err(e)
        };
    }
    // SAFETY: pidfd_open returned a new fd we own.
    let pidfd =
        unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw as RawFd) };
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut fds = [nix::poll::PollFd::new(
            std::os::fd::AsFd::as_fd(&pidfd),
            nix::poll::PollFlags::POLLIN,
        )];
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms)) {
            Ok(n) if n > 0 => return Ok(true),
            Ok(_) if left.is_zero() => return Ok(false),
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// The processes of a group of namespaces (a lab's): a registry of the
/// process groups still alive, killed together, and the lab-owned thread
/// long-lived children are spawned from, started on first use so that
/// `PR_SET_PDEATHSIG` (which follows the spawning *thread*) fires only when
/// the lab is dropped or the process dies.
#[derive(Debug)]
pub(crate) struct Processes {
    label: String,
    groups: Mutex<BTreeSet<i32>>,
    spawner: Mutex<Option<Spawner>>,
}

impl Processes {
    pub(crate) fn new(label: &str) -> Self {
        Processes {
            label: label.to_string(),
            groups: Mutex::new(BTreeSet::new()),
            spawner: Mutex::new(None),
        }
    }

    fn add(&self, pgid: i32) {
        lock(&self.groups).insert(pgid);
    }

    fn remove(&self, pgid: i32) {
        lock(&self.groups).remove(&pgid);
    }

    /// SIGKILLs every registered process group (ones not reaped yet).
    pub(crate) fn kill_all(&self) {
        let groups = std::mem::take(&mut *lock(&self.groups));
        for pgid in groups {
            tracing::debug!(pgid, "killing leftover process group");
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pgid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }

    /// Spawns `cmd` from the spawner thread (started now if need be).
    fn spawn(&self, mut cmd: Command) -> io::Result<Child> {
        let jobs = {
            let mut spawner = lock(&self.spawner);
            if spawner.is_none() {
                *spawner = Some(Spawner::start(&self.label)?);
            }
            spawner.as_ref().and_then(|s| s.jobs.clone())
        };
        let jobs = jobs.ok_or_else(|| io::Error::other("spawner stopped"))?;
        let (tx, rx) = mpsc::channel();
        let job: SpawnJob = Box::new(move || {
            let _ = tx.send(cmd.spawn());
        });
        jobs.send(job)
            .map_err(|_| io::Error::other("spawner thread is gone"))?;
        rx.recv()
            .map_err(|_| io::Error::other("spawner thread is gone"))?
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

type SpawnJob = Box<dyn FnOnce() + Send>;

#[derive(Debug)]
struct Spawner {
    jobs: Option<mpsc::Sender<SpawnJob>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Spawner {
    fn start(label: &str) -> io::Result<Self> {
        let (tx, rx) = mpsc::channel::<SpawnJob>();
        let thread = std::thread::Builder::new()
            .name(format!("netrig-spawn-{label}"))
            .spawn(move || {
                for job in rx {
                    job();
                }
            })?;
        Ok(Spawner {
            jobs: Some(tx),
            thread: Some(thread),
        })
    }
}

impl Drop for Spawner {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A command that will run inside a node.
///
/// ```no_run
/// # fn demo(lab: &netrig::Lab) -> netrig::Result<()> {
/// let out = lab.node("web")?.command("ip").args(["-br", "addr"]).checked_output()?;
/// println!("{}", String::from_utf8_lossy(&out.stdout));
/// # Ok(()) }
/// ```
///
/// It holds the namespace it will enter, so a command kept after its lab was
/// dropped still runs in that lab's namespace, never anywhere else.
#[derive(Debug)]
pub struct NodeCommand {
    cmd: Command,
    argv: Vec<String>,
    subject: Subject,
    processes: Arc<Processes>,
    input: Option<Input>,
}

/// What a command's stdin is fed: bytes at once, or chunks as they come
/// (stdin closed when their sender is dropped).
#[derive(Debug)]
enum Input {
    Bytes(Vec<u8>),
    Stream(std::sync::mpsc::Receiver<Vec<u8>>),
}

impl NodeCommand {
    pub(crate) fn new(
        program: impl AsRef<OsStr>,
        netns: Arc<Netns>,
        subject: Subject,
        processes: Arc<Processes>,
    ) -> Self {
        let program = program.as_ref();
        let mut cmd = Command::new(program);
        // The closure owns `netns`, and the closure lives as long as the
        // command: the fd it enters stays this namespace's until then.
        let held = netns;
        // SAFETY: only async-signal-safe syscalls (setns, prctl, getppid, kill) run between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(held.raw_fd(), libc::CLONE_NEWNET) != 0 {
                    return Err(io::Error::last_os_error());
                }
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd.process_group(0);
        cmd.stdin(Stdio::null());
        NodeCommand {
            cmd,
            argv: vec![program.to_string_lossy().into_owned()],
            subject,
            processes,
            input: None,
        }
    }

    /// Adds an argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.argv.push(arg.as_ref().to_string_lossy().into_owned());
        self.cmd.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for a in args {
            self = self.arg(a);
        }
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.cmd.env(key, value);
        self
    }

    /// Feeds `bytes` to the command's stdin (for [`NodeCommand::output`]).
    pub fn input(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.input = Some(Input::Bytes(bytes.into()));
        self
    }

    /// Feeds stdin the chunks `chunks` receives, as they come, and closes
    /// it only once their sender is dropped: for a tool that acts on its
    /// input as it reads it and exits at its end (a restore tool commits at
    /// each `COMMIT` line), kept from exiting until the caller says.
    pub(crate) fn input_stream(mut self, chunks: std::sync::mpsc::Receiver<Vec<u8>>) -> Self {
        self.input = Some(Input::Stream(chunks));
        self
    }

    /// Adds `hook` to run in the child after it entered the node's
    /// namespace, before `exec` (e.g. a private mount namespace).
    ///
    /// # Safety
    /// As [`CommandExt::pre_exec`]: `hook` may only make async-signal-safe
    /// calls (plain syscalls on data prepared before the fork).
    pub(crate) unsafe fn pre_exec_hook(
        mut self,
        hook: impl FnMut() -> io::Result<()> + Send + Sync + 'static,
    ) -> Self {
        // SAFETY: forwarded to the caller.
        unsafe {
            self.cmd.pre_exec(hook);
        }
        self
    }

    /// Where the command's stdout goes (default: inherited).
    pub(crate) fn stdout(mut self, to: impl Into<Stdio>) -> Self {
        self.cmd.stdout(to);
        self
    }

    /// Where the command's stderr goes (default: inherited).
    pub(crate) fn stderr(mut self, to: impl Into<Stdio>) -> Self {
        self.cmd.stderr(to);
        self
    }

    /// The command line, for messages.
    pub(crate) fn argv(&self) -> String {
        self.argv.join(" ")
    }

    fn spawn_error(&self, e: io::Error) -> Error {
        // execvp reports EACCES rather than ENOENT when a directory on PATH
        // cannot be searched (e.g. in a user namespace): a program found
        // nowhere is still "not installed".
        let program = &self.argv[0];
        let missing = e.kind() == io::ErrorKind::NotFound
            || (e.kind() == io::ErrorKind::PermissionDenied
                && !program.contains('/')
                && !program_on_path(program));
        if missing {
            let program = self.argv[0].clone();
            Error::MissingProgram {
                package: package_for(&program).map(str::to_string),
                purpose: format!("run `{}` in {}", self.argv(), self.subject),
                program,
            }
        } else {
            Error::io(self.subject.clone(), format!("spawn `{}`", self.argv()), e)
        }
    }

    /// Runs to completion with stdout and stderr captured; any exit status is Ok.
    pub fn output(mut self) -> Result<Output> {
        tracing::debug!(subject = %self.subject, argv = %self.argv(), "run command");
        let child = self.start_captured()?;
        self.collect(child)
    }

    /// Starts the command as [`NodeCommand::output`] runs it and returns
    /// its pid with a thread that collects its output (stdin fed, stdout
    /// and stderr captured, reaped): for a caller that learns from
    /// elsewhere when the command's work is done, before it exits.
    /// `finish` runs on that thread with the output.
    pub(crate) fn output_in_background<T: Send + 'static>(
        mut self,
        finish: impl FnOnce(Result<Output>) -> T + Send + 'static,
    ) -> Result<(u32, std::thread::JoinHandle<T>)> {
        tracing::debug!(subject = %self.subject, argv = %self.argv(), "run command (reaped in the background)");
        let child = self.start_captured()?;
        let pid = child.id();
        let subject = self.subject.clone();
        let reaper = std::thread::Builder::new()
            .name("netrig-reap".into())
            .spawn(move || finish(self.collect(child)))
            .map_err(|e| Error::io(subject, "start thread netrig-reap", e))?;
        Ok((pid, reaper))
    }

    fn start_captured(&mut self) -> Result<Child> {
        self.cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        if self.input.is_some() {
            self.cmd.stdin(Stdio::piped());
        }
        self.start()
    }

    /// Feeds stdin, waits for `child` and collects its output.
    fn collect(mut self, mut child: Child) -> Result<Output> {
        let pgid = child.id() as i32;
        // Feed stdin from a thread so a command that writes a lot before
        // reading everything cannot deadlock against us.
        // A stream is fed until its sender is dropped, which may come after
        // the command exited: its feeder is not waited for.
        let streamed = matches!(self.input, Some(Input::Stream(_)));
        let feeder = match (self.input.take(), child.stdin.take()) {
            (Some(input), Some(mut stdin)) => Some(std::thread::spawn(move || {
                use std::io::Write;
                match input {
                    Input::Bytes(bytes) => {
                        let _ = stdin.write_all(&bytes);
                    }
                    Input::Stream(chunks) => {
                        for chunk in chunks {
                            if stdin.write_all(&chunk).is_err() {
                                break;
                            }
                        }
                    }
                }
            })),
            _ => None,
        };
        let out = child.wait_with_output();
        if let Some(f) = feeder.filter(|_| !streamed) {
            let _ = f.join();
        }
        self.processes.remove(pgid);
        out.map_err(|e| {
            Error::io(
                self.subject.clone(),
                format!("wait for `{}`", self.argv()),
                e,
            )
        })
    }

    /// Runs to completion, captured; a non-zero exit is an [`Error::Command`] with stderr.
    pub fn checked_output(self) -> Result<Output> {
        let subject = self.subject.clone();
        let argv = self.argv();
        let out = self.output()?;
        if out.status.success() {
            Ok(out)
        } else {
            Err(Error::Command {
                subject,
                argv,
                status: out.status,
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            })
        }
    }

    /// Starts the command and returns a handle that kills it (and its process
    /// group) on drop. stdin/stdout/stderr are as configured (default: inherit).
    pub fn spawn(mut self) -> Result<NodeProcess> {
        tracing::debug!(subject = %self.subject, argv = %self.argv(), "spawn process");
        let child = self.start()?;
        let pgid = child.id() as i32;
        Ok(NodeProcess {
            child,
            pgid,
            argv: self.argv(),
            subject: self.subject.clone(),
            processes: self.processes.clone(),
            reaped: false,
        })
    }

    /// Spawns from the lab's spawner thread and registers the process group.
    fn start(&mut self) -> Result<Child> {
        let cmd = std::mem::replace(&mut self.cmd, Command::new("/nonexistent"));
        let child = self.processes.spawn(cmd).map_err(|e| self.spawn_error(e))?;
        self.processes.add(child.id() as i32);
        Ok(child)
    }
}

/// A running process inside a node. Dropping it kills its process group.
#[derive(Debug)]
pub struct NodeProcess {
    child: Child,
    pgid: i32,
    argv: String,
    subject: Subject,
    processes: Arc<Processes>,
    reaped: bool,
}

impl NodeProcess {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Returns the exit status if the process has exited.
    pub(crate) fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        let r = self
            .child
            .try_wait()
            .map_err(|e| Error::io(self.subject.clone(), format!("wait for `{}`", self.argv), e))?;
        if r.is_some() {
            self.mark_reaped();
        }
        Ok(r)
    }

    /// Kills the process group and reaps the process.
    pub fn kill(&mut self) -> Result<()> {
        if self.reaped {
            return Ok(());
        }
        tracing::debug!(subject = %self.subject, argv = %self.argv, pid = self.pgid, "kill process group");
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(self.pgid),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = self.child.wait();
        self.mark_reaped();
        Ok(())
    }

    fn mark_reaped(&mut self) {
        if !self.reaped {
            self.reaped = true;
            self.processes.remove(self.pgid);
        }
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}
