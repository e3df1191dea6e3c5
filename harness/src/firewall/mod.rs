//! Firewall backends: load a rendered ruleset into a node with the real
//! tools, read it back (with counters), flush it.
//!
//! Rulesets are text — `iptables-restore` input or an `nft -f` file — because
//! that is what users write and what production loads. A backend only
//! *applies* text; rendering rules (Docker's, a NAT preset) happens elsewhere
//! and is tested as a value. Every tool runs inside the node's namespace
//! (`setns` in the child), never in the root namespace.
//!
//! | backend | loads with | reads back with |
//! |---|---|---|
//! | [`Backend::IptablesNft`] | `iptables-nft-restore` | `iptables-nft-save -c` |
//! | [`Backend::IptablesLegacy`] | `iptables-legacy-restore` | `iptables-legacy-save -c` |
//! | [`Backend::Nftables`] | `nft -f` | `nft list ruleset` |
//!
//! ```no_run
//! # fn demo(lab: &netrig::Lab) -> netrig::Result<()> {
//! use netrig::firewall::Backend;
//! let host = lab.node("router")?;
//! Backend::IptablesNft.apply(&host, "*nat\n-A POSTROUTING -o eth1 -j MASQUERADE\nCOMMIT\n")?;
//! let counters = Backend::IptablesNft.counters(&host)?;
//! # Ok(()) }
//! ```

mod counters;
mod ip6;

use std::path::Path;

pub use counters::{RuleCounter, find_counter, parse_iptables_counters, parse_nft_counters};

use crate::error::{Error, Result};
use crate::lab::Node;

/// Which kernel subsystem and tool set holds the rules.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Deserialize, serde::Serialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// iptables over nf_tables (Debian's default `iptables`).
    #[default]
    IptablesNft,
    /// iptables over the legacy xtables kernel API.
    IptablesLegacy,
    /// Native nftables (`nft`).
    Nftables,
}

impl Backend {
    /// All backends.
    pub const ALL: [Backend; 3] = [
        Backend::IptablesNft,
        Backend::IptablesLegacy,
        Backend::Nftables,
    ];

    /// A short name: `iptables-nft`, `iptables-legacy`, `nftables`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::IptablesNft => "iptables-nft",
            Backend::IptablesLegacy => "iptables-legacy",
            Backend::Nftables => "nftables",
        }
    }

    /// Same as [`Backend::name`] (the name used in topology files).
    pub fn as_str(self) -> &'static str {
        self.name()
    }

    /// Whether the backend takes iptables-restore text.
    pub fn is_iptables(self) -> bool {
        !matches!(self, Backend::Nftables)
    }

    /// The program that loads this backend's rules from stdin.
    pub fn restore_program(self) -> &'static str {
        self.restore_argv(false)[0]
    }

    /// The program that reads this backend's rules back.
    pub fn save_program(self) -> &'static str {
        match self {
            Backend::IptablesNft => "iptables-nft-save",
            Backend::IptablesLegacy => "iptables-legacy-save",
            Backend::Nftables => "nft",
        }
    }

    fn restore_argv(self, noflush: bool) -> Vec<&'static str> {
        match self {
            Backend::IptablesNft => {
                let mut v = vec!["iptables-nft-restore", "-w"];
                if noflush {
                    v.push("--noflush");
                }
                v
            }
            Backend::IptablesLegacy => {
                let mut v = vec!["iptables-legacy-restore", "-w"];
                if noflush {
                    v.push("--noflush");
                }
                v
            }
            Backend::Nftables => vec!["nft", "-f"],
        }
    }

    /// Whether this backend's tool is installed (on `PATH`).
    pub fn is_installed(self) -> bool {
        program_on_path(self.restore_argv(false)[0])
    }

    /// Replaces the tables named in `text` (iptables) or adds the ruleset
    /// (nft) in `node`. The load is atomic per tool invocation.
    pub fn apply(self, node: &Node<'_>, text: &str) -> Result<()> {
        self.load(node, text, false, None)
    }

    /// Adds rules without flushing what is there (`--noflush`), e.g. user
    /// rules after Docker's. For nft this is the same as [`Backend::apply`].
    pub fn append(self, node: &Node<'_>, text: &str) -> Result<()> {
        self.load(node, text, true, None)
    }

    /// Loads a rule file (iptables-save fragment or nft file) after what is
    /// there. A malformed file fails with the tool's message, naming the
    /// file and line.
    pub fn apply_file(self, node: &Node<'_>, path: &Path) -> Result<()> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Topology {
            file: path.to_path_buf(),
            message: format!("cannot read rule file: {e}"),
        })?;
        self.load(node, &text, true, Some(path))
    }

    fn load(self, node: &Node<'_>, text: &str, noflush: bool, file: Option<&Path>) -> Result<()> {
        let argv = self.restore_argv(noflush);
        let mut cmd = node.command(argv[0]).args(&argv[1..]);
        if self == Backend::Nftables {
            cmd = cmd.arg("-");
        }
        tracing::debug!(node = %node.subject(), backend = self.name(), lines = text.lines().count(), "load ruleset");
        let out = cmd.input(text).output()?;
        if out.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        Err(load_error(
            self,
            node,
            text,
            file,
            &argv,
            &out.status.to_string(),
            &stderr,
        ))
    }

    /// The ruleset as the tool prints it, with counters for iptables
    /// (`iptables-*-save -c`) and nft (`nft list ruleset`, counters where rules have them).
    pub fn save(self, node: &Node<'_>) -> Result<String> {
        let argv: &[&str] = match self {
            Backend::IptablesNft => &["iptables-nft-save", "-c"],
            Backend::IptablesLegacy => &["iptables-legacy-save", "-c"],
            Backend::Nftables => &["nft", "list", "ruleset"],
        };
        let out = node.command(argv[0]).args(&argv[1..]).checked_output()?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Per-rule packet and byte counters.
    pub fn counters(self, node: &Node<'_>) -> Result<Vec<RuleCounter>> {
        let text = self.save(node)?;
        Ok(match self {
            Backend::Nftables => parse_nft_counters(&text),
            _ => parse_iptables_counters(&text),
        })
    }

    /// Removes every rule and user chain and resets policies to ACCEPT.
    pub fn flush(self, node: &Node<'_>) -> Result<()> {
        tracing::debug!(node = %node.subject(), backend = self.name(), "flush ruleset");
        match self {
            Backend::Nftables => {
                node.command("nft")
                    .args(["flush", "ruleset"])
                    .checked_output()?;
            }
            _ => {
                // Reset only the tables that exist: restoring an empty table
                // would create it.
                let existing = self.save(node)?;
                let mut text = String::new();
                for line in existing.lines() {
                    let Some(table) = line.strip_prefix('*') else {
                        continue;
                    };
                    let chains: &[&str] = match table {
                        "raw" => &["PREROUTING", "OUTPUT"],
                        "mangle" => &["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
                        "nat" => &["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
                        "filter" => &["INPUT", "FORWARD", "OUTPUT"],
                        "security" => &["INPUT", "FORWARD", "OUTPUT"],
                        _ => &[],
                    };
                    text.push_str(&format!("*{table}\n"));
                    for c in chains {
                        text.push_str(&format!(":{c} ACCEPT [0:0]\n"));
                    }
                    text.push_str("COMMIT\n");
                }
                if !text.is_empty() {
                    self.apply(node, &text)?;
                }
            }
        }
        Ok(())
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "iptables-nft" | "iptables" => Ok(Backend::IptablesNft),
            "iptables-legacy" => Ok(Backend::IptablesLegacy),
            "nftables" | "nft" => Ok(Backend::Nftables),
            _ => Err(format!(
                "unknown firewall backend {s:?} (use iptables-nft, iptables-legacy or nftables)"
            )),
        }
    }
}

/// Whether `program` is an executable on `PATH`.
pub fn program_on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path).any(|d| {
        std::fs::metadata(d.join(program))
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    })
}

