//! Errors: one enum for the whole crate, each variant naming its subject.
//!
//! Every error says *what* failed and *which* lab, node, link, file or command
//! it concerns, and — where a person can act — what to do (install a package,
//! run as root, fix line N of a file). Variants are named after what failed,
//! never after the dependency that reported it.

use std::fmt;
use std::path::PathBuf;

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where in the lab an operation happened: `lab/node/link`, any part optional.
///
/// ```
/// let s = netrig::Subject::lab("t1").node("web").link("eth0");
/// assert_eq!(s.to_string(), "lab t1, node web, link eth0");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subject {
    /// The lab's name.
    pub lab: Option<Box<str>>,
    /// The node's name.
    pub node: Option<Box<str>>,
    /// The link or interface name.
    pub link: Option<Box<str>>,
}

impl Subject {
    /// A subject naming a lab.
    pub fn lab(name: impl Into<String>) -> Self {
        Subject {
            lab: Some(name.into().into_boxed_str()),
            ..Subject::default()
        }
    }
    /// The same subject, narrowed to a node.
    pub fn node(mut self, name: impl Into<String>) -> Self {
        self.node = Some(name.into().into_boxed_str());
        self
    }
    /// The same subject, narrowed to a link or interface.
    pub fn link(mut self, name: impl Into<String>) -> Self {
        self.link = Some(name.into().into_boxed_str());
        self
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(l) = &self.lab {
            parts.push(format!("lab {l}"));
        }
        if let Some(n) = &self.node {
            parts.push(format!("node {n}"));
        }
        if let Some(l) = &self.link {
            parts.push(format!("link {l}"));
        }
        if parts.is_empty() {
            f.write_str("(no lab)")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// Everything that can go wrong in netrig.
///
/// `Debug` prints the same multi-line report as `Display` (with the
/// variant's name first), so a test that returns `netrig::Result<()>` or
/// calls `.unwrap()` shows the whole report — expected, seen, evidence —
/// rather than one escaped line.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // Keep every variant small (Error must stay under clippy's 128-byte
    // `result_large_err` limit, which users' own test code is checked against).
    /// The process lacks CAP_NET_ADMIN / CAP_SYS_ADMIN.
    #[error(
        "netrig needs CAP_NET_ADMIN and CAP_SYS_ADMIN to create network namespaces ({detail}).\n\
         Run as root (`sudo -E cargo test`), or rootless inside user, network and mount namespaces (`unshare -Urnm cargo test`)."
    )]
    NotPrivileged {
        /// What was tried and how it failed.
        detail: String,
    },

    /// A namespace operation (unshare, setns, open, pin) failed.
    #[error("{subject}: cannot {op}: {source}")]
    Namespace {
        /// Where.
        subject: Subject,
        /// What was being done, e.g. "enter the namespace".
        op: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// A netlink request was refused by the kernel (or timed out).
    #[error("{subject}: {op} failed: {source}{hint}")]
    Netlink {
        /// Where.
        subject: Subject,
        /// What was requested, e.g. "create veth eth0 <-> vethab12".
        op: String,
        /// The kernel's errno (`raw_os_error()`), or a timeout.
        #[source]
        source: std::io::Error,
        /// What to do about it, where netrig knows (may be empty).
        hint: &'static str,
    },

    /// A user input (name, address, reference) is invalid; nothing was created.
    #[error("{subject}: invalid {field}: {message}")]
    Invalid {
        /// Where (the lab, and the node/link the input belongs to).
        subject: Subject,
        /// Which field, e.g. "node name", "address".
        field: String,
        /// Why it is invalid.
        message: String,
    },

    /// A topology file could not be read or is invalid.
    #[error("{file}: {message}", file = .file.display())]
    Topology {
        /// The file.
        file: PathBuf,
        /// The message, including line/column and key where known.
        message: String,
    },

    /// A rule file (or inline rules) was refused by its loader.
    #[error("{}", .0)]
    Rules(Box<RulesError>),

    /// A program the framework needs is not installed.
    #[error(
        "`{program}` is not installed (needed to {purpose}). {}",
        match .package {
            Some(p) => format!("Install it with `apt-get install {p}` (or run ci/setup.sh)."),
            None => "Install the package that provides it, or put it on PATH.".to_string(),
        }
    )]
    MissingProgram {
        /// The program, e.g. `iptables-nft-restore`.
        program: String,
        /// The Debian package that provides it, when netrig knows it.
        package: Option<String>,
        /// What netrig needed it for.
        purpose: String,
    },

    /// A command run inside a node failed.
    #[error("{subject}: `{argv}` exited with {}{stderr}", fmt_status(.status), stderr = fmt_stderr(.stderr))]
    Command {
        /// Where it ran.
        subject: Subject,
        /// The command line.
        argv: String,
        /// The exit status.
        status: std::process::ExitStatus,
        /// What it printed on stderr.
        stderr: String,
    },

    /// An I/O error on a file or socket that is not a namespace.
    #[error("{subject}: {op}: {source}")]
    Io {
        /// Where.
        subject: Subject,
        /// What was being done.
        op: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// A packet capture could not be opened or read.
    #[error("{subject}: capture: {message}")]
    Capture {
        /// The node and interface.
        subject: Subject,
        /// libpcap's message, with a hint.
        message: String,
    },

    /// An expectation on traffic was not met; the value says what was
    /// expected, what was seen and where the evidence is.
    #[error("{}", .0)]
    Expectation(Box<ExpectationFailure>),

    /// Teardown met several errors; all are reported.
    #[error("teardown of {subject} reported {} error(s):\n  {}", .errors.len(), .errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n  "))]
    Teardown {
        /// Which lab.
        subject: Subject,
        /// Every error met.
        errors: Vec<Error>,
    },
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Error::NotPrivileged { .. } => "NotPrivileged",
            Error::Namespace { .. } => "Namespace",
            Error::Netlink { .. } => "Netlink",
            Error::Invalid { .. } => "Invalid",
            Error::Topology { .. } => "Topology",
            Error::Rules(_) => "Rules",
            Error::MissingProgram { .. } => "MissingProgram",
            Error::Command { .. } => "Command",
            Error::Io { .. } => "Io",
            Error::Capture { .. } => "Capture",
            Error::Expectation(_) => "Expectation",
            Error::Teardown { .. } => "Teardown",
        };
        write!(f, "{name}: {self}")
    }
}

