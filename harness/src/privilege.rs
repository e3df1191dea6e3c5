//! Privileges: whether this process may build labs, and what a test should
//! do when it may not.
//!
//! A lab needs CAP_NET_ADMIN and CAP_SYS_ADMIN (for `unshare(CLONE_NEWNET)`).
//! Outside CI a test without them is *skipped visibly*; in CI (`CI=true`) or
//! with `NETRIG_REQUIRE_PRIVILEGES=1` a missing privilege is a failure.

use crate::error::{Error, Result};

/// Whether missing privileges must fail rather than skip.
pub(crate) fn privileges_required() -> bool {
    let truthy = |v: std::ffi::OsString| {
        let v = v.to_string_lossy().to_ascii_lowercase();
        !(v.is_empty() || v == "0" || v == "false" || v == "no")
    };
    std::env::var_os("NETRIG_REQUIRE_PRIVILEGES").is_some_and(truthy)
        || std::env::var_os("CI").is_some_and(truthy)
}

/// Checks that namespaces can be created, by creating (and dropping) one.
///
/// Returns [`Error::NotPrivileged`] with instructions when they cannot.
pub fn check() -> Result<()> {
    static RESULT: std::sync::OnceLock<std::result::Result<(), String>> =
        std::sync::OnceLock::new();
    RESULT
        .get_or_init(|| match crate::Namespace::new("privilege-probe") {
            Ok(_) => Ok(()),
            Err(e @ Error::NotPrivileged { .. }) => Err(match e {
                Error::NotPrivileged { detail } => detail,
                _ => unreachable!(),
            }),
            Err(e) if e.is_permission() => Err(e.to_string()),
            Err(_) => Ok(()),
        })
        .clone()
        .map_err(|detail| Error::NotPrivileged { detail })
}

/// What a test should do about privileges: `Ok(true)` run, `Ok(false)` skip
/// (after printing why), `Err` fail (CI, or `NETRIG_REQUIRE_PRIVILEGES=1`).
///
/// ```no_run
/// #[test]
/// fn my_lab_test() -> netrig::Result<()> {
///     if !netrig::privilege::should_run("my_lab_test")? {
///         return Ok(());
///     }
///     // ... build a lab ...
///     Ok(())
/// }
/// ```
pub fn should_run(test: &str) -> Result<bool> {
    match check() {
        Ok(()) => Ok(true),
        Err(e) if privileges_required() => Err(e),
        Err(e) => {
            // Through std's stderr handle, not eprintln!: libtest hides what
            // passing tests print with the macros, and a skip must be seen.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: not privileged: {e}\n  (set NETRIG_REQUIRE_PRIVILEGES=1 to make this a failure)"
            );
            Ok(false)
        }
    }
}

/// Whether this process runs in a user namespace that does not map every
/// uid (rootless `unshare -Ur`), where some sysctls (e.g. `ping_group_range`
/// to all gids) cannot be set.
pub(crate) fn in_user_namespace() -> bool {
    std::fs::read_to_string("/proc/self/uid_map")
        .map(|m| m.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"])
        .unwrap_or(false)
}
