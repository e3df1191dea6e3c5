//! [`DockerPart`]: a handle on one emulated Docker host of a running lab —
//! its model, its nodes, its rules and counters.

use std::net::IpAddr;
use std::path::Path;

use super::PartState;
use crate::docker::DockerHost;
use crate::error::{Error, Result, Subject};
use crate::firewall::Counters;
use crate::lab::{Lab, Node};

/// One emulated Docker host of a running [`Lab`] ([`Lab::docker`]): a
/// Docker host file's lab has the part `"host"`; a generic lab has one per
/// `[[docker]]` entry, named as its host's node.
///
/// ```no_run
/// let lab = netrig::topology::load("topologies/docker-bridge.toml")?.up()?;
/// let docker = lab.docker("host")?;
/// let web = docker.container("web")?;              // the container's node
/// println!("{}", docker.rules()?);                  // Docker's rules, with counters
/// # Ok::<_, netrig::Error>(())
/// ```
#[derive(Clone, Copy)]
pub struct DockerPart<'lab> {
    lab: &'lab Lab,
    state: &'lab PartState,
}

impl std::fmt::Debug for DockerPart<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.state.fmt(f)
    }
}

impl<'lab> DockerPart<'lab> {
    pub(crate) fn new(lab: &'lab Lab, state: &'lab PartState) -> Self {
        DockerPart { lab, state }
    }

    /// The part's name: its host's node.
    pub(crate) fn name(&self) -> &'lab str {
        self.state.name()
    }

    /// The model the host runs: networks, containers, addresses, the
    /// rules Docker made (containers started since `up` included).
    pub fn model(&self) -> &'lab DockerHost {
        self.state.model()
    }

    /// The host's own node.
    pub fn host(&self) -> Result<Node<'lab>> {
        self.lab.node(self.name())
    }

    /// Container `name`'s node (a host-mode or `container:` container's is
    /// the namespace it shares).
    pub fn container(&self, name: &str) -> Result<Node<'lab>> {
        let model = self.model();
        if model.container(name).is_none() {
            let names: Vec<&str> = model.containers().iter().map(|c| c.name.as_str()).collect();
            return Err(Error::invalid(
                Subject::lab(self.lab.name()),
                "container",
                format!(
                    "Docker host {} has no container named {name:?} (containers: {})",
                    self.name(),
                    names.join(", ")
                ),
            ));
        }
        self.lab.node(&self.state.spec.node(name))
    }

    /// The lab node name of a container's traffic (or of `host`).
    pub(crate) fn node_of(&self, container: &str) -> String {
        self.state.spec.node(&self.model().node_of(container))
    }

    /// The host's uplink address in the model (what masqueraded traffic
    /// carries as its source).
    pub fn uplink_ip(&self) -> IpAddr {
        IpAddr::V4(self.model().host_uplink_ip())
    }

    /// The host's ruleset as its backend's tool prints it, with counters.
    pub fn rules(&self) -> Result<String> {
        self.model().backend().save(self.host()?.ns())
    }

    /// Per-rule counters of the host's ruleset.
    pub fn counters(&self) -> Result<Counters> {
        self.model().backend().counters(self.host()?.ns())
    }

    /// Loads a user rule file into the host after Docker's rules: an nft
    /// file (`.nft`) with `nft -f`, anything else as an iptables-save
    /// fragment with the host's iptables backend (`--noflush`). A malformed
    /// file fails with the tool's message, naming the file and line.
    pub fn apply_rules_file(&self, path: &Path) -> Result<()> {
        self.model()
            .load_rule_file(self.host()?.ns(), path, "loading user rules")
    }

    /// Whether this is a Docker host file's own lab (nodes named `host`,
    /// `internet` and as the containers), not a part of a generic lab.
    pub(crate) fn standalone(&self) -> bool {
        self.state.spec.standalone
    }
}
