//! One test of a netrig test binary: its name, its body, and what it needs
//! to run here (privileges, a feature probed by a check, or nothing).

use std::fmt;

use crate::privilege;

/// Why a test cannot run here, and whether CI must treat that as a failure;
/// what a [`Test::needs`] check returns. It prints as its reason.
///
/// ```
/// use netrig::testing::Skip;
/// let s = Skip::unless_required("nft is not installed (package nftables)");
/// assert_eq!(s.to_string(), "nft is not installed (package nftables)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    reason: String,
    detail: Option<String>,
    enforceable: bool,
}

impl Skip {
    /// A skip that becomes a failure when privileges are required (`CI=true`
    /// or `NETRIG_REQUIRE_PRIVILEGES=1`): something CI must provide —
    /// privileges, an installable program.
    pub fn unless_required(reason: impl Into<String>) -> Skip {
        Skip {
            reason: reason.into(),
            detail: None,
            enforceable: true,
        }
    }

    /// A skip everywhere, CI included: the machine cannot do it (the kernel
    /// lacks a feature).
    pub fn always(reason: impl Into<String>) -> Skip {
        Skip {
            reason: reason.into(),
            detail: None,
            enforceable: false,
        }
    }

    /// The same skip with a longer explanation (what failed, how to fix
    /// it), printed once per run and in the failure when the skip is enforced.
    pub(crate) fn with_detail(mut self, detail: impl Into<String>) -> Skip {
        self.detail = Some(detail.into());
        self
    }

    /// Why the test cannot run, in one line.
    pub(crate) fn reason(&self) -> &str {
        &self.reason
    }

    /// The longer explanation, if any.
    pub(crate) fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// Whether `CI=true` / `NETRIG_REQUIRE_PRIVILEGES=1` turn this skip into a failure.
    pub(crate) fn is_enforceable(&self) -> bool {
        self.enforceable
    }
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

/// What a test function may return: `()` (a test that panics to fail) or
/// `Result<(), E>` for any displayable `E` (`netrig::Result<()>`, `Box<dyn Error>`, …).
///
/// A failure is reported with the error's full `Display` (`{:#}`): for a
/// [`crate::Error`] that is the multi-line report — expected, seen instead,
/// and where the evidence is kept. Sealed: these two are all there is.
pub trait TestResult: sealed::Report {}

impl TestResult for () {}

impl<E: fmt::Display> TestResult for Result<(), E> {}

mod sealed {
    use std::fmt;

    /// A test function's outcome as the harness reports it.
    pub trait Report {
        /// `Ok` for a pass, `Err(report)` for a failure.
        fn into_report(self) -> Result<(), String>;
    }

    impl Report for () {
        fn into_report(self) -> Result<(), String> {
            Ok(())
        }
    }

    impl<E: fmt::Display> Report for Result<(), E> {
        fn into_report(self) -> Result<(), String> {
            self.map_err(|e| format!("Error: {e:#}"))
        }
    }
}

/// A check run once, when the harness decides whether a test can run here.
pub(crate) type Check = Box<dyn FnOnce() -> Option<Skip> + Send>;

/// A test body, reporting a failure as text.
pub(crate) type Body = Box<dyn FnOnce() -> Result<(), String> + Send>;

/// A test: a name, a body, and what it needs.
///
/// Most netrig tests build labs: [`Test::lab`]. Tests that need nothing
/// (rendering, parsing): [`Test::plain`]. The [`main!`](crate::testing::main)
/// macro builds these from function names.
pub struct Test {
    pub(crate) name: String,
    pub(crate) body: Body,
    pub(crate) needs_lab: bool,
    pub(crate) ignore: Option<String>,
    pub(crate) checks: Vec<Check>,
}

impl Test {
    /// A test that builds labs: it needs CAP_NET_ADMIN and CAP_SYS_ADMIN
    /// (root, or `unshare -Urnm`). Without them it is listed as ignored with
    /// the reason — or fails, saying why, under `CI=true` /
    /// `NETRIG_REQUIRE_PRIVILEGES=1`.
    pub fn lab<F, R>(name: impl Into<String>, body: F) -> Test
    where
        F: FnOnce() -> R + Send + 'static,
        R: TestResult,
    {
        Test {
            needs_lab: true,
            ..Test::plain(name, body)
        }
    }

    /// A test that needs no privileges: it always runs.
    pub fn plain<F, R>(name: impl Into<String>, body: F) -> Test
    where
        F: FnOnce() -> R + Send + 'static,
        R: TestResult,
    {
        Test {
            name: name.into(),
            body: Box::new(move || sealed::Report::into_report(body())),
            needs_lab: false,
            ignore: None,
            checks: Vec::new(),
        }
    }

    /// Ignored unless `--ignored` / `--include-ignored`, like `#[ignore = "reason"]`.
    pub fn ignore(mut self, reason: impl Into<String>) -> Test {
        self.ignore = Some(reason.into());
        self
    }

    /// Adds a check of something else the test needs (a program, a kernel
    /// feature): `Some(skip)` means it cannot run here. Checks run at most
    /// once, only for tests the command line selects, when the harness lists
    /// ignored tests (`--list --ignored`) or runs; for a [`Test::lab`] only
    /// once privileges are known to be there, so a check may build a probe lab.
    pub fn needs<C>(mut self, check: C) -> Test
    where
        C: FnOnce() -> Option<Skip> + Send + 'static,
    {
        self.checks.push(Box::new(check));
        self
    }

    /// Runs the checks: why this test cannot run here, if it cannot.
    pub(crate) fn blocker(&mut self) -> Option<Skip> {
        if self.needs_lab
            && let Err(e) = privilege::check()
        {
            return Some(Skip::unless_required(NOT_PRIVILEGED).with_detail(e.to_string()));
        }
        self.checks.drain(..).find_map(|check| check())
    }
}

impl fmt::Debug for Test {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Test")
            .field("name", &self.name)
            .field("needs_lab", &self.needs_lab)
            .field("ignore", &self.ignore)
            .field("checks", &self.checks.len())
            .finish_non_exhaustive()
    }
}

/// The reason of a lab test's skip without privileges.
pub(crate) const NOT_PRIVILEGED: &str =
    "not privileged: cannot create network namespaces (needs CAP_NET_ADMIN and CAP_SYS_ADMIN)";

/// Which variable turns skips into failures (for the failure message), if any.
pub(crate) fn requirement_source() -> Option<&'static str> {
    let truthy = |k: &str| {
        std::env::var(k).is_ok_and(|v| {
            let v = v.to_ascii_lowercase();
            !(v.is_empty() || v == "0" || v == "false" || v == "no")
        })
    };
    if !privilege::privileges_required() {
        None
    } else if truthy("NETRIG_REQUIRE_PRIVILEGES") {
        Some("NETRIG_REQUIRE_PRIVILEGES is set")
    } else {
        Some("CI is set")
    }
}

#[cfg(test)]
mod tests {
    use super::Skip;

    /// An `unless_required` skip turns into a failure when privileges are
    /// required; an `always` skip never does.
    #[test]
    fn skip_enforceability() {
        let s = Skip::unless_required("nft is not installed (package nftables)");
        assert!(s.is_enforceable());
        assert!(!Skip::always("the kernel lacks the netem qdisc").is_enforceable());
    }
}
