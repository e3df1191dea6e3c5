//! The README's example, verbatim (tests/docs.rs checks that the README shows it).

use netrig::expect::udp;
use std::time::Duration;

/// Outbound traffic from a container is masqueraded to the host's uplink address.
fn outbound_traffic_is_masqueraded() -> netrig::Result<()> {
    let lab = netrig::topology::load("topologies/docker-bridge.toml")?.up()?;
    let docker = lab.docker("host")?; // the file's Docker host
    let internet = lab.node("internet")?;
    let server = internet.udp_echo_server("198.51.100.10:53")?; // bound before return
    let wan = internet.capture("eth0")?; // active before return
    docker
        .container("web")?
        .udp_send("198.51.100.10:53", b"q")?;
    let uplink = docker.uplink_ip(); // what masquerading writes
    wan.expect(udp().src(uplink).dst("198.51.100.10:53"))
        .within(Duration::from_secs(1))?;
    assert_eq!(
        server.wait_for_datagrams(1, Duration::from_secs(1))?[0]
            .from
            .ip(),
        uplink
    );
    Ok(())
}

netrig::testing::main!(outbound_traffic_is_masqueraded);
