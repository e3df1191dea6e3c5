//! The lab: owner of a set of named nodes (each a network namespace), the
//! links between them, their processes, pins and artifacts directory.
//!
//! Guarantees:
//! - [`LabSpec::up`] validates everything first; a bad input creates nothing;
//! - building is pipelined: namespaces are made in a batch (one thread per
//!   core for big labs), then each phase (bridges, veths, addresses, routes,
//!   neighbours) is sent as concurrent netlink requests;
//! - a lab is returned only when every veth is operationally up, so traffic
//!   sent right away is not dropped;
//! - dropping a `Lab` kills its processes, removes its pins and closes its
//!   namespaces, so the kernel destroys everything it created — also when the
//!   process is killed, because nothing outlives the fds but pins;
//! - the calling thread never changes namespace.

mod artifacts;
mod build;
mod node;
mod plan;
mod spec;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

pub use artifacts::Artifacts;
pub use node::{Interface, Node};
pub use plan::{IFNAME_MAX, check_ifname, check_name, parse_cidr};
pub use spec::{AddressSpec, BridgeSpec, Endpoint, LabSpec, LinkSpec, NodeSpec, Route, RouteSpec};

use crate::error::{Error, Result, Subject};
use crate::netlink::Netlink;
use crate::netns::{Netns, Pin};
use crate::process::{ProcessRegistry, Spawner};

/// One node's kernel state.
#[derive(Debug)]
pub(crate) struct NodeState {
    pub(crate) name: String,
    pub(crate) netlink: Netlink,
    pub(crate) first_free_ifindex: u32,
    pub(crate) interfaces: Mutex<BTreeMap<String, Interface>>,
    pub(crate) netns: Netns,
}

/// A running lab. See the [module docs](self).
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
    name: String,
    registry: ProcessRegistry,
    spawner: Arc<Spawner>,
    pins: Mutex<Vec<Pin>>,
    nodes: Vec<NodeState>,
    names: BTreeMap<String, usize>,
    rt: tokio::runtime::Runtime,
    artifacts: Artifacts,
}

impl std::fmt::Debug for Lab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lab")
            .field("name", &self.name)
            .field("nodes", &self.names.keys().collect::<Vec<_>>())
            .field("artifacts", &self.artifacts.path())
            .finish()
    }
}

static LAB_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name unique within this process, e.g. `lab-4242-3`.
pub fn unique_lab_name(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        LAB_COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

impl Lab {
    /// Starts describing a lab named `name`.
    pub fn builder(name: impl Into<String>) -> LabSpec {
        LabSpec::new(name)
    }

    /// Validates `spec` and builds it. On error nothing is left behind.
    pub fn up(spec: LabSpec) -> Result<Lab> {
        crate::logging::init();
        let _span = tracing::debug_span!("lab_up", lab = %spec.name).entered();
        let plan = plan::plan(&spec)?;
        build::build(plan)
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

    /// The artifacts directory.
    pub fn artifacts(&self) -> &Artifacts {
        &self.artifacts
    }

    /// The artifacts directory's path.
    pub fn artifacts_dir(&self) -> &Path {
        self.artifacts.path()
    }

    /// Pins every namespace (not aliases) under `dir` as `LAB-NODE`, so that
    /// `ip netns exec LAB-NODE …` works when `dir` is `/run/netns`. Pins are
    /// removed when the lab is dropped.
    pub fn pin_all(&self, dir: &Path) -> Result<Vec<(String, PathBuf)>> {
        let mut out = Vec::new();
        let mut pins = self.pins.lock().unwrap_or_else(|p| p.into_inner());
        for n in &self.nodes {
            let path = dir.join(format!("{}-{}", self.name, n.name));
            let pin = n.netns.pin(&path)?;
            out.push((n.name.clone(), pin.path().to_path_buf()));
            pins.push(pin);
        }
        Ok(out)
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
        let subject = Subject::lab(&self.name);
        drop(self);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Teardown { subject, errors })
        }
    }

    /// Runs a future on the lab's runtime (the one driving its netlink sockets).
    pub(crate) fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    pub(crate) fn state(&self, idx: usize) -> &NodeState {
        &self.nodes[idx]
    }

    pub(crate) fn registry(&self) -> &ProcessRegistry {
        &self.registry
    }

    pub(crate) fn spawner(&self) -> &Arc<Spawner> {
        &self.spawner
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _span = tracing::debug_span!("lab_down", lab = %self.name).entered();
        self.registry.kill_all();
        self.pins.lock().unwrap_or_else(|p| p.into_inner()).clear();
        tracing::debug!(namespaces = self.nodes.len(), "closing namespaces");
    }
}
