//! Firewall backends at work (system layer): load a ruleset into a
//! namespace with the real tools, read it back with counters, flush it.
//!
//! Rulesets are text — `iptables-restore` input or an `nft -f` file — because
//! that is what users write and what production loads. A backend only
//! *applies* text; rendering rules (Docker's) happens in the pure layer and
//! is tested as a value. Every tool runs inside the namespace (`setns` in the
//! child), never in the root namespace. Which tool and arguments each backend
//! uses is [`Backend`]'s table, the one place that knows.
//!
//! ```no_run
//! # fn demo(lab: &netrig::Lab) -> netrig::Result<()> {
//! use netrig::Backend;
//! let router = lab.node("router")?;
//! router.load_rules(Backend::IptablesNft, "*nat\n-A POSTROUTING -o eth1 -j MASQUERADE\nCOMMIT\n")?;
//! let counters = router.counters(Backend::IptablesNft)?;
//! assert!(counters.rule("nat", "POSTROUTING", "MASQUERADE").is_some());
//! # Ok(()) }
//! ```

mod commit;
mod counters;
mod ip6;
mod order;

use std::ffi::OsStr;
use std::path::Path;

pub use counters::{Counters, PolicyCounter, RuleCounter};

use crate::backend::{Backend, LoadMode, package_for};
use crate::error::{Error, Result, RulesError};
use crate::namespace::Namespace;
use crate::process::program_on_path;

/// How a watched load ([`Backend::load_watched`]) returned.
enum Watched {
    /// The kernel committed every table; the tool is reaped in the background.
    Committed,
    /// The tool exited first (or the watch gave up): its reaper tells how
    /// it ended, once it has exited.
    Exited(std::thread::JoinHandle<Result<()>>),
}

impl Watched {
    /// The load's result, waiting for the tool's exit when that is what tells.
    fn finish(self) -> Result<()> {
        match self {
            Watched::Committed => Ok(()),
            Watched::Exited(reaper) => reaper
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p)),
        }
    }
}

/// Fails with [`Error::MissingProgram`] (naming the package) when the
/// backend's loader is not installed.
pub(crate) fn check_installed(backend: Backend, purpose: &str) -> Result<()> {
    let program = backend.load_program();
    if program_on_path(program) {
        return Ok(());
    }
    Err(Error::MissingProgram {
        program: program.into(),
        package: package_for(program).map(str::to_string),
        purpose: purpose.to_string(),
    })
}

impl Backend {
    /// Whether this backend's tool is installed (on `PATH`).
    pub(crate) fn is_installed(self) -> bool {
        program_on_path(self.load_program())
    }

    /// Loads `text`, **replacing** every table it names (iptables-restore
    /// without `--noflush`); for nft, `nft -f` (a file that starts with
    /// `flush ruleset` or `delete table` replaces, anything else adds).
    /// The load is atomic per tool invocation.
    pub(crate) fn replace_tables(self, ns: &Namespace, text: &str) -> Result<()> {
        self.load(ns, text, LoadMode::ReplaceTables, None)
    }

    /// As [`Backend::replace_tables`], but with iptables-nft and nftables
    /// it returns as soon as the kernel has committed every table of `text`
    /// (see [`commit`]), not when the tool exits: the tool is reaped in the
    /// background and its exit status checked by the next firewall
    /// operation on `ns` ([`Namespace::settle_loads`]). A tool that exits
    /// before its last commit is waited for and its failure returned here.
    /// iptables-nft is fed the tables in the order that spares it RCU grace
    /// periods ([`order::extensions_first`]); a refused line is numbered as
    /// in `text`.
    pub(crate) fn replace_tables_committed(self, ns: &Namespace, text: &str) -> Result<()> {
        if self == Backend::IptablesLegacy {
            return self.replace_tables(ns, text);
        }
        ns.settle_loads()?;
        let fed = order::fed_to(self, text);
        self.load_committed(ns, self.load_argv(LoadMode::ReplaceTables), &fed.text)
            .map_err(|e| fed.unmap(e))
    }

    /// Runs `argv` (an iptables-nft restore replacing the tables of `text`,
    /// or `nft -f -`) in `ns` and returns once the kernel announced its commits or the
    /// tool exited (see [`Backend::replace_tables_committed`]).
    fn load_committed(self, ns: &Namespace, argv: Vec<&'static str>, text: &str) -> Result<()> {
        self.load_watched(ns, argv, text, None, &mut |_| {})?
            .finish()
    }

