//! The lab: owner of a set of named nodes (each a network namespace), the
//! links between them, their processes, pins and artifacts directory, and
//! what runs in it — its emulated Docker hosts, servers and programs.

mod adopt;
mod build;
pub(crate) mod docker;
mod grow;
#[cfg(test)]
mod lab_tests;
mod node;
mod node_io;
mod running;
mod up;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use crate::runtime::Runtime;

pub(crate) use build::Building;
pub use docker::DockerPart;
pub(crate) use node::Interface;
pub use node::Node;
pub(crate) use running::Running;

use crate::error::{Error, Result, Subject};
use crate::evidence::Evidence;
use crate::namespace::{Group, Namespace};
use crate::netlink::Netlink;
use crate::netns::Pin;
use crate::spec::LabSpec;
use crate::wiring::Wiring;

/// One node's kernel state.
#[derive(Debug)]
pub(crate) struct NodeState {
    pub(crate) name: String,
    pub(crate) netlink: Netlink,
    pub(crate) interfaces: Mutex<BTreeMap<String, Interface>>,
    pub(crate) ns: Namespace,
}

impl NodeState {
    /// Records an interface the lab made in this node (by name).
    pub(crate) fn record(&self, iface: Interface) {
        self.interfaces
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(iface.name.clone(), iface);
    }
}

/// A running lab.
///
/// Guarantees:
/// - [`LabSpec::up`] validates everything first; a bad input creates nothing;
/// - building is pipelined: namespaces are made in a batch (one thread per
///   core for big labs), then each phase (bridges, veths, addresses, routes,
///   neighbours) is sent as concurrent netlink requests;
/// - a lab is returned only when every veth is operationally up and every
///   IPv6 address has its local route, so traffic sent right away is not
///   dropped;
/// - dropping a `Lab` kills its processes, removes its pins and closes its
///   namespaces, so the kernel destroys everything it created — also when the
///   process is killed, because nothing outlives the fds but pins;
/// - the calling thread never changes namespace.
///
/// ```no_run
/// use netrig::{Endpoint, Lab};
/// let lab = Lab::builder("demo")
///     .node("a")
///     .node("b")
///     .link(Endpoint::new("a", "eth0").addr("10.0.0.1/24"), Endpoint::new("b", "eth0").addr("10.0.0.2/24"))
///     .up()?;
/// let out = lab.node("a")?.command("ping").args(["-c1", "-W1", "10.0.0.2"]).checked_output()?;
/// # Ok::<_, netrig::Error>(())
/// ```
pub struct Lab {
    // Fields drop in order: what runs in the lab before its namespaces.
    running: Running,
    spec: LabSpec,
    name: String,
    group: Arc<Group>,
    pins: Mutex<Vec<Pin>>,
    nodes: Vec<NodeState>,
    names: BTreeMap<String, usize>,
    rt: Runtime,
}

impl std::fmt::Debug for Lab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lab")
            .field("name", &self.name)
            .field("nodes", &self.names.keys().collect::<Vec<_>>())
            .field("artifacts", &self.artifacts_dir())
            .finish()
    }
}

