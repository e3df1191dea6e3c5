//! `netrig` — bring a topology up, keep it, poke at it, take it down.
//!
//! ```text
//! netrig up topologies/docker-bridge.toml [--name LAB] [--layout L --backend B]   # stays up until Ctrl-C / `netrig down`
//! netrig ls
//! netrig exec LAB NODE -- CMD [ARGS…]
//! netrig rules LAB [NODE]
//! netrig down LAB
//! netrig run [FILTER…] [--junit FILE] [--upgrade-view]   # the scenario catalogue
//! netrig matrix TOPOLOGY [--rules [NODE=]FILE]... [--layout L --backend B] [--format text|markdown|json|grid]
//! netrig diff TOPOLOGY --before [NODE=]FILE... --after [NODE=]FILE... [--why-changes] [--format …]   # exit 0 same, 1 changed, 2 error
//! netrig snapshot [--netns NAME|PATH|PID] --out DIR [--docker-host unix:///PATH]
//! netrig import SNAPSHOT_DIR -o FILE.toml   # + FILE.rules, FILE.drift.txt
//! netrig trace TOPOLOGY --from NODE --to ADDR:PORT/tcp|udp or ADDR/icmp (IPv6: [ADDR]:PORT/tcp, ADDR/icmp6) [--rules [NODE=]FILE]... [--format …]
//! netrig graph TOPOLOGY [--format svg|dot|mermaid] [-o FILE]
//! netrig verify TOPOLOGY [--dockerd PATH] [--rootfs DIR] [--layout L --backend B]   # real dockerd beside the emulation: exit 0 equal, 1 different, 2 error
//! ```
//!
//! `matrix`, `diff` and `trace` take `--format html` (one self-contained
//! page: the grid, each cell's why and the topology) and `-o FILE`.

use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use kept::{KeptLab, netns_dir};
use nix::sys::signal::{SigSet, Signal};

mod doctor;
mod graph;
mod import;
mod init;
mod kept;
mod matrix;
mod report;
mod run;
mod snapshot;
mod up;
mod verify;

