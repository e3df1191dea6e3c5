//! The environment fingerprint (system layer): what this machine gave a run,
//! so that a result can be compared across machines — the kernel release,
//! the kernel features netrig's labs rely on (br_netfilter, conntrack, the
//! x_tables matches and targets Docker's rules use, netem), the versions
//! of the firewall tools, and which firewall backends were usable.
//!
//! Every probe runs inside a namespace the caller passes (a lab node),
//! never in the root namespace, and only reads: sysctls, `/proc/net`'s
//! x_tables registrations, the tools' versions and their ruleset listings.
//! Whether netem exists is read from `/sys/module/sch_netem`.
//!
//! ```no_run
//! let lab = netrig::Lab::builder("fp").node("probe").up()?;
//! let fp = lab.node("probe")?.fingerprint();
//! println!("{fp}");
//! # Ok::<_, netrig::Error>(())
//! ```

use std::path::{Path, PathBuf};

use crate::backend::Backend;
use crate::namespace::Namespace;

/// x_tables matches and targets Docker's iptables rules use.
const XT_NEEDED: &[&str] = &[
    "addrtype",
    "conntrack",
    "tcp",
    "udp",
    "DNAT",
    "MASQUERADE",
    "REJECT",
];

/// Tools whose versions go in the fingerprint besides each backend's
/// ([`Backend::version_argv`]): program and version flag.
const OTHER_TOOLS: &[(&str, &str)] = &[("ip", "-V")];

/// What this machine gave a run. See the module docs.
#[derive(Debug, Clone)]
pub struct Fingerprint {
    /// `uname -r`.
    pub kernel: String,
    /// Whether `net.bridge.bridge-nf-call-iptables` exists in the namespace (br_netfilter active).
    pub bridge_nf_call: bool,
    /// Whether connection tracking is there (`net.netfilter.nf_conntrack_max`).
    pub conntrack: bool,
    /// The x_tables matches and targets Docker uses that the kernel has
    /// registered (`/proc/net/ip_tables_matches`, `_targets`), and those missing.
    pub xt: (Vec<&'static str>, Vec<&'static str>),
    /// Whether netem is there (`/sys/module/sch_netem`).
    pub netem: bool,
    /// Each firewall tool and its version line (or why none).
    pub tools: Vec<(&'static str, String)>,
    /// Each backend and whether its save tool listed the namespace's ruleset
    /// (`Ok`), or why not.
    pub backends: Vec<(Backend, std::result::Result<(), String>)>,
}

impl Fingerprint {
    /// Probes this machine, running the tools inside `ns` (read-only: it
    /// lists the namespace's rulesets but loads nothing).
    pub(crate) fn probe(ns: &Namespace) -> Fingerprint {
        let _span = tracing::debug_span!("fingerprint").entered();
        let kernel = nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_else(|e| format!("unknown ({e})"));
        let registered = ["/proc/net/ip_tables_matches", "/proc/net/ip_tables_targets"]
            .iter()
            .filter_map(|f| ns.command("cat").arg(f).output().ok())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .collect::<Vec<_>>()
            .join("\n");
        let (have, lack) = XT_NEEDED
            .iter()
            .partition(|x| registered.lines().any(|l| l.trim() == **x));
        let tools = Backend::ALL
            .iter()
            .map(|b| match b.version_argv() {
                [prog, flag] => (*prog, *flag),
                argv => unreachable!("a version command is a program and a flag: {argv:?}"),
            })
            .chain(OTHER_TOOLS.iter().copied())
            .map(|(prog, flag)| (prog, version_of(ns, prog, flag)))
            .collect();
        let backends = Backend::ALL
            .iter()
            .map(|b| {
                let usable = match b.is_installed() {
                    false => Err(format!("{} is not installed", b.load_program())),
                    true => b.save(ns).map(|_| ()).map_err(|e| e.to_string()),
                };
                (*b, usable)
            })
            .collect();
        let fp = Fingerprint {
            kernel,
            bridge_nf_call: ns.sysctl_get("net.bridge.bridge-nf-call-iptables").is_ok(),
            conntrack: ns.sysctl_get("net.netfilter.nf_conntrack_max").is_ok(),
            xt: (have, lack),
            netem: Path::new("/sys/module/sch_netem").exists(),
            tools,
            backends,
        };
        tracing::debug!(kernel = %fp.kernel, "environment fingerprint probed");
        fp
    }

    /// The fingerprint as `key: value` lines (the `fingerprint.txt` format;
    /// also its `Display`).
    pub(crate) fn render(&self) -> String {
        let mut out = format!("kernel: {}\n", self.kernel);
        let yes = |b: bool| if b { "yes" } else { "no" };
        out.push_str(&format!(
            "br_netfilter (bridge-nf-call-iptables): {}\n",
            yes(self.bridge_nf_call)
        ));
        out.push_str(&format!("nf_conntrack: {}\n", yes(self.conntrack)));
        out.push_str(&format!("xt registered: {}\n", self.xt.0.join(" ")));
        out.push_str(&format!("xt missing: {}\n", self.xt.1.join(" ")));
        out.push_str(&format!("netem (sch_netem): {}\n", yes(self.netem)));
        for (tool, version) in &self.tools {
            out.push_str(&format!("tool {tool}: {version}\n"));
        }
        for (b, usable) in &self.backends {
            match usable {
                Ok(()) => out.push_str(&format!("backend {b}: usable\n")),
                Err(why) => out.push_str(&format!("backend {b}: unusable: {}\n", one_line(why))),
            }
        }
        out
    }

    /// Writes [`Fingerprint::render`] to `dir/fingerprint.txt` and returns the path.
    pub(crate) fn write_to(&self, dir: &Path) -> std::io::Result<PathBuf> {
        let path = dir.join("fingerprint.txt");
        std::fs::write(&path, self.render())?;
        Ok(path)
    }
}

fn version_of(ns: &Namespace, program: &str, flag: &str) -> String {
    match ns.command(program).arg(flag).output() {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            one_line(text.lines().next().unwrap_or("(no output)"))
        }
        Ok(out) => format!("exited with {}", out.status),
        Err(e) => format!("not runnable: {}", one_line(&e.to_string())),
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `key: value` lines, the `fingerprint.txt` format.
impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render())
    }
}
