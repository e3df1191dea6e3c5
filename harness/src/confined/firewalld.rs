//! Debian's firewalld run in a node, on a D-Bus system bus of the node's
//! own: a `dbus-daemon` listening on `ARTIFACTS/firewalld/NODE/run/dbus/
//! system_bus_socket` (the node's `/run/dbus/system_bus_socket`), and
//! `firewalld --nofork --nopid` with the lab's `/etc/firewalld` (netrig's
//! `firewalld.conf`, nftables backend) and `/run` (its state, the bus).
//! Both are the lab's processes (killed with it); `firewall-cmd` runs in
//! the same confinement and talks to that bus only. Kernel modules are
//! the machine's: in the confinement `modprobe` and `rmmod` are
//! `/bin/false`. The sysctls firewalld writes (`net.ipv4.ip_forward`,
//! `net.ipv6.conf.all.forwarding`, through `/proc/sys/net`) are per
//! network namespace: they land in the node.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::manager::{FIREWALLD_CONF, bus_config};
use crate::namespace::Namespace;
use crate::process::{NodeCommand, NodeProcess};

/// How long firewalld may take to come up on its bus.
const READY: Duration = Duration::from_secs(60);

/// The node's firewalld directory in the lab's artifacts.
pub(crate) fn dir(ns: &Namespace) -> PathBuf {
    ns.artifacts_dir().join("firewalld").join(ns.node_name())
}

/// The node's bus socket as its confined programs see it: the lab's
/// `run/dbus/system_bus_socket`, under the `/run` bind. (The lab's own path
/// can be longer than a socket address may be: 108 bytes.)
const SOCKET: &str = "/run/dbus/system_bus_socket";

fn io(ns: &Namespace, what: String) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::io(ns.subject().clone(), what, e)
}

/// firewalld and its bus, running in a node; dropping it kills both.
#[derive(Debug)]
pub(crate) struct Daemon {
    // Field order: firewalld goes before its bus.
    firewalld: NodeProcess,
    bus: NodeProcess,
}

impl Daemon {
    /// The pids of firewalld and of its bus.
    pub(crate) fn pids(&self) -> (u32, u32) {
        (self.firewalld.pid(), self.bus.pid())
    }
}

/// Refuses with the package to install when firewalld or dbus-daemon is missing.
fn check_installed(ns: &Namespace) -> Result<()> {
    for p in ["firewalld", "firewall-cmd", "dbus-daemon"] {
        if !crate::process::program_on_path(p) {
            return Err(Error::missing_program(
                p,
                format!("run firewalld in {}", ns.subject()),
            ));
        }
    }
    Ok(())
}

/// Makes the node's firewalld directory (once): `etc-firewalld/` with
/// netrig's `firewalld.conf` and empty zone/policy/service folders (the
/// package's defaults are read from `/usr/lib/firewalld`), `run/dbus/`,
/// the bus's `system.conf` and `log/`.
fn prepare(ns: &Namespace) -> Result<PathBuf> {
    check_installed(ns)?;
    let d = dir(ns);
    let etc = d.join("etc-firewalld");
    if etc.is_dir() {
        return Ok(d);
    }
    let made = [
        "helpers",
        "icmptypes",
        "ipsets",
        "policies",
        "services",
        "zones",
    ]
    .iter()
    .try_for_each(|s| std::fs::create_dir_all(etc.join(s)))
    .and_then(|()| std::fs::create_dir_all(d.join("run/dbus")))
    .and_then(|()| std::fs::write(etc.join("firewalld.conf"), FIREWALLD_CONF))
    .and_then(|()| std::fs::write(d.join("system.conf"), bus_config(Path::new(SOCKET))));
    made.map_err(io(ns, format!("prepare {}", d.display())))?;
    Ok(d)
}

