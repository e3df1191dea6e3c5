//! [`Namespace`]: the handle every system-layer operation takes — a network
//! namespace together with what its owner keeps for it (the processes
//! started in it, the artifacts directory, the names used in messages).
//!
//! Guarantees:
//! - a handle *owns* what keeps its namespace alive: a command, capture,
//!   server or socket helper made from it runs in that namespace for as long
//!   as it exists, also after the lab that made it was dropped — never
//!   anywhere else;
//! - the calling thread never changes namespace ([`Namespace::run`] works on
//!   a scoped thread inside it);
//! - a lab's namespaces share one [`Group`]: one process spawner and registry
//!   (everything still running is killed when the group goes), one artifacts
//!   directory, and the list of members that failure evidence is collected
//!   from.
//!
//! Firewall backends, captures, traffic, conntrack and proxies take
//! `&Namespace`, so rules can be loaded into any namespace, not only a lab's
//! node; a lab's `Node` dereferences to its `Namespace`.

use std::ffi::OsStr;
use std::path::Path;
use std::sync::{Arc, Mutex, Weak};

use crate::artifacts::Artifacts;
use crate::error::{Result, Subject};
use crate::netns::{Netns, NetnsOptions};
use crate::process::{NodeCommand, Processes};

/// Namespaces that live and die together (a lab's): their processes,
/// artifacts directory and members.
#[derive(Debug)]
pub(crate) struct Group {
    name: String,
    processes: Arc<Processes>,
    artifacts: Artifacts,
    members: Mutex<Vec<(String, Weak<Netns>)>>,
    /// Ruleset loads the kernel has committed whose tool is still being
    /// reaped, by namespace inode: their outcome is checked before the next
    /// firewall operation on that namespace ([`Namespace::settle_loads`]).
    pending: Mutex<Vec<(u64, PendingLoad)>>,
}

/// A committed ruleset load whose tool is still exiting: joined for its
/// exit status (a failure as the load's error).
pub(crate) type PendingLoad = std::thread::JoinHandle<Result<()>>;

impl Group {
    /// A group named `name` (a lab's name), with a fresh artifacts directory.
    pub(crate) fn new(name: &str) -> Result<Arc<Group>> {
        Ok(Arc::new(Group {
            name: name.to_string(),
            processes: Arc::new(Processes::new(name)),
            artifacts: Artifacts::create(name)?,
            members: Mutex::new(Vec::new()),
            pending: Mutex::new(Vec::new()),
        }))
    }

    /// The group's (lab's) name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The artifacts directory.
    pub(crate) fn artifacts(&self) -> &Artifacts {
        &self.artifacts
    }

    /// Adds a namespace to the group under the node name `node`.
    pub(crate) fn adopt(self: &Arc<Self>, node: &str, netns: Netns) -> Namespace {
        let netns = Arc::new(netns);
        self.members
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((node.to_string(), Arc::downgrade(&netns)));
        Namespace {
            netns,
            subject: Subject::lab(&self.name).node(node),
            group: self.clone(),
        }
    }

    /// Every member still alive, in the order they joined.
    pub(crate) fn members(self: &Arc<Self>) -> Vec<(String, Namespace)> {
        let members = self.members.lock().unwrap_or_else(|p| p.into_inner());
        members
            .iter()
            .filter_map(|(node, weak)| {
                let netns = weak.upgrade()?;
                Some((
                    node.clone(),
                    Namespace {
                        netns,
                        subject: Subject::lab(&self.name).node(node),
                        group: self.clone(),
                    },
                ))
            })
            .collect()
    }

    /// Kills every process still running in the group's namespaces.
    pub(crate) fn kill_processes(&self) {
        self.processes.kill_all();
    }

    /// Waits for every pending ruleset load of the group's namespaces
    /// (see [`Namespace::settle_loads`]): the first failure.
    pub(crate) fn settle_loads(&self) -> Result<()> {
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        join_loads(pending.into_iter().map(|(_, p)| p))
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.processes.kill_all();
    }
}

/// A handle on one network namespace (cheap to clone): the namespace
/// itself, the processes and artifacts of whoever owns it, and its subject.
///
/// Guarantees:
/// - a handle *owns* what keeps its namespace alive: a command, capture,
///   server or socket helper made from it runs in that namespace for as long
///   as it exists, also after the lab that made it was dropped — never
///   anywhere else;
/// - the calling thread never changes namespace ([`Namespace::run`] works on
///   a scoped thread inside it);
/// - a lab's namespaces share one process registry (everything still running
///   is killed when the lab goes) and one artifacts directory.
///
/// The firewall, captures, traffic, conntrack and proxies take
/// `&Namespace`; users reach them through a lab's [`crate::Node`].
#[derive(Clone)]
pub(crate) struct Namespace {
    netns: Arc<Netns>,
    subject: Subject,
    group: Arc<Group>,
}

