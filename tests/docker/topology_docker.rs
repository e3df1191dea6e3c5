//! Docker hosts as parts of larger labs (`[[docker]]` in a generic topology),
//! and a host's state before the daemon starts: the example topologies'
//! claims, each proved on captured packets, connections and rule counters.

use std::time::Duration;

use netrig::docker::Layout;
use netrig::expect::tcp;
use netrig::topology::Overrides;
use netrig::{Lab, Result, TcpFlags, TcpOutcome};

use crate::common;

fn up(file: &str, overrides: &Overrides) -> Result<Lab> {
    let mut lab = netrig::topology::load_with(file, overrides)?;
    lab.set_name(netrig::unique_lab_name("part"));
    lab.up()
}

/// topologies/two-docker-hosts.toml: h1's web reaches h2's published port;
/// the SYN leaves h1 masqueraded to 198.51.100.21 and arrives in h2's web
/// DNATed to 172.17.0.2:80, whose server sees 198.51.100.21.
fn containers_on_two_hosts_meet_through_both_nats() -> Result<()> {
    let _labs = common::shared();
    let lab = up("topologies/two-docker-hosts.toml", &Overrides::default())?;
    let h2_web = lab.docker("h2")?.container("web")?;
    let server = h2_web.tcp_echo_server("0.0.0.0:80")?;
    let on_lan = lab.node("router")?.capture("lan0")?;
    let in_h2 = h2_web.capture("eth0")?;
    let h1_web = lab.docker("h1")?.container("web")?;
    let out = h1_web.tcp_connect("198.51.100.22:8080", Duration::from_secs(2))?;
    assert!(out.is_connected(), "{out:?}");
    on_lan
        .expect(
            tcp()
                .src("198.51.100.21")
                .dst("198.51.100.22:8080")
                .flags(TcpFlags::SYN),
        )
        .within(Duration::from_secs(1))?;
    in_h2
        .expect(
            tcp()
                .src("198.51.100.21")
                .dst("172.17.0.2:80")
                .flags(TcpFlags::SYN),
        )
        .within(Duration::from_secs(1))?;
    let peers = server.wait_for_peers(1, Duration::from_secs(1))?;
    assert_eq!(peers[0].ip().to_string(), "198.51.100.21", "{peers:?}");
    Ok(())
}

/// topologies/two-docker-hosts.toml: both hosts use 172.17.0.0/16, so h1's
/// web dialing 172.17.0.2 reaches itself on h1 — nothing reaches h2's web.
fn the_same_subnet_on_two_hosts_stays_local() -> Result<()> {
    let _labs = common::shared();
    let lab = up("topologies/two-docker-hosts.toml", &Overrides::default())?;
    let h2_web = lab.docker("h2")?.container("web")?;
    let h2_server = h2_web.tcp_echo_server("0.0.0.0:81")?;
    let h1_web = lab.docker("h1")?.container("web")?;
    let own = h1_web.tcp_echo_server("172.17.0.2:81")?;
    let out = h1_web.tcp_connect("172.17.0.2:81", Duration::from_secs(1))?;
    assert!(out.is_connected(), "{out:?}");
    assert_eq!(own.wait_for_peers(1, Duration::from_secs(1))?.len(), 1);
    assert!(h2_server.peers().is_empty(), "h2's web was reached");
    Ok(())
}

/// topologies/docker-routed-peer.toml under its own layout (28): the peer's
/// SYN straight to 172.17.0.2:80 is dropped by the raw direct-access rule
/// (its counter grows, no connection), while the published port answers.
fn docker_28_drops_a_routed_peers_direct_packets() -> Result<()> {
    let _labs = common::shared();
    let lab = up("topologies/docker-routed-peer.toml", &Overrides::default())?;
    let part = lab.docker("host")?;
    assert_eq!(part.model().layout(), Layout::V28);
    let web = part.container("web")?;
    let _server = web.tcp_echo_server("0.0.0.0:80")?;
    let peer = lab.node("peer")?;
    let host = lab.node("host")?;
    let counters = || host.counters(part.model().backend());
    let drop_rule = |c: &netrig::Counters| {
        c.rule("raw", "PREROUTING", "-d 172.17.0.2/32")
            .map(|r| r.packets)
            .expect("the direct-access drop")
    };
    let before = drop_rule(&counters()?);
    assert_eq!(
        peer.tcp_connect("172.17.0.2:80", Duration::from_millis(500))?,
        TcpOutcome::NoAnswer
    );
    assert!(
        drop_rule(&counters()?) > before,
        "the raw drop did not count"
    );
    let published = peer.tcp_connect("198.51.100.2:8080", Duration::from_secs(2))?;
    assert!(published.is_connected(), "sentinel: {published:?}");
    Ok(())
}

