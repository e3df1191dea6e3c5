//! The tests' shorthand for a Docker host file's lab (its part `host`,
//! nodes `host`, `internet` and one per container) and for bringing a Docker
//! model up as its own lab.

use std::net::{IpAddr, Ipv4Addr};

use netrig::docker::{Attachment, DockerHost, Networking};
use netrig::{Lab, LabSpec, Node, Result};

/// A Docker host file's lab, by its fixed node names.
pub trait HostLab {
    /// The internet node.
    fn internet(&self) -> Result<Node<'_>>;
    /// The Docker host's node.
    fn host_node(&self) -> Result<Node<'_>>;
    /// A container's node.
    fn container(&self, name: &str) -> Result<Node<'_>>;
    /// The host's uplink address.
    fn host_uplink_ip(&self) -> IpAddr;
    /// The internet's server addresses: the IPv4 addresses on its `lo`
    /// (198.51.100.10 for a model that names none).
    fn internet_servers(&self) -> Result<Vec<Ipv4Addr>>;
    /// The host's model.
    fn model(&self) -> &DockerHost;
    /// The host's ruleset with counters.
    fn rules(&self) -> Result<String>;
    /// The host's rule counters.
    fn counters(&self) -> Result<netrig::Counters>;
    /// Loads a rule file into the host after Docker's rules.
    fn apply_rules_file(&self, path: &std::path::Path) -> Result<()>;
}

impl HostLab for Lab {
    fn internet(&self) -> Result<Node<'_>> {
        self.node("internet")
    }
    fn host_node(&self) -> Result<Node<'_>> {
        self.docker("host")?.host()
    }
    fn container(&self, name: &str) -> Result<Node<'_>> {
        self.docker("host")?.container(name)
    }
    fn host_uplink_ip(&self) -> IpAddr {
        self.docker("host")
            .expect("a Docker host file's lab")
            .uplink_ip()
    }
    fn internet_servers(&self) -> Result<Vec<Ipv4Addr>> {
        let addrs = self.internet()?.addresses()?;
        Ok((addrs.into_iter())
            .filter(|(ifname, _)| ifname == "lo")
            .filter_map(|(_, a)| match a.addr() {
                IpAddr::V4(ip) if !ip.is_loopback() => Some(ip),
                _ => None,
            })
            .collect())
    }
    fn model(&self) -> &DockerHost {
        self.docker("host")
            .unwrap_or_else(|e| panic!("not a Docker host's lab: {e}"))
            .model()
    }
    fn rules(&self) -> Result<String> {
        self.docker("host")?.rules()
    }
    fn counters(&self) -> Result<netrig::Counters> {
        self.docker("host")?.counters()
    }
    fn apply_rules_file(&self, path: &std::path::Path) -> Result<()> {
        self.docker("host")?.apply_rules_file(path)
    }
}

/// Brings a Docker model up as its own lab.
pub trait Up {
    /// `LabSpec::from(self.clone()).up()`.
    fn up(&self) -> Result<Lab>;
}

impl Up for DockerHost {
    fn up(&self) -> Result<Lab> {
        LabSpec::from(self.clone()).up()
    }
}

/// A container's place on its first network (bridge mode), from the model.
pub fn first_attachment<'a>(model: &'a DockerHost, container: &str) -> Option<&'a Attachment> {
    let c = model.containers().iter().find(|c| c.name == container)?;
    match &c.networking {
        Networking::Bridge(attachments) => attachments.first(),
        _ => None,
    }
}

/// A Docker host file's model.
pub fn model_of(spec: &LabSpec) -> DockerHost {
    spec.docker_host("host")
        .expect("a Docker host file")
        .clone()
}