    /// [`Backend::load_committed`], with the tool's stdin fed from
    /// `chunks` when given (the parts of `text` in order, stdin kept open
    /// until their sender is dropped: the tool cannot exit before), and
    /// `on_commit` told how many of the tool's transactions the kernel has
    /// committed each time that number grows. A load that did not end
    /// committed is returned [`Watched::Exited`], to be finished once its
    /// stdin is closed.
    fn load_watched(
        self,
        ns: &Namespace,
        argv: Vec<&'static str>,
        text: &str,
        chunks: Option<std::sync::mpsc::Receiver<Vec<u8>>>,
        on_commit: &mut dyn FnMut(usize),
    ) -> Result<Watched> {
        let watch = commit::GenWatch::open(ns)?;
        tracing::debug!(subject = %ns.subject(), backend = %self, argv = ?argv, lines = text.lines().count(), "load ruleset (until committed)");
        // The watch goes to the reaper once the load is deferred: closing an
        // nfnetlink socket right after a commit waits for an RCU grace
        // period (nf_tables' release handler), so it closes there, after
        // the tool — never on `up`'s path. Received (or the sender gone)
        // only once the tool exited.
        let (handoff, handed) = std::sync::mpsc::channel::<commit::GenWatch>();
        let check = {
            let (ns, text, argv) = (ns.clone(), text.to_string(), argv.clone());
            move |out: Result<std::process::Output>| -> Result<()> {
                let watch = handed.recv().ok();
                let out = out?;
                if out.status.success() {
                    return Ok(());
                }
                // Killed once every table was committed (the lab's drop kills
                // what still runs in it): nothing of the load is undone.
                if watch.is_some()
                    && std::os::unix::process::ExitStatusExt::signal(&out.status).is_some()
                {
                    tracing::debug!(subject = %ns.subject(), status = %out.status, "a committed load's tool was killed while exiting");
                    return Ok(());
                }
                let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
                let e = load_error(self, &ns, &text, None, &argv, &stderr);
                // Logged here too when deferred: a lab dropped before its
                // next firewall operation never collects it.
                if watch.is_some() {
                    tracing::warn!(subject = %ns.subject(), error = %e, "a ruleset load failed after the kernel committed it");
                }
                Err(e)
            }
        };
        let command = ns.command(argv[0]).args(&argv[1..]);
        let command = match chunks {
            Some(chunks) => command.input_stream(chunks),
            None => command.input(text),
        };
        let (pid, reaper) = command.output_in_background(check)?;
        let commits = match self {
            Backend::Nftables => commit::nft_commits(text),
            _ => commit::iptables_commits(text),
        };
        match watch.wait(pid, commits, on_commit) {
            commit::Outcome::Committed => {
                let _ = handoff.send(watch);
                tracing::debug!(subject = %ns.subject(), pid, "ruleset committed; the tool is reaped in the background");
                ns.defer_load(reaper);
                Ok(Watched::Committed)
            }
            commit::Outcome::Exited => {
                drop(handoff);
                Ok(Watched::Exited(reaper))
            }
        }
    }

    /// Loads `text` **after** what is there (`--noflush`): rules and chains
    /// are added, nothing is removed — user rules after Docker's, or a
    /// ufw-style table next to them.
    pub(crate) fn append(self, ns: &Namespace, text: &str) -> Result<()> {
        self.load(ns, text, LoadMode::Append, None)
    }

    /// Loads a rule file (iptables-save fragment or nft file) **after** what
    /// is there, as [`Backend::append`]; a `.v6` file of an iptables backend
    /// with its ip6tables flavour ([`crate::backend::is_ip6_rules_file`]).
    /// A malformed file fails with [`Error::Rules`] naming the file, the
    /// offending line and the tool's words.
    pub(crate) fn append_file(self, ns: &Namespace, path: &Path) -> Result<()> {
        let text = read_rule_file(ns, path)?;
        let ip6 = self.is_iptables() && crate::backend::is_ip6_rules_file(path);
        if ip6 {
            let argv = self
                .ip6_load_argv(LoadMode::Append)
                .ok_or_else(|| ip6::no_ip6(self, ns))?;
            return self.load_with(ns, argv, &text, LoadMode::Append, Some(path));
        }
        self.load(ns, &text, LoadMode::Append, Some(path))
    }

    fn load(self, ns: &Namespace, text: &str, mode: LoadMode, file: Option<&Path>) -> Result<()> {
        self.load_with(ns, self.load_argv(mode), text, mode, file)
    }

    fn load_with(
        self,
        ns: &Namespace,
        argv: Vec<&str>,
        text: &str,
        mode: LoadMode,
        file: Option<&Path>,
    ) -> Result<()> {
        ns.settle_loads()?;
        tracing::debug!(subject = %ns.subject(), backend = %self, ?mode, file = ?file, argv = ?argv, lines = text.lines().count(), "load ruleset");
        let out = ns.command(argv[0]).args(&argv[1..]).input(text).output()?;
        if out.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        Err(load_error(self, ns, text, file, &argv, &stderr))
    }

    /// The ruleset as the tool prints it, with counters for iptables
    /// (`iptables-*-save -c`) and nft (`nft list ruleset`, counters where rules have them).
    pub(crate) fn save(self, ns: &Namespace) -> Result<String> {
        run(ns, self.save_argv_v4(), None)
    }

