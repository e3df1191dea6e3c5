//! What the echo servers share: a serving thread inside the node, a log of
//! what it saw that tests can wait on, and a stop signal for drop.

use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::StopFd;
use crate::error::{Error, Result, Subject};

/// Events a server records (peers, datagrams), with a condvar to wait on.
#[derive(Debug)]
pub(crate) struct Log<T> {
    seen: Mutex<Vec<T>>,
    changed: Condvar,
}

impl<T: Clone> Log<T> {
    /// Records one event and wakes waiters.
    pub(crate) fn push(&self, event: T) {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(event);
        self.changed.notify_all();
    }

    fn snapshot(&self) -> Vec<T> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A serving thread plus its log; stops (and joins) on drop.
pub(crate) struct Server<T> {
    pub(crate) addr: SocketAddr,
    pub(crate) subject: Subject,
    log: Arc<Log<T>>,
    stop: StopFd,
    thread: Option<std::thread::JoinHandle<()>>,
    kind: &'static str,
}

impl<T: Clone + Send + 'static> Server<T> {
    /// Starts `serve(log, stop)` on a thread named after `kind`.
    pub(crate) fn start(
        kind: &'static str,
        addr: SocketAddr,
        subject: Subject,
        serve: impl FnOnce(&Log<T>, &StopFd) + Send + 'static,
    ) -> Result<Server<T>> {
        let log = Arc::new(Log {
            seen: Mutex::new(Vec::new()),
            changed: Condvar::new(),
        });
        let stop = StopFd::new(&subject)?;
        let thread = {
            let (log, stop) = (log.clone(), stop.try_clone(&subject)?);
            std::thread::Builder::new()
                .name(format!("netrig-{kind}"))
                .spawn(move || serve(&log, &stop))
                .map_err(|e| Error::io(subject.clone(), "start the server thread", e))?
        };
        tracing::debug!(%subject, %addr, kind, "server listening");
        Ok(Server {
            addr,
            subject,
            log,
            stop,
            thread: Some(thread),
            kind,
        })
    }

    /// Everything recorded so far, in order.
    pub(crate) fn seen(&self) -> Vec<T> {
        self.log.snapshot()
    }

    /// Waits up to `timeout` until some recorded event satisfies `pred`;
    /// returns whether one did.
    pub(crate) fn wait_until(&self, timeout: Duration, pred: impl Fn(&T) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut seen = self.log.seen.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if seen.iter().any(&pred) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            seen = self
                .log
                .changed
                .wait_timeout(seen, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Waits up to `timeout` until `n` events were recorded; `what` names them
    /// in the error ("TCP connection(s)", "datagram(s)").
    pub(crate) fn wait_for(
        &self,
        n: usize,
        timeout: Duration,
        what: &str,
        show: impl Fn(&T) -> String,
    ) -> Result<Vec<T>> {
        let deadline = Instant::now() + timeout;
        let mut seen = self.log.seen.lock().unwrap_or_else(|p| p.into_inner());
        while seen.len() < n {
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::expectation(
                    self.subject.clone(),
                    format!(
                        "{n} {what} on {} within {timeout:?}, got {}",
                        self.addr,
                        seen.len()
                    ),
                    seen.iter().map(show).collect(),
                    None,
                ));
            }
            seen = self
                .log
                .changed
                .wait_timeout(seen, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        Ok(seen.clone())
    }
}

impl<T> Drop for Server<T> {
    fn drop(&mut self) {
        self.stop.signal();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        tracing::debug!(subject = %self.subject, addr = %self.addr, kind = self.kind, "server stopped");
    }
}