/// Builds the error for a failed load: the tool's message, and the offending
/// line of the input (with the file name, when the rules came from a file).
fn load_error(
    backend: Backend,
    node: &Node<'_>,
    text: &str,
    file: Option<&Path>,
    argv: &[&str],
    status: &str,
    stderr: &str,
) -> Error {
    let line = failing_line(backend, stderr).map(|n| {
        if backend.is_iptables() {
            culprit_line(text, stderr, n)
        } else {
            n
        }
    });
    let origin = file
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "<rules>".into());
    let mut msg = stderr.trim().to_string();
    if let Some(n) = line {
        let content = text.lines().nth(n.saturating_sub(1)).unwrap_or("").trim();
        msg = format!("{origin}:{n}: {content}\n{msg}");
    } else if file.is_some() {
        msg = format!("{origin}: {msg}");
    }
    Error::Command {
        subject: node.subject(),
        argv: argv.join(" "),
        status: status.to_string(),
        stderr: msg,
    }
}

/// The 1-based input line a restore tool complained about, if it said.
///
/// ```
/// use netrig::firewall::{Backend, failing_line};
/// assert_eq!(failing_line(Backend::IptablesNft, "iptables-restore: line 3 failed"), Some(3));
/// assert_eq!(failing_line(Backend::IptablesNft, "Error occurred at line: 4"), Some(4));
/// assert_eq!(failing_line(Backend::Nftables, "/dev/stdin:2:1-3: Error: syntax error"), Some(2));
/// ```
pub fn failing_line(backend: Backend, stderr: &str) -> Option<usize> {
    match backend {
        Backend::Nftables => stderr.lines().find_map(|l| {
            let mut parts = l.split(':');
            let _file = parts.next()?;
            parts.next()?.trim().parse().ok()
        }),
        _ => stderr.lines().find_map(|l| {
            let i = l.find("line")?;
            let rest = l[i + 4..].trim_start_matches([':', ' ']);
            rest.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        }),
    }
}

/// Narrows an iptables-restore complaint to the rule that caused it: the
/// nft flavour reports the `COMMIT` line, but names the culprit in quotes
/// (`Chain 'DRPO' does not exist`); the last line before the reported one
/// that holds that word is the rule to fix.
fn culprit_line(text: &str, stderr: &str, reported: usize) -> usize {
    let quoted: Vec<&str> = stderr
        .split('\'')
        .skip(1)
        .step_by(2)
        .filter(|w| !w.is_empty())
        .collect();
    text.lines()
        .enumerate()
        .take(reported)
        .filter(|(_, l)| quoted.iter().any(|w| l.split_whitespace().any(|t| t == *w)))
        .map(|(i, _)| i + 1)
        .last()
        .unwrap_or(reported)
}
