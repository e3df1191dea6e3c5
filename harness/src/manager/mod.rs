//! The firewall managers users type into — ufw and firewalld — as data (pure layer): the
//! commands a topology gives for before and after the Docker daemon starts,
//! the manager's own files a user edited, and what netrig reads back from
//! the manager's state (which command made which rule). The confined runs
//! of the real program are `crate::confined`'s.

mod firewalld;
mod ufw;

pub(crate) use firewalld::{
    CONF as FIREWALLD_CONF, Firewalld, argv as firewalld_argv, bus_config,
    docker_bridge as firewalld_docker_bridge, docker_setup as firewalld_docker_setup,
    reloads as firewalld_reloads,
};
pub(crate) use ufw::{
    DEFAULTS as UFW_DEFAULTS, OWN_FILES as UFW_OWN_FILES, Ufw, argv as ufw_argv, commands_in,
    netns_sysctls, sources as ufw_sources, tuples as ufw_tuples,
};

/// The firewall manager a host runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Manager {
    /// Debian's ufw.
    Ufw,
    /// firewalld.
    Firewalld,
}

impl std::fmt::Display for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Manager::Ufw => "ufw",
            Manager::Firewalld => "firewalld",
        })
    }
}

impl Manager {
    /// The manager a file of commands is for, by its first command: a
    /// `firewall-cmd` argument list (`--zone=…`, or a leading
    /// `firewall-cmd`) is firewalld's, anything else ufw's (`None`: no command).
    pub(crate) fn of_commands(text: &str) -> Option<Manager> {
        let (_, first) = commands_in(text).into_iter().next()?;
        Some(
            if first.starts_with("--") || first.split_whitespace().next() == Some("firewall-cmd") {
                Manager::Firewalld
            } else {
                Manager::Ufw
            },
        )
    }

    /// Checks each command of `text` is one this manager takes: `Err((line, why))`.
    pub(crate) fn check_commands(self, text: &str) -> Result<(), (usize, String)> {
        for (n, c) in commands_in(text) {
            let parsed = match self {
                Manager::Ufw => ufw_argv(&c),
                Manager::Firewalld => firewalld_argv(&c),
            };
            parsed.map_err(|m| (n, format!("not a {self} command: {m}")))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Manager;

    /// A file's first command names its manager; each line is checked against it.
    #[test]
    fn a_files_first_command_names_its_manager() {
        let fw = "# open 8081\n--zone=public --add-port=8081/tcp\nfirewall-cmd --reload\n";
        assert_eq!(Manager::of_commands(fw), Some(Manager::Firewalld));
        assert_eq!(
            Manager::of_commands("ufw route allow 80\n"),
            Some(Manager::Ufw)
        );
        assert_eq!(Manager::of_commands("# nothing\n\n"), None);
        assert!(Manager::Firewalld.check_commands(fw).is_ok());
        let (line, why) = Manager::Ufw.check_commands(fw).unwrap_err();
        assert_eq!(line, 2, "{why}");
        assert!(why.contains("not a ufw command"), "{why}");
        assert_eq!(
            Manager::Firewalld
                .check_commands("--reload\nroute deny 80\n")
                .unwrap_err()
                .0,
            3 - 1
        );
    }
}