/// Network-emulation labs for testing firewalls, container networking and network daemons.
#[derive(Parser, Debug)]
#[command(name = "netrig", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Build a topology, pin its nodes under /run/netns, print how to reach them, and stay up until Ctrl-C or `netrig down`.
    ///
    /// A topology file is a Docker host or a generic lab; every key is in
    /// docs/topology-format.md, examples in topologies/.
    Up {
        /// A topology file (format: docs/topology-format.md; examples: topologies/).
        file: PathBuf,
        /// The lab's name (default: the file's stem).
        #[arg(long)]
        name: Option<String>,
        /// Run a Docker host file under this layout instead of its own (classic | v28 | v29).
        #[arg(long)]
        layout: Option<String>,
        /// Run a Docker host file with this firewall backend instead of its own (iptables-nft | iptables-legacy | nftables).
        #[arg(long)]
        backend: Option<String>,
    },
    /// Run a command inside a node of a kept lab.
    Exec {
        /// The lab.
        lab: String,
        /// The node (or a host/container-mode container's name).
        node: String,
        /// The command and its arguments (after `--`).
        #[arg(last = true, required = true)]
        cmd: Vec<String>,
    },
    /// List kept labs.
    Ls,
    /// Print a node's firewall ruleset with counters (default node: host).
    Rules {
        /// The lab.
        lab: String,
        /// The node.
        #[arg(default_value = "host")]
        node: String,
    },
    /// Check this machine for what labs need (privileges, kernel features, programs), naming the package of anything missing.
    ///
    /// Exit status 0 when labs can run here, 1 when they cannot. Builds one small lab to probe the kernel from inside it.
    Doctor {
        /// Install the missing packages with apt-get (Debian, Ubuntu; as root).
        #[arg(long)]
        install: bool,
    },
    /// Add netrig to an existing Cargo project: a dev-dependency, a test target with two lab tests, a topology file, a CI workflow and a nextest profile.
    ///
    /// Never overwrites a file of yours (it names it and changes nothing); running it twice changes nothing.
    Init {
        /// The project (its Cargo.toml's folder).
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// netrig from this checkout (default: the checkout this binary was built from).
        #[arg(long, conflicts_with = "git")]
        path: Option<PathBuf>,
        /// netrig from this git repository.
        #[arg(long)]
        git: Option<String>,
        /// With --git: the tag to pin.
        #[arg(long, requires = "git")]
        tag: Option<String>,
    },
    /// Take a kept lab down (also one whose `up` process was killed).
    Down {
        /// The lab.
        lab: String,
    },
    /// Run the scenario catalogue (every packet walk and the bug library, per Docker layout and backend) on this machine, with progress and a summary table.
    Run {
        /// Run only trials whose name contains one of these (e.g. `bug::`, `v29`, `published_port_dnat`).
        filters: Vec<String>,
        /// Write JUnit XML here.
        #[arg(long)]
        junit: Option<PathBuf>,
        /// Also show the outcome per Docker version side by side (what changes when you upgrade).
        #[arg(long)]
        upgrade_view: bool,
        /// The scenarios test binary (default: $NETRIG_SCENARIOS, else built with cargo).
        #[arg(long)]
        scenarios: Option<PathBuf>,
        /// Trials run at once (default: the catalogue's, four per core).
        #[arg(long, short)]
        jobs: Option<usize>,
        /// Directory for the run's records: fingerprint.txt, results.tsv.
        #[arg(long, default_value = "netrig-run")]
        out: PathBuf,
    },
    /// Bring a topology up, probe its reachability matrix (every source to every destination), print it.
    Matrix {
        /// A topology file (see topologies/): a Docker host or a generic lab.
        file: PathBuf,
        /// Rule files loaded after the topology's (iptables-save fragment, or `.nft`); in a generic lab `NODE=FILE` names the node (a Docker part's host: after Docker's rules); `ufw:FILE`, `firewalld:FILE`: commands for the Docker host's real ufw or firewalld.
        #[arg(long = "rules", value_name = "[NODE=][ufw:|firewalld:]FILE")]
        rules: Vec<matrix::RulesArg>,
        #[command(flatten)]
        over: OverrideArgs,
        /// text, markdown, json, grid (sources by destinations, one character a cell) or html (one self-contained page with the topology).
        #[arg(long, default_value = "text")]
        format: netrig::reach::Format,
        /// Write to FILE instead of standard output.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Probe the same cells with two rule sets in parallel; print the cells that changed (exit 1 if any, 2 on error).
    Diff {
        /// A topology file.
        file: PathBuf,
        /// Rule files of the "before" lab (`NODE=FILE` in a generic lab; `ufw:FILE` or `firewalld:FILE`: ufw commands or `firewall-cmd` argument lists, one a line, run by the Docker host's real ufw or firewalld).
        #[arg(long, value_name = "[NODE=][ufw:|firewalld:]FILE", num_args = 1..)]
        before: Vec<matrix::RulesArg>,
        /// Rule files of the "after" lab (`NODE=FILE` in a generic lab; `ufw:FILE`, `firewalld:FILE`: the manager's commands).
        #[arg(long, value_name = "[NODE=][ufw:|firewalld:]FILE", num_args = 1..)]
        after: Vec<matrix::RulesArg>,
        #[command(flatten)]
        over: OverrideArgs,
        /// Also list the cells whose outcome stayed the same but whose deciding rule changed (and exit 1 for them too).
        #[arg(long)]
        why_changes: bool,
        /// text, markdown, json, grid (before, after and what changed) or html (changed cells marked).
        #[arg(long, default_value = "text")]
        format: netrig::reach::Format,
        /// Write to FILE instead of standard output.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Save a host's network state, read-only, into a folder for a bug report or `netrig import`: Docker's JSON, every firewall ruleset, `ip -j` addresses/links/routes/rules/neighbours, Docker-relevant sysctls, the kernel version and each running container's addresses and routes.
    ///
    /// Writes nothing outside --out; `missing.txt` there says what could not be read and why.
    Snapshot {
        /// The network namespace: a pin name (as `ip netns` lists), a path (/proc/PID/ns/net, a pin) or a pid (default: this one).
        #[arg(long)]
        netns: Option<String>,
        /// The folder to write (new or empty).
        #[arg(long)]
        out: PathBuf,
        /// The Docker daemon, as `docker -H` takes it (unix:///PATH/docker.sock); default: the docker CLI's (DOCKER_HOST, else /var/run/docker.sock).
        #[arg(long, conflicts_with = "no_docker")]
        docker_host: Option<String>,
        /// Do not ask a Docker daemon.
        #[arg(long)]
        no_docker: bool,
    },
    /// Rebuild a host from a snapshot folder (`netrig snapshot`, or Docker JSON and iptables-save / -nvL listings as pasted in bug reports): a Docker host file, its rules as found beside it, and a drift report.
    ///
    /// Files are recognised by content, not name. Writes FILE.toml, FILE.rules (the host's IPv4 rules, loaded instead of netrig's rendering of Docker) and FILE.drift.txt (which Docker layout the rules match best, and the rules added, missing or reordered against it).
    Import {
        /// The snapshot folder.
        dir: PathBuf,
        /// The topology file to write.
        #[arg(short, long)]
        out: PathBuf,
    },
    /// Trace one flow hook by hook: which rule decided it, the addresses after each NAT step.
    Trace {
        /// A topology file.
        file: PathBuf,
        /// The source node.
        #[arg(long)]
        from: String,
        /// The destination: ADDR:PORT/tcp, ADDR:PORT/udp or ADDR/icmp; IPv6 as
        /// [ADDR]:PORT/tcp, [ADDR]:PORT/udp or ADDR/icmp6.
        #[arg(long)]
        to: String,
        /// Rule files loaded after the topology's (`NODE=FILE` in a generic lab).
        #[arg(long = "rules", value_name = "[NODE=]FILE")]
        rules: Vec<matrix::RulesArg>,
        #[command(flatten)]
        over: OverrideArgs,
        /// text, markdown, json or html (grid prints the text).
        #[arg(long, default_value = "text")]
        format: netrig::reach::Format,
        /// Write to FILE instead of standard output.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Run a Docker host file on a real Docker daemon (confined to a lab: its own network, mount and pid namespaces, data and cgroups) beside the emulation; probe both with the same cells and compare them and their rulesets.
    ///
    /// Exit 0 when equal, 1 when a cell's outcome, seen addresses or deciding rule, or a rule differs, 2 on error. Without a dockerd it skips (an error under CI=true).
    Verify {
        /// A Docker host topology file.
        file: PathBuf,
        /// The daemon (default: dockerd on PATH); its containerd, runc and docker CLI are taken beside it, else from PATH.
        #[arg(long, default_value = "dockerd")]
        dockerd: PathBuf,
        /// A root file system the daemon runs in (e.g. a Debian tree with docker.io, as real-docker-28.sh install makes): --dockerd, containerd, runc, the docker CLI and iptables are that tree's, and it becomes the daemon's root (pivot_root, in its private mount namespace).
        #[arg(long, value_name = "DIR")]
        rootfs: Option<PathBuf>,
        #[command(flatten)]
        over: OverrideArgs,
    },
    /// Draw a topology: nodes, bridges, links, interfaces and addresses, Docker networks, containers and published ports (nothing is brought up).
    Graph {
        /// A topology file.
        file: PathBuf,
        #[command(flatten)]
        over: OverrideArgs,
        /// svg (laid out by netrig), dot (Graphviz) or mermaid.
        #[arg(long, default_value = "svg")]
        format: netrig::GraphFormat,
        /// Write to FILE instead of standard output.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// `--layout` and `--backend` of the matrix commands.
#[derive(clap::Args, Debug)]
struct OverrideArgs {
    /// Run the Docker host file, or every Docker part of a generic lab, under this layout (classic | v28 | v29).
    #[arg(long)]
    layout: Option<String>,
    /// Run the Docker host file, or every Docker part, with this firewall backend (iptables-nft | iptables-legacy | nftables).
    #[arg(long)]
    backend: Option<String>,
}

impl OverrideArgs {
    fn parse(&self) -> netrig::Result<netrig::topology::Overrides> {
        up::overrides(self.layout.as_deref(), self.backend.as_deref())
    }
}

fn main() -> ExitCode {
    // Ctrl-C and SIGTERM are waited for with sigwait by `up`; block them now,
    // before any thread exists, so every thread inherits the mask.
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGTERM);
    signals.thread_block().expect("block signals");

    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("netrig=info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Up { .. }) {
        // A reader that went away (`netrig rules LAB | head -1`) ends a
        // one-shot command quietly, as it ends `cat`: by SIGPIPE, not by a
        // panic on the failed print. (`up` keeps its lab up instead.)
        // SAFETY: no other thread exists yet, and SIG_DFL needs no handler.
        let _ = unsafe {
            nix::sys::signal::signal(Signal::SIGPIPE, nix::sys::signal::SigHandler::SigDfl)
        };
    }
    let result = match cli.command {
        Command::Up {
            file,
            name,
            layout,
            backend,
        } => up::overrides(layout.as_deref(), backend.as_deref())
            .and_then(|o| up::run(&file, name.as_deref(), &o, &signals)),
        Command::Exec { lab, node, cmd } => exec(&lab, &node, &cmd),
        Command::Ls => ls(),
        Command::Rules { lab, node } => rules(&lab, &node),
        Command::Down { lab } => down(&lab),
        Command::Snapshot {
            netns,
            out,
            docker_host,
            no_docker,
        } => snapshot::run(&snapshot::Args {
            netns,
            out,
            docker_host,
            no_docker,
        }),
        Command::Import { dir, out } => import::run(&dir, &out),
        Command::Doctor { install } => return doctor::run(install),
        Command::Init {
            dir,
            path,
            git,
            tag,
        } => {
            let source = match (path, git) {
                (_, Some(url)) => init::Source::Git { url, tag },
                (Some(p), None) => init::Source::Path(std::fs::canonicalize(&p).unwrap_or(p)),
                (None, None) => match init::this_checkout() {
                    Some(p) => init::Source::Path(p),
                    None => {
                        eprintln!(
                            "netrig: error: this netrig was not built from a checkout: say where netrig comes from, --path CHECKOUT or --git URL [--tag TAG]"
                        );
                        return ExitCode::from(2);
                    }
                },
            };
            return init::run(&dir, &source);
        }
        Command::Run {
            filters,
            junit,
            upgrade_view,
            scenarios,
            jobs,
            out,
        } => run::run(&run::RunArgs {
            filters,
            junit,
            upgrade_view,
            scenarios,
            jobs,
            out,
        }),
        Command::Matrix {
            file,
            rules,
            over,
            format,
            output,
        } => over
            .parse()
            .map(|o| matrix::matrix(&file, &rules, &o, (format, output.as_deref()))),
        Command::Diff {
            file,
            before,
            after,
            over,
            why_changes,
            format,
            output,
        } => over.parse().map(|o| {
            matrix::diff(
                &file,
                (&before, &after),
                &o,
                why_changes,
                (format, output.as_deref()),
            )
        }),
        Command::Trace {
            file,
            from,
            to,
            rules,
            over,
            format,
            output,
        } => over
            .parse()
            .map(|o| matrix::trace(&file, (&from, &to), &rules, &o, (format, output.as_deref()))),
        Command::Verify {
            file,
            dockerd,
            rootfs,
            over,
        } => Ok(match over.parse() {
            Ok(over) => verify::run(&verify::Args {
                file,
                dockerd,
                rootfs,
                over,
            }),
            Err(e) => {
                eprintln!("netrig verify: error: {e}");
                ExitCode::from(2)
            }
        }),
        Command::Graph {
            file,
            over,
            format,
            output,
        } => over
            .parse()
            .and_then(|o| graph::graph(&file, &o, format, output.as_deref())),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("netrig: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `cmd` with its network namespace set to the node's pin — and, in a
/// node with confined programs (ufw, firewalld), in a private mount
/// namespace with the lab's files over theirs, as the lab runs them.
fn command_in(lab: &str, node: &str, cmd: &[String]) -> netrig::Result<std::process::Command> {
    let kept = KeptLab::load(lab)?;
    let pin = kept.pin_of(node)?;
    let file = std::fs::File::open(pin).map_err(|e| {
        netrig::Error::io(
            netrig::Subject::lab(lab).node(node),
            format!("open pin {}", pin.display()),
            e,
        )
    })?;
    let mut binds = Vec::new();
    for (src, target) in kept.binds_of(node) {
        if !src.exists() {
            return Err(netrig::Error::invalid(
                netrig::Subject::lab(lab).node(node),
                "confinement",
                format!(
                    "{} is gone: the lab's confined files must exist to run anything in {node} \
                     (is the lab still up? `netrig ls`)",
                    src.display()
                ),
            ));
        }
        // Made before the fork: the child only makes syscalls.
        let c = |p: &std::path::Path| {
            std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(p.as_os_str()))
                .unwrap_or_default()
        };
        binds.push((c(src), c(target)));
    }
    let mut c = std::process::Command::new(&cmd[0]);
    c.args(&cmd[1..]);
    // SAFETY: setns, unshare and mount are async-signal-safe syscalls; the
    // fd and the paths stay alive in the child until exec.
    unsafe {
        c.pre_exec(move || {
            nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)?;
            if !binds.is_empty() {
                confine(&binds)?;
            }
            Ok(())
        });
    }
    Ok(c)
}

/// In the child: a private mount namespace with each bind (lab path over
/// the path the program sees); the machine's mounts never see them.
fn confine(binds: &[(std::ffi::CString, std::ffi::CString)]) -> nix::Result<()> {
    use nix::mount::{MsFlags, mount};
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )?;
    for (src, target) in binds {
        mount(
            Some(src.as_c_str()),
            target.as_c_str(),
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )?;
    }
    Ok(())
}

fn exec(lab: &str, node: &str, cmd: &[String]) -> netrig::Result<ExitCode> {
    let mut c = command_in(lab, node, cmd)?;
    // Let the child have Ctrl-C.
    SigSet::all().thread_unblock().ok();
    let status = c.status().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            netrig::Error::missing_program(&cmd[0], format!("run it in {lab}/{node}"))
        } else {
            netrig::Error::io(
                netrig::Subject::lab(lab).node(node),
                format!("run {}", cmd[0]),
                e,
            )
        }
    })?;
    // As shells do: a command killed by signal N exits 128+N.
    use std::os::unix::process::ExitStatusExt;
    let code = match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(sig)) => 128 + sig,
        _ => 1,
    };
    Ok(ExitCode::from(code as u8))
}

