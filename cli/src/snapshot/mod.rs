//! `netrig snapshot`: a host's network state, read-only, into a folder a
//! user can attach to a bug report (and `netrig import` can rebuild).
//!
//! Every reading program runs inside the target network namespace (entered
//! with `setns` on its file, as `netrig exec` enters a pin) and only reads:
//! `iptables-nft-save` and `ip6tables-nft-save` start at once. Meanwhile a
//! thread that entered the namespace reads the rest in-process: whether
//! legacy iptables has tables (/proc) and which nf_tables tables exist
//! (nfnetlink); links, addresses, routes, rules and neighbours over
//! rtnetlink, written as the JSON `ip -j` prints (`ip_json`; what it does
//! not decode is named in missing.txt); the sysctls from /proc (each
//! interface's from its devconf in the link dump). Then, only if needed,
//! the legacy saves and `nft -j list ruleset` (nf_tables tables the saves
//! do not cover, or a save that says a table is incompatible). The Docker
//! daemon is asked with the `docker` CLI (`-H`/`DOCKER_HOST`): no client
//! library to build, and its JSON is exactly what users paste into bug
//! reports, which `netrig import` reads the same way (the lists at once,
//! then the inspects at once). Each running container's namespace is
//! entered through one of its processes, found by the container id in
//! `/proc/PID/cgroup` (a daemon in a pid namespace of its own reports pids
//! this machine's `/proc` does not know), by a thread that reads its
//! addresses and routes in-process, as the host's.
//!
//! Nothing is written anywhere but the output folder: `MANIFEST` (each file
//! and the command that made it) and `missing.txt` (what could not be read,
//! and why) beside the files.

use std::fs::File;
use std::io::Write as _;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use netrig::{Error, Result, Subject};

mod ip_json;
mod nf_tables;
mod rtnl;

/// The sysctls that decide what Docker does, or what its rules do.
const SYSCTLS: &[&str] = &[
    "net.ipv4.ip_forward",
    "net.ipv4.conf.all.forwarding",
    "net.ipv6.conf.all.forwarding",
    "net.ipv6.conf.default.forwarding",
    "net.ipv6.conf.all.disable_ipv6",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
    "net.bridge.bridge-nf-call-arptables",
    "net.ipv4.conf.all.route_localnet",
    "net.ipv4.conf.all.rp_filter",
    "net.ipv4.conf.default.rp_filter",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ping_group_range",
    "net.netfilter.nf_conntrack_max",
];

/// The per-interface sysctls: (family, key, its index in the kernel's
/// devconf array, as a link dump's `IFLA_AF_SPEC` carries it:
/// `IPV4_DEVCONF_*` - 1, `DEVCONF_*`).
const PER_INTERFACE: &[(&str, &str, usize)] = &[
    ("ipv4", "route_localnet", 25),
    ("ipv4", "rp_filter", 7),
    ("ipv4", "forwarding", 0),
    ("ipv6", "forwarding", 0),
    ("ipv6", "disable_ipv6", 26),
];

/// How many containers' namespaces are read at the same time.
const CONTAINER_READS: usize = 24;

/// The iptables-nft saves: (file, argv); always run.
const NFT_SAVES: &[(&str, &[&str])] = &[
    ("iptables-nft.rules", &["iptables-nft-save", "-c"]),
    ("ip6tables-nft.rules", &["ip6tables-nft-save", "-c"]),
];

/// The legacy saves: run when legacy iptables has tables.
const LEGACY_SAVES: &[(&str, &[&str])] = &[
    ("iptables-legacy.rules", &["iptables-legacy-save", "-c"]),
    ("ip6tables-legacy.rules", &["ip6tables-legacy-save", "-c"]),
];

/// `netrig snapshot`'s arguments.
#[derive(Debug)]
pub(crate) struct Args {
    /// The namespace: a pin name, a path, a pid, or `None` for this one.
    pub(crate) netns: Option<String>,
    /// The output folder.
    pub(crate) out: PathBuf,
    /// The daemon (`unix:///path`, as `docker -H` takes it); `None`: the
    /// CLI's own default (`DOCKER_HOST`, else /var/run/docker.sock).
    pub(crate) docker_host: Option<String>,
    /// Do not ask a Docker daemon at all.
    pub(crate) no_docker: bool,
}