/// The same file under the classic layout: the direct packet is accepted
/// (by the published port's filter ACCEPT) and the container's server sees
/// the peer's own address.
fn classic_accepts_a_routed_peers_direct_packets() -> Result<()> {
    let _labs = common::shared();
    let overrides = Overrides {
        layout: Some(Layout::Classic),
        ..Overrides::default()
    };
    let lab = up("topologies/docker-routed-peer.toml", &overrides)?;
    let part = lab.docker("host")?;
    assert_eq!(part.model().layout(), Layout::Classic);
    let web = part.container("web")?;
    let server = web.tcp_echo_server("0.0.0.0:80")?;
    let out = lab
        .node("peer")?
        .tcp_connect("172.17.0.2:80", Duration::from_secs(2))?;
    assert!(out.is_connected(), "{out:?}");
    let peers = server.wait_for_peers(1, Duration::from_secs(1))?;
    assert_eq!(peers[0].ip().to_string(), "198.51.100.50");
    let accept = part
        .counters()?
        .rule("filter", "DOCKER", "-d 172.17.0.2/32")
        .map(|r| r.packets)
        .expect("the published port's ACCEPT");
    assert!(accept >= 1, "accepted by another rule");
    Ok(())
}

/// topologies/docker-libvirt.toml: the VM on the host whose forwarding was
/// off before Docker gets no answer, dropped by the FORWARD policy DROP Docker
/// set (counted), with libvirt's table (loaded before Docker) still there and
/// accepting in vain; the VM on
/// the host whose forwarding was on reaches the server masqueraded to its
/// host's address.
fn libvirt_nat_breaks_only_where_docker_turned_forwarding_on() -> Result<()> {
    let _labs = common::shared();
    let lab = up("topologies/docker-libvirt.toml", &Overrides::default())?;
    let server = lab.tcp_server("internet", "198.51.100.1:80".parse().unwrap())?;
    let policy = |host: &str| -> Result<(String, u64)> {
        let c = lab.docker(host)?.counters()?;
        let p = c.policy("filter", "FORWARD").expect("FORWARD policy");
        Ok((p.policy.clone(), p.packets))
    };
    let libvirt_table =
        |host: &str| -> Result<String> { lab.node(host)?.rules(netrig::Backend::Nftables) };
    let (off_policy, off_before) = policy("off")?;
    assert_eq!(off_policy, "DROP");
    assert_eq!(
        lab.node("vm-off")?
            .tcp_connect("198.51.100.1:80", Duration::from_millis(500))?,
        TcpOutcome::NoAnswer
    );
    assert!(
        policy("off")?.1 > off_before,
        "the FORWARD policy did not drop it"
    );
    let nft = libvirt_table("off")?;
    assert!(
        nft.contains("table ip libvirt_network") && nft.contains("masquerade"),
        "libvirt's table (loaded before Docker) is gone:\n{nft}"
    );
    assert!(
        server.peers().is_empty(),
        "reached the server: {:?}",
        server.peers()
    );

    assert_eq!(policy("on")?.0, "ACCEPT");
    let out = lab
        .node("vm-on")?
        .tcp_connect("198.51.100.1:80", Duration::from_secs(2))?;
    assert!(out.is_connected(), "{out:?}");
    let peers = server.wait_for_peers(1, Duration::from_secs(1))?;
    assert_eq!(
        peers[0].ip().to_string(),
        "198.51.100.12",
        "masqueraded by libvirt's table"
    );
    Ok(())
}

/// topologies/two-docker-hosts.toml, then `docker run -p 9090:80 late` on h2
/// while the lab runs: h1's web reaches the new port, masqueraded on h1 and
/// DNATed into h2-late (its server sees h1's LAN address, not h2's bridge
/// address, so it was Docker's DNAT and not docker-proxy).
fn a_container_started_later_on_a_part_is_published() -> Result<()> {
    let _labs = common::shared();
    let mut lab = up("topologies/two-docker-hosts.toml", &Overrides::default())?;
    lab.start_container(
        "h2",
        netrig::docker::ContainerSpec::new("late").publish("9090:80"),
    )?;
    let late_node = lab.docker("h2")?.container("late")?.name().to_string();
    assert_eq!(late_node, "h2-late");
    let late = lab.node(&late_node)?;
    let server = late.tcp_echo_server("0.0.0.0:80")?;
    let in_late = late.capture("eth0")?;
    let h1_web = lab.docker("h1")?.container("web")?;
    let out = h1_web.tcp_connect("198.51.100.22:9090", Duration::from_secs(2))?;
    assert!(out.is_connected(), "{out:?}");
    in_late
        .expect(
            tcp()
                .src("198.51.100.21")
                .dst("172.17.0.3:80")
                .flags(TcpFlags::SYN),
        )
        .within(Duration::from_secs(1))?;
    let peers = server.wait_for_peers(1, Duration::from_secs(1))?;
    assert_eq!(peers[0].ip().to_string(), "198.51.100.21", "{peers:?}");
    assert!(
        lab.start_container("h3", netrig::docker::ContainerSpec::new("x"))
            .is_err()
    );
    Ok(())
}

/// This module's tests.
pub fn tests() -> Vec<netrig::testing::Test> {
    netrig::testing::tests![
        containers_on_two_hosts_meet_through_both_nats,
        the_same_subnet_on_two_hosts_stays_local,
        docker_28_drops_a_routed_peers_direct_packets,
        classic_accepts_a_routed_peers_direct_packets,
        libvirt_nat_breaks_only_where_docker_turned_forwarding_on,
        a_container_started_later_on_a_part_is_published,
    ]
}
