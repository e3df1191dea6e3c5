//! Real ufw on an emulated Docker host: the owner's commands before the
//! daemon starts (their rules become the rules Docker's are replayed on)
//! and after it (ufw edits its own chains around Docker's), run by
//! `crate::confined::ufw` in the host's node.

use crate::confined::ufw;
use crate::docker::DockerHost;
use crate::error::{Error, Result};
use crate::manager::commands_in;

impl DockerHost {
    /// Runs the `[before] ufw` commands in `host`; when they left rules
    /// there, the host rebuilt with them as the rules there before Docker
    /// (`None`: ufw not used, or no rule of ufw's loaded).
    pub(super) fn ufw_before_docker(&self, host: &crate::Namespace) -> Result<Option<DockerHost>> {
        let spec = self.ufw();
        if !spec.is_used() {
            return Ok(None);
        }
        let commands: Vec<(String, String)> = (spec.before.iter().enumerate())
            .map(|(i, c)| (format!("[before] ufw[{i}]"), c.clone()))
            .collect();
        ufw::run(host, spec, &commands)?;
        let saved = ufw::save_rules(host)?;
        let text = std::fs::read_to_string(&saved).unwrap_or_default();
        if !text.contains(":ufw-") {
            return Ok(None);
        }
        tracing::debug!(node = host.node_name(), file = %saved.display(), "ufw's rules before Docker");
        self.with_existing_rules_first(saved).map(Some)
    }

    /// Runs the `[after] ufw` commands, then each file of ufw commands, in `host`.
    pub(super) fn ufw_after_docker(&self, host: &crate::Namespace) -> Result<()> {
        let spec = self.ufw();
        if !spec.is_used() {
            return Ok(());
        }
        let mut commands: Vec<(String, String)> = (spec.after.iter().enumerate())
            .map(|(i, c)| (format!("[after] ufw[{i}]"), c.clone()))
            .collect();
        for f in &spec.command_files {
            let text = std::fs::read_to_string(f).map_err(|e| Error::Topology {
                file: f.clone(),
                message: format!("cannot read the file of ufw commands: {e}"),
            })?;
            commands.extend(
                commands_in(&text)
                    .into_iter()
                    .map(|(n, c)| (format!("{}:{n}", f.display()), c)),
            );
        }
        ufw::run(host, spec, &commands)
    }
}
