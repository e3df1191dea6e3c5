//! The real Docker 28.5.2 recordings (`tests/data/real-docker-28`) and the
//! scenario they were made with, shared by the V28 rule and behaviour tests.

use std::collections::BTreeMap;

use crate::Backend;
use crate::docker::ruleset::Table;
use crate::docker::{
    ContainerSpec, DockerHost, DockerHostBuilder, GatewayMode, Layout, NetworkMode, NetworkSpec,
    Ruleset,
};

use super::recordings::{data, tables};

/// Every recorded daemon variant with stage dumps and a behaviour test.
pub const VARIANTS: [&str; 13] = [
    "default",
    "default-plus-internal",
    "legacy-backend",
    "userland-proxy-false",
    "icc-false",
    "ip-masq-false",
    "ip-forward-no-drop",
    "allow-direct-routing",
    "forward-preset",
    "lo-publish",
    "routed",
    "nat-unprotected",
    "default-after-daemon-restart-and-container-start",
];

/// The standard scenario's first steps, as the stage dumps name them.
pub const STEPS: [&str; 4] = [
    "-0-daemon-start",
    "-1-after-ca",
    "-2-after-network-create-br",
    "-3-after-cb",
];

fn standard_events(b: DockerHostBuilder) -> DockerHostBuilder {
    b.container(ContainerSpec::new("ca").publish("8080:80"))
        .network(NetworkSpec::new("br"))
        .container(ContainerSpec::new("cb").network("br"))
        .container(ContainerSpec::new("ca2"))
        .container(ContainerSpec::new("cn").mode(NetworkMode::None))
        .container(ContainerSpec::new("ch").mode(NetworkMode::Host))
        .container(ContainerSpec::new("cc").mode(NetworkMode::Container("ca".into())))
}

fn with_internal(b: DockerHostBuilder) -> DockerHostBuilder {
    b.network(NetworkSpec::new("brint").internal(true))
        .container(ContainerSpec::new("ci").network("brint"))
}

fn with_gateway_mode(
    b: DockerHostBuilder,
    net: &str,
    ctr: &str,
    mode: GatewayMode,
    port: &str,
) -> DockerHostBuilder {
    b.network(NetworkSpec::new(net).gateway_mode_ipv4(mode))
        .container(ContainerSpec::new(ctr).network(net).publish(port))
}

/// A recorded variant as a V28 host: its daemon options and its scenario
/// (the standard one plus the variant's extras), every event in recorded order.
pub fn variant28(name: &str) -> DockerHost {
    variant28_with(name, |b| b)
}

/// A recorded variant with extra builder settings (e.g. another layout).
pub fn variant28_with(
    name: &str,
    extra: impl FnOnce(DockerHostBuilder) -> DockerHostBuilder,
) -> DockerHost {
    let b = DockerHost::builder().layout(Layout::V28);
    let b = match name {
        "legacy-backend" => b.backend(Backend::IptablesLegacy),
        "userland-proxy-false" => b.userland_proxy(false),
        "icc-false" => b.icc(false),
        "ip-masq-false" => b.ip_masq(false),
        "ip-forward-no-drop" => b.ip_forward_no_drop(true),
        "allow-direct-routing" => b.allow_direct_routing(true),
        "forward-preset" => b.ip_forward_was_on(true),
        _ => b,
    };
    let b = standard_events(extra(b));
    let b = match name {
        "default"
        | "legacy-backend"
        | "userland-proxy-false"
        | "icc-false"
        | "ip-masq-false"
        | "ip-forward-no-drop"
        | "allow-direct-routing"
        | "forward-preset" => b,
        "default-plus-internal" => with_internal(b),
        "default-after-daemon-restart-and-container-start" => {
            let b = with_internal(b).restart_daemon();
            ["ca", "ca2", "cb", "ci", "cn", "ch", "cc"]
                .into_iter()
                .fold(b, |b, c| b.start_existing(c))
        }
        "lo-publish" => b.container(ContainerSpec::new("cl").publish("127.0.0.1:8081:80")),
        "routed" => with_gateway_mode(b, "brrt", "cr", GatewayMode::Routed, "8082:80"),
        "nat-unprotected" => {
            with_gateway_mode(b, "brnu", "cu", GatewayMode::NatUnprotected, "8083:80")
        }
        _ => panic!("unknown 28.5.2 variant {name}"),
    };
    b.build().expect("the recorded scenario is valid")
}

/// Every recorded dump of a variant and the step of the model it shows.
pub fn dumps(name: &str) -> Vec<(String, usize)> {
    let host = variant28(name);
    let mut out: Vec<(String, usize)> = STEPS
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("{name}{s}"), i))
        .collect();
    match name {
        "default-plus-internal" => {
            out = vec![
                ("default-plus-internal-network-created".into(), 8),
                ("default-plus-internal".into(), 9),
            ];
        }
        "default-after-daemon-restart-and-container-start" => {
            out = vec![
                ("default-after-daemon-restart".into(), 10),
                (name.into(), host.last_step()),
            ];
        }
        _ => out.push((name.into(), host.last_step())),
    }
    out
}

/// Replaces recorded bridge ids by `br-<network name>` (`bridges.txt`, made
/// from each dump's `docker network ls`).
pub fn normalise_recorded(dump: &str, text: &str) -> String {
    let mut t = text.to_string();
    for line in data("real-docker-28/bridges.txt").lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if let [d, id, net] = f.as_slice()
            && *d == dump
        {
            t = t.replace(id, &format!("br-{net}"));
        }
    }
    t
}

/// Replaces our deterministic bridge names by `br-<network name>`.
pub fn normalise(host: &DockerHost, text: &str) -> String {
    super::recordings::normalise(host, text)
}

/// The `.canon` form of a ruleset: `*nat`, `*filter`, `*raw` and their `-A` lines.
pub fn canon(host: &DockerHost, rules: &Ruleset) -> String {
    let mut s = String::new();
    for t in [Table::Nat, Table::Filter, Table::Raw] {
        s.push_str(&format!("*{t}\n"));
        for r in rules.rules(t) {
            s.push_str(&r);
            s.push('\n');
        }
    }
    normalise(host, &s)
}

/// One save section of a recorded dump, per table, bridge ids normalised.
pub fn recorded(dump: &str, section: &str) -> BTreeMap<String, Vec<String>> {
    let text = data(&format!("real-docker-28/dumps/{dump}.rules"));
    let mut body = String::new();
    let mut on = false;
    for l in text.lines() {
        if l.starts_with("### ") {
            on = l.starts_with(&format!("### {section} "));
            continue;
        }
        if on {
            body.push_str(l);
            body.push('\n');
        }
    }
    tables(&normalise_recorded(dump, &body))
}

/// The save sections of the backend a host uses: (IPv4, IPv6).
pub fn sections(host: &DockerHost) -> (&'static str, &'static str) {
    match host.backend() {
        Backend::IptablesLegacy => ("iptables-legacy-save", "ip6tables-legacy-save"),
        _ => ("iptables-nft-save", "ip6tables-nft-save"),
    }
}