/// `program` confined to `ns` with the node's firewalld directory over
/// `/etc/firewalld` and `/run`, and `/bin/false` over `modprobe`/`rmmod`.
pub(crate) fn command(ns: &Namespace, program: &str) -> Result<NodeCommand> {
    let d = prepare(ns)?;
    let mut binds = vec![
        (d.join("etc-firewalld"), PathBuf::from("/etc/firewalld")),
        (d.join("run"), PathBuf::from("/run")),
    ];
    for tool in ["/usr/sbin/modprobe", "/usr/sbin/rmmod"] {
        if Path::new(tool).exists() {
            binds.push(("/bin/false".into(), tool.into()));
        }
    }
    Ok(super::command(ns, program, &binds)?
        .env("DBUS_SYSTEM_BUS_ADDRESS", format!("unix:path={SOCKET}")))
}

/// Starts the node's bus, then firewalld on it, and returns once firewalld
/// answers on the bus (`firewall-cmd --state`), or with what it logged.
pub(crate) fn start(ns: &Namespace) -> Result<Daemon> {
    let d = prepare(ns)?;
    let log = |name: &str| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(d.join(name))
            .map_err(io(ns, format!("open {}", d.join(name).display())))
    };
    let (reader, writer) = std::io::pipe().map_err(io(ns, "make a pipe for dbus-daemon".into()))?;
    let bus = command(ns, "dbus-daemon")?
        .args([
            format!("--config-file={}", d.join("system.conf").display()),
            "--nofork".into(),
            "--nopidfile".into(),
            "--print-address".into(),
        ])
        .stdout(writer)
        .stderr(log("dbus-daemon.log")?)
        .spawn()?;
    // dbus-daemon prints its address once it listens.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufReader::new(reader).read_line(&mut line);
        let _ = tx.send(line);
    });
    let address = rx.recv_timeout(READY).unwrap_or_default();
    if address.trim().is_empty() {
        return Err(failed(
            ns,
            &d,
            "dbus-daemon.log",
            "the node's D-Bus system bus did not start",
        ));
    }
    tracing::debug!(
        node = ns.node_name(),
        address = address.trim(),
        "private system bus up"
    );
    let firewalld = command(ns, "firewalld")?
        .args(["--nofork", "--nopid", "--log-target=console"])
        .stdout(log("firewalld.log")?)
        .stderr(log("firewalld.log")?)
        .spawn()?;
    let mut daemon = Daemon { firewalld, bus };
    let deadline = Instant::now() + READY;
    loop {
        let state = command(ns, "firewall-cmd")?.arg("--state").output()?;
        if state.status.success() {
            break;
        }
        if daemon.firewalld.try_wait()?.is_some() || Instant::now() > deadline {
            return Err(failed(ns, &d, "firewalld.log", "firewalld did not come up"));
        }
    }
    tracing::debug!(node = ns.node_name(), "firewalld up");
    Ok(daemon)
}

/// An error naming the log to read.
fn failed(ns: &Namespace, d: &Path, log: &str, what: &str) -> Error {
    let text = std::fs::read_to_string(d.join(log)).unwrap_or_default();
    let tail: Vec<&str> = text.lines().rev().take(8).collect();
    Error::invalid(
        ns.subject().clone(),
        "firewalld",
        format!(
            "{what} ({}): {}",
            d.join(log).display(),
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        ),
    )
}

/// Runs `firewall-cmd` with each of `commands` ((where it was given,
/// argv)) in `ns`, in order; one firewalld refuses stops the run, naming
/// where it was given.
pub(crate) fn run(ns: &Namespace, commands: &[(String, Vec<String>)]) -> Result<()> {
    for (place, argv) in commands {
        tracing::debug!(node = ns.node_name(), %place, ?argv, "firewall-cmd");
        let out = command(ns, "firewall-cmd")?.args(argv).output()?;
        if !out.status.success() {
            return Err(Error::invalid(
                ns.subject().clone(),
                "firewalld",
                format!(
                    "{place}: `firewall-cmd {}` failed ({}): {}{}",
                    argv.join(" "),
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim(),
                    String::from_utf8_lossy(&out.stdout).trim()
                ),
            ));
        }
    }
    Ok(())
}
