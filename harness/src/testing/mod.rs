//! Testing with netrig: a test harness for `harness = false` test binaries
//! (feature `testing`, on by default), built on libtest-mimic — what `cargo
//! test` and `cargo nextest run` expect of a test binary, plus netrig's
//! privilege and feature skips — and a check through the kernel that a
//! program a lab started died with it ([`wait_for_exit`]).
//!
//! It owns three guarantees:
//! - **Skips are decided when tests are listed.** A test that cannot run
//!   here (no CAP_NET_ADMIN/CAP_SYS_ADMIN, a missing program or kernel
//!   feature) is *ignored*, with the reason: `cargo test` prints
//!   `ignored (reason)` and counts it, `cargo nextest run` shows `SKIP` and
//!   counts it skipped (JUnit `<skipped/>`). With `CI=true` or
//!   `NETRIG_REQUIRE_PRIVILEGES=1` an enforceable skip is a failure instead.
//! - **Every libtest argument works**: any number of filters, `--skip`
//!   (repeatable), `--exact`, `--list`, `--ignored`, `--include-ignored`,
//!   `--format pretty|terse|json`, `-q`, `--test-threads`, `--color`,
//!   `--logfile`; `--nocapture`, `--show-output`, `-Z unstable-options`,
//!   `--report-time`, `--shuffle` … are accepted (`--help` lists them).
//! - **Failures and logs are readable**: a failing `netrig::Result` prints
//!   the error's full report (expected, seen instead, where the evidence is
//!   kept); `RUST_LOG=netrig=debug` shows netrig's events, each line naming
//!   its test.
//!
//! # Setup
//!
//! In `Cargo.toml`, one section per test binary:
//!
//! ```toml
//! [[test]]
//! name = "firewall"
//! harness = false
//! ```
//!
//! and in `tests/firewall.rs`, plain functions and one line naming them:
//!
//! ```no_run
//! /// Outbound traffic is masqueraded (builds a lab: needs privileges).
//! fn outbound_is_masqueraded() -> netrig::Result<()> {
//!     // ... build a lab, send, expect ...
//!     Ok(())
//! }
//!
//! /// The ruleset renders (needs nothing: `#[plain]`).
//! fn ruleset_renders() {
//!     assert!(true);
//! }
//!
//! netrig::testing::main!(
//!     outbound_is_masqueraded,
//!     #[plain] ruleset_renders,
//! );
//! ```
//!
//! Tests built at run time (a matrix) use [`Test`] and [`run`] directly:
//! `fn main() -> ExitCode { netrig::testing::run(vec![Test::lab("a::b", || …)]) }`
//! (tests that mostly wait run more at once with `RUST_TEST_THREADS`, which
//! `main` may set when it is unset).
//!
//! # Converting a `#[test]` file
//!
//! Add its `[[test]] name = "…" harness = false` section; delete each
//! `#[test]` and each `if !netrig::privilege::should_run(…)? { return Ok(()); }`
//! (the harness decides); name the functions in `main!` at the bottom,
//! `#[plain]` for those that never checked privileges, `#[ignore = "…"]` for
//! `#[ignore]`d ones. `tests/capture.rs` is converted this way.
//!
//! # Under nextest
//!
//! nextest lists with `--list --format terse` and `--list --format terse
//! --ignored`, then runs each test in its own process with
//! `--exact NAME --nocapture` (plus `--ignored` for an ignored test it was
//! asked to run). A test ignored here shows as `SKIP`; its reason is on the
//! harness's stderr, which nextest does not show for listing —
//! `cargo nextest run --run-ignored only` runs those tests, and each fails
//! with its reason.

#[cfg(feature = "testing")]
mod args;
#[cfg(feature = "testing")]
mod run;
#[cfg(feature = "testing")]
mod test;

#[cfg(feature = "testing")]
pub use run::run;
#[cfg(feature = "testing")]
pub use test::{Skip, Test, TestResult};

