//! Network tests with netrig (written by `netrig init`): each test builds a
//! small real network in namespaces of its own, sends traffic and checks the
//! packets. They need root (`sudo -E cargo test --test netrig`); without it
//! they are reported as ignored, and with CI=true they fail.

use std::time::Duration;

use netrig::expect::udp;
use netrig::testing::{Skip, Test};
use netrig::{Endpoint, Lab};

/// Two namespaces on one veth: a datagram from a reaches b's echo server.
fn two_hosts_talk() -> netrig::Result<()> {
    let lab = Lab::builder("two-hosts")
        .node("a")
        .node("b")
        .link(
            Endpoint::new("a", "eth0").addr("10.0.0.1/24"),
            Endpoint::new("b", "eth0").addr("10.0.0.2/24"),
        )
        .up()?;
    let server = lab.node("b")?.udp_echo_server("10.0.0.2:7000")?; // bound before return
    let cap = lab.node("b")?.capture("eth0")?; // active before return
    lab.node("a")?.udp_send("10.0.0.2:7000", b"hi")?;
    cap.expect(udp().src("10.0.0.1").dst("10.0.0.2:7000").payload("hi"))
        .within(Duration::from_secs(1))?;
    let from = server.wait_for_datagrams(1, Duration::from_secs(1))?[0].from;
    assert_eq!(from.ip().to_string(), "10.0.0.1");
    Ok(())
}

/// On an emulated Docker host, a container's outbound traffic is
/// masqueraded to the host's uplink address.
fn container_traffic_is_masqueraded() -> netrig::Result<()> {
    let lab = netrig::topology::load("topologies/web.toml")?.up()?;
    let docker = lab.docker("host")?;
    let wan = lab.node("internet")?.capture("eth0")?;
    docker.container("web")?.udp_send("198.51.100.10:53", b"q")?;
    wan.expect(udp().src(docker.uplink_ip()).dst("198.51.100.10:53"))
        .within(Duration::from_secs(1))?;
    Ok(())
}

/// A deliberately wrong expectation (forgetting the masquerade), to see the
/// report a failure prints: run with NETRIG_SHOW_FAILURE=1.
fn a_failure_prints_its_evidence() -> netrig::Result<()> {
    let lab = netrig::topology::load("topologies/web.toml")?.up()?;
    let wan = lab.node("internet")?.capture("eth0")?;
    lab.docker("host")?.container("web")?.udp_send("198.51.100.10:53", b"q")?;
    wan.expect(udp().src("172.17.0.2").dst("198.51.100.10:53"))
        .within(Duration::from_millis(300))?;
    Ok(())
}

fn main() -> std::process::ExitCode {
    let show_failure = std::env::var_os("NETRIG_SHOW_FAILURE").is_some();
    netrig::testing::run(vec![
        Test::lab("two_hosts_talk", two_hosts_talk),
        Test::lab("container_traffic_is_masqueraded", container_traffic_is_masqueraded),
        Test::lab("a_failure_prints_its_evidence", a_failure_prints_its_evidence).needs(move || {
            (!show_failure).then(|| Skip::always("set NETRIG_SHOW_FAILURE=1 to see a failed expectation's report"))
        }),
    ])
}