    /// The rules as written, without counters ([`Backend::list_argv`]:
    /// `nft -a list ruleset` with rule handles, `iptables-*-save`): what
    /// nftrace names traced rules by.
    pub(crate) fn list(self, ns: &Namespace) -> Result<String> {
        run(ns, self.list_argv(), None)
    }

    /// The ip6tables flavour of [`Backend::list`]; `None` when the backend
    /// has none (nftables) or its tool is not installed.
    pub(crate) fn list_ip6(self, ns: &Namespace) -> Option<Result<String>> {
        let argv = self.ip6_list_argv()?;
        program_on_path(argv[0]).then(|| run(ns, argv, None))
    }

    /// Per-rule packet and byte counters, and chain policies: nft's of both
    /// families; iptables' then, where the ip6tables tool is installed,
    /// ip6tables' (their tables named `ip6 filter`, `ip6 nat` …).
    pub(crate) fn counters(self, ns: &Namespace) -> Result<Counters> {
        let text = self.save(ns)?;
        Ok(match self {
            Backend::Nftables => Counters::parse_nft(&text),
            _ => {
                let mut c = Counters::parse_iptables(&text);
                if let Some(six) = self.ip6_save_argv().filter(|a| program_on_path(a[0])) {
                    c.extend(Counters::parse_iptables(&run(ns, six, None)?).in_family("ip6"));
                }
                c
            }
        })
    }

    #[cfg(test)]
    /// Removes every rule and user chain and resets policies to ACCEPT.
    pub(crate) fn flush(self, ns: &Namespace) -> Result<()> {
        tracing::debug!(subject = %ns.subject(), backend = %self, "flush ruleset");
        match self.flush_argv() {
            Some(argv) => {
                run(ns, argv, None)?;
            }
            None => {
                // Reset only the tables that exist: restoring an empty table
                // would create it.
                let existing = self.save(ns)?;
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
                    self.replace_tables(ns, &text)?;
                }
            }
        }
        Ok(())
    }
}

/// Runs one of [`Backend`]'s command lines inside `ns`, with `input` on
/// its stdin: its stdout, or [`Error::Command`] with its stderr.
pub(crate) fn run<S: AsRef<OsStr>>(
    ns: &Namespace,
    argv: &[S],
    input: Option<&str>,
) -> Result<String> {
    ns.settle_loads()?;
    let mut command = ns.command(&argv[0]).args(&argv[1..]);
    if let Some(text) = input {
        command = command.input(text);
    }
    let out = command.checked_output()?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The text of the rule file `path` (an error naming it if unreadable).
fn read_rule_file(ns: &Namespace, path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| {
        Error::io(
            ns.subject().clone(),
            format!("read rule file {}", path.display()),
            e,
        )
    })
}

/// `e` with the rule file it came from named, when it is a refused rule.
fn in_file(e: Error, path: &Path) -> Error {
    match e {
        Error::Rules(mut r) => {
            r.file = Some(path.to_path_buf());
            Error::Rules(r)
        }
        e => e,
    }
}

/// Builds the error for a failed load: the tool's message, and the offending
/// line of the input (with the file name, when the rules came from a file).
fn load_error(
    backend: Backend,
    ns: &Namespace,
    text: &str,
    file: Option<&Path>,
    argv: &[&str],
    stderr: &str,
) -> Error {
    let reported = failing_line(backend, stderr);
    let line = reported.map(|n| {
        if backend.is_iptables() {
            culprit_line(text, stderr, n)
        } else {
            n
        }
    });
    let rule = line.and_then(|n| text.lines().nth(n.saturating_sub(1)).map(str::to_string));
    // One line number, the right one: iptables-nft reports the COMMIT line
    // ("line 3 failed") when the culprit is a rule above it; drop that.
    let stderr: String = match (reported, line) {
        (Some(r), Some(l)) if r != l => stderr
            .lines()
            .filter(|s| !s.contains(&format!("line {r} failed")))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => stderr.to_string(),
    };
    Error::Rules(Box::new(RulesError {
        subject: ns.subject().clone(),
        file: file.map(Path::to_path_buf),
        line,
        rule,
        argv: argv.join(" "),
        stderr: stderr.trim().to_string(),
        named_by: None,
    }))
}

/// The 1-based input line a restore tool complained about, if it said.
fn failing_line(backend: Backend, stderr: &str) -> Option<usize> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_lines_as_each_tool_reports_them() {
        assert_eq!(
            failing_line(Backend::IptablesNft, "iptables-restore: line 3 failed"),
            Some(3)
        );
        assert_eq!(
            failing_line(Backend::IptablesNft, "Error occurred at line: 4"),
            Some(4)
        );
        assert_eq!(
            failing_line(Backend::Nftables, "/dev/stdin:2:1-3: Error: syntax error"),
            Some(2)
        );
    }

    #[test]
    fn culprit_is_the_rule_named_in_quotes() {
        let text = "*filter\n-A INPUT -j ACCEPT\n-A INPUT -j DRPO\nCOMMIT\n";
        assert_eq!(culprit_line(text, "Chain 'DRPO' does not exist", 4), 3);
    }
}
