//! A real Docker daemon confined to a node (DESIGN §10): containerd and
//! dockerd started in the node's network namespace, in a private mount
//! namespace (a tmpfs on `/run`, so containerd's shim sockets,
//! `/run/xtables.lock` and `/run/docker` stay the lab's; the lab's `etc/`
//! over `/etc/docker`, so no `daemon.json` or `key.json` of the machine is
//! read or written; a sysfs of the node's own) and a pid namespace of their
//! own (`unshare --pid --fork --kill-child`: killing the init kills every
//! process of the daemon, containers included). Data root, exec root,
//! pidfile, sockets and logs are in the lab's `dockerd/` directory; the
//! containers' cgroups under `/netrig-LAB` (cgroupfs driver), removed at
//! teardown. The daemon's `iptables` is the backend's (`xtables-nft-multi`
//! or `xtables-legacy-multi`, first on its `PATH`).
//!
//! The daemon is asked with the `docker` CLI on its socket (`-H
//! unix://…`, `DOCKER_CONFIG` in the lab's directory), readiness with
//! `GET /_ping` on the socket until a deadline. Containers run an image made
//! here from Debian's static busybox (`docker import`), never a registry's.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::{Mount, cstring, with_mounts};
use crate::backend::Backend;
use crate::error::{Error, Result, Subject};
use crate::namespace::Namespace;
use crate::process::NodeProcess;

/// The image containers run: `docker import` of a static busybox.
pub(crate) const IMAGE: &str = "netrig/busybox";

/// The static busybox the image is made of (Debian's `busybox-static`).
const BUSYBOX: &str = "/bin/busybox";

/// How long the daemon may take to answer `_ping` after it is started.
const START_DEADLINE: Duration = Duration::from_secs(90);

/// How long the daemon's pid namespace may take to die after its init is killed.
const STOP_DEADLINE: Duration = Duration::from_secs(30);

/// PID 1 of the daemon's pid namespace: containerd and dockerd, each
/// logging to a file; it waits for both (killing it kills the namespace).
const INIT: &str = r#"D=$1; C=$2; shift 2
"$C" --config "$D/containerd.toml" >"$D/log/containerd.log" 2>&1 &
"$@" --containerd "$D/containerd/containerd.sock" >"$D/log/dockerd.log" 2>&1 &
wait"#;

/// What to start: the program, the backend its `iptables` is, and the
/// daemon flags of the topology's `[daemon]`.
#[derive(Debug, Clone)]
pub(crate) struct DaemonConfig {
    /// `dockerd` (looked up on `PATH`) or a path to it.
    pub(crate) dockerd: PathBuf,
    /// Which iptables the daemon's `iptables` is.
    pub(crate) backend: Backend,
    /// More dockerd flags (`--icc=false` …).
    pub(crate) args: Vec<String>,
}

/// A running real daemon; stopped (every process of its pid namespace
/// killed, its cgroups removed) when dropped.
#[derive(Debug)]
pub(crate) struct RealDaemon {
    dir: PathBuf,
    subject: Subject,
    cgroup_parent: String,
    /// `unshare`, parent of the init.
    process: Option<NodeProcess>,
    /// The init (PID 1 of the daemon's pid namespace), as this machine numbers it.
    init: Option<u32>,
    /// The `docker` CLI.
    cli: PathBuf,
    /// `dockerd --version`'s release (`20.10.24`).
    pub(crate) version: String,
}

