//! The scenario catalogue: claims about Docker networking, each a Rust
//! function proving its claim with captured packets (and rule counters),
//! run as a matrix over Docker rule layouts and firewall backends.
//!
//! This is a `netrig::testing` harness (`harness = false`): `cargo test`
//! runs it, `cargo test --test scenarios -- --list` lists the trials, and
//! `cargo test --test scenarios -- published_port_dnat proxy` runs every cell
//! of the scenarios matching either filter; every libtest option works, and
//! so does `cargo nextest run`. Trial names read `SCENARIO::LAYOUT::BACKEND`,
//! e.g. `published_port_dnat::classic::iptables-legacy`.
//!
//! Each trial builds its own lab (named `PREFIX-PID-N`) and they run in
//! parallel. A trial that cannot run here — no privileges, a backend's tool
//! missing, a kernel feature missing (probed when the trial is listed or
//! selected; see [`environment`]) — is ignored with the reason, or fails
//! under `CI=true` / `NETRIG_REQUIRE_PRIVILEGES=1` unless the kernel lacks it.
//!
//! Modules, one per scenario family:
//! - [`nat`] — outbound masquerade, published-port DNAT;
//! - [`isolation`] — bridges isolated from each other, internal networks;
//! - [`exposure`] — containers reached by routing to their address, not through DNAT;
//! - [`user_rules`] — a user's DOCKER-USER rule file;
//! - [`proxy`] — docker-proxy vs hairpin NAT: which source the container sees.

mod bindings;
mod crossing;
mod environment;
mod exposure;
mod gateway;
mod icc;
mod isolation;
mod local;
mod loopback;
mod matrix;
mod modes;
mod nat;
mod proxy;
mod support;
mod user_rules;

use std::process::ExitCode;

use environment::Feature;
use matrix::{ALL, Variant};
use netrig::testing::{Skip, Test};

/// A scenario: a claim (the function's doc comment), the function proving
/// it, the cells it runs on and what it needs besides their backend.
struct Scenario {
    name: &'static str,
    run: fn(&Variant) -> netrig::Result<()>,
    variants: &'static [Variant],
    needs: &'static [Feature],
}

impl Scenario {
    const fn new(name: &'static str, run: fn(&Variant) -> netrig::Result<()>) -> Scenario {
        Scenario {
            name,
            run,
            variants: ALL,
            needs: &[],
        }
    }

    const fn on(mut self, variants: &'static [Variant]) -> Scenario {
        self.variants = variants;
        self
    }

    const fn needs(mut self, needs: &'static [Feature]) -> Scenario {
        self.needs = needs;
        self
    }
}

