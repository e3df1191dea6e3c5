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
    DEFAULTS as UFW_DEFAULTS, OWN_FILES as UFW_OWN_FILES, Ufw, argv as ufw_argv,
    commands_in as ufw_commands_in, netns_sysctls, sources as ufw_sources, tuples as ufw_tuples,
};
