//! After-start events a user applies to a running Docker host: a rule file
//! with `flush ruleset` wipes Docker's rules (iptables-nft's tables are nft
//! tables): outbound masquerade is gone at once, while a published port
//! stays reachable through docker-proxy (a listening socket, not a rule).
//! A container started after `up` gets Docker's rules on top of the live
//! ones: after a rule the user appended since, reachable and masqueraded
//! on every layout and backend.

use crate::common::host_lab::{HostLab as _, Up as _};
use std::time::Duration;

use netrig::docker::{ContainerSpec, DaemonOptions, DockerHost, Layout};
use netrig::expect::udp;
use netrig::{Backend, Result, TcpOutcome};

use crate::common;

const SECOND: Duration = Duration::from_secs(1);

/// Before: a container's datagram leaves with the host's uplink address.
/// After `flush ruleset`: it leaves with the container's own 172.17.0.2, and
/// Docker's chains are gone from the saved ruleset.
fn flush_ruleset_wipes_dockers_masquerade() -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    let flush = dir.path().join("flush.nft");
    std::fs::write(&flush, "flush ruleset\n").expect("write");
    let mut host = netrig::topology::load("topologies/docker-bridge.toml")?;
    host.set_name(netrig::unique_lab_name("flush"));
    let docker = host.up()?;
    let wan = docker.internet()?.capture("eth0")?;
    let web = docker.container("web")?;
    web.udp_send("198.51.100.10:53", b"before")?;
    wan.expect(udp().src(docker.host_uplink_ip()).payload("before"))
        .within(SECOND)?;

    docker.apply_rules_file(&flush)?;
    let saved = docker.rules()?;
    assert!(
        !saved.contains("DOCKER"),
        "Docker's chains survived:\n{saved}"
    );
    web.udp_send("198.51.100.10:53", b"after")?;
    wan.expect(udp().src("172.17.0.2").payload("after"))
        .within(SECOND)?;
    Ok(())
}

/// After `flush ruleset` the published port is still answered — by
/// docker-proxy on the host, so the container sees the host's bridge address
/// (172.17.0.1) as the client, not the internet's address as before.
fn flush_ruleset_leaves_published_ports_to_the_proxy() -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    let flush = dir.path().join("flush.nft");
    std::fs::write(&flush, "flush ruleset\n").expect("write");
    let mut host = netrig::topology::load("topologies/docker-bridge.toml")?;
    host.set_name(netrig::unique_lab_name("flushpub"));
    let docker = host.up()?;
    let server = docker.container("web")?.tcp_echo_server("0.0.0.0:80")?;
    let internet = docker.internet()?;
    let target = format!("{}:8080", docker.host_uplink_ip());
    assert!(internet.tcp_connect(&target, SECOND)?.is_connected());
    let before = server.wait_for_peers(1, SECOND)?[0].ip();
    assert_eq!(
        before.to_string(),
        "203.0.113.1",
        "DNAT keeps the client's address"
    );

    docker.apply_rules_file(&flush)?;
    assert!(internet.tcp_connect(&target, SECOND)?.is_connected());
    let after = server.wait_for_peers(2, SECOND)?[1].ip();
    assert_eq!(
        after.to_string(),
        "172.17.0.1",
        "docker-proxy connects from the bridge"
    );
    Ok(())
}

/// A host with `web` publishing 8080:80, brought up with the user's rule
/// file `rules` (an iptables-save fragment), under `layout` and `backend`.
fn host_with_web(
    layout: Layout,
    backend: Backend,
    rules: Option<&str>,
) -> Result<(netrig::Lab, tempfile::TempDir)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = DockerHost::builder()
        .name(netrig::unique_lab_name("later"))
        .layout(layout)
        .backend(backend)
        .daemon(DaemonOptions {
            ip_forward_was_on: backend == Backend::Nftables,
            ..Default::default()
        })
        .container(ContainerSpec::new("web").publish("8080:80"));
    let mut spec = netrig::LabSpec::from(b.build()?);
    if let Some(text) = rules {
        let file = dir.path().join("user.rules");
        std::fs::write(&file, text).expect("write rules");
        spec = spec.rules_file("host", file);
    }
    Ok((spec.up()?, dir))
}