/// A failed expectation: its fields, for tools; its `Display`, for people.
#[derive(Debug, Clone)]
pub struct ExpectationFailure {
    /// The capture (lab, node, interface) or other subject it was about.
    pub subject: Subject,
    /// What was expected, e.g. `udp 198.51.100.10:53 within 1s`.
    pub expected: String,
    /// What was seen instead: one line per packet (tcpdump style) or fact.
    pub seen: Vec<String>,
    /// The evidence directory (rulesets, addresses, routes, conntrack, pcaps), if kept.
    pub evidence: Option<PathBuf>,
    /// The whole report as printed.
    pub report: String,
}

impl fmt::Display for ExpectationFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.report.trim_end())
    }
}

/// A ruleset its loader refused: where, and the tool's words.
#[derive(Debug, Clone)]
pub struct RulesError {
    /// The namespace the rules were loaded into.
    pub subject: Subject,
    /// The rule file, if the rules came from one.
    pub file: Option<PathBuf>,
    /// The 1-based line of the offending rule, when the tool said (for
    /// iptables-nft, the rule it named, not the `COMMIT` it reported).
    pub line: Option<usize>,
    /// That line's text.
    pub rule: Option<String>,
    /// The command line that loaded them.
    pub argv: String,
    /// What the tool printed.
    pub stderr: String,
    /// The topology file that named the rule file, when one did.
    pub named_by: Option<PathBuf>,
}

impl fmt::Display for RulesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let origin = self
            .file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "<rules>".into());
        write!(f, "{}: `{}` refused ", self.subject, self.argv)?;
        match (self.line, &self.rule) {
            (Some(n), Some(rule)) => write!(f, "{origin}:{n}: {}", rule.trim())?,
            (Some(n), None) => write!(f, "{origin}:{n}")?,
            _ => f.write_str(&origin)?,
        }
        if let Some(topology) = &self.named_by {
            write!(f, " (named in {})", topology.display())?;
        }
        if !self.stderr.trim().is_empty() {
            write!(f, "\n{}", self.stderr.trim())?;
        }
        Ok(())
    }
}

fn fmt_status(status: &std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(s)) => format!("signal {s}"),
        _ => status.to_string(),
    }
}

fn fmt_stderr(stderr: &str) -> String {
    let s = stderr.trim();
    if s.is_empty() {
        String::new()
    } else {
        format!(":\n{s}")
    }
}

impl Error {
    /// An `Invalid` error.
    pub fn invalid(subject: Subject, field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid {
            subject,
            field: field.into(),
            message: message.into(),
        }
    }

    /// A [`Error::MissingProgram`] for `program`, naming the Debian package
    /// that provides it when netrig knows it.
    pub fn missing_program(program: &str, purpose: impl Into<String>) -> Self {
        Error::MissingProgram {
            program: program.to_string(),
            package: crate::backend::package_for(program).map(str::to_string),
            purpose: purpose.into(),
        }
    }

    /// An `Io` error.
    pub fn io(subject: Subject, op: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            subject,
            op: op.into(),
            source,
        }
    }

    /// A failed expectation of the caller's own (a counter that did not
    /// move, a server that saw the wrong peer), reported like netrig's:
    /// `SUBJECT: expected …`, what was seen instead line by line, and the
    /// evidence directory if there is one (see `Lab::collect_evidence`).
    pub fn expectation(
        subject: Subject,
        expected: impl Into<String>,
        seen: Vec<String>,
        evidence: Option<PathBuf>,
    ) -> Self {
        let expected = expected.into();
        let mut report = format!("{subject}: expected {expected}\n");
        if seen.is_empty() {
            report.push_str("  seen instead: nothing\n");
        } else {
            report.push_str("  seen instead:\n");
            for l in &seen {
                report.push_str(&format!("    {l}\n"));
            }
        }
        if let Some(dir) = &evidence {
            report.push_str(&format!("  evidence kept in {}\n", dir.display()));
        }
        Error::Expectation(Box::new(ExpectationFailure {
            subject,
            expected,
            seen,
            evidence,
            report,
        }))
    }

    /// True when the error means "not allowed" (EPERM/EACCES) rather than a bug.
    pub(crate) fn is_permission(&self) -> bool {
        match self {
            Error::NotPrivileged { .. } => true,
            Error::Namespace { source, .. } | Error::Io { source, .. } => {
                matches!(
                    source.raw_os_error(),
                    Some(libc::EPERM) | Some(libc::EACCES)
                )
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_the_multi_line_report() {
        let e = Error::Expectation(Box::new(ExpectationFailure {
            subject: Subject::lab("l").node("n").link("eth0"),
            expected: "udp".into(),
            seen: vec!["a".into()],
            evidence: None,
            report: "lab l: expected udp\n  seen instead: a\n".into(),
        }));
        assert_eq!(
            format!("{e:?}"),
            "Expectation: lab l: expected udp\n  seen instead: a"
        );
    }

    #[test]
    fn error_stays_small() {
        assert!(
            std::mem::size_of::<Error>() <= 128,
            "{}",
            std::mem::size_of::<Error>()
        );
    }
}