static LAB_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name unique within this process, e.g. `lab-4242-3`: labs are
/// independent anyway (nothing of theirs is named outside their own
/// namespaces), this only keeps artifacts directories and pins apart.
pub fn unique_lab_name(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        LAB_COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

impl Lab {
    /// Starts describing a lab named `name`; [`LabSpec::up`] builds it.
    pub fn builder(name: impl Into<String>) -> LabSpec {
        LabSpec::new(name)
    }

    /// Validates `spec` and builds it. On error nothing is left behind.
    pub(crate) fn build(spec: &Wiring) -> Result<Lab> {
        Lab::begin(spec)?.finish()
    }

    /// Validates `spec` and creates its namespaces only; [`Building::finish`]
    /// builds the rest. What needs only a namespace (a ruleset load) can run
    /// in between, overlapping the links' creation. On error nothing is left behind.
    pub(crate) fn begin(spec: &Wiring) -> Result<Building> {
        crate::logging::init();
        let _span = tracing::debug_span!("lab_up", lab = %spec.name).entered();
        let plan = crate::wiring::plan(spec)?;
        build::start(plan)
    }

    /// As [`Lab::begin`], but node `first`'s namespace is created before the
    /// others and handed to `early` the moment it exists: what needs only
    /// that namespace (a ruleset load, listeners on wildcard addresses)
    /// starts while the other namespaces are made. Returns `early`'s value
    /// with the half-built lab.
    pub(crate) fn begin_with<R>(
        spec: &Wiring,
        first: &str,
        early: impl FnOnce(&Namespace) -> R,
    ) -> Result<(Building, R)> {
        crate::logging::init();
        let _span = tracing::debug_span!("lab_up", lab = %spec.name).entered();
        let plan = crate::wiring::plan(spec)?;
        let index = plan
            .nodes
            .iter()
            .position(|n| n.name == first)
            .ok_or_else(|| {
                Error::invalid(
                    Subject::lab(&spec.name),
                    "node",
                    format!("no node named {first:?} to create first"),
                )
            })?;
        let (building, value) = build::start_with(plan, Some(index), early)?;
        Ok((building, value.expect("`early` ran on the first namespace")))
    }

    /// The lab's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The node (or alias) named `name`.
    pub fn node(&self, name: &str) -> Result<Node<'_>> {
        match self.names.get(name) {
            Some(&idx) => Ok(Node::new(self, idx, name)),
            None => Err(Error::invalid(
                Subject::lab(&self.name),
                "node",
                format!(
                    "no node named {name:?} (nodes: {})",
                    self.names.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )),
        }
    }

    /// Names of all nodes and aliases, sorted.
    pub fn node_names(&self) -> Vec<String> {
        self.names.keys().cloned().collect()
    }

    /// Names of the nodes that own a namespace (no aliases), in creation order.
    pub fn namespace_names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// The artifacts directory: pcaps and failure evidence. Removed when the
    /// lab is dropped after a success; kept (path printed) after a failed
    /// expectation or a panic, or with `NETRIG_KEEP_ARTIFACTS=1`.
    pub fn artifacts_dir(&self) -> &Path {
        self.group.artifacts().path()
    }

    /// Pins every namespace (not aliases) under `dir` as `LAB-NODE`, so that
    /// `ip netns exec LAB-NODE …` works when `dir` is `/run/netns`. Pins are
    /// removed when the lab is dropped.
    pub fn pin_all(&self, dir: &Path) -> Result<Vec<(String, PathBuf)>> {
        let mut out = Vec::new();
        let mut pins = self.pins.lock().unwrap_or_else(|p| p.into_inner());
        for n in &self.nodes {
            let path = dir.join(format!("{}-{}", self.name, n.name));
            let pin = n.ns.netns().pin(&path)?;
            out.push((n.name.clone(), pin.path().to_path_buf()));
            pins.push(pin);
        }
        Ok(out)
    }

    /// Checks a lab name (1–64 of `[A-Za-z0-9_.-]`, starting with a letter
    /// or digit) the way [`LabSpec::up`] will.
    pub fn check_name(name: &str) -> Result<()> {
        crate::net::check_name(name).map_err(|m| Error::invalid(Subject::lab(name), "lab name", m))
    }

    /// Takes the lab down now and reports every problem met on the way
    /// (dropping it does the same, but can only log them): kills its
    /// processes, removes its pins, closes its namespaces.
    pub fn down(self) -> Result<()> {
        let pins = std::mem::take(&mut *self.pins.lock().unwrap_or_else(|p| p.into_inner()));
        let mut errors = Vec::new();
        for pin in pins {
            let path = pin.path().to_path_buf();
            if let Err(e) = pin.remove() {
                errors.push(Error::io(
                    Subject::lab(&self.name),
                    format!("remove pin {}", path.display()),
                    e,
                ));
            }
        }
        // A ruleset load `up` returned from once the kernel had committed
        // it: its tool's exit status, reported rather than dropped.
        if let Err(e) = self.group.settle_loads() {
            errors.push(e);
        }
        let subject = Subject::lab(&self.name);
        drop(self);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Teardown { subject, errors })
        }
    }

    /// Runs a future on the lab's runtime (the one driving its netlink sockets).
    pub(crate) fn block_on<F: std::future::Future + Send>(&self, f: F) -> F::Output
    where
        F::Output: Send,
    {
        self.rt.block_on(f)
    }

    pub(crate) fn state(&self, idx: usize) -> &NodeState {
        &self.nodes[idx]
    }
}

impl Lab {
    /// Keeps the artifacts directory and writes every node's state (rulesets
    /// with counters, addresses, routes, neighbours, conntrack) into a new
    /// `failure-N` directory in it — what a failed expectation does.
    pub fn collect_evidence(&self, reason: &str) -> Result<Evidence> {
        crate::evidence::collect(&self.group, reason)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _span = tracing::debug_span!("lab_down", lab = %self.name).entered();
        for p in &self.running.parts {
            p.signal_stop();
        }
        self.group.kill_processes();
        self.pins.lock().unwrap_or_else(|p| p.into_inner()).clear();
        tracing::debug!(namespaces = self.nodes.len(), "closing namespaces");
    }
}
