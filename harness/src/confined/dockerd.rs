//! A real Docker daemon confined to a node (DESIGN §10): containerd and
//! dockerd started in the node's network namespace, in a private mount
//! namespace (a tmpfs on `/run`, so containerd's shim sockets,
//! `/run/xtables.lock` and `/run/docker` stay the lab's; the lab's `etc/`
//! over `/etc/docker`, so no `daemon.json` or `key.json` of the machine is
//! read or written; a sysfs of the node's own) and a pid namespace of their
//! own (`unshare --pid --fork --kill-child`: killing the init kills every
//! process of the daemon, containers included). Data root, exec root,
//! pidfile, sockets and logs are in the lab's `dockerd/` directory; the
//! containers' cgroups under `/netrig-dockerd-PID-LAB` (cgroupfs driver), removed at
//! teardown. The daemon's `iptables` is the backend's (`xtables-nft-multi`
//! or `xtables-legacy-multi`, first on its `PATH`).
//!
//! With a root file system (`--rootfs DIR`, e.g. the Debian sid tree that
//! `real-docker-28.sh install` makes, with Docker 28.5.2), the daemon's
//! programs are that tree's: in the same private mount namespace the tree
//! gets the node's sysfs, the machine's cgroup hierarchies and `/dev`, the
//! lab's `dockerd/` directory on its `/run` and `etc/` on its
//! `/etc/docker`, and becomes the root (`pivot_root`); the machine's file
//! system is then out of the daemon's sight. The tree itself is not written.
//!
//! The daemon is asked with the `docker` CLI on its socket (`-H
//! unix://…`, `DOCKER_CONFIG` in the lab's directory; the tree's own CLI,
//! in the daemon's mount namespace, with a root file system), readiness on
//! events ([`ready`]). Containers run an image made here from a static
//! busybox (`docker import`), never a registry's. Containers' cgroups left
//! by a killed run are swept at the next start ([`cgroup`]).

mod cgroup;
mod ready;

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
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

/// Where the lab's `dockerd/` directory is in a root file system's view.
const INNER_DIR: &str = "/run";