/// Builds a `Vec<`[`Test`]`>` from test functions: each entry is a function
/// path (its name is the test's name: `nat::outbound` lists as
/// `nat::outbound`), optionally preceded by attributes:
///
/// - none: the test builds labs and needs privileges ([`Test::lab`]);
/// - `#[plain]`: it needs nothing ([`Test::plain`]);
/// - `#[ignore]`, `#[ignore = "reason"]`: ignored unless `--ignored`;
/// - doc comments (`/// …`) are allowed and ignored.
///
/// ```
/// fn a() {}
/// fn b() -> netrig::Result<()> { Ok(()) }
/// let tests = netrig::testing::tests![a, #[plain] #[ignore = "slow"] b];
/// assert_eq!(format!("{:?}", tests[1]).contains(r#"name: "b""#), true);
/// ```
#[doc(hidden)]
#[macro_export]
macro_rules! __netrig_testing_tests {
    ($( $(#[$($attr:tt)+])* $test:path ),* $(,)?) => {
        ::std::vec![$(
            $crate::__netrig_testing_attrs!(
                lab (::std::stringify!($test), $test) []
                $([$($attr)+])*
            )
        ),*]
    };
}

/// Applies one `main!`/`tests!` entry's attributes: which constructor of
/// [`Test`] (`lab`, or `plain`) and what follows it (`.ignore(..)`).
#[doc(hidden)]
#[macro_export]
macro_rules! __netrig_testing_attrs {
    ($kind:ident $args:tt [$($then:tt)*]) => {
        $crate::testing::Test::$kind $args $($then)*
    };
    ($kind:ident $args:tt [$($then:tt)*] [plain] $($rest:tt)*) => {
        $crate::__netrig_testing_attrs!(plain $args [$($then)*] $($rest)*)
    };
    ($kind:ident $args:tt [$($then:tt)*] [ignore = $reason:literal] $($rest:tt)*) => {
        $crate::__netrig_testing_attrs!($kind $args [$($then)* .ignore($reason)] $($rest)*)
    };
    ($kind:ident $args:tt [$($then:tt)*] [ignore] $($rest:tt)*) => {
        $crate::__netrig_testing_attrs!($kind $args [$($then)* .ignore("")] $($rest)*)
    };
    ($kind:ident $args:tt [$($then:tt)*] [doc = $doc:literal] $($rest:tt)*) => {
        $crate::__netrig_testing_attrs!($kind $args [$($then)*] $($rest)*)
    };
}

/// A test binary's `main`: `netrig::testing::main!(test_a, #[plain] test_b)`
/// runs the listed test functions with netrig's harness. Entries are as in
/// [`tests!`]; each function is `fn() -> netrig::Result<()>` (or any
/// `Result<(), impl Display>`) or `fn()` that panics to fail.
#[doc(hidden)]
#[macro_export]
macro_rules! __netrig_testing_main {
    ($($entries:tt)*) => {
        fn main() -> ::std::process::ExitCode {
            $crate::testing::run($crate::__netrig_testing_tests!($($entries)*))
        }
    };
}

#[cfg(feature = "testing")]
#[doc(inline)]
pub use crate::__netrig_testing_main as main;
#[cfg(feature = "testing")]
#[doc(inline)]
pub use crate::__netrig_testing_tests as tests;

/// Waits until process `pid` (any process, not only a child) has exited, up
/// to `timeout`, on a pidfd — it wakes the moment the process ends. Returns
/// whether it has exited; a pid that does not exist counts as exited.
///
/// A test shows with it that a program a lab started died with the lab
/// (`netrig down` waits for a kept lab's owner with it too).
///
/// ```
/// let me = std::process::id();
/// assert!(!netrig::testing::wait_for_exit(me, std::time::Duration::ZERO).unwrap());
/// ```
pub fn wait_for_exit(pid: u32, timeout: std::time::Duration) -> std::io::Result<bool> {
    crate::process::wait_for_exit(pid, timeout)
}
