//! What `DockerHost::up` guarantees when it returns, checked first thing,
//! with no wait: Docker's ruleset (and ip6tables skeleton) is loaded, every
//! published port is held (by a proxy, or by dockerd's reservation), Docker's
//! kernel settings are in place, and the links and addresses carry traffic —
//! for every layout and backend, userland proxy on and off. `up` loads the
//! rules while the links are built; these tests are what says the overlap
//! kept every guarantee.

use crate::common::host_lab::{HostLab as _, Up as _};
use std::net::TcpListener;
use std::time::Duration;

use netrig::docker::{ContainerSpec, DaemonOptions, DockerHost, Layout};
use netrig::testing::Test;
use netrig::{Backend, Result, TcpOutcome, unique_lab_name};

fn host(layout: Layout, backend: Backend, proxy: bool) -> Result<DockerHost> {
    DockerHost::builder()
        .name(unique_lab_name("up"))
        .layout(layout)
        .backend(backend)
        .daemon(DaemonOptions {
            userland_proxy: proxy,
            // The nftables backend never turns forwarding on itself.
            ip_forward_was_on: backend == Backend::Nftables,
            ..Default::default()
        })
        .container(ContainerSpec::new("web").publish("8080:80"))
        .build()
}

/// At return: rules loaded, the published port held, settings applied, and
/// a connection from the internet DNATed through to the container.
fn ready_at_return(layout: Layout, backend: Backend, proxy: bool) -> Result<()> {
    let model = host(layout, backend, proxy)?;
    let docker = model.up()?;
    let lab = docker.name().to_string();
    // 1. Rules: the DNAT of the published port is in the kernel's ruleset now.
    let rules = docker.rules()?;
    assert!(
        rules.contains("8080") && (rules.contains("DNAT") || rules.contains("dnat to")),
        "lab {lab}: Docker's DNAT for 8080 not loaded when up() returned:\n{rules}"
    );
    let host_node = docker.host_node()?;
    if model.rendered().rules6.is_some() {
        let ip6_save = backend.save_argv()[1];
        let out = host_node
            .command(ip6_save[0])
            .args(&ip6_save[1..])
            .checked_output()?;
        let six = String::from_utf8_lossy(&out.stdout);
        assert!(
            six.contains(":DOCKER"),
            "lab {lab}: ip6tables skeleton not loaded when up() returned:\n{six}"
        );
    }
    // 2. The published port is held (docker-proxy, or dockerd's reservation).
    let taken = host_node.run(|| TcpListener::bind("0.0.0.0:8080"))?;
    assert!(
        taken.is_err(),
        "lab {lab}: 0.0.0.0:8080 free in node host when up() returned"
    );
    // 3. Kernel settings: created with the container, and Docker's on the bridge.
    let web = docker.container("web")?;
    assert_eq!(
        web.sysctl_get("net.ipv4.ip_unprivileged_port_start")?,
        "0",
        "lab {lab}"
    );
    if !proxy {
        assert_eq!(
            host_node.sysctl_get("net.ipv4.conf.docker0.route_localnet")?,
            "1",
            "lab {lab}: route_localnet on docker0"
        );
    }
    // 4. Links and addresses: from the internet through DNAT to the container.
    let _server = web.tcp_echo_server("0.0.0.0:80")?;
    let to = std::net::SocketAddr::new(docker.host_uplink_ip(), 8080);
    let outcome = docker.internet()?.tcp_connect(to, Duration::from_secs(2))?;
    assert!(
        matches!(outcome, TcpOutcome::Connected(_)),
        "lab {lab}: internet -> {to}: {outcome:?}"
    );
    Ok(())
}

/// This module's tests: `ready_at_return` for every layout, backend and proxy setting.
pub fn tests() -> Vec<Test> {
    let combos = [
        (Layout::Classic, Backend::IptablesNft),
        (Layout::Classic, Backend::IptablesLegacy),
        (Layout::V28, Backend::IptablesNft),
        (Layout::V28, Backend::IptablesLegacy),
        (Layout::V29, Backend::IptablesNft),
        (Layout::V29, Backend::IptablesLegacy),
        (Layout::V29, Backend::Nftables),
    ];
    let mut tests = Vec::new();
    for (layout, backend) in combos {
        for proxy in [true, false] {
            let name = format!(
                "ready_at_return::{layout}::{backend}::proxy_{}",
                if proxy { "on" } else { "off" }
            );
            tests.push(Test::lab(name, move || {
                ready_at_return(layout, backend, proxy)
            }));
        }
    }
    tests
}
