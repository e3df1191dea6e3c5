//! The scenario catalogue: claims about Docker networking, each a Rust
//! function proving its claim with captured packets (and rule counters),
//! run as a matrix over Docker rule layouts and firewall backends.
//!
//! This is a libtest-mimic harness (`harness = false`): `cargo test` runs
//! it, `cargo test --test scenarios -- --list` lists the trials, and
//! `cargo test --test scenarios -- published_port_dnat` runs one scenario on
//! every cell of its matrix. Trial names read
//! `SCENARIO::LAYOUT::BACKEND`, e.g. `published_port_dnat::classic::iptables-legacy`;
//! `--exact` works, so nextest does too.
//!
//! Each trial builds its own lab (named `PREFIX-PID-N`) and they run in
//! parallel. When the process cannot build labs, every trial is skipped
//! (ignored) with the reason printed — or fails, under
//! [`netrig::privilege::privileges_required`]. Features are probed first;
//! see [`environment`].
//!
//! Modules, one per scenario family:
//! - [`nat`] — outbound masquerade, published-port DNAT;
//! - [`isolation`] — bridges isolated from each other, internal networks;
//! - [`exposure`] — containers reached by routing to their address, not through DNAT;
//! - [`user_rules`] — a user's DOCKER-USER rule file;
//! - [`proxy`] — docker-proxy vs hairpin NAT: which source the container sees.

mod environment;
mod exposure;
mod gateway;
mod isolation;
mod loopback;
mod matrix;
mod nat;
mod proxy;
mod support;
mod user_rules;

use libtest_mimic::{Arguments, Failed, Trial};

use environment::{Environment, Feature};
use matrix::{ALL, Variant};

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
    ]
}

/// Every feature any trial needs, to probe once.
fn features(catalogue: &[Scenario]) -> Vec<Feature> {
    let mut out: Vec<Feature> = Vec::new();
    for s in catalogue {
        let backends = s.variants.iter().map(|v| Feature::Backend(v.backend));
        for f in backends.chain(s.needs.iter().copied()) {
            if !out.contains(&f) {
                out.push(f);
            }
        }
    }
    out
}

/// Why a trial cannot run here, and whether that is a failure rather than a skip.
struct Blocker {
    reason: String,
    fail: bool,
    /// What turns the skip into a failure, when anything does.
    hint: &'static str,
}

const REQUIRE_HINT: &str = " Set NETRIG_REQUIRE_PRIVILEGES=1 (or CI=true) to make this a failure.";

fn blocker(env: &Environment, needs: &[Feature]) -> Option<Blocker> {
    let required = netrig::privilege::privileges_required();
    if let Some(why) = &env.unprivileged {
        return Some(Blocker {
            reason: format!("not privileged: {}", why.trim_end_matches('.')),
            fail: required,
            hint: REQUIRE_HINT,
        });
    }
    needs.iter().find_map(|f| env.missing(*f)).map(|m| Blocker {
        reason: format!(
            "{} is unavailable: {}",
            m.feature,
            m.reason.trim_end_matches('.')
        ),
        fail: required && m.installable,
        hint: if m.installable {
            REQUIRE_HINT
        } else {
            " This kernel lacks it."
        },
    })
}

fn trials(catalogue: Vec<Scenario>, env: &Environment) -> Vec<Trial> {
    let mut skipped: Vec<(String, usize)> = Vec::new();
    let mut out = Vec::new();
    for s in catalogue {
        for v in s.variants.iter().copied() {
            let name = format!("{}::{}", s.name, v.name());
            let mut needs = vec![Feature::Backend(v.backend)];
            needs.extend_from_slice(s.needs);
            let run = s.run;
            let trial = match blocker(env, &needs) {
                None => Trial::test(name.clone(), move || {
                    run(&v).map_err(|e| Failed::from(format!("{name}: {e}")))
                }),
                Some(Blocker {
                    reason, fail: true, ..
                }) => Trial::test(name, move || {
                    Err(Failed::from(format!(
                        "{reason} (failing rather than skipping: CI or NETRIG_REQUIRE_PRIVILEGES is set)"
                    )))
                }),
                Some(Blocker { reason, hint, .. }) => {
                    let line = format!("{reason}.{hint}");
                    match skipped.iter_mut().find(|(r, _)| *r == line) {
                        Some((_, n)) => *n += 1,
                        None => skipped.push((line, 1)),
                    }
                    // Runs only under --ignored / --include-ignored, and then fails with the reason.
                    Trial::test(name, move || Err(Failed::from(reason))).with_ignored_flag(true)
                }
            };
            out.push(trial);
        }
    }
    for (line, n) in skipped {
        eprintln!("scenarios: SKIPPED {n} trial(s): {line}");
    }
    out
}

fn main() {
    let args = Arguments::from_args();
    let catalogue = catalogue();
    // Listing needs no lab: do not probe (it needs privileges and time).
    let env = if args.list {
        Environment::unprobed()
    } else {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        Environment::probe(&features(&catalogue))
    };
    libtest_mimic::run(&args, trials(catalogue, &env)).exit();
}