/// The catalogue, in the order `--list` shows it.
fn catalogue() -> Vec<Scenario> {
    vec![
        Scenario::new("outbound_masquerade", nat::outbound_masquerade),
        Scenario::new("published_port_dnat", nat::published_port_dnat),
        Scenario::new("bridges_are_isolated", isolation::bridges_are_isolated),
        Scenario::new(
            "internal_network_has_no_way_out",
            isolation::internal_network_has_no_way_out,
        ),
        Scenario::new(
            "direct_routing_to_container",
            exposure::direct_routing_to_container,
        ),
        Scenario::new(
            "loopback_binding_from_the_uplink",
            loopback::loopback_binding_from_the_uplink,
        ),
        Scenario::new(
            "routed_network_is_reached_by_routing",
            gateway::routed_network_is_reached_by_routing,
        )
        .on(matrix::GATEWAY_MODES),
        Scenario::new(
            "docker_user_rule_blocks_one_source",
            user_rules::docker_user_rule_blocks_one_source,
        ),
        Scenario::new(
            "userland_proxy_hides_client",
            proxy::userland_proxy_hides_client,
        ),
        Scenario::new(
            "hairpin_nat_preserves_client",
            proxy::hairpin_nat_preserves_client,
        )
        .needs(&[Feature::BridgeNetfilter]),
        Scenario::new(
            "outbound_tcp_is_masqueraded",
            bindings::outbound_tcp_is_masqueraded,
        ),
        Scenario::new(
            "published_udp_port_keeps_client_source",
            bindings::published_udp_port_keeps_client_source,
        ),
        Scenario::new(
            "port_bound_to_one_host_address",
            bindings::port_bound_to_one_host_address,
        ),
        Scenario::new(
            "ip_masq_off_keeps_container_source",
            bindings::ip_masq_off_keeps_container_source,
        ),
        Scenario::new(
            "host_loopback_reaches_published_port_through_proxy",
            local::host_loopback_reaches_published_port_through_proxy,
        ),
        Scenario::new(
            "host_loopback_reaches_published_port_without_proxy",
            local::host_loopback_reaches_published_port_without_proxy,
        ),
        Scenario::new(
            "host_address_reaches_published_port_by_dnat",
            local::host_address_reaches_published_port_by_dnat,
        ),
        Scenario::new(
            "host_reaches_container_address",
            local::host_reaches_container_address,
        ),
        Scenario::new(
            "loopback_binding_serves_only_the_host",
            local::loopback_binding_serves_only_the_host,
        ),
        Scenario::new(
            "container_reaches_own_published_port_through_proxy",
            local::container_reaches_own_published_port_through_proxy,
        ),
        Scenario::new(
            "container_reaches_own_published_port_by_hairpin_nat",
            local::container_reaches_own_published_port_by_hairpin_nat,
        )
        .needs(&[Feature::BridgeNetfilter]),
        Scenario::new(
            "containers_on_one_bridge_connect",
            icc::containers_on_one_bridge_connect,
        ),
        Scenario::new(
            "icc_false_drops_traffic_on_one_bridge",
            icc::icc_false_drops_traffic_on_one_bridge,
        )
        .needs(&[Feature::BridgeNetfilter]),
        Scenario::new(
            "internal_network_containers_connect",
            icc::internal_network_containers_connect,
        ),
        Scenario::new(
            "other_bridge_reaches_published_port",
            crossing::other_bridge_reaches_published_port,
        ),
        Scenario::new(
            "lan_peer_routes_udp_to_container",
            crossing::lan_peer_routes_udp_to_container,
        ),
        Scenario::new(
            "network_none_has_loopback_only",
            modes::network_none_has_loopback_only,
        ),
        Scenario::new(
            "network_host_is_reached_through_input",
            modes::network_host_is_reached_through_input,
        ),
        Scenario::new(
            "network_container_shares_owner_stack",
            modes::network_container_shares_owner_stack,
        ),
        Scenario::new(
            "host_mode_container_is_dnated_to_published_port",
            local::host_mode_container_is_dnated_to_published_port,
        ),
    ]
}

/// The skip for a missing feature: enforceable (a failure in CI) when
/// installing a package fixes it, a skip everywhere when the kernel lacks it.
fn skip_for(missing: environment::Missing) -> Skip {
    let reason = format!(
        "{} is unavailable: {}",
        missing.feature,
        missing.reason.trim_end_matches('.')
    );
    if missing.installable {
        Skip::unless_required(reason)
    } else {
        Skip::always(format!("{reason} (this kernel lacks it)"))
    }
}

/// One test per scenario and cell, named `SCENARIO::LAYOUT::BACKEND`; each
/// needs privileges (it builds labs), its backend and the scenario's features.
fn tests(catalogue: Vec<Scenario>) -> Vec<Test> {
    let mut out = Vec::new();
    for s in catalogue {
        for v in s.variants.iter().copied() {
            let mut needs = vec![Feature::Backend(v.backend)];
            needs.extend_from_slice(s.needs);
            let run = s.run;
            let test =
                Test::lab(format!("{}::{}", s.name, v.name()), move || run(&v)).needs(move || {
                    needs
                        .into_iter()
                        .find_map(environment::missing)
                        .map(skip_for)
                });
            out.push(test);
        }
    }
    out
}

fn main() -> ExitCode {
    netrig::testing::run(tests(catalogue()))
}
