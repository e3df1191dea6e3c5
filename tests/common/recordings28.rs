//! The real Docker 28.5.2 recordings (`tests/data/real-docker-28`) and the
//! scenario they were made with, shared by the V28 behaviour tests (the
//! crate's `docker::fidelity` has its own copy for the rule tests).
#![allow(dead_code)]

use netrig::Backend;
use netrig::docker::{
    ContainerSpec, DaemonOptions, DockerHost, DockerHostBuilder, GatewayMode, Layout, NetworkSpec,
};

use super::recordings::data;

fn standard_events(b: DockerHostBuilder) -> DockerHostBuilder {
    b.container(ContainerSpec::new("ca").publish("8080:80"))
        .network("br")
        .container(ContainerSpec::new("cb").network("br"))
        .container(ContainerSpec::new("ca2"))
        .container(ContainerSpec::new("cn").network("none"))
        .container(ContainerSpec::new("ch").network("host"))
        .container(ContainerSpec::new("cc").network("container:ca"))
}

fn with_internal(b: DockerHostBuilder) -> DockerHostBuilder {
    b.network(NetworkSpec {
        internal: true,
        ..NetworkSpec::from("brint")
    })
    .container(ContainerSpec::new("ci").network("brint"))
}

fn with_gateway_mode(
    b: DockerHostBuilder,
    net: &str,
    ctr: &str,
    mode: GatewayMode,
    port: &str,
) -> DockerHostBuilder {
    b.network(NetworkSpec {
        gateway_mode_ipv4: mode,
        ..NetworkSpec::from(net)
    })
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
    let on = DaemonOptions::default();
    let options = match name {
        "userland-proxy-false" => DaemonOptions {
            userland_proxy: false,
            ..on
        },
        "icc-false" => DaemonOptions { icc: false, ..on },
        "ip-masq-false" => DaemonOptions {
            ip_masq: false,
            ..on
        },
        "ip-forward-no-drop" => DaemonOptions {
            ip_forward_no_drop: true,
            ..on
        },
        "allow-direct-routing" => DaemonOptions {
            allow_direct_routing: true,
            ..on
        },
        "forward-preset" => DaemonOptions {
            ip_forward_was_on: true,
            ..on
        },
        _ => on,
    };
    let b = b.daemon(options);
    let b = match name {
        "legacy-backend" => b.backend(Backend::IptablesLegacy),
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
