//! An emulated Docker host as one part of a larger lab (a generic topology's
//! `[[docker]]` entry): its nodes were built with the rest of the lab
//! ([`DockerHost::part_spec`]); this installs what the daemon makes in them —
//! the rules there before Docker, Docker's ruleset, its kernel settings,
//! its proxies and port reservations, then the user's rule files.

use crate::docker::{DockerHost, KernelSetting, part_node};
use crate::error::Result;
use crate::lab::Lab;
use crate::proxy::Proxy;
use crate::spec::LabSpec;

/// A Docker host running as a part of a larger lab. Its nodes are the lab's
/// ([`DockerPart::node_of`]); dropping it stops its proxies and releases
/// its ports.
pub struct DockerPart {
    name: String,
    proxies: Vec<Proxy>,
    reserved: Vec<std::os::fd::OwnedFd>,
    host: DockerHost,
}

impl std::fmt::Debug for DockerPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerPart")
            .field("name", &self.name)
            .field("proxies", &self.proxies.len())
            .field("reserved_ports", &self.reserved.len())
            .finish()
    }
}

impl DockerPart {
    /// The part's name: its host's node name in the lab.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The model it was built from.
    pub fn model(&self) -> &DockerHost {
        &self.host
    }
    /// The lab node of a container's traffic (the host's own node for
    /// host-mode containers), or of `host`.
    pub fn node_of(&self, container: &str) -> String {
        part_node(&self.name, &self.host.node_of(container))
    }

    /// The part's host once `next` replaced it (a container started), with
    /// `held` ports added.
    pub(super) fn started(&mut self, next: DockerHost, held: super::HeldPorts) {
        self.proxies.extend(held.proxies);
        self.reserved.extend(held.reserved);
        self.host = next;
    }
}

impl DockerHost {
    /// Installs the daemon's work into the part `part` of `lab` (built from
    /// `spec`, which holds this host's [`DockerHost::part_spec`]): returns
    /// once rules are loaded, settings applied and ports held.
    pub(crate) fn install_part(&self, lab: &Lab, spec: &LabSpec, part: &str) -> Result<DockerPart> {
        let _span = tracing::debug_span!("docker_part_up", part).entered();
        let userns = crate::privilege::in_user_namespace();
        let host = lab.node(part)?;
        self.load_rules(&host, std::time::Instant::now())?;
        let settings: Vec<KernelSetting> = self
            .settings_to_apply(userns)
            .into_iter()
            .map(|s| super::renamed(s, |n| part_node(part, n)))
            .collect();
        super::apply_settings(lab, spec, &settings)?;
        let mut proxies = Vec::new();
        let mut reserved = Vec::new();
        for wildcard in [true, false] {
            let held = self.hold_ports(&host, wildcard)?;
            proxies.extend(held.proxies);
            reserved.extend(held.reserved);
        }
        for file in self.rule_files() {
            self.load_rule_file(&host, file, "loading user rules")?;
        }
        Ok(DockerPart {
            name: part.to_string(),
            proxies,
            reserved,
            host: self.clone(),
        })
    }
}