/// A user appended a catch-all DROP to Docker's `DOCKER` chain after `up`
/// (a common way to "close everything else"). A container started later
/// gets its ACCEPT *appended* — after the user's DROP — as a real daemon's
/// `iptables -A` does: its published port is dropped (the user's rule
/// counts it) while the first container's port still answers, and the
/// counters of the rules already there survive the start.
fn a_container_started_later_lands_after_the_users_rules() -> Result<()> {
    let _labs = common::shared();
    let drop_rule = "*filter\n-A DOCKER -i eth0 -p tcp -j DROP\nCOMMIT\n";
    let (mut docker, _dir) = host_with_web(Layout::Classic, Backend::IptablesNft, Some(drop_rule))?;
    let web = docker.container("web")?.tcp_echo_server("0.0.0.0:80")?;
    let internet = docker.internet()?;
    assert!(
        internet
            .tcp_connect("203.0.113.2:8080", SECOND)?
            .is_connected()
    );
    web.wait_for_peers(1, SECOND)?;
    let web_accept = "-d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT";
    let counted = |docker: &netrig::Lab, rule: &str| -> Result<u64> {
        Ok(docker
            .counters()?
            .rule("filter", "DOCKER", rule)
            .map_or(0, |r| r.packets))
    };
    let web_before = counted(&docker, web_accept)?;
    assert!(web_before >= 1, "web's ACCEPT counted nothing");

    docker.start_container("host", ContainerSpec::new("late").publish("9090:80"))?;
    assert_eq!(
        docker
            .model()
            .container_ip("late")
            .map(|ip| ip.to_string())
            .as_deref(),
        Some("172.17.0.3")
    );
    let _late = docker.container("late")?.tcp_echo_server("0.0.0.0:80")?;
    assert_eq!(
        counted(&docker, web_accept)?,
        web_before,
        "the start reset counters"
    );
    let drops_before = counted(&docker, "-i eth0 -p tcp -j DROP")?;
    let internet = docker.internet()?;
    assert_eq!(
        internet.tcp_connect("203.0.113.2:9090", Duration::from_millis(500))?,
        TcpOutcome::NoAnswer
    );
    assert!(
        counted(&docker, "-i eth0 -p tcp -j DROP")? > drops_before,
        "the user's DROP did not count the SYN to 9090"
    );
    assert!(
        internet
            .tcp_connect("203.0.113.2:8080", SECOND)?
            .is_connected(),
        "web's port must still answer"
    );

    let saved = docker.rules()?;
    let docker_chain: Vec<&str> = saved
        .lines()
        .filter(|l| l.contains("-A DOCKER ") && !l.contains("DNAT") && !l.contains("RETURN"))
        .collect();
    let at = |needle: &str| docker_chain.iter().position(|l| l.contains(needle));
    assert!(
        at("-i eth0 -p tcp -j DROP") < at("-d 172.17.0.3/32"),
        "the late container's ACCEPT must come after the user's DROP:\n{}",
        docker_chain.join("\n")
    );
    Ok(())
}

/// A container started later on each layout and backend: the internet
/// reaches its published port DNATed into it (its server sees the
/// internet's own address), and its outbound datagram leaves masqueraded to
/// the host's uplink address.
fn a_container_started_later_is_published_and_masqueraded() -> Result<()> {
    let _labs = common::shared();
    for (layout, backend) in [
        (Layout::Classic, Backend::IptablesNft),
        (Layout::Classic, Backend::IptablesLegacy),
        (Layout::V28, Backend::IptablesNft),
        (Layout::V29, Backend::Nftables),
    ] {
        let case = format!("{layout}/{backend}");
        let (mut docker, _dir) = host_with_web(layout, backend, None)?;
        docker.start_container("host", ContainerSpec::new("late").publish("9090:80"))?;
        let late_ip = docker
            .model()
            .container_ip("late")
            .expect("late has an address");
        let server = docker.container("late")?.tcp_echo_server("0.0.0.0:80")?;
        let internet = docker.internet()?;
        let outcome = internet.tcp_connect("203.0.113.2:9090", SECOND)?;
        assert!(
            outcome.is_connected(),
            "{case}: 203.0.113.2:9090 -> {outcome:?}"
        );
        let peer = server.wait_for_peers(1, SECOND)?[0];
        assert_eq!(
            peer.ip().to_string(),
            "203.0.113.1",
            "{case}: DNAT keeps the client's address"
        );

        let wan = internet.capture("eth0")?;
        let late = docker.container("late")?;
        late.udp_send("198.51.100.10:53", case.as_bytes())?;
        wan.expect(udp().src(docker.host_uplink_ip()).payload(case.as_bytes()))
            .within(SECOND)?;
        assert_ne!(late_ip, docker.host_uplink_ip(), "{case}");
    }
    Ok(())
}

