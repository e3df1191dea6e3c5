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
#[derive(Debug, thiserror::Error)]
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

    /// A netlink request was refused by the kernel.
    #[error("{subject}: {op} failed: {message}")]
    Netlink {
        /// Where.
        subject: Subject,
        /// What was requested, e.g. "create veth eth0 <-> vethab12".
        op: String,
        /// The kernel's answer (errno text), with a hint where one helps.
        message: String,
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

    /// A program the framework needs is not installed.
    #[error(
        "`{program}` is not installed (needed to {purpose}). Install it with `apt-get install {package}` (or run ci/setup)."
    )]
    MissingProgram {
        /// The program, e.g. `iptables-nft-restore`.
        program: String,
        /// The Debian package that provides it.
        package: String,
        /// What netrig needed it for.
        purpose: String,
    },

    /// A command run inside a node failed.
    #[error("{subject}: `{argv}` exited with {status}{stderr}", stderr = fmt_stderr(.stderr))]
    Command {
        /// Where it ran.
        subject: Subject,
        /// The command line.
        argv: String,
        /// The exit status (text).
        status: String,
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

    /// An expectation on traffic was not met. The message carries the evidence.
    #[error("{0}")]
    Expectation(String),

    /// The kernel lacks a feature a lab asked for.
    #[error("the kernel lacks {feature}: {hint}")]
    Unsupported {
        /// The feature, e.g. "the netem qdisc".
        feature: String,
        /// What to do instead.
        hint: String,
    },

    /// Teardown met several errors; all are reported.
    #[error("teardown of {subject} reported {} error(s):\n  {}", .errors.len(), .errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n  "))]
    Teardown {
        /// Which lab.
        subject: Subject,
        /// Every error met.
        errors: Vec<Error>,
    },
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

    /// An `Io` error.
    pub fn io(subject: Subject, op: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            subject,
            op: op.into(),
            source,
        }
    }

    /// True when the error means "not allowed" (EPERM/EACCES) rather than a bug.
    pub fn is_permission(&self) -> bool {
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