/// The kernel's `uname -srvm` line, from uname(2) (no program to start).
fn kernel() -> Option<String> {
    // SAFETY: utsname is plain bytes; uname(2) fills it, NUL-terminated.
    let mut u: nix::libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { nix::libc::uname(&mut u) } != 0 {
        return None;
    }
    let field = |f: &[std::ffi::c_char]| {
        // SAFETY: each field is NUL-terminated within its array (uname(2)).
        unsafe { std::ffi::CStr::from_ptr(f.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    };
    Some(format!(
        "{} {} {} {}\n",
        field(&u.sysname),
        field(&u.release),
        field(&u.version),
        field(&u.machine)
    ))
}

/// A program to run: argv, whether inside the target namespace, stdin.
type Job<'a> = (Vec<&'a str>, bool, Option<Vec<u8>>);

/// Whether the legacy iptables / ip6tables have tables in the namespace,
/// and its nf_tables tables (or why they could not be listed).
struct Probe {
    legacy4: bool,
    legacy6: bool,
    tables: std::result::Result<Vec<nf_tables::Table>, String>,
}

/// The sysctls as `sysctl` prints them (sorted `key = value` lines), and
/// the named ones the namespace does not have.
struct Sysctls {
    text: String,
    absent: Vec<&'static str>,
}

/// Whether `nft -j list ruleset` would add anything to the saves.
enum NftNeed {
    /// Tables iptables-nft does not own (or the list failed): run it.
    Yes,
    /// Only iptables-nft's tables: run it only if a save says one of them
    /// is incompatible (holds what iptables cannot print).
    IfIncompatible(Vec<nf_tables::Table>),
    /// No tables at all.
    No,
}

impl NftNeed {
    fn of(probe: &std::result::Result<Probe, String>) -> NftNeed {
        match probe.as_ref().map(|p| &p.tables) {
            Ok(Ok(t)) if t.is_empty() => NftNeed::No,
            Ok(Ok(t)) if t.iter().all(nf_tables::Table::is_xtables) => {
                NftNeed::IfIncompatible(t.clone())
            }
            _ => NftNeed::Yes,
        }
    }
}

/// Runs `read` on a thread that entered the network namespace `ns`
/// (`/proc/sys/net`, `/proc/thread-self/net` and the netlink sockets it
/// opens are that namespace's).
fn inside<T: Send>(ns: &File, read: impl FnOnce() -> T + Send) -> std::result::Result<T, String> {
    let ns = ns
        .try_clone()
        .map_err(|e| format!("cannot duplicate the namespace file: {e}"))?;
    std::thread::scope(|s| {
        s.spawn(move || {
            if !is_current(&ns) {
                nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(|e| format!("cannot enter the namespace: {e}"))?;
            }
            Ok(read())
        })
        .join()
        .unwrap_or_else(|_| Err("the reading thread panicked".into()))
    })
}

/// Whether `ns` is the calling thread's own network namespace: then
/// nothing enters it (setns into a network namespace takes ~1.5 ms here,
/// and a child without `pre_exec` is started with the cheaper
/// posix_spawn) — as when `netrig snapshot` runs on the host it reads.
fn is_current(ns: &File) -> bool {
    let id = |m: std::fs::Metadata| (m.dev(), m.ino());
    match (ns.metadata(), std::fs::metadata("/proc/thread-self/ns/net")) {
        (Ok(a), Ok(b)) => id(a) == id(b),
        _ => false,
    }
}

/// One line of /proc, without its newline.
fn proc_value(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|v| v.trim_end_matches('\n').to_string())
}

/// Whether legacy tables exist and the nf_tables tables (calling thread's
/// namespace).
fn probe() -> Probe {
    let tables = |file: &str| {
        proc_value(&format!("/proc/thread-self/net/{file}")).is_some_and(|t| !t.trim().is_empty())
    };
    Probe {
        legacy4: tables("ip_tables_names"),
        legacy6: tables("ip6_tables_names"),
        tables: nf_tables::list().map_err(|e| format!("cannot list the nf_tables tables: {e}")),
    }
}