/// Where programs are looked up in a root file system.
const ROOTFS_PATH: &[&str] = &["/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/// How long the daemon may take to answer `_ping` after it is started.
const START_DEADLINE: Duration = Duration::from_secs(90);

/// How long the daemon's pid namespace may take to die after its init is killed.
const STOP_DEADLINE: Duration = Duration::from_secs(30);

/// PID 1 of the daemon's pid namespace: containerd and dockerd, each
/// logging to a file; it ends when dockerd ends (and with it every process
/// of the namespace), so dockerd's exit is the exit of `unshare`.
const INIT: &str = r#"D=$1; C=$2; shift 2
"$C" --config "$D/containerd.toml" >"$D/log/containerd.log" 2>&1 &
"$@" --containerd "$D/containerd/containerd.sock" >"$D/log/dockerd.log" 2>&1 &
wait $!"#;

/// What to start: the program, the backend its `iptables` is, and the
/// daemon flags of the topology's `[daemon]`.
#[derive(Debug, Clone)]
pub(crate) struct DaemonConfig {
    /// `dockerd` (looked up on `PATH`) or a path to it (in `rootfs`, if given).
    pub(crate) dockerd: PathBuf,
    /// A root file system the daemon and its helpers run in.
    pub(crate) rootfs: Option<PathBuf>,
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
    /// The `docker` CLI (as the daemon's mount namespace sees it, with a root file system).
    cli: PathBuf,
    /// The lab's `dockerd/` directory as the daemon sees it.
    inner: PathBuf,
    /// The daemon's mount namespace, entered by the CLI (with a root file system).
    mntns: Option<std::sync::Arc<OwnedFd>>,
    /// The root file system the daemon runs in.
    rootfs: Option<PathBuf>,
}

/// `program` found as given (a path) or on `PATH`.
fn which(program: &Path) -> Option<PathBuf> {
    find(None, program)
}

/// `path` (as a root file system's programs see it) as this machine reaches it.
fn outside(rootfs: Option<&Path>, path: &Path) -> PathBuf {
    match rootfs {
        Some(r) => r.join(path.strip_prefix("/").unwrap_or(path)),
        None => path.to_path_buf(),
    }
}

/// `program` found as given (a path) or on `PATH` — the machine's, or
/// [`ROOTFS_PATH`] in `rootfs` — as the programs there see it.
fn find(rootfs: Option<&Path>, program: &Path) -> Option<PathBuf> {
    let exists = |p: &Path| outside(rootfs, p).is_file();
    if program.components().count() > 1 {
        return exists(program).then(|| program.to_path_buf());
    }
    let dirs: Vec<PathBuf> = match rootfs {
        Some(_) => ROOTFS_PATH.iter().map(PathBuf::from).collect(),
        None => {
            let path =
                std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
            std::env::split_paths(&path).collect()
        }
    };
    dirs.into_iter()
        .map(|d| d.join(program))
        .find(|p| exists(p))
}

/// `name` beside `dockerd` (its own containerd, CLI), else on `PATH`.
fn sibling(rootfs: Option<&Path>, dockerd: &Path, name: &str) -> Option<PathBuf> {
    dockerd
        .parent()
        .map(|d| d.join(name))
        .filter(|p| outside(rootfs, p).is_file())
        .or_else(|| find(rootfs, Path::new(name)))
}

/// `program` run with `rootfs` as its root (`chroot`), or as it is.
fn command_in(rootfs: Option<&Path>, program: &Path) -> Result<Command> {
    let mut cmd = Command::new(program);
    if let Some(r) = rootfs {
        let root = cstring(r)?;
        // SAFETY: chroot and chdir, async-signal-safe, on a string made before the fork.
        unsafe {
            cmd.pre_exec(move || {
                if libc::chroot(root.as_ptr()) != 0 || libc::chdir(c"/".as_ptr()) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    Ok(cmd)
}

/// The `--version` line of `program` (in `rootfs`, if given).
fn version_line(rootfs: Option<&Path>, program: &Path) -> Result<String> {
    let shown = outside(rootfs, program);
    let out = command_in(rootfs, program)?
        .arg("--version")
        .output()
        .map_err(|e| {
            Error::io(
                Subject::default(),
                format!("run {} --version", shown.display()),
                e,
            )
        })?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The `dockerd` a daemon would run: found as given or on `PATH` (in
/// `rootfs`, if given), or a missing-program error.
pub(crate) fn find_dockerd(dockerd: &Path, rootfs: Option<&Path>) -> Result<PathBuf> {
    if let Some(r) = rootfs
        && !r.join("usr").is_dir()
    {
        return Err(Error::invalid(
            Subject::default(),
            "--rootfs",
            format!(
                "{} is not a root file system (no usr/ in it); make one with                  real-docker-28.sh install (debootstrap + docker.io)",
                r.display()
            ),
        ));
    }
    find(rootfs, dockerd).ok_or_else(|| {
        let purpose = match rootfs {
            Some(r) => format!("run a real Docker daemon from {}", r.display()),
            None => "run a real Docker daemon".to_string(),
        };
        Error::missing_program(&dockerd.display().to_string(), purpose)
    })
}

/// The release `dockerd --version` prints (`Docker version 20.10.24+dfsg1,
/// build …`), `dockerd` run in `rootfs` if given.
pub(crate) fn dockerd_version(dockerd: &Path, rootfs: Option<&Path>) -> Result<String> {
    let dockerd = find_dockerd(dockerd, rootfs)?;
    let text = version_line(rootfs, &dockerd)?;
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
                    outside(rootfs, &dockerd).display()
                ),
            )
        })
}

/// The containerd config's `version` for `containerd` (in `rootfs`): 3 for
/// containerd 2.x, 2 before.
fn containerd_config_version(rootfs: Option<&Path>, containerd: &Path) -> Result<u32> {
    let text = version_line(rootfs, containerd)?;
    // `containerd github.com/containerd/containerd/v2 2.1.4~ds1 …`, `containerd containerd.io 1.6.20 …`
    let release = text.split_whitespace().nth(2).unwrap_or("");
    Ok(if release.trim_start_matches('v').starts_with("1.") {
        2
    } else {
        3
    })
}

/// containerd's config: its root, state, sockets and `opt` in `d` (as the
/// daemon sees the lab's directory), plugins a daemon here does not use off.
fn containerd_toml(d: &str, version: u32) -> String {
    let disabled = if version >= 3 {
        r#""io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.blockfile",
  "io.containerd.snapshotter.v1.erofs", "io.containerd.nri.v1.nri""#
    } else {
        r#""io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs""#
    };
    format!(
        r#"version = {version}
root = "{d}/containerd/root"
state = "{d}/containerd/state"
disabled_plugins = [{disabled}]
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
    )
}

impl RealDaemon {
    /// Starts containerd and dockerd confined to `ns`, and waits until the
    /// daemon answers `_ping`. Nothing is left behind on error.
    pub(crate) fn start(ns: &Namespace, config: &DaemonConfig) -> Result<RealDaemon> {
        let subject = ns.subject().clone();
        let rootfs = config.rootfs.as_deref();
        let dockerd = find_dockerd(&config.dockerd, rootfs)?;
        let version = dockerd_version(&dockerd, rootfs)?;
        let containerd = sibling(rootfs, &dockerd, "containerd").ok_or_else(|| {
            Error::missing_program("containerd", format!("run dockerd in {subject}"))
        })?;
        let cli = sibling(rootfs, &dockerd, "docker").ok_or_else(|| {
            Error::missing_program("docker", format!("talk to the daemon in {subject}"))
        })?;
        for (program, package) in [("unshare", "util-linux"), ("tar", "tar")] {
            let found = match program {
                "unshare" => find(rootfs, Path::new(program)).is_some(),
                _ => which(Path::new(program)).is_some(),
            };
            if !found {
                return Err(Error::MissingProgram {
                    program: program.into(),
                    package: Some(package.into()),
                    purpose: format!("run dockerd in {subject}"),
                });
            }
        }
        if busybox(rootfs).is_none() {
            return Err(Error::MissingProgram {
                program: BUSYBOX.into(),
                package: Some("busybox-static".into()),
                purpose: format!("make the containers' image in {subject}"),
            });
        }
        let etc_docker = outside(rootfs, Path::new("/etc/docker"));
        if !etc_docker.is_dir() {
            return Err(Error::invalid(
                subject,
                "dockerd",
                format!(
                    "{} does not exist: the lab's directory is mounted over it, so that \
                     the daemon writes nothing of the machine's (install docker.io or docker-ce, \
                     which create it)",
                    etc_docker.display()
                ),
            ));
        }
        cgroup::sweep_stale();
        let dir = ns.artifacts_dir().join("dockerd");
        let inner = match rootfs {
            Some(_) => PathBuf::from(INNER_DIR),
            None => dir.clone(),
        };
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
            let target = find(rootfs, Path::new(multi)).ok_or_else(|| {
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
        let d = inner.display().to_string();
        std::fs::write(
            dir.join("containerd.toml"),
            containerd_toml(&d, containerd_config_version(rootfs, &containerd)?),
        )
        .map_err(io("write containerd.toml".into()))?;
        let cgroup_parent = cgroup::parent_for(ns.group().name());
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
        let (unshare, mounts) = match rootfs {
            Some(r) => (
                find(rootfs, Path::new("unshare")).unwrap_or_else(|| "unshare".into()),
                Self::rootfs_mounts(&dir, r)?,
            ),
            None => (PathBuf::from("unshare"), Self::mounts(&dir)?),
        };
        tracing::debug!(%subject, dockerd = %dockerd.display(), rootfs = ?rootfs, %version, ?argv, "start a real Docker daemon");
        let cmd = ns
            .command(&unshare)
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
            .arg(&inner)
            .arg(&containerd)
            .args(&argv)
            .env("PATH", path)
            .env("TMPDIR", inner.join("tmp"));
        let process = with_mounts(cmd, mounts).spawn()?;
        let mntns = match rootfs {
            Some(_) => Some(std::sync::Arc::new(
                std::fs::File::open(format!("/proc/{}/ns/mnt", process.pid()))
                    .map_err(io("open the daemon's mount namespace".into()))?
                    .into(),
            )),
            None => None,
        };
        let mut daemon = RealDaemon {
            dir,
            subject,
            cgroup_parent,
            process: Some(process),
            init: None,
            cli,
            inner,
            mntns,
            rootfs: config.rootfs.clone(),
        };
        daemon.wait_ready()?;
        daemon.init = daemon.find_init();
        tracing::debug!(subject = %daemon.subject, init = ?daemon.init, %version, "real Docker daemon answers");
        Ok(daemon)
    }

    /// The private mount namespace: other namespaces' pins dropped, a
    /// tmpfs on `/run`, the lab's `etc` on `/etc/docker`, the node's sysfs
    /// (with the machine's cgroup hierarchy on `/sys/fs/cgroup`).
    fn mounts(dir: &Path) -> Result<Vec<Mount>> {
        let mut out = Self::unpin()?;
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

    /// The private mount namespace with `rootfs` as its root: other
    /// namespaces' pins dropped; in the tree, the node's sysfs with the
    /// machine's cgroup hierarchies, the machine's `/dev`, the lab's
    /// directory on `/run` and its `etc` on `/etc/docker`; then `pivot_root`.
    fn rootfs_mounts(dir: &Path, rootfs: &Path) -> Result<Vec<Mount>> {
        let mut out = Self::unpin()?;
        let at = |p: &str| cstring(&outside(Some(rootfs), Path::new(p)));
        out.extend([
            Mount::Bind(cstring(rootfs)?, cstring(rootfs)?),
            Mount::Sysfs(at("/sys")?),
            Mount::Bind(cstring(Path::new("/sys/fs/cgroup"))?, at("/sys/fs/cgroup")?),
            Mount::Bind(cstring(Path::new("/dev"))?, at("/dev")?),
            Mount::Bind(cstring(dir)?, at(INNER_DIR)?),
            Mount::Bind(cstring(&dir.join("etc"))?, at("/etc/docker")?),
            Mount::PivotRoot(cstring(rootfs)?),
        ]);
        Ok(out)
    }

    /// Lazy unmounts of the machine's network namespace pins (`/run/netns/*`),
    /// so that the daemon's mount namespace keeps none of them alive.
    fn unpin() -> Result<Vec<Mount>> {
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut pins: Vec<&str> = info
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|p| p.starts_with("/run/netns/") || p.starts_with("/var/run/netns/"))
            .collect();
        pins.sort_by_key(|p| std::cmp::Reverse(p.len()));
        pins.into_iter()
            .map(|p| Ok(Mount::Detach(cstring(Path::new(p))?)))
            .collect()
    }

    /// The daemon's socket (as this machine reaches it).
    pub(crate) fn socket(&self) -> PathBuf {
        self.dir.join("docker.sock")
    }

    /// Waits on events until the daemon answers `_ping`; an error with
    /// the daemon's log when it exits first or the deadline passes.
    fn wait_ready(&mut self) -> Result<()> {
        let sock = self.socket();
        let Some(pid) = self.process.as_ref().map(|p| p.pid()) else {
            return Ok(());
        };
        let waited = ready::wait(
            pid,
            &self.dir.join("log/dockerd.log"),
            &sock,
            Instant::now() + START_DEADLINE,
        )
        .map_err(|e| Error::io(self.subject.clone(), "wait for the real Docker daemon", e))?;
        let why = match waited {
            Ok(()) => return Ok(()),
            Err(ready::NotReady::Exited) => {
                let status = self
                    .process
                    .as_mut()
                    .and_then(|p| p.try_wait().ok().flatten())
                    .map(|s| format!(" ({s})"))
                    .unwrap_or_default();
                format!("exited at start{status}")
            }
            Err(ready::NotReady::Deadline(what)) => format!(
                "did not answer on {} within {START_DEADLINE:?} (waiting for {what})",
                sock.display()
            ),
        };
        Err(Error::invalid(
            self.subject.clone(),
            "dockerd",
            format!(
                "the real Docker daemon {why}; its log ({}):\n{}\ncontainerd's:\n{}",
                self.dir.join("log/dockerd.log").display(),
                self.log_tail("dockerd.log"),
                self.log_tail("containerd.log")
            ),
        ))
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
    /// with its stderr. With a root file system the CLI is the tree's, run
    /// in the daemon's mount namespace.
    pub(crate) fn docker(&self, args: &[String]) -> Result<String> {
        let host = format!("unix://{}", self.inner.join("docker.sock").display());
        tracing::debug!(subject = %self.subject, ?args, "docker");
        let mut cmd = Command::new(&self.cli);
        if let Some(mntns) = self.mntns.clone() {
            // SAFETY: setns and chdir, async-signal-safe; the fd outlives the
            // closure (it holds the Arc).
            unsafe {
                cmd.pre_exec(move || {
                    if libc::setns(mntns.as_raw_fd(), libc::CLONE_NEWNS) != 0
                        || libc::chdir(c"/".as_ptr()) != 0
                    {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let out = cmd
            .arg("-H")
            .arg(&host)
            .args(args)
            .env("DOCKER_CONFIG", self.inner.join("cli"))
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
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
        let busybox = busybox(self.rootfs.as_deref()).unwrap_or_else(|| PathBuf::from(BUSYBOX));
        std::fs::copy(&busybox, root.join("bin/busybox"))
            .map_err(io(format!("copy {}", busybox.display())))?;
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
            self.inner.join("rootfs.tar").display().to_string(),
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
        cgroup::remove(&self.cgroup_parent);
        let _ = std::fs::remove_dir_all(self.dir.join("data"));
    }
}

impl Drop for RealDaemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The static busybox for the image: the machine's (`busybox-static`),
/// else the root file system's.
fn busybox(rootfs: Option<&Path>) -> Option<PathBuf> {
    [
        Some(PathBuf::from(BUSYBOX)),
        rootfs.map(|r| outside(Some(r), Path::new(BUSYBOX))),
    ]
    .into_iter()
    .flatten()
    .find(|p| p.is_file())
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
