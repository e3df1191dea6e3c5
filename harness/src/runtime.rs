//! The lab's private async runtime: the single-threaded tokio runtime that
//! drives its netlink sockets, hidden behind a synchronous API.
//!
//! Guarantee: usable from any caller — a plain thread, a `#[tokio::test]`, a
//! `#[tokio::main]` of either flavour. Inside someone else's runtime a
//! `block_on` would panic ("Cannot start a runtime from within a runtime"),
//! so there the future is driven on a scoped helper thread instead; dropping
//! the runtime there shuts it down in the background rather than blocking.

use std::future::Future;

use crate::error::{Error, Result, Subject};

/// A current-thread tokio runtime with a context-safe `block_on`.
#[derive(Debug)]
pub(crate) struct Runtime {
    rt: Option<tokio::runtime::Runtime>,
}

/// Whether the calling thread is inside a tokio runtime.
fn in_async_context() -> bool {
    tokio::runtime::Handle::try_current().is_ok()
}

impl Runtime {
    /// Starts the runtime (no thread of its own: it runs inside `block_on`).
    pub(crate) fn new(subject: &Subject) -> Result<Runtime> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io(subject.clone(), "start the lab's tokio runtime", e))?;
        Ok(Runtime { rt: Some(rt) })
    }

    fn rt(&self) -> &tokio::runtime::Runtime {
        self.rt.as_ref().expect("the runtime lives until drop")
    }

    /// Runs `f` to completion, from whatever context the caller is in.
    pub(crate) fn block_on<F>(&self, f: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send,
    {
        if in_async_context() {
            std::thread::scope(|scope| {
                std::thread::Builder::new()
                    .name("netrig-block-on".into())
                    .spawn_scoped(scope, || self.rt().block_on(f))
                    .expect("spawn a thread to drive the lab's runtime")
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p))
            })
        } else {
            self.rt().block_on(f)
        }
    }

    /// Enters the runtime's context (to register sockets with its reactor).
    pub(crate) fn enter(&self) -> tokio::runtime::EnterGuard<'_> {
        self.rt().enter()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            if in_async_context() {
                rt.shutdown_background();
            } else {
                drop(rt);
            }
        }
    }
}