impl std::fmt::Debug for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Namespace({}, inode {})",
            self.subject,
            self.netns.inode()
        )
    }
}

impl Namespace {
    /// A new namespace of its own (`lo` up, IPv6 off), outside any lab, with
    /// its own artifacts directory. Gone when the last handle (and everything
    /// made from it) is dropped.
    pub fn new(label: &str) -> Result<Namespace> {
        let group = Group::new(label)?;
        let subject = Subject::lab(label).node(label);
        let mut seeds = Netns::create_batch(&[(subject, NetnsOptions::default())])?;
        Ok(group.adopt(label, seeds.remove(0).netns))
    }

    /// Lab and node, for messages.
    pub(crate) fn subject(&self) -> &Subject {
        &self.subject
    }

    /// The node name.
    pub(crate) fn node_name(&self) -> &str {
        self.subject.node.as_deref().unwrap_or("?")
    }

    /// The namespace's inode number (as `ls -l /proc/PID/ns/net` shows it).
    pub fn inode(&self) -> u64 {
        self.netns.inode()
    }

    /// Runs `f` on a new thread inside the namespace and returns its result.
    ///
    /// Use it to create sockets, netlink connections and pcap handles: a
    /// socket stays in the namespace it was created in, whichever thread
    /// uses it later. The calling thread never changes namespace. Panics in
    /// `f` propagate.
    pub fn run<F, R>(&self, f: F) -> Result<R>
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        self.netns.run(f)
    }

    /// A command that will run inside the namespace (entered with `setns`
    /// before `exec`); it keeps the namespace alive until it is dropped.
    pub fn command(&self, program: impl AsRef<OsStr>) -> NodeCommand {
        NodeCommand::new(
            program,
            self.netns.clone(),
            self.subject.clone(),
            self.group.processes.clone(),
        )
    }

    /// Writes a sysctl inside the namespace (`net.ipv4.ip_forward` or
    /// `net/ipv4/conf/br-x.y/rp_filter`).
    pub fn sysctl_set(&self, key: &str, value: &str) -> Result<()> {
        self.netns.sysctl_set_all(&[(key, value)])
    }

    /// Writes several sysctls in order, from one thread inside the
    /// namespace (one `setns` for all); stops at the first that fails.
    pub(crate) fn sysctl_set_all(&self, pairs: &[(&str, &str)]) -> Result<()> {
        self.netns.sysctl_set_all(pairs)
    }

    /// Reads a sysctl inside the namespace (trimmed).
    pub fn sysctl_get(&self, key: &str) -> Result<String> {
        self.netns.sysctl_get(key)
    }

    /// The artifacts directory of the namespace's lab.
    pub fn artifacts_dir(&self) -> &Path {
        self.group.artifacts().path()
    }

    /// Keeps `load` (a ruleset load the kernel has committed, its tool still
    /// exiting) until the next firewall operation on this namespace.
    pub(crate) fn defer_load(&self, load: PendingLoad) {
        let inode = self.inode();
        (self.group.pending.lock().unwrap_or_else(|p| p.into_inner())).push((inode, load));
    }

    /// Waits for this namespace's pending ruleset loads (see
    /// [`Namespace::defer_load`]) and returns the first failure: a load
    /// that failed after the kernel committed part of it still fails the
    /// next operation, never lost. Every firewall operation calls it first.
    pub(crate) fn settle_loads(&self) -> Result<()> {
        let inode = self.inode();
        let mine: Vec<PendingLoad> = {
            let mut all = self.group.pending.lock().unwrap_or_else(|p| p.into_inner());
            let (mine, rest) = std::mem::take(&mut *all)
                .into_iter()
                .partition::<Vec<_>, _>(|(i, _)| *i == inode);
            *all = rest;
            mine.into_iter().map(|(_, p)| p).collect()
        };
        join_loads(mine)
    }

    pub(crate) fn group(&self) -> &Arc<Group> {
        &self.group
    }

    pub(crate) fn netns(&self) -> &Netns {
        &self.netns
    }
}

/// Joins `loads` (all of them) and returns the first failure.
fn join_loads(loads: impl IntoIterator<Item = PendingLoad>) -> Result<()> {
    let mut first = Ok(());
    for load in loads {
        let r = load.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        if first.is_ok() {
            first = r;
        }
    }
    first
}
