//! After-start events a user applies to a running Docker host: a rule file
//! with `flush ruleset` wipes Docker's rules (iptables-nft's tables are nft
//! tables): outbound masquerade is gone at once, while a published port
//! stays reachable through docker-proxy (a listening socket, not a rule).

use std::time::Duration;

use netrig::Result;
use netrig::expect::udp;

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
    let saved = docker
        .model()
        .backend()
        .save(docker.host_node()?.namespace())?;
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

netrig::testing::main!(
    flush_ruleset_wipes_dockers_masquerade,
    flush_ruleset_leaves_published_ports_to_the_proxy,
);
