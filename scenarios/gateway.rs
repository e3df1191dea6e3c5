//! Gateway modes (`com.docker.network.bridge.gateway_mode_ipv4`, Docker 27+):
//! a `routed` network has no NAT at all, so a router next to the host reaches
//! its containers' published ports at their own addresses, as recorded for
//! Docker 28.5.2 — and nothing else of them.

use crate::support::{HostLab as _, Up as _};
use netrig::Result;
use netrig::TcpFlags;
use netrig::docker::{ContainerSpec, GatewayMode, NetworkSpec};
use netrig::expect::tcp;

use crate::matrix::Variant;
use crate::support::{Rule, WAIT, at, bridge_of, expect_counted, failure, ip_of, packets, peer_ip};

/// gateway_mode_ipv4=routed: a LAN peer reaches the container's published port 80 at the container's address with its own source (no NAT either way); port 81 is dropped by the network's `DOCKER ! -i br -o br -j DROP`.
pub fn routed_network_is_reached_by_routing(v: &Variant) -> Result<()> {
    let lab = v
        .host("routed")
        .network(NetworkSpec {
            gateway_mode_ipv4: GatewayMode::Routed,
            ..NetworkSpec::from("direct")
        })
        .container(
            ContainerSpec::new("api")
                .network("direct")
                .publish("8082:80"),
        )
        .lan_peer("peer")
        .build()?
        .up()?;
    let api = ip_of(&lab, "api");
    let peer_ip = peer_ip(&lab, "peer");
    let node = lab.container("api")?;
    let published = node.tcp_echo_server("0.0.0.0:80")?;
    let _other = node.tcp_echo_server("0.0.0.0:81")?;
    let inside = node.capture("eth0")?;
    let peer = lab.node("peer")?;

    let connected = peer.tcp_connect(at(api, 80), WAIT)?;
    inside
        .expect(tcp().src(peer_ip).dst(at(api, 80)).flags(TcpFlags::SYN))
        .within(WAIT)?;
    // The server records a peer when it accepts, which may be just after
    // the client's handshake completed: wait for it.
    if !(connected.is_connected() && published.wait_for_peer_from(peer_ip.into(), WAIT)) {
        return Err(failure(
            &lab,
            &format!(
                "peer -> api:80: {connected}, server saw {:?} (want {peer_ip}, no NAT)",
                published.peers()
            ),
        ));
    }

    let br = bridge_of(&lab, "direct");
    let rule = Rule::new("filter", "DOCKER", &[&format!("! -i {br} -o {br} -j DROP")]);
    let before = packets(&lab, &rule)?;
    let refused = peer.tcp_connect(at(api, 81), std::time::Duration::from_millis(300))?;
    expect_counted(&lab, &rule, before)?;
    if refused.is_connected() {
        return Err(failure(&lab, "peer -> api:81 (unpublished) connected"));
    }
    Ok(())
}
