//! topologies/docker-ufw.toml: ufw-style "deny incoming" guards the Docker
//! host's own ports but not its published ports (DNAT goes through FORWARD).

use crate::common::host_lab::HostLab as _;
use std::time::Duration;

use netrig::expect::tcp;
use netrig::{Result, TcpFlags, TcpOutcome};

fn up() -> Result<netrig::Lab> {
    let mut host = netrig::topology::load("topologies/docker-ufw.toml")?;
    host.set_name(netrig::unique_lab_name("ufw"));
    host.up()
}

/// The host's own port 9999 gets no answer (INPUT policy DROP, counted) while
/// 22 is allowed by the ufw-user-input rule.
fn deny_incoming_guards_the_hosts_own_ports() -> Result<()> {
    let docker = up()?;
    let host = docker.node("host")?;
    let _ssh = host.tcp_echo_server("0.0.0.0:22")?;
    let _other = host.tcp_echo_server("0.0.0.0:9999")?;
    let internet = docker.internet()?;
    let to = |port: u16| format!("{}:{port}", docker.host_uplink_ip());
    assert_eq!(
        internet.tcp_connect(to(9999), Duration::from_millis(300))?,
        TcpOutcome::NoAnswer
    );
    assert!(
        internet
            .tcp_connect(to(22), Duration::from_secs(1))?
            .is_connected()
    );
    let counters = docker.counters()?;
    let policy = counters.policy("filter", "INPUT").expect("INPUT policy");
    assert_eq!(policy.policy, "DROP");
    assert!(policy.packets >= 1, "{policy:?}");
    let ssh = counters
        .rule("filter", "ufw-user-input", "--dport 22")
        .expect("the allow-22 rule");
    assert!(ssh.packets >= 1, "{ssh:?}");
    Ok(())
}

/// The published port is reached from the internet despite "deny incoming":
/// the SYN arrives in the container DNATed to 172.17.0.2:80, counted by
/// Docker's DNAT rule, and ufw's INPUT chains never see it.
fn published_port_bypasses_deny_incoming() -> Result<()> {
    let docker = up()?;
    let web = docker.container("web")?;
    let server = web.tcp_echo_server("0.0.0.0:80")?;
    let cap = web.capture("eth0")?;
    let internet = docker.internet()?;
    let before = docker.counters()?;
    let out = internet.tcp_connect(
        format!("{}:8080", docker.host_uplink_ip()),
        Duration::from_secs(1),
    )?;
    assert!(out.is_connected(), "{out:?}");
    cap.expect(tcp().dst("172.17.0.2:80").flags(TcpFlags::SYN))
        .within(Duration::from_secs(1))?;
    let peers = server.wait_for_peers(1, Duration::from_secs(1))?;
    assert!(
        !peers[0].ip().is_loopback(),
        "reached by DNAT, not the proxy: {peers:?}"
    );
    let after = docker.counters()?;
    let dnat = after
        .rule("nat", "DOCKER", "--dport 8080")
        .expect("Docker's DNAT rule");
    assert!(dnat.packets >= 1, "{dnat:?}");
    let input_drops = |c: &netrig::Counters| c.policy("filter", "INPUT").map(|p| p.packets);
    assert_eq!(
        input_drops(&before),
        input_drops(&after),
        "INPUT saw the connection"
    );
    Ok(())
}

/// This module's tests.
pub fn tests() -> Vec<netrig::testing::Test> {
    netrig::testing::tests![
        deny_incoming_guards_the_hosts_own_ports,
        published_port_bypasses_deny_incoming,
    ]
}