fn ls() -> netrig::Result<ExitCode> {
    let labs = KeptLab::list()?;
    if labs.is_empty() {
        println!("no kept labs");
    }
    for k in labs {
        let state = if k.owner_alive() {
            format!("up (pid {})", k.pid)
        } else {
            "orphaned: its `up` process is gone; `netrig down` removes it".to_string()
        };
        println!("{}  {}  [{}]", k.lab, k.topology, state);
        for (node, pin) in &k.nodes {
            let ok = if pin.exists() { "" } else { "  (pin missing)" };
            println!(
                "  {node:<14} ip netns exec {}{ok}",
                pin.file_name()
                    .map(|f| f.to_string_lossy())
                    .unwrap_or_default()
            );
        }
        for (alias, target) in &k.aliases {
            println!("  {alias:<14} shares {target}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints every ruleset the node has — iptables-nft, iptables-legacy (IPv4
/// and IPv6) and nftables (a user's nft table next to Docker's iptables
/// rules shows too) — or says there are none.
fn rules(lab: &str, node: &str) -> netrig::Result<ExitCode> {
    let mut shown = 0;
    use netrig::Backend::{IptablesLegacy, IptablesNft, Nftables};
    let tools = [IptablesNft, IptablesLegacy, Nftables]
        .into_iter()
        .flat_map(|b| {
            b.save_argv()
                .into_iter()
                .enumerate()
                .map(move |(i, argv)| match i {
                    0 => (b.to_string(), argv),
                    _ => (format!("{b} (IPv6)"), argv),
                })
        });
    for (backend, argv) in tools {
        let argv: Vec<String> = argv.iter().map(|a| a.to_string()).collect();
        let out = match command_in(lab, node, &argv)?.output() {
            Ok(out) => out,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(netrig::Error::io(
                    netrig::Subject::lab(lab).node(node),
                    format!("run {}", argv[0]),
                    e,
                ));
            }
        };
        let text = String::from_utf8_lossy(&out.stdout);
        // iptables-save prints only comments when no table exists.
        let has_rules = text
            .lines()
            .any(|l| !l.trim().is_empty() && !l.starts_with('#'));
        if out.status.success() && has_rules {
            println!("# {backend}: {}", argv.join(" "));
            print!("{text}");
            shown += 1;
        }
    }
    if shown == 0 {
        println!(
            "no rules in {lab}/{node} (iptables-nft, iptables-legacy and nftables are all empty)"
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn down(lab: &str) -> netrig::Result<ExitCode> {
    let kept = KeptLab::load(lab)?;
    // Processes started inside the lab (`netrig exec` in another shell) would
    // keep its namespaces alive after the pins are gone: end them first.
    let inside = kept.processes_inside();
    for (pid, comm) in &inside {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid as i32), Signal::SIGKILL);
        println!("ended process {pid} ({comm}) still running inside lab {lab}");
    }
    for (pid, _) in &inside {
        let _ = netrig::testing::wait_for_exit(*pid, Duration::from_secs(5));
    }
    if kept.owner_alive() {
        // The owner tears down (and removes pins and state) on SIGTERM.
        let pid = nix::unistd::Pid::from_raw(kept.pid as i32);
        let _ = nix::sys::signal::kill(pid, Signal::SIGTERM);
        if !netrig::testing::wait_for_exit(kept.pid, Duration::from_secs(10)).unwrap_or(true) {
            eprintln!(
                "netrig: lab {lab}: owner pid {} did not exit on SIGTERM; removing its pins anyway",
                kept.pid
            );
        }
    }
    // Whatever is left (a SIGKILLed owner leaves pins and state): remove it.
    if let Ok(kept) = KeptLab::load(lab) {
        kept.remove()?;
    }
    let leftover: Vec<_> = kept.nodes.values().filter(|p| p.exists()).collect();
    if !leftover.is_empty() {
        return Err(netrig::Error::invalid(
            netrig::Subject::lab(lab),
            "pins",
            format!("still present: {leftover:?}"),
        ));
    }
    println!(
        "lab {lab} is down (pins under {} removed)",
        netns_dir().display()
    );
    Ok(ExitCode::SUCCESS)
}
