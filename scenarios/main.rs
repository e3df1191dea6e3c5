//! The scenario catalogue: claims about Docker networking, each a Rust
//! function proving its claim with captured packets (and rule counters),
//! run as a matrix over Docker rule layouts and firewall backends.
//!
//! This is a `netrig::testing` harness (`harness = false`): `cargo test`
//! runs it, `cargo test --test scenarios -- --list` lists the trials, and
//! `cargo test --test scenarios -- published_port_dnat proxy` runs every cell
//! of the scenarios matching either filter; every libtest option works, and
//! so does `cargo nextest run`. Trial names read `SCENARIO::LAYOUT::BACKEND`,
//! e.g. `published_port_dnat::classic::iptables-legacy`; the bug library's
//! also run at v29's point releases, `bug::NAME::v29@29.0::iptables-nft`.
//!
//! Each trial builds its own lab (named `PREFIX-PID-N`) and they run in
//! parallel. A trial that cannot run here — no privileges, a backend's tool
//! missing, a kernel feature missing (probed when the trial is listed or
//! selected; see [`environment`]) — is ignored with the reason, or fails
//! under `CI=true` / `NETRIG_REQUIRE_PRIVILEGES=1` unless the kernel lacks it.
//!
//! Modules, one per scenario family (the entries, with the outcome each
//! asserts per layout, are in [`catalogue`]):
//! - [`nat`], [`bindings`] — outbound masquerade (UDP, TCP), published-port DNAT (TCP, UDP),
//!   a port bound to one host address, ip-masq off;
//! - [`local`] — host-local access to a published port and hairpin, proxy on and off;
//! - [`icc`] — containers on one bridge, icc=false, internal networks' ICC;
//! - [`isolation`] — bridges isolated from each other, internal networks;
//! - [`crossing`] — bridge to bridge through a published port, a LAN peer routing directly;
//! - [`exposure`], [`loopback`], [`gateway`] — containers reached by routing, not DNAT;
//! - [`user_rules`] — a user's DOCKER-USER rule file;
//! - [`proxy`] — docker-proxy vs hairpin NAT: which source the container sees;
//! - [`modes`] — none / host / container: network modes;
//! - [`ipv6`] — a dual-stack host: IPv6 masqueraded out (nat) or not
//!   (routed), DNAT in over IPv6, the `[::]` proxy to an IPv4-only
//!   container, a LAN router sending the container prefix;
//! - [`bugs`] — the bug library (trials `bug::NAME::LAYOUT::BACKEND`).

mod bindings;
mod bugs;
mod catalogue;
mod crossing;
mod environment;
mod exposure;
mod gateway;
mod icc;
mod ipv6;
mod isolation;
mod local;
mod loopback;
mod matrix;
mod modes;
mod nat;
// Sockets inside a node, raw frames for `Node::inject` and their MACs.
mod proxy;
mod support;
#[path = "../tests/common/wire.rs"]
mod wire;
// The tests' shorthand for a Docker host file's lab (`lab.internet()`, `lab.model()` …).
#[path = "../tests/common/host_lab.rs"]
#[allow(dead_code)]
mod host_lab;
mod user_rules;

use std::process::ExitCode;

use catalogue::{Scenario, catalogue};
use environment::Feature;
use netrig::testing::{Skip, Test};

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
        for v in s.cells() {
            let mut needs = vec![Feature::Backend(v.backend)];
            needs.extend_from_slice(s.needs);
            let run = s.run;
            let test = Test::lab(format!("{}::{}", s.trial_prefix(), v.name()), move || {
                run(&v)
            })
            .needs(move || {
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

/// Prints the catalogue: a header naming the Docker versions in the order
/// the outcomes follow (`#layouts classic v28 v29@29.0 v29@29.5.0 v29`, as
/// trial cells spell them), then one scenario a line, tab-separated: trial
/// prefix, `walk` or `bug`, proxy (`on`/`off`/`-`), the outcome asserted on
/// each version (empty where it does not run), and its cells. `netrig run
/// --upgrade-view` reads this to show the outcomes side by side.
fn describe(catalogue: &[Scenario]) {
    let keys = catalogue::column_keys();
    println!("#layouts\t{}", keys.join("\t"));
    for s in catalogue {
        let proxy = match s.proxy {
            Some(true) => "on",
            Some(false) => "off",
            None => "-",
        };
        let cells = s.cells();
        let outcomes: Vec<&str> = keys
            .iter()
            .map(|k| match cells.iter().any(|v| v.key() == *k) {
                true => s.outcome(k),
                false => "",
            })
            .collect();
        let names: Vec<String> = cells.iter().map(|v| v.name()).collect();
        println!(
            "{}\t{}\t{proxy}\t{}\t{}",
            s.trial_prefix(),
            if s.bug { "bug" } else { "walk" },
            outcomes.join("\t"),
            names.join(",")
        );
    }
}

fn main() -> ExitCode {
    if std::env::var_os("NETRIG_CATALOGUE_DESCRIBE").is_some() {
        describe(&catalogue());
        return ExitCode::SUCCESS;
    }
    if std::env::var_os("RUST_TEST_THREADS").is_none() {
        // SAFETY: first thing in `main`, before this process starts a thread.
        unsafe { std::env::set_var("RUST_TEST_THREADS", default_threads().to_string()) };
    }
    netrig::testing::run(tests(catalogue()))
}

/// Trials at once when `RUST_TEST_THREADS` is unset (then set to this;
/// `--test-threads` still wins): four per core. A trial spends most of its
/// time waiting on the wire (a blocked connect's timeout, a sentinel), not
/// computing; `cargo bench --bench catalogue` measures serial, one per core
/// and four per core.
fn default_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    4 * cores
}
