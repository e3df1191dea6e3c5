//! `netrig doctor`: can this machine run netrig's labs, and what is missing?
//! Checks privileges (root, or a user namespace), builds a small lab (two
//! namespaces, a bridge, a veth) and probes its kernel from inside it
//! (br_netfilter, conntrack, nf_tables, the x_tables matches Docker's rules
//! use, tbf), then the programs labs run, naming the Debian package of each
//! one missing. Read-only, apart from the lab it builds and takes down again;
//! `--install` runs apt-get for the missing packages.
//!
//! Exit status: 0 when labs can run here, 1 when they cannot, 2 on error.

use std::process::ExitCode;

use netrig::{Endpoint, Error, Lab};

/// A program labs need, and what for.
const REQUIRED: &[(&str, &str)] = &[
    (
        "iptables-nft-restore",
        "load rules with the iptables-nft backend (Docker's default)",
    ),
    (
        "iptables-nft-save",
        "read iptables-nft rules and counters back",
    ),
    ("nft", "load nftables rules and trace which rule decided"),
    ("tc", "shape links (tbf)"),
    ("nsenter", "`netrig exec` into a kept lab's node"),
];

/// A program some features run, and which.
const OPTIONAL: &[(&str, &str)] = &[
    ("iptables-legacy-restore", "the iptables-legacy backend"),
    ("conntrack", "conntrack tables in a failed lab's evidence"),
    ("ip", "routes and neighbours in a failed lab's evidence"),
    ("tcpdump", "reading a lab's .pcap files by hand"),
];

/// One line of the report.
struct Check {
    ok: bool,
    required: bool,
    what: String,
    detail: String,
    package: Option<String>,
}

/// `netrig doctor [--install]`.
pub fn run(install: bool) -> ExitCode {
    let checks = checks();
    let mut missing: Vec<String> = Vec::new();
    for c in &checks {
        let mark = match (c.ok, c.required) {
            (true, _) => "ok     ",
            (false, true) => "MISSING",
            (false, false) => "absent ",
        };
        let fix = match (&c.package, c.ok) {
            (Some(p), false) => format!(" — apt-get install {p}"),
            _ => String::new(),
        };
        println!("{mark} {:<34} {}{fix}", c.what, c.detail);
        if let (Some(p), false) = (&c.package, c.ok)
            && !missing.contains(p)
        {
            missing.push(p.clone());
        }
    }
    let labs_run = checks.iter().all(|c| c.ok || !c.required);
    if install && !missing.is_empty() {
        println!(
            "installing: apt-get install -y --no-install-recommends {}",
            missing.join(" ")
        );
        let status = std::process::Command::new("sh")
            .args([
                "-c",
                "apt-get update -qq && apt-get install -y -qq --no-install-recommends \"$@\"",
                "apt-get",
            ])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status();
        match status {
            Ok(s) if s.success() => {
                println!("installed; run `netrig doctor` again to check");
                return ExitCode::SUCCESS;
            }
            Ok(s) => eprintln!("netrig: apt-get failed ({s})"),
            Err(e) => eprintln!("netrig: cannot run apt-get: {e}"),
        }
        return ExitCode::from(2);
    }
    if labs_run {
        println!(
            "labs can run here{}",
            if missing.is_empty() {
                ""
            } else {
                " (some optional programs are absent)"
            }
        );
        ExitCode::SUCCESS
    } else {
        println!(
            "labs cannot run here: fix the MISSING lines{}",
            if missing.is_empty() {
                ""
            } else {
                " (or `netrig doctor --install`)"
            }
        );
        ExitCode::from(1)
    }
}