/// The named sysctls and the per-interface ones of every interface
/// (calling thread's namespace): `all` and `default` from /proc, each
/// interface's from `links` (its devconf in the link dump, the values
/// /proc/sys shows), or from /proc if the link dump failed.
fn sysctls(links: Option<&[rtnl::Msg]>) -> Sysctls {
    let mut lines = Vec::new();
    let mut absent = Vec::new();
    for key in SYSCTLS {
        match proc_value(&format!("/proc/sys/{}", key.replace('.', "/"))) {
            Some(v) => lines.push(format!("{key} = {v}")),
            None => absent.push(*key),
        }
    }
    // sysctl writes an interface's dots as slashes.
    let mut line = |f: &str, ifname: &str, key: &str, v: &str| {
        let name = ifname.replace('.', "/");
        lines.push(format!("net.{f}.conf.{name}.{key} = {v}"));
    };
    let from_proc: Vec<String> = match links {
        Some(links) => {
            for (ifname, family, conf) in links.iter().filter_map(ip_json::devconf).flatten() {
                for (f, key, i) in PER_INTERFACE.iter().filter(|(f, _, _)| *f == family) {
                    if let Some(v) = conf.get(*i) {
                        line(f, &ifname, key, &v.to_string());
                    }
                }
            }
            vec!["all".into(), "default".into()]
        }
        None => ["ipv4", "ipv6"]
            .iter()
            .flat_map(|f| std::fs::read_dir(format!("/proc/sys/net/{f}/conf")).into_iter())
            .flat_map(|d| d.flatten())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
    };
    for ifname in &from_proc {
        for (f, key, _) in PER_INTERFACE {
            if let Some(v) = proc_value(&format!("/proc/sys/net/{f}/conf/{ifname}/{key}")) {
                line(f, ifname, key, &v);
            }
        }
    }
    lines.sort();
    lines.dedup();
    Sysctls {
        text: lines.join("\n") + "\n",
        absent,
    }
}

/// How sysctls.txt was made, for the MANIFEST.
fn sysctl_source() -> String {
    let per_if: Vec<String> = PER_INTERFACE
        .iter()
        .map(|(f, k, _)| format!("net.{f}.conf.*.{k}"))
        .collect();
    format!(
        "as `sysctl KEY` prints them, read inside the namespace from /proc/sys (each interface's from its devconf in the rtnetlink link dump, the values /proc/sys shows): {}, {}",
        SYSCTLS.join(", "),
        per_if.join(", ")
    )
}

/// What one snapshot wrote and what it could not read.
struct Snapshot {
    out: PathBuf,
    netns: File,
    written: Vec<(String, String)>,
    missing: Vec<(String, String)>,
}