/// With the userland proxy off, a container started later gets what
/// `--userland-proxy=false` gives one at `up`: dockerd holds its host port
/// (a host process cannot bind 0.0.0.0:9090), and its bridge port is in
/// hairpin mode, so it reaches its own published port through the host's
/// address — masqueraded to the bridge's address by its hairpin rule.
fn a_container_started_later_without_the_proxy_is_held_and_hairpinned() -> Result<()> {
    let _labs = common::shared();
    let docker = DockerHost::builder()
        .name(netrig::unique_lab_name("laternp"))
        .daemon(DaemonOptions {
            userland_proxy: false,
            ..Default::default()
        })
        .container(ContainerSpec::new("web").publish("8080:80"))
        .build()?;
    let mut docker = docker.up()?;
    docker.start_container("host", ContainerSpec::new("late").publish("9090:80"))?;
    let host = docker.host_node()?;
    let bind = host.run(|| std::net::TcpListener::bind("0.0.0.0:9090"))?;
    assert_eq!(
        bind.expect_err("dockerd holds 9090").kind(),
        std::io::ErrorKind::AddrInUse
    );
    let late = docker.container("late")?;
    let server = late.tcp_echo_server("0.0.0.0:80")?;
    let out = late.tcp_connect("203.0.113.2:9090", SECOND)?;
    assert!(out.is_connected(), "hairpin: {out:?}");
    let peer = server.wait_for_peers(1, SECOND)?[0];
    assert_eq!(
        peer.ip().to_string(),
        "172.17.0.1",
        "the hairpin MASQUERADE"
    );
    Ok(())
}

/// This module's tests.
/// Whether the host still tracks the internet's datagram to host port `port`.
fn tracks(docker: &netrig::Lab, port: u16) -> Result<bool> {
    Ok(docker.host_node()?.conntrack()?.entries.iter().any(|e| {
        e.protocol == "udp"
            && e.original.dport == Some(port)
            && e.original.src.to_string() == "203.0.113.1"
    }))
}

/// A container started later: Docker deletes the conntrack entries of its
/// UDP ports as its release does. A datagram the internet sent to host
/// ports 5354 and 5355 before the container published them (tracked,
/// unanswered) is forgotten by 29.4 (by host port); 29.5.0 forgets neither
/// (container port and address 0.0.0.0, moby #52423, #53384); 29.5.1+
/// forgets only the binding whose host port is its container port
/// (5355:5355), and the stale 5354 entry keeps later datagrams from that
/// source away from the DNAT (#53384, open).
fn a_container_start_flushes_udp_conntrack_as_its_release() -> Result<()> {
    let _labs = common::shared();
    for (version, kept_5354, kept_5355) in [
        ("29.4", false, false),
        ("29.5.0", true, true),
        ("29.7", true, false),
    ] {
        let mut docker = DockerHost::builder()
            .name(netrig::unique_lab_name("ctflush"))
            .daemon(DaemonOptions {
                version: Some(version.parse().expect("a release")),
                ..Default::default()
            })
            .container(ContainerSpec::new("web").publish("8080:80"))
            .build()?
            .up()?;
        // One socket for both datagrams: binding the fixed source port twice
        // races with a parallel test's fork, which holds the first socket
        // until its exec.
        let client =
            common::wire::udp_socket(&docker.internet()?, "203.0.113.1:40000".parse().unwrap())?;
        for port in [5354, 5355] {
            client
                .send_to(b"early", ("203.0.113.2", port))
                .expect("send from the internet");
        }
        assert!(
            tracks(&docker, 5354)? && tracks(&docker, 5355)?,
            "{version}: not tracked"
        );
        docker.start_container(
            "host",
            ContainerSpec::new("dns")
                .publish("5354:53/udp")
                .publish("5355:5355/udp"),
        )?;
        assert_eq!(tracks(&docker, 5354)?, kept_5354, "{version}: 5354 -> 53");
        assert_eq!(tracks(&docker, 5355)?, kept_5355, "{version}: 5355 -> 5355");
    }
    Ok(())
}

pub fn tests() -> Vec<netrig::testing::Test> {
    netrig::testing::tests![
        a_container_start_flushes_udp_conntrack_as_its_release,
        flush_ruleset_wipes_dockers_masquerade,
        flush_ruleset_leaves_published_ports_to_the_proxy,
        a_container_started_later_lands_after_the_users_rules,
        a_container_started_later_is_published_and_masqueraded,
        a_container_started_later_without_the_proxy_is_held_and_hairpinned,
    ]
}
