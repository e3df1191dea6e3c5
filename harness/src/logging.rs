//! Logs where the user runs: netrig's `tracing` events shown under
//! `RUST_LOG` (e.g. `RUST_LOG=netrig=debug`) without the user installing a
//! subscriber.
//!
//! Two ways in, one subscriber per process, never a panic:
//! - `init` — called by the library on the first lab bring-up, for tests
//!   under libtest's own harness (`#[test]`): writes through libtest's
//!   capture (`with_test_writer`), so each test's lines are shown with that
//!   test's output, and names the thread (libtest names it after the test).
//! - the `testing` harness installs one writing to stderr
//!   (stdout carries `--list` and `--format json`); each test runs in a
//!   `test{name=…}` span, so every line made on its thread says which test.
//!
//! Either does nothing when a global subscriber is already set (the user's
//! own wins). Without `RUST_LOG`, warnings and errors are shown. Colour
//! codes only when the output is a terminal and `NO_COLOR` is unset.
//! Events from a lab's helper threads carry the lab in their `subject` field.

use std::io::IsTerminal;
use std::sync::Once;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

static INIT: Once = Once::new();

/// Installs netrig's subscriber for libtest tests, once per process: an
/// `RUST_LOG` filter, libtest's capture-aware writer, thread names (the test
/// names). Does nothing if a subscriber is already installed.
pub(crate) fn init() {
    INIT.call_once(|| {
        let ansi = std::io::stdout().is_terminal() && colour_allowed();
        install(|| {
            tracing_subscriber::fmt()
                .with_env_filter(filter())
                .with_test_writer()
                .with_thread_names(true)
                .with_ansi(ansi)
                .finish()
        });
    });
}

/// Installs the harness's subscriber (stderr, spans name the test), once.
#[cfg(feature = "testing")]
pub(crate) fn init_for_harness() {
    INIT.call_once(|| {
        let ansi = colour_allowed();
        install(|| {
            tracing_subscriber::fmt()
                .with_env_filter(filter())
                .with_writer(std::io::stderr)
                .with_ansi(ansi)
                .finish()
        });
    });
}

/// `RUST_LOG`, invalid directives dropped; warnings when unset.
fn filter() -> EnvFilter {
    EnvFilter::builder()
        .with_default_directive(LevelFilter::WARN.into())
        .from_env_lossy()
}

fn colour_allowed() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Sets `make()` as the global subscriber unless one is set. The `log`
/// crate's global logger is left alone (no `LogTracer`), so a user's
/// `env_logger::init()` later still works.
fn install<S>(make: impl FnOnce() -> S)
where
    S: tracing::Subscriber + Send + Sync + 'static,
{
    let _ = tracing::subscriber::set_global_default(make());
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    const CHILD: &str = "logging::tests::child_builds_a_lab";

    /// Under libtest's own harness a lab's events land in the test's captured
    /// output (shown with `--show-output`, hidden otherwise), each line naming
    /// the test's thread, without colour codes on a pipe.
    #[test]
    fn lab_events_reach_the_test_capture() {
        if !crate::privilege::should_run("lab_events_reach_the_test_capture").unwrap() {
            return;
        }
        let child = |extra: &[&str]| {
            let out = Command::new(std::env::current_exe().unwrap())
                .args(["--exact", CHILD, "--test-threads=1"])
                .args(extra)
                .env("NETRIG_LOGGING_CHILD", "1")
                .env("RUST_LOG", "netrig=debug")
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            String::from_utf8(out.stdout).unwrap()
        };
        let shown = child(&["--show-output"]);
        let section = shown
            .split_once(&format!("---- {CHILD} stdout ----"))
            .unwrap_or_else(|| panic!("no captured output section:\n{shown}"))
            .1;
        let line = section
            .lines()
            .find(|l| l.contains("lab up"))
            .unwrap_or_else(|| panic!("no `lab up` event in the capture:\n{shown}"));
        assert!(
            line.contains(CHILD),
            "the line names the test's thread: {line}"
        );
        assert!(!shown.contains('\x1b'), "colour codes on a pipe:\n{shown}");
        let hidden = child(&[]);
        assert!(
            !hidden.contains("lab up"),
            "a passing test's logs stay captured:\n{hidden}"
        );
    }

    /// A subscriber the user installed first stays: netrig's `init` neither
    /// panics nor replaces it (checked in a child process, whose global
    /// subscriber is still unset).
    #[test]
    fn the_users_subscriber_wins() {
        const OWN: &str = "logging::tests::child_with_its_own_subscriber";
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", OWN, "--test-threads=1"])
            .env("NETRIG_LOGGING_CHILD", "own")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("1 passed"),
            "{out:?}"
        );
    }

    /// Only does something as the child of the test above.
    #[test]
    fn child_with_its_own_subscriber() {
        if std::env::var("NETRIG_LOGGING_CHILD").as_deref() != Ok("own") {
            return;
        }
        tracing::subscriber::set_global_default(tracing::subscriber::NoSubscriber::default())
            .expect("no subscriber yet in the child");
        super::init();
        tracing::dispatcher::get_default(|d| {
            assert!(
                d.is::<tracing::subscriber::NoSubscriber>(),
                "replaced: {d:?}"
            )
        });
    }

    /// Only does something as the child of the test above it: builds a lab,
    /// so netrig installs its subscriber lazily.
    #[test]
    fn child_builds_a_lab() {
        if std::env::var("NETRIG_LOGGING_CHILD").as_deref() != Ok("1") {
            return;
        }
        crate::Lab::builder(crate::lab::unique_lab_name("log"))
            .node("a")
            .up()
            .unwrap();
    }
}
