//! netrig's Docker hosts, one test binary, through the public API: a host
//! brought up, behaviour replayed against real Docker 20.10 and 28.5.2,
//! network modes and networks, user rules, the state before the daemon, ufw,
//! containers started later, Docker topologies. Each module was a test
//! binary of its own; its test names are unchanged. `cargo test --test
//! docker -- NAME` runs one. The comparisons of netrig's rendering with the
//! real daemons' recordings, step by step (the rules of every release and
//! variant, daemon restarts, the rules before the daemon, a V28 host's
//! state), read the model's timeline: they are the crate's unit tests
//! `docker::fidelity::*` (`cargo test --lib fidelity`).

#[path = "../common/mod.rs"]
mod common;

mod docker_after_start;
mod docker_behaviour;
mod docker_behaviour_ipv6;
mod docker_behaviour_v28;
mod docker_firewalld_real;
mod docker_ipv6;
mod docker_modes;
mod docker_networks;
mod docker_prestart;
mod docker_ufw;
mod docker_ufw_real;
mod docker_up;
mod docker_user_rules;
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
            topology_docker::tests(),
            docker_prestart::tests(),
            docker_ufw::tests(),
            docker_firewalld_real::tests(),
            docker_ufw_real::tests(),
            docker_after_start::tests(),
            docker_ipv6::tests(),
            docker_behaviour_ipv6::tests(),
        ]
        .into_iter()
        .flatten(),
    )
}
