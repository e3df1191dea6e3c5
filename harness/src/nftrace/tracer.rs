//! The system side of nftrace: inside one namespace, subscribe to the
//! kernel's trace events, add netrig's trace table, collect events, remove it.
//!
//! Guarantees: the socket is created inside the namespace (it hears only that
//! namespace) and subscribed *before* the trace rule is added, so no event of
//! a traced packet is missed; the trace table is removed on [`Tracer::stop`] and,
//! best effort, on drop. Needs CAP_NET_ADMIN over the namespace only (works
//! under `unshare -Urn`). Depends on the lab only through [`Namespace::run`].

use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU32, Ordering};

use rtnetlink::sys::{Socket, constants::NETLINK_NETFILTER};

use super::decode::{TraceEvent, decode_datagram};
use crate::Namespace;
use crate::backend::{Backend, LoadMode};
use crate::error::{Error, Result};
use crate::firewall;

/// Priority of netrig's trace chains: before raw (-300), conntrack (-200)
/// and every iptables-nft or Docker chain, so every later chain is traced.
pub(crate) const TRACE_PRIORITY: i32 = -350;

static NEXT_TABLE: AtomicU32 = AtomicU32::new(0);

/// Trace events of one namespace, being collected: every traced packet of
/// the namespace, including packets another tracer there selected (filter
/// by headers, as [`super::trace_sources_at`] does by protocol and source
/// port). Started with its selectors ([`Tracer::start_with_sets`]: subscribed
/// and tracing on return), stopped with [`Tracer::stop`] (table removed).
#[derive(Debug)]
pub struct Tracer<'ns> {
    ns: &'ns Namespace,
    socket: Socket,
    table: String,
    events: Vec<TraceEvent>,
    undecodable: usize,
    installed: bool,
}

impl<'ns> Tracer<'ns> {
    /// Subscribes to trace events in `ns`, then adds table `inet
    /// netrig_trace_<pid>_<n>` with chains on prerouting and output at
    /// priority -350 (before raw, conntrack and every iptables-nft chain),
    /// with one rule `<selector> meta nftrace set 1` per selector. A selector
    /// is an nft match (`ip daddr 10.0.0.2 udp dport 7000`); no selectors
    /// traces every packet. Named sets are declared in the trace table first
    /// (`set tcp4 { typeof … ; elements = { … } }`), for selectors that look
    /// many probes up at once (`… @tcp4`): one set element per probe costs
    /// `nft` far less than one rule per probe.
    pub(crate) fn start_with_sets<S: AsRef<str>>(
        ns: &'ns Namespace,
        sets: &[String],
        selectors: &[S],
    ) -> Result<Tracer<'ns>> {
        let socket = ns.run(subscribe)?.map_err(|e| {
            Error::io(
                ns.subject().clone(),
                "subscribe to nftrace events (NETLINK_NETFILTER, NFNLGRP_NFTRACE)",
                e,
            )
        })?;
        let table = format!(
            "netrig_trace_{}_{}",
            std::process::id(),
            NEXT_TABLE.fetch_add(1, Ordering::Relaxed)
        );
        let mut tracer = Tracer {
            ns,
            socket,
            table,
            events: Vec::new(),
            undecodable: 0,
            installed: false,
        };
        let mut rules: Vec<String> = selectors
            .iter()
            .map(|sel| format!("\t\t{} meta nftrace set 1\n", sel.as_ref().trim()))
            .collect();
        if rules.is_empty() {
            rules.push("\t\tmeta nftrace set 1\n".into());
        }
        let rules = rules.concat();
        let p = TRACE_PRIORITY;
        let sets: String = sets.iter().map(|d| format!("\t{}\n", d.trim())).collect();
        let script = format!(
            "table inet {t} {{\n{sets}\
             \tchain pre {{\n\t\ttype filter hook prerouting priority {p}; policy accept;\n{rules}\t}}\n\
             \tchain out {{\n\t\ttype filter hook output priority {p}; policy accept;\n{rules}\t}}\n}}\n",
            t = tracer.table
        );
        firewall::run(
            ns,
            &Backend::Nftables.load_argv(LoadMode::Append),
            Some(&script),
        )?;
        tracer.installed = true;
        tracing::debug!(subject = %ns.subject(), table = %tracer.table, selectors = selectors.len(), "nftrace started");
        Ok(tracer)
    }

    /// The name of netrig's trace table (its events are part of [`Tracer::events`]).
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Events collected so far.
    pub fn events(&self) -> &[TraceEvent] {
        &self.events
    }

    /// A duplicate of the event socket's fd, to poll beside other fds.
    pub(crate) fn wakeup_fd(&self) -> std::io::Result<std::os::fd::OwnedFd> {
        self.socket.as_fd().try_clone_to_owned()
    }

    /// Reads every event already queued, without waiting.
    pub fn drain(&mut self) -> Result<()> {
        while self.read_one()? {}
        Ok(())
    }

    /// Reads what is queued, removes the trace table and returns every event.
    pub fn stop(mut self) -> Result<Vec<TraceEvent>> {
        self.drain()?;
        self.remove_table()?;
        tracing::debug!(subject = %self.ns.subject(), table = %self.table,
            events = self.events.len(), undecodable = self.undecodable, "nftrace stopped");
        Ok(std::mem::take(&mut self.events))
    }

    fn remove_table(&mut self) -> Result<()> {
        if std::mem::take(&mut self.installed) {
            let argv = Backend::nft_delete_table_argv("inet", &self.table);
            firewall::run(self.ns, &argv, None)?;
        }
        Ok(())
    }

    /// One datagram: true if one was read.
    fn read_one(&mut self) -> Result<bool> {
        let mut buf = Vec::with_capacity(64 * 1024);
        let n = match self.socket.recv(&mut buf, libc::MSG_DONTWAIT) {
            Ok(n) => n.min(buf.len()),
            Err(e) => {
                return match e.raw_os_error() {
                    Some(libc::EAGAIN) | Some(libc::EINTR) => Ok(false),
                    Some(libc::ENOBUFS) => Err(self.io(
                        "read trace events (the socket buffer overflowed: events were lost)",
                        e,
                    )),
                    _ => Err(self.io("read trace events", e)),
                };
            }
        };
        for ev in decode_datagram(&buf[..n]) {
            match ev {
                Ok(ev) => self.events.push(ev),
                Err(e) => {
                    self.undecodable += 1;
                    tracing::debug!(error = %e, "undecodable trace message");
                }
            }
        }
        Ok(true)
    }

    fn io(&self, op: &str, e: std::io::Error) -> Error {
        Error::io(self.ns.subject().clone(), op, e)
    }
}

impl Drop for Tracer<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.remove_table() {
            tracing::warn!(table = %self.table, error = %e, "could not remove the trace table");
        }
    }
}

/// On a thread inside the namespace: a NETLINK_NETFILTER socket in
/// NFNLGRP_NFTRACE, with a receive buffer big enough for a burst of events.
fn subscribe() -> std::io::Result<Socket> {
    let mut socket = Socket::new(NETLINK_NETFILTER)?;
    socket.bind_auto()?;
    let size: usize = 4 << 20;
    if nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::RcvBufForce, &size).is_err()
    {
        socket.set_rx_buf_sz(size)?; // capped at rmem_max when unprivileged
    }
    socket.add_membership(libc::NFNLGRP_NFTRACE as u32)?;
    Ok(socket)
}