/// `program` found as given (a path) or on `PATH`.
fn which(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return program.is_file().then(|| program.to_path_buf());
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// `name` beside `dockerd` (its own containerd, CLI), else on `PATH`.
fn sibling(dockerd: &Path, name: &str) -> Option<PathBuf> {
    dockerd
        .parent()
        .map(|d| d.join(name))
        .filter(|p| p.is_file())
        .or_else(|| which(Path::new(name)))
}

/// The release `dockerd --version` prints (`Docker version 20.10.24+dfsg1, build …`).
pub(crate) fn dockerd_version(dockerd: &Path) -> Result<String> {
    let out = Command::new(dockerd)
        .arg("--version")
        .output()
        .map_err(|e| {
            Error::io(
                Subject::default(),
                format!("run {} --version", dockerd.display()),
                e,
            )
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .nth(2)
        .map(|v| {
            v.trim_end_matches(',')
                .split(['+', '-', '~'])
                .next()
                .unwrap_or(v)
                .to_string()
        })
        .filter(|v| v.contains('.'))
        .ok_or_else(|| {
            Error::invalid(
                Subject::default(),
                "dockerd",
                format!(
                    "`{} --version` printed no version: {text:?}",
                    dockerd.display()
                ),
            )
        })
}

impl RealDaemon {
    /// Starts containerd and dockerd confined to `ns`, and waits until the
    /// daemon answers `_ping`. Nothing is left behind on error.
    pub(crate) fn start(ns: &Namespace, config: &DaemonConfig) -> Result<RealDaemon> {
        let subject = ns.subject().clone();
        let dockerd = which(&config.dockerd).ok_or_else(|| {
            Error::missing_program("dockerd", format!("run a real Docker daemon in {subject}"))
        })?;
        let version = dockerd_version(&dockerd)?;
        let containerd = sibling(&dockerd, "containerd").ok_or_else(|| {
            Error::missing_program("containerd", format!("run dockerd in {subject}"))
        })?;
        let cli = sibling(&dockerd, "docker").ok_or_else(|| {
            Error::missing_program("docker", format!("talk to the daemon in {subject}"))
        })?;
        for (program, package) in [("unshare", "util-linux"), ("tar", "tar")] {
            if which(Path::new(program)).is_none() {
                return Err(Error::MissingProgram {
                    program: program.into(),
                    package: Some(package.into()),
                    purpose: format!("run dockerd in {subject}"),
                });
            }
        }
        if !Path::new(BUSYBOX).is_file() {
            return Err(Error::MissingProgram {
                program: BUSYBOX.into(),
                package: Some("busybox-static".into()),
                purpose: format!("make the containers' image in {subject}"),
            });
        }
        if !Path::new("/etc/docker").is_dir() {
            return Err(Error::invalid(
                subject,
                "dockerd",
                "/etc/docker does not exist: the lab's directory is mounted over it, so that \
                 the daemon writes nothing of the machine's (install docker.io or docker-ce, which \
                 create it)",
            ));
        }
        let dir = ns.artifacts_dir().join("dockerd");
        let io = |what: String| {
            let subject = subject.clone();
            move |e| Error::io(subject, what, e)
        };
        for d in [
            "data",
            "exec",
            "etc",
            "bin",
            "log",
            "tmp",
            "cli",
            "mnt/cgroup",
            "containerd/root",
            "containerd/state",
            "containerd/opt",
        ] {
            std::fs::create_dir_all(dir.join(d))
                .map_err(io(format!("create {}", dir.join(d).display())))?;
        }
        let multi = match config.backend {
            Backend::IptablesLegacy => Some("xtables-legacy-multi"),
            Backend::IptablesNft => Some("xtables-nft-multi"),
            Backend::Nftables => None,
        };
        if let Some(multi) = multi {
            let target = which(Path::new(multi)).ok_or_else(|| {
                Error::missing_program(
                    multi,
                    format!("give dockerd the {} backend", config.backend),
                )
            })?;
            for t in [
                "iptables",
                "iptables-save",
                "iptables-restore",
                "ip6tables",
                "ip6tables-save",
                "ip6tables-restore",
            ] {
                let link = dir.join("bin").join(t);
                let _ = std::fs::remove_file(&link);
                std::os::unix::fs::symlink(&target, &link)
                    .map_err(io(format!("link {}", link.display())))?;
            }
        }
        let d = dir.display();
        let containerd_toml = format!(
            r#"version = 2
root = "{d}/containerd/root"
state = "{d}/containerd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "{d}/containerd/containerd.sock"
[ttrpc]
  address = "{d}/containerd/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/containerd/opt"
"#
        );
        std::fs::write(dir.join("containerd.toml"), containerd_toml)
            .map_err(io("write containerd.toml".into()))?;
        let cgroup_parent = format!("/netrig-{}", ns.group().name());
        let mut argv: Vec<String> = vec![
            dockerd.display().to_string(),
            format!("--data-root={d}/data"),
            format!("--exec-root={d}/exec"),
            format!("--pidfile={d}/exec/dockerd.pid"),
            format!("--host=unix://{d}/docker.sock"),
            "--exec-opt=native.cgroupdriver=cgroupfs".into(),
            format!("--cgroup-parent={cgroup_parent}"),
            "--iptables=true".into(),
        ];
        if config.backend == Backend::Nftables {
            argv.push("--firewall-backend=nftables".into());
        }
        argv.extend(config.args.iter().cloned());
        let mut path = format!("{d}/bin");
        if let Some(p) = dockerd.parent() {
            path.push_str(&format!(":{}", p.display()));
        }
        path.push_str(":/usr/sbin:/usr/bin:/sbin:/bin");
        let mounts = Self::mounts(&dir)?;
        tracing::debug!(%subject, dockerd = %dockerd.display(), %version, ?argv, "start a real Docker daemon");
        let cmd = ns
            .command("unshare")
            .args([
                "--pid",
                "--fork",
                "--kill-child",
                "--mount-proc",
                "--",
                "/bin/sh",
                "-c",
            ])
            .arg(INIT)
            .arg("netrig-dockerd-init")
            .arg(&dir)
            .arg(&containerd)
            .args(&argv)
            .env("PATH", path)
            .env("TMPDIR", dir.join("tmp"));
        let process = with_mounts(cmd, mounts).spawn()?;
        let mut daemon = RealDaemon {
            dir,
            subject,
            cgroup_parent,
            process: Some(process),
            init: None,
            cli,
            version,
        };
        daemon.wait_ready()?;
        daemon.init = daemon.find_init();
        tracing::debug!(subject = %daemon.subject, init = ?daemon.init, version = %daemon.version, "real Docker daemon answers");
        Ok(daemon)
    }

    /// The private mount namespace: other namespaces' pins dropped, a
    /// tmpfs on `/run`, the lab's `etc` on `/etc/docker`, the node's sysfs
    /// (with the machine's cgroup hierarchy on `/sys/fs/cgroup`).
    fn mounts(dir: &Path) -> Result<Vec<Mount>> {
        let mut out = Vec::new();
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut pins: Vec<&str> = info
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|p| p.starts_with("/run/netns/") || p.starts_with("/var/run/netns/"))
            .collect();
        pins.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for p in pins {
            out.push(Mount::Detach(cstring(Path::new(p))?));
        }
        let cg = dir.join("mnt/cgroup");
        out.extend([
            Mount::Tmpfs(cstring(Path::new("/run"))?),
            Mount::Bind(
                cstring(&dir.join("etc"))?,
                cstring(Path::new("/etc/docker"))?,
            ),
            Mount::Bind(cstring(Path::new("/sys/fs/cgroup"))?, cstring(&cg)?),
            Mount::Sysfs(cstring(Path::new("/sys"))?),
            Mount::Bind(cstring(&cg)?, cstring(Path::new("/sys/fs/cgroup"))?),
            Mount::Detach(cstring(&cg)?),
        ]);
        Ok(out)
    }

    /// The daemon's socket.
    pub(crate) fn socket(&self) -> PathBuf {
        self.dir.join("docker.sock")
    }

    /// Polls `GET /_ping` until it answers `OK`, the daemon exits, or the deadline.
    fn wait_ready(&mut self) -> Result<()> {
        let end = Instant::now() + START_DEADLINE;
        let sock = self.socket();
        loop {
            if ping(&sock) {
                return Ok(());
            }
            let exited = match self.process.as_mut() {
                Some(p) => p.try_wait()?.is_some(),
                None => true,
            };
            if exited || Instant::now() > end {
                let why = if exited {
                    "exited".to_string()
                } else {
                    format!(
                        "did not answer on {} within {START_DEADLINE:?}",
                        sock.display()
                    )
                };
                return Err(Error::invalid(
                    self.subject.clone(),
                    "dockerd",
                    format!(
                        "the real Docker daemon {why}; its log ({}):\n{}\ncontainerd's:\n{}",
                        self.dir.join("log/dockerd.log").display(),
                        self.log_tail("dockerd.log"),
                        self.log_tail("containerd.log")
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The last lines of one of the daemon's logs.
    pub(crate) fn log_tail(&self, name: &str) -> String {
        let text = std::fs::read_to_string(self.dir.join("log").join(name)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// The init's pid: the only child of `unshare`.
    fn find_init(&self) -> Option<u32> {
        let pid = self.process.as_ref()?.pid();
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .ok()?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }

    /// Runs the `docker` CLI against the daemon; its stdout, or an error
    /// with its stderr.
    pub(crate) fn docker(&self, args: &[String]) -> Result<String> {
        let host = format!("unix://{}", self.socket().display());
        tracing::debug!(subject = %self.subject, ?args, "docker");
        let out = Command::new(&self.cli)
            .arg("-H")
            .arg(&host)
            .args(args)
            .env("DOCKER_CONFIG", self.dir.join("cli"))
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .output()
            .map_err(|e| {
                Error::io(
                    self.subject.clone(),
                    format!("run {}", self.cli.display()),
                    e,
                )
            })?;
        if !out.status.success() {
            return Err(Error::Command {
                subject: self.subject.clone(),
                argv: format!("docker {}", args.join(" ")),
                status: out.status,
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Makes [`IMAGE`] from the static busybox: `/bin/busybox`, `sh` and
    /// `sleep` in a tar, `docker import`ed.
    pub(crate) fn import_busybox(&self) -> Result<()> {
        let root = self.dir.join("rootfs");
        let io = |what: String| {
            let subject = self.subject.clone();
            move |e| Error::io(subject, what, e)
        };
        for d in ["bin", "etc", "proc", "sys", "dev", "tmp"] {
            std::fs::create_dir_all(root.join(d)).map_err(io(format!("create {d}")))?;
        }
        std::fs::copy(BUSYBOX, root.join("bin/busybox")).map_err(io(format!("copy {BUSYBOX}")))?;
        for a in ["sh", "sleep"] {
            let link = root.join("bin").join(a);
            if !link.exists() {
                std::os::unix::fs::symlink("busybox", &link).map_err(io(format!("link {a}")))?;
            }
        }
        let tar = self.dir.join("rootfs.tar");
        let out = Command::new("tar")
            .arg("-C")
            .arg(&root)
            .args(["--numeric-owner", "-cf"])
            .arg(&tar)
            .arg(".")
            .output()
            .map_err(io("run tar".into()))?;
        if !out.status.success() {
            return Err(Error::Command {
                subject: self.subject.clone(),
                argv: "tar -cf rootfs.tar .".into(),
                status: out.status,
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        self.docker(&[
            "import".into(),
            "-c".into(),
            "ENV PATH=/bin".into(),
            tar.display().to_string(),
            IMAGE.into(),
        ])?;
        Ok(())
    }

    /// The pid of container `name`'s init as this machine numbers it (the
    /// daemon reports it in its own pid namespace): the process whose
    /// cgroup names the container's id.
    pub(crate) fn container_pid(&self, name: &str) -> Result<u32> {
        let id = self.docker(&["inspect".into(), "-f".into(), "{{.Id}}".into(), name.into()])?;
        let of = |pid: u32| {
            std::fs::read_to_string(format!("/proc/{pid}/cgroup")).is_ok_and(|c| c.contains(&id))
        };
        let mut pids: Vec<(u32, u32)> = std::fs::read_dir("/proc")
            .map_err(|e| Error::io(self.subject.clone(), "read /proc", e))?
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .filter(|&p| of(p))
            .map(|p| (nspid_inner(p).unwrap_or(u32::MAX), p))
            .collect();
        // The container's init is its pid namespace's 1.
        pids.sort();
        pids.first().map(|&(_, p)| p).ok_or_else(|| {
            Error::invalid(
                self.subject.clone(),
                "container",
                format!("no process of this machine is in container {name}'s cgroup ({id})"),
            )
        })
    }

    /// Stops the daemon now: every process of its pid namespace killed and
    /// waited for, its cgroups removed.
    fn stop(&mut self) {
        let Some(mut p) = self.process.take() else {
            return;
        };
        tracing::debug!(subject = %self.subject, init = ?self.init, "stop the real Docker daemon");
        let _ = p.kill();
        if let Some(init) = self.init {
            match crate::process::wait_for_exit(init, STOP_DEADLINE) {
                Ok(true) => {}
                other => tracing::warn!(init, ?other, "the daemon's pid namespace did not end"),
            }
        }
        remove_cgroups(&self.cgroup_parent);
        let _ = std::fs::remove_dir_all(self.dir.join("data"));
    }
}

impl Drop for RealDaemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The innermost pid of `pid` (its `NSpid` line's last number).
fn nspid_inner(pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("NSpid:"))?
        .split_whitespace()
        .last()?
        .parse()
        .ok()
}

/// Whether the daemon on `sock` answers `GET /_ping` with `OK`.
fn ping(sock: &Path) -> bool {
    let Ok(mut s) = UnixStream::connect(sock) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.") && answer.contains(" 200 ") && answer.ends_with("OK")
}

/// Removes cgroup `parent` (and what is below it) from every hierarchy.
fn remove_cgroups(parent: &str) {
    let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    let rel = parent.trim_start_matches('/');
    let mut roots: Vec<PathBuf> = entries.flatten().map(|e| e.path().join(rel)).collect();
    roots.push(Path::new("/sys/fs/cgroup").join(rel));
    for root in roots.into_iter().filter(|p| p.is_dir()) {
        remove_tree(&root);
        if root.exists() {
            tracing::warn!(cgroup = %root.display(), "could not remove the daemon's cgroup");
        } else {
            tracing::debug!(cgroup = %root.display(), "removed the daemon's cgroup");
        }
    }
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
