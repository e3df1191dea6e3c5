//! Daemon restarts ([`Event::RestartDaemon`]) and `docker start` of the
//! containers they stopped ([`Event::StartExisting`]): which sequences are
//! valid. Which networks and containers a restart leaves, in which order, is
//! [`DockerHost::timeline`]; what it does to the rules is per layout: for the
//! 28+ layouts a rebuild (recorded for Docker 28.5.2: user networks' rules
//! first, the default bridge's last), for the classic one the replay in
//! `iptables.rs` (recorded for Docker 20.10.24: rules kept, flushed chains
//! refilled in network-id order, the default bridge re-created on top).
//!
//! [`DockerHost::timeline`]: super::DockerHost::timeline

use std::collections::BTreeSet;

use super::container::Container;
use super::host::Event;
use super::layout::Daemon;

/// Checks a restart or `docker start` event against what ran before it.
/// `stopped` holds the containers a restart stopped and no start restarted.
/// The error names the container (if any) and says what is wrong.
pub(crate) fn check(
    ev: &Event,
    d: &Daemon,
    started: &[Container],
    stopped: &mut BTreeSet<String>,
) -> Result<(), (Option<String>, String)> {
    match ev {
        Event::RestartDaemon => {
            if !d.backend.is_iptables() {
                return Err((
                    None,
                    format!(
                        "daemon restarts are emulated with an iptables backend (recorded from \
                         Docker 20.10.24 and 28.5.2), not {} (layout {})",
                        d.backend, d.layout
                    ),
                ));
            }
            stopped.extend(started.iter().map(|c| c.name.clone()));
            Ok(())
        }
        Event::StartExisting(name) => {
            if !started.iter().any(|c| &c.name == name) {
                return Err((Some(name.clone()), format!("No such container: {name}")));
            }
            if !stopped.remove(name) {
                return Err((
                    Some(name.clone()),
                    format!("container {name} is already running (only a daemon restart stops it)"),
                ));
            }
            Ok(())
        }
        Event::CreateNetwork(_) | Event::StartContainer(_) => Ok(()),
    }
}