/// Every check, in the order printed.
fn checks() -> Vec<Check> {
    let mut out = Vec::new();
    let userns = in_user_namespace();
    let privileged = netrig::privilege::check();
    out.push(Check {
        ok: privileged.is_ok(),
        required: true,
        what: "privileges".into(),
        detail: match &privileged {
            Ok(()) if userns => "a user namespace (rootless): labs run inside it".into(),
            Ok(()) => "root".into(),
            Err(e) => e.to_string(),
        },
        package: None,
    });
    if privileged.is_ok() {
        out.extend(kernel_checks());
    }
    for (list, required) in [(REQUIRED, true), (OPTIONAL, false)] {
        for (program, purpose) in list {
            let found = on_path(program);
            out.push(Check {
                ok: found,
                required,
                what: format!("program {program}"),
                detail: if found {
                    purpose.to_string()
                } else {
                    format!("needed to {purpose}")
                },
                package: package_of(program),
            });
        }
    }
    if userns {
        let lock = std::env::var("XTABLES_LOCKFILE").unwrap_or_else(|_| "/run/xtables.lock".into());
        let writable = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&lock)
            .is_ok();
        out.push(Check {
            ok: writable,
            required: false,
            what: "xtables lock (rootless)".into(),
            detail: if writable {
                format!("{lock} is writable")
            } else {
                format!("{lock} is not writable: iptables-legacy needs XTABLES_LOCKFILE=<a writable file>")
            },
            package: None,
        });
        let pins = std::env::var("NETRIG_NETNS_DIR").unwrap_or_else(|_| "/run/netns".into());
        let probe =
            std::path::Path::new(&pins).join(format!(".netrig-doctor-{}", std::process::id()));
        let pins_ok = std::fs::create_dir_all(&pins).is_ok() && std::fs::write(&probe, b"").is_ok();
        let _ = std::fs::remove_file(&probe);
        out.push(Check {
            ok: pins_ok,
            required: false,
            what: "pins folder (rootless)".into(),
            detail: if pins_ok {
                format!("{pins} is writable")
            } else {
                format!("{pins} is not writable: `netrig up` needs NETRIG_NETNS_DIR and NETRIG_RUN_DIR set to writable folders")
            },
            package: None,
        });
    }
    out
}

/// A two-node lab with a bridge and a veth, and the kernel as seen from inside it.
fn kernel_checks() -> Vec<Check> {
    let lab = Lab::builder("doctor")
        .node("a")
        .node("b")
        .bridge("a", "br0", ["10.0.0.1/24"])
        .link(
            Endpoint::new("a", "veth0").bridge("br0"),
            Endpoint::new("b", "eth0").addr("10.0.0.2/24"),
        )
        .up();
    let lab = match lab {
        Ok(lab) => lab,
        Err(e) => {
            return vec![Check {
                ok: false,
                required: true,
                what: "a lab (namespaces, bridge, veth)".into(),
                detail: e.to_string(),
                package: None,
            }];
        }
    };
    let mut out = vec![Check {
        ok: true,
        required: true,
        what: "a lab (namespaces, bridge, veth)".into(),
        detail: "built and taken down".into(),
        package: None,
    }];
    let Ok(node) = lab.node("a") else {
        return out;
    };
    let fp = node.fingerprint();
    let yes = |b: bool, on: &str, off: &str| if b { on.to_string() } else { off.to_string() };
    out.push(Check {
        ok: true,
        required: false,
        what: "kernel".into(),
        detail: fp.kernel.clone(),
        package: None,
    });
    out.push(Check {
        ok: fp.bridge_nf_call,
        required: true,
        what: "br_netfilter".into(),
        detail: yes(
            fp.bridge_nf_call,
            "bridged traffic crosses iptables, as on a Docker host",
            "net.bridge.bridge-nf-call-iptables is missing: load br_netfilter",
        ),
        package: None,
    });
    out.push(Check {
        ok: fp.conntrack,
        required: true,
        what: "conntrack".into(),
        detail: yes(
            fp.conntrack,
            "nf_conntrack is there (NAT, DOCKER-USER's ctstate)",
            "nf_conntrack is missing",
        ),
        package: None,
    });
    out.push(Check {
        ok: fp.xt.1.is_empty(),
        required: true,
        what: "x_tables matches Docker uses".into(),
        detail: if fp.xt.1.is_empty() {
            fp.xt.0.join(" ")
        } else {
            format!("missing: {}", fp.xt.1.join(" "))
        },
        package: None,
    });
    for (backend, usable) in &fp.backends {
        out.push(Check {
            ok: usable.is_ok(),
            required: *backend == netrig::Backend::IptablesNft,
            what: format!("backend {backend}"),
            detail: match usable {
                Ok(()) => "lists a namespace's ruleset".into(),
                Err(e) => e.clone(),
            },
            package: package_of(backend.save_argv()[0][0]),
        });
    }
    out.push(Check {
        ok: fp.netem,
        required: false,
        what: "netem".into(),
        detail: yes(
            fp.netem,
            "links can have delay and loss",
            "no sch_netem: links get rate limits (tbf) only",
        ),
        package: None,
    });
    out
}

/// Whether `program` is an executable on PATH.
/// Whether this process runs in a user namespace that does not map every
/// uid (rootless `unshare -Ur`).
fn in_user_namespace() -> bool {
    std::fs::read_to_string("/proc/self/uid_map")
        .map(|m| m.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"])
        .unwrap_or(false)
}

fn on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|d| {
            std::fs::metadata(d.join(program))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// The Debian package of `program`, from the library's one table.
fn package_of(program: &str) -> Option<String> {
    match Error::missing_program(program, "doctor") {
        Error::MissingProgram { package, .. } => package,
        _ => None,
    }
}