/// Runs `netrig snapshot`.
pub(crate) fn run(args: &Args) -> Result<ExitCode> {
    let path = netns_path(args.netns.as_deref())?;
    let netns = File::open(&path).map_err(|e| {
        Error::io(
            Subject::default(),
            format!("open network namespace {}", path.display()),
            e,
        )
    })?;
    prepare_out(&args.out)?;
    let mut s = Snapshot {
        out: args.out.clone(),
        netns,
        written: Vec::new(),
        missing: Vec::new(),
    };
    s.local();
    if args.no_docker {
        s.missing
            .push(("docker".into(), "not asked (--no-docker)".into()));
    } else {
        s.docker(args.docker_host.as_deref());
    }
    s.finish(&path)?;
    println!(
        "snapshot of {} in {}: {} files, {} things not read (missing.txt)",
        path.display(),
        args.out.display(),
        s.written.len(),
        s.missing.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// The namespace file `--netns` names: a path, a pid, or a pin under
/// `$NETRIG_NETNS_DIR` (default /run/netns); none: this process's.
fn netns_path(arg: Option<&str>) -> Result<PathBuf> {
    let Some(arg) = arg else {
        return Ok(PathBuf::from("/proc/self/ns/net"));
    };
    if let Ok(pid) = arg.parse::<u32>() {
        return Ok(PathBuf::from(format!("/proc/{pid}/ns/net")));
    }
    if arg.contains('/') {
        return Ok(PathBuf::from(arg));
    }
    let candidates = [
        crate::kept::netns_dir().join(arg),
        Path::new("/run/netns").join(arg),
    ];
    candidates
        .iter()
        .find(|p| p.exists())
        .cloned()
        .ok_or_else(|| {
            Error::invalid(
                Subject::default(),
                "--netns",
                format!(
                    "no network namespace {arg:?}: give a pin name ({} or /run/netns), a path or a pid",
                    crate::kept::netns_dir().display()
                ),
            )
        })
}

/// Creates the output folder; refuses one that holds files already (a
/// snapshot is one host at one moment, never merged into another).
fn prepare_out(out: &Path) -> Result<()> {
    let io = |op: String, e| Error::io(Subject::default(), op, e);
    if let Ok(mut entries) = std::fs::read_dir(out)
        && entries.next().is_some()
    {
        return Err(Error::invalid(
            Subject::default(),
            "--out",
            format!("{} is not empty: snapshot into a new folder", out.display()),
        ));
    }
    std::fs::create_dir_all(out).map_err(|e| io(format!("create {}", out.display()), e))
}

/// How one command ended.
enum Ran {
    /// Exit 0, with stdout.
    Ok(Vec<u8>),
    /// It could not run or failed: why.
    Failed(String),
}

impl Snapshot {
    /// Runs `argv`, inside the target namespace if `inside`, with `input`
    /// on its stdin if any.
    fn run_input(&self, argv: &[&str], inside: Option<&File>, input: Option<&[u8]>) -> Ran {
        let mut c = Command::new(argv[0]);
        c.args(&argv[1..]);
        if let Some(ns) = inside.filter(|ns| !is_current(ns)) {
            let fd = match ns.try_clone() {
                Ok(f) => f,
                Err(e) => return Ran::Failed(format!("cannot duplicate the namespace file: {e}")),
            };
            // SAFETY: setns is async-signal-safe; the fd stays open in the child until exec.
            unsafe {
                c.pre_exec(move || {
                    nix::sched::setns(fd.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
                        .map_err(Into::into)
                });
            }
        }
        let out = match input {
            None => c.output(),
            Some(bytes) => c
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .and_then(|mut child| {
                    let mut stdin = child.stdin.take().expect("piped stdin");
                    let written = stdin.write_all(bytes);
                    drop(stdin);
                    let out = child.wait_with_output();
                    written.and(out)
                }),
        };
        match out {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ran::Failed(format!(
                "{} is not installed{}",
                argv[0],
                package_hint(argv[0])
            )),
            Err(e) => Ran::Failed(format!("cannot run {}: {e}", argv[0])),
            Ok(o) if o.status.success() => Ran::Ok(o.stdout),
            Ok(o) => Ran::Failed(format!(
                "`{}` failed ({}): {}",
                argv.join(" "),
                o.status,
                String::from_utf8_lossy(&o.stderr).trim()
            )),
        }
    }

    /// Writes `ran`'s output to `name`, or notes why there is none.
    fn keep(&mut self, name: &str, argv: &[&str], ran: Ran) -> Option<Vec<u8>> {
        match ran {
            Ran::Ok(bytes) => {
                self.write(name, &bytes, &argv.join(" "));
                Some(bytes)
            }
            Ran::Failed(why) => {
                self.missing.push((name.to_string(), why));
                None
            }
        }
    }

    /// Writes `bytes` to `name` in the output folder.
    fn write(&mut self, name: &str, bytes: &[u8], source: &str) {
        let path = self.out.join(name);
        if let Some(dir) = path.parent()
            && let Err(e) = std::fs::create_dir_all(dir)
        {
            self.missing
                .push((name.into(), format!("cannot create {}: {e}", dir.display())));
            return;
        }
        match std::fs::write(&path, bytes) {
            Ok(()) => self.written.push((name.to_string(), source.to_string())),
            Err(e) => self
                .missing
                .push((name.into(), format!("cannot write {}: {e}", path.display()))),
        }
    }

    /// Runs each `(argv, inside the target namespace)` at the same time
    /// (short reads: the programs' start-up is most of their time), and
    /// returns how each ended, in order.
    /// (`input`: the program's stdin, if any.)
    fn run_many(&self, jobs: &[Job]) -> Vec<Ran> {
        std::thread::scope(|scope| {
            let handles: Vec<_> = jobs
                .iter()
                .map(|(argv, inside, input)| {
                    let ns = inside.then(|| self.netns.try_clone());
                    scope.spawn(move || match ns {
                        Some(Err(e)) => {
                            Ran::Failed(format!("cannot duplicate the namespace file: {e}"))
                        }
                        Some(Ok(ns)) => self.run_input(argv, Some(&ns), input.as_deref()),
                        None => self.run_input(argv, None, input.as_deref()),
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Ran::Failed("the reading thread panicked".into()))
                })
                .collect()
        })
    }
    /// The kernel version (uname(2)), `ip -j` state, every firewall ruleset and the
    /// sysctls (per interface).
    fn local(&mut self) {
        match kernel() {
            Some(line) => self.write(
                "kernel.txt",
                line.as_bytes(),
                "uname(2), as `uname -srvm` prints it",
            ),
            None => self.missing.push((
                "kernel.txt".into(),
                format!("uname(2) failed: {}", std::io::Error::last_os_error()),
            )),
        }
        // The iptables-nft saves start at once (most hosts' rules); while
        // they run, a thread inside the namespace finds out whether legacy
        // iptables has tables (/proc) and which nf_tables tables exist
        // (nfnetlink), then reads the `ip -j` state (rtnetlink) and the
        // sysctls. The legacy saves and nft run after, only if needed.
        let saves: Vec<Job> = NFT_SAVES
            .iter()
            .map(|(_, a)| (a.to_vec(), true, None))
            .collect();
        let (ran, read) = std::thread::scope(|s| {
            let netns = &self.netns;
            let read = s.spawn(move || {
                inside(netns, || {
                    let t = std::time::Instant::now();
                    let probe = probe();
                    let probe_us = t.elapsed().as_micros() as u64;
                    let ip = ip_json::read(ip_json::HOST_FILES);
                    let ip_us = t.elapsed().as_micros() as u64 - probe_us;
                    let sysctls = sysctls(ip.links.as_deref());
                    tracing::debug!(
                        probe_us,
                        ip_us,
                        sysctls_us = t.elapsed().as_micros() as u64 - probe_us - ip_us,
                        "snapshot: tables probed, ip state (rtnetlink) and sysctls read in-process"
                    );
                    (probe, sysctls, ip)
                })
            });
            let t = std::time::Instant::now();
            let ran = self.run_many(&saves);
            tracing::debug!(
                took_us = t.elapsed().as_micros() as u64,
                "snapshot: the iptables-nft saves ran"
            );
            let read = read
                .join()
                .unwrap_or_else(|_| Err("the reading thread panicked".into()));
            (ran, read)
        });
        let (probe, sysctls, ip) = match read {
            Ok((p, s, ip)) => (Ok(p), Ok(s), Ok(ip)),
            Err(why) => (Err(why.clone()), Err(why.clone()), Err(why)),
        };
        match ip {
            Ok(ip) => {
                for (name, cmd, json) in ip.files {
                    match json {
                        Ok(bytes) => self.write(
                            name,
                            &bytes,
                            &format!("{cmd} (its JSON, made by netrig from rtnetlink dumps)"),
                        ),
                        Err(why) => self.missing.push((name.into(), why)),
                    }
                }
                self.missing.extend(ip.not_decoded);
            }
            Err(why) => {
                for (name, _) in ip_json::COMMANDS {
                    self.missing.push(((*name).into(), why.clone()));
                }
            }
        }
        let incompatible = NFT_SAVES
            .iter()
            .zip(ran)
            .map(|((name, argv), ran)| self.keep_save(name, argv, ran))
            .fold(false, |a, b| a | b);
        // What else to run.
        let legacy = |tool: &str| match &probe {
            Ok(p) if tool.starts_with("ip6") => p.legacy6,
            Ok(p) => p.legacy4,
            Err(_) => true,
        };
        let mut more: Vec<(&str, &[&str])> = Vec::new();
        for (name, argv) in LEGACY_SAVES {
            if legacy(argv[0]) {
                more.push((name, argv));
            } else {
                self.missing.push((
                    (*name).into(),
                    format!("{}: no tables (nothing to save)", argv[0]),
                ));
            }
        }
        let nft: (&str, &[&str]) = ("nft.json", &["nft", "-j", "list", "ruleset"]);
        let nft_need = NftNeed::of(&probe);
        let nft_now = match &nft_need {
            NftNeed::Yes => true,
            NftNeed::IfIncompatible(_) => incompatible,
            NftNeed::No => false,
        };
        let jobs: Vec<Job> = more
            .iter()
            .chain(nft_now.then_some(&nft))
            .map(|(_, a)| (a.to_vec(), true, None))
            .collect();
        let mut ran = self.run_many(&jobs).into_iter();
        for (name, argv) in &more {
            let ran = ran.next().expect("legacy save");
            self.keep_save(name, argv, ran);
        }
        match nft_need {
            _ if nft_now => {
                self.keep(nft.0, nft.1, ran.next().expect("nft"));
            }
            NftNeed::IfIncompatible(tables) => {
                let names: Vec<String> = tables.iter().map(ToString::to_string).collect();
                self.missing.push((
                    nft.0.into(),
                    format!(
                        "not needed: the namespace's nf_tables tables ({}) are iptables-nft's, saved in ip(6)tables-nft.rules",
                        names.join(", ")
                    ),
                ));
            }
            _ => self.missing.push((
                nft.0.into(),
                "not needed: the namespace has no nf_tables tables".into(),
            )),
        }
        match sysctls {
            Ok(s) => {
                for key in &s.absent {
                    let why = if key.starts_with("net.bridge.") {
                        "not in this namespace (the br_netfilter module is not loaded)"
                    } else {
                        "not in this namespace (kernel without it)"
                    };
                    self.missing.push((format!("sysctl {key}"), why.into()));
                }
                self.write("sysctls.txt", s.text.as_bytes(), &sysctl_source());
            }
            Err(why) => self.missing.push(("sysctls.txt".into(), why)),
        }
    }

    /// Writes one save's output, or notes that it saved nothing (only
    /// comments: no table) or failed; whether it said a table is
    /// incompatible (holds what iptables cannot print).
    fn keep_save(&mut self, name: &str, argv: &[&str], ran: Ran) -> bool {
        match ran {
            Ran::Ok(b) => {
                let text = String::from_utf8_lossy(&b);
                // "# Table `filter' is incompatible, use 'nft' tool."
                let incompatible = text.contains("is incompatible");
                if text
                    .lines()
                    .any(|l| !l.trim().is_empty() && !l.starts_with('#'))
                {
                    self.write(name, &b, &argv.join(" "));
                } else {
                    self.missing.push((
                        name.into(),
                        format!("{}: no tables (nothing to save)", argv[0]),
                    ));
                }
                incompatible
            }
            Ran::Failed(why) => {
                self.missing.push((name.into(), why));
                false
            }
        }
    }

    /// `docker info`, `docker inspect` of every container, `docker network
    /// inspect` of every network, and each running container's namespace.
    fn docker(&mut self, host: Option<&str>) {
        let docker = |args: &[&str]| -> Vec<String> {
            let mut v = vec!["docker".to_string()];
            if let Some(h) = host {
                v.extend(["-H".to_string(), h.to_string()]);
            }
            v.extend(args.iter().map(|s| s.to_string()));
            v
        };
        let strs = |argv: &[String]| -> Vec<String> { argv.to_vec() };
        let job =
            |argv: &[String]| -> (Vec<String>, bool, Option<Vec<u8>>) { (strs(argv), false, None) };
        let run_all = |s: &Snapshot, jobs: Vec<(Vec<String>, bool, Option<Vec<u8>>)>| {
            let jobs: Vec<Job> = jobs
                .iter()
                .map(|(a, inside, input)| {
                    (
                        a.iter().map(String::as_str).collect(),
                        *inside,
                        input.clone(),
                    )
                })
                .collect();
            s.run_many(&jobs)
        };
        // The daemon answers each CLI run in a few ms; the CLI's start-up
        // is most of each run's time: the three lists at once, then both
        // inspects at once.
        let info = docker(&["info", "--format", "{{json .}}"]);
        let kinds = [
            (
                "containers",
                docker(&["ps", "-aq", "--no-trunc"]),
                docker(&["inspect", "--type", "container"]),
                "docker-inspect.json",
            ),
            (
                "networks",
                docker(&["network", "ls", "-q", "--no-trunc"]),
                docker(&["network", "inspect"]),
                "docker-network-inspect.json",
            ),
        ];
        let mut lists =
            run_all(self, vec![job(&info), job(&kinds[0].1), job(&kinds[1].1)]).into_iter();
        match lists.next().expect("docker info") {
            Ran::Ok(b) => self.write("docker-info.json", &b, &info.join(" ")),
            Ran::Failed(why) => {
                self.missing.push((
                    "docker".into(),
                    format!("no Docker daemon answered, so no docker-*.json: {why}"),
                ));
                return;
            }
        }
        let mut inspects = Vec::new();
        for ((kind, list, inspect, name), listed) in kinds.iter().zip(lists) {
            let ids = match listed {
                Ran::Ok(b) => String::from_utf8_lossy(&b)
                    .split_whitespace()
                    .map(str::to_string)
                    .collect::<Vec<_>>(),
                Ran::Failed(why) => {
                    self.missing.push(((*name).into(), why));
                    continue;
                }
            };
            if ids.is_empty() {
                self.missing
                    .push(((*name).into(), format!("the daemon has no {kind}")));
                continue;
            }
            let mut argv = inspect.clone();
            argv.extend(ids);
            let shown = format!("{} <every id of `{}`>", inspect.join(" "), list.join(" "));
            inspects.push((*kind, *name, shown, argv));
        }
        let ran = run_all(self, inspects.iter().map(|(.., argv)| job(argv)).collect());
        let mut containers = None;
        for ((kind, name, shown, _), ran) in inspects.iter().zip(ran) {
            if let Some(bytes) = self.keep(name, &[shown.as_str()], ran)
                && *kind == "containers"
            {
                containers = Some(bytes);
            }
        }
        if let Some(bytes) = containers {
            self.containers(&bytes);
        }
    }

    /// Each running container's addresses and routes, read in-process from
    /// inside its namespace (`containers/NAME.{addr,route4,route6}.json`,
    /// `ip -j -d addr show` / `ip -j -4|-6 route show table all`'s JSON).
    fn containers(&mut self, inspect: &[u8]) {
        let Ok(serde_json::Value::Array(list)) = serde_json::from_slice(inspect) else {
            self.missing.push((
                "containers/".into(),
                "docker inspect printed no JSON array".into(),
            ));
            return;
        };
        let host_ino = self.netns.metadata().map(|m| m.ino()).ok();
        // (name, pid, namespace) of every container to read.
        let mut reads: Vec<(String, u32, File)> = Vec::new();
        for c in &list {
            let id = c["Id"].as_str().unwrap_or_default();
            let name = c["Name"].as_str().unwrap_or(id).trim_start_matches('/');
            let what = format!("containers/{name}");
            if c["State"]["Running"].as_bool() != Some(true) {
                self.missing.push((what, "not running".into()));
                continue;
            }
            let Some(pid) = container_pid(id, c["State"]["Pid"].as_u64()) else {
                self.missing.push((
                    what,
                    format!("no process of this machine has container {id}'s cgroup"),
                ));
                continue;
            };
            let ns_path = format!("/proc/{pid}/ns/net");
            let ns = match File::open(&ns_path) {
                Ok(f) => f,
                Err(e) => {
                    self.missing.push((what, format!("open {ns_path}: {e}")));
                    continue;
                }
            };
            if ns.metadata().map(|m| m.ino()).ok() == host_ino {
                self.missing
                    .push((what, "shares the host's namespace (network host)".into()));
                continue;
            }
            reads.push((name.to_string(), pid, ns));
        }
        // Each namespace read in-process by a thread that entered it, a
        // bounded number at a time (entering one takes ~1.5 ms).
        for chunk in reads.chunks(CONTAINER_READS) {
            let read: Vec<_> = std::thread::scope(|scope| {
                let handles: Vec<_> = chunk
                    .iter()
                    .map(|(_, _, ns)| {
                        scope.spawn(move || inside(ns, || ip_json::read(ip_json::CONTAINER_FILES)))
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join()
                            .unwrap_or_else(|_| Err("the reading thread panicked".into()))
                    })
                    .collect()
            });
            for ((name, pid, _), read) in chunk.iter().zip(read) {
                // ip-addr.json -> containers/NAME.addr.json
                let file = |f: &str| {
                    let stem = f.trim_start_matches("ip-").trim_end_matches(".json");
                    format!("containers/{name}.{stem}.json")
                };
                match read {
                    Ok(ip) => {
                        for (f, cmd, json) in ip.files {
                            match json {
                                Ok(bytes) => self.write(
                                    &file(f),
                                    &bytes,
                                    &format!(
                                        "{cmd} (in the namespace of pid {pid}; its JSON, made by netrig from rtnetlink dumps)"
                                    ),
                                ),
                                Err(why) => self.missing.push((file(f), why)),
                            }
                        }
                        for (what, why) in ip.not_decoded {
                            let (f, rest) = what.split_once(": ").unwrap_or((&what, ""));
                            self.missing.push((format!("{}: {rest}", file(f)), why));
                        }
                    }
                    Err(why) => {
                        for f in ip_json::CONTAINER_FILES {
                            self.missing.push((file(f), why.clone()));
                        }
                    }
                }
            }
        }
    }

    /// Writes `MANIFEST` and `missing.txt`.
    fn finish(&mut self, ns: &Path) -> Result<()> {
        let mut manifest = format!(
            "# netrig snapshot {} of network namespace {}\n# FILE <- COMMAND (run inside that namespace; docker: its CLI)\n",
            env!("CARGO_PKG_VERSION"),
            ns.display()
        );
        for (name, source) in &self.written {
            manifest.push_str(&format!("{name} <- {source}\n"));
        }
        let mut missing = String::from("# WHAT: why it is not in this snapshot\n");
        for (what, why) in &self.missing {
            missing.push_str(&format!("{what}: {why}\n"));
        }
        for (name, text) in [("MANIFEST", manifest), ("missing.txt", missing)] {
            let path = self.out.join(name);
            std::fs::write(&path, text).map_err(|e| {
                Error::io(Subject::default(), format!("write {}", path.display()), e)
            })?;
        }
        Ok(())
    }
}

/// The pid of a process of container `id` in this machine's `/proc`: the
/// daemon's own pid if its cgroup names the container, else the first
/// process whose cgroup does.
fn container_pid(id: &str, daemon_pid: Option<u64>) -> Option<u32> {
    if id.len() < 12 {
        return None;
    }
    let of = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/cgroup")).is_ok_and(|c| c.contains(id))
    };
    if let Some(pid) = daemon_pid.and_then(|p| u32::try_from(p).ok())
        && pid != 0
        && of(pid)
    {
        return Some(pid);
    }
    let mut pids: Vec<u32> = std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort();
    pids.into_iter().find(|&p| of(p))
}

/// ` (package P)` for a program netrig knows the Debian package of.
fn package_hint(program: &str) -> String {
    let pkg = match program {
        p if p.starts_with("iptables") || p.starts_with("ip6tables") => "iptables",
        "nft" => "nftables",
        "ip" => "iproute2",
        "sysctl" => "procps",
        "docker" => "docker.io or docker-ce-cli",
        _ => return String::new(),
    };
    format!(" (package {pkg})")
}
