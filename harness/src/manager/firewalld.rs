//! firewalld as data: a host's `firewall-cmd` argument lists, the
//! `firewalld.conf` and D-Bus `system.conf` netrig gives it in a node, and
//! what Docker asks of a running firewalld (per layout, from moby's
//! `libnetwork/iptables/firewalld.go`).

use std::path::PathBuf;

use crate::docker::Version;

/// A host's firewalld: `firewall-cmd` argument lists run before the Docker
/// daemon starts and after it, and files of them added later
/// (`netrig diff --after firewalld:FILE`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Firewalld {
    /// `firewall-cmd` arguments before the daemon starts (`[before]
    /// firewalld`), e.g. `--zone=public --add-interface=eth0`.
    pub(crate) before: Vec<String>,
    /// `firewall-cmd` arguments once Docker's rules are in (`[after] firewalld`).
    pub(crate) after: Vec<String>,
    /// Files of `firewall-cmd` arguments, one list a line, run after
    /// [`Firewalld::after`].
    pub(crate) command_files: Vec<PathBuf>,
}

impl Firewalld {
    /// Whether the host runs firewalld at all.
    pub(crate) fn is_used(&self) -> bool {
        !(self.before.is_empty() && self.after.is_empty() && self.command_files.is_empty())
    }
}

/// The `firewalld.conf` firewalld reads in a node: Debian 1.3.3's settings,
/// nftables backend. firewalld 1.3.3 has no `StrictForwardPorts` (added in
/// 2.3): its `filter_FORWARD` accepts every DNATed packet (`ct status dnat
/// accept`), so nothing in a zone constrains Docker's published ports.
pub(crate) const CONF: &str = "\
# /etc/firewalld/firewalld.conf as netrig gives it to firewalld in a node.
DefaultZone=public
CleanupOnExit=yes
CleanupModulesOnExit=no
Lockdown=no
IPv6_rpfilter=yes
IndividualCalls=no
LogDenied=off
FirewallBackend=nftables
FlushAllOnReload=yes
RFC3964_IPv4=yes
";

/// The configuration of the node's own D-Bus system bus: root only, no
/// service activation, listening on `socket` (in the lab's directory).
pub(crate) fn bus_config(socket: &std::path::Path) -> String {
    format!(
        "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n \
         \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n\
         <!-- netrig: a private system bus for firewalld in one node. -->\n\
         <busconfig>\n  <type>system</type>\n  <auth>EXTERNAL</auth>\n  \
         <listen>unix:path={}</listen>\n  <policy context=\"default\">\n    \
         <allow user=\"root\"/>\n    <allow own=\"*\"/>\n    \
         <allow send_destination=\"*\"/>\n    <allow receive_sender=\"*\"/>\n  \
         </policy>\n</busconfig>\n",
        socket.display()
    )
}

/// `firewall-cmd`'s argv for `command` (`--zone=public --add-service=ssh`,
/// or with a leading `firewall-cmd`): words as a shell would split them.
pub(crate) fn argv(command: &str) -> Result<Vec<String>, String> {
    let mut words = super::ufw::words(command)?;
    if words.first().is_some_and(|w| w == "firewall-cmd") {
        words.remove(0);
    }
    match words.first() {
        None => Err("an empty firewall-cmd argument list".into()),
        Some(w) if !w.starts_with("--") => Err(format!(
            "{command:?}: firewall-cmd takes options (`--zone=public --add-service=ssh`)"
        )),
        Some(_) => Ok(words),
    }
}

/// Whether `argv` reloads firewalld (after which Docker re-applies its rules).
pub(crate) fn reloads(argv: &[String]) -> bool {
    argv.iter()
        .any(|a| a == "--reload" || a == "--complete-reload")
}

/// What the Docker daemon asks of a running firewalld at start, as
/// `firewall-cmd` argument lists (the same D-Bus calls `firewall-cmd`
/// makes): the permanent `docker` zone with target ACCEPT
/// (`setupDockerZone`, every version), from 27.0 the permanent
/// `docker-forwarding` policy (`setupDockerForwardingPolicy`: ingress ANY,
/// egress `docker`, ACCEPT), then a reload for them to take effect.
pub(crate) fn docker_setup(release: Version) -> Vec<Vec<String>> {
    let mut out = vec![
        vec!["--permanent", "--new-zone=docker"],
        vec!["--permanent", "--zone=docker", "--set-target=ACCEPT"],
        vec![
            "--permanent",
            "--zone=docker",
            "--set-description=zone for docker bridge network interfaces",
        ],
    ];
    if release >= Version::new(27, 0, 0) {
        out.extend([
            vec!["--permanent", "--new-policy=docker-forwarding"],
            vec![
                "--permanent",
                "--policy=docker-forwarding",
                "--add-ingress-zone=ANY",
            ],
            vec![
                "--permanent",
                "--policy=docker-forwarding",
                "--add-egress-zone=docker",
            ],
            vec![
                "--permanent",
                "--policy=docker-forwarding",
                "--set-target=ACCEPT",
            ],
        ]);
    }
    out.push(vec!["--reload"]);
    out.into_iter()
        .map(|v| v.into_iter().map(String::from).collect())
        .collect()
}

/// What Docker asks for each of its bridges (`AddInterfaceFirewalld`, at
/// runtime — a reload forgets it, and Docker's reload handler asks again).
pub(crate) fn docker_bridge(bridge: &str) -> Vec<String> {
    vec!["--zone=docker".into(), format!("--add-interface={bridge}")]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Argument lists split as a shell would; a bare word is refused.
    #[test]
    fn argv_splits_and_refuses_non_options() {
        assert_eq!(
            argv("firewall-cmd --zone=public --add-rich-rule='rule family=\"ipv4\" accept'")
                .unwrap(),
            [
                "--zone=public",
                "--add-rich-rule=rule family=\"ipv4\" accept"
            ]
        );
        assert!(argv("reload").is_err());
        assert!(argv("").is_err());
        assert!(reloads(&argv("--reload").unwrap()));
    }

    /// The docker-forwarding policy is 27.0+, the zone every version's.
    #[test]
    fn docker_setup_per_version() {
        let classic = docker_setup(Version::new(20, 10, 24));
        assert!(
            !classic
                .iter()
                .flatten()
                .any(|a| a.contains("docker-forwarding"))
        );
        assert_eq!(classic.last().unwrap(), &["--reload"]);
        let v28 = docker_setup(Version::new(27, 0, 3));
        assert!(
            v28.iter()
                .flatten()
                .any(|a| a == "--add-egress-zone=docker")
        );
    }
}
