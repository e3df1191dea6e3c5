//! netrig's Docker hosts, one test binary: `DockerHost::up`, behaviour
//! replayed against real Docker 20.10 and 28.5.2, network modes and
//! networks, user rules, restarts, ufw, containers started later, Docker
//! topologies — and Docker's rules, rendered and loaded, one table-driven
//! module (`rules`). Each other module was a test binary of its own; its test
//! names are unchanged. `cargo test --test docker -- NAME` runs one.

#[path = "../common/mod.rs"]
mod common;

mod docker_after_start;
mod docker_behaviour;
mod docker_behaviour_v28;
mod docker_modes;
mod docker_networks;
mod docker_prestart;
mod docker_restart;
mod docker_ufw;
mod docker_up;
mod docker_user_rules;
mod docker_v28_host;
mod rules;
mod topology_docker;

fn main() -> std::process::ExitCode {
    netrig::testing::run(
        [
            docker_up::tests(),
            docker_behaviour::tests(),
            docker_behaviour_v28::tests(),
            docker_modes::tests(),
            docker_networks::tests(),
            rules::tests(),
            docker_user_rules::tests(),
            docker_v28_host::tests(),
            topology_docker::tests(),
            docker_prestart::tests(),
            docker_restart::tests(),
            docker_ufw::tests(),
            docker_after_start::tests(),
        ]
        .into_iter()
        .flatten(),
    )
}
