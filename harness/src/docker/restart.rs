//! Daemon restarts ([`Event::RestartDaemon`]) and `docker start` of the
//! containers they stopped ([`Event::StartExisting`]): which sequences are
//! valid. What a restart does to the rules is in [`DockerHost::timeline`]
//! (recorded for Docker 28.5.2: no duplicates, user networks' rules first and
//! the default bridge's last, stopped containers' rules gone).
//!
//! [`DockerHost::timeline`]: super::DockerHost::timeline

use std::collections::BTreeSet;

use super::container::Container;
use super::host::Event;
use super::layout::DaemonOptions;

/// Checks a restart or `docker start` event against what ran before it.
/// `stopped` holds the containers a restart stopped and no start restarted.
/// The error names the container (if any) and says what is wrong.
pub(crate) fn check(
    ev: &Event,
    d: &DaemonOptions,
    started: &[Container],
    stopped: &mut BTreeSet<String>,
) -> Result<(), (Option<String>, String)> {
    match ev {
        Event::RestartDaemon => {
            if !d.layout.is_modern() || !d.backend.is_iptables() {
                return Err((
                    None,
                    format!(
                        "daemon restarts are emulated for layouts v28 and v29 with an iptables backend \
                         (recorded from Docker 28.5.2), not layout {} with {}",
                        d.layout, d.backend
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
