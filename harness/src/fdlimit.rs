//! The process's open-file limit, raised once from its soft value to its
//! hard one (as Go's runtime does at start): a lab holds a few fds per node
//! and a matrix one or two per cell at once, so a 500-cell matrix needs more
//! than the usual soft limit of 1024 (what `runuser` or a login gives). The
//! hard limit, set by the administrator, is left alone.

use std::sync::Once;

use nix::sys::resource::{Resource, getrlimit, setrlimit};

static RAISED: Once = Once::new();

/// Raises the soft `RLIMIT_NOFILE` to the hard one, once per process; a
/// failure is logged, not returned (the limit stays as it was).
pub(crate) fn raise() {
    RAISED.call_once(|| match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => tracing::debug!(from = soft, to = hard, "open-file limit raised"),
            Err(e) => tracing::debug!(soft, hard, error = %e, "open-file limit not raised"),
        },
        Ok(_) => {}
        Err(e) => tracing::debug!(error = %e, "open-file limit unknown"),
    });
}
