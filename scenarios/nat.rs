//! Docker's NAT, proved on the wire: outbound masquerade and inbound DNAT of
//! a published port, each seen as one flow on two captures with its
//! addresses rewritten between them.

use std::io::{Read, Write};

use crate::support::{HostLab as _, Up as _};
use netrig::Result;
use netrig::TcpFlags;
use netrig::docker::ContainerSpec;
use netrig::expect::{expect_nat, tcp, udp};

use crate::matrix::Variant;
use crate::support::{INTERNET_CLIENT, SERVER, WAIT, at, failure, ip_of};

/// Container → internet traffic leaves the host masqueraded to the uplink address (203.0.113.2), and the answer is de-NATed back to the container.
pub fn outbound_masquerade(v: &Variant) -> Result<()> {
    let lab = v
        .host("masq")
        .container(ContainerSpec::new("app"))
        .build()?
        .up()?;
    let app = ip_of(&lab, "app");
    let _dns = lab.internet()?.udp_echo_server(at(SERVER, 53))?;
    let inside = lab.host_node()?.capture("docker0")?;
    let outside = lab.internet()?.capture("eth0")?;

    let outcome = lab
        .container("app")?
        .udp_request(at(SERVER, 53), b"masquerade-me", WAIT)?;

    expect_nat(
        &inside,
        &outside,
        udp().src(app).dst(at(SERVER, 53)).payload("masquerade-me"),
    )
    .snat_to(lab.host_uplink_ip())
    .within(WAIT)?;
    // The answer goes to the host's address and is translated back on the way in.
    let answer = udp().src(at(SERVER, 53)).payload("masquerade-me");
    outside
        .expect(answer.clone().dst(lab.host_uplink_ip()))
        .within(WAIT)?;
    inside.expect(answer.dst(app)).within(WAIT)?;
    if !matches!(outcome, netrig::UdpOutcome::Reply { .. }) {
        return Err(failure(
            &lab,
            &format!("app got no echo from {SERVER}:53: {outcome:?}"),
        ));
    }
    Ok(())
}

/// A connection from the internet to host:8080 reaches the container's port 80 with the client's own source address (DNAT, no SNAT).
pub fn published_port_dnat(v: &Variant) -> Result<()> {
    let lab = v
        .host("dnat")
        .container(ContainerSpec::new("web").publish("8080:80"))
        .build()?
        .up()?;
    let web = ip_of(&lab, "web");
    let server = lab.container("web")?.tcp_echo_server("0.0.0.0:80")?;
    let outside = lab.host_node()?.capture("eth0")?;
    let inside = lab.container("web")?.capture("eth0")?;

    let mut stream =
        crate::wire::tcp_stream(&lab.internet()?, at(lab.host_uplink_ip(), 8080), WAIT)?;
    let flow = expect_nat(
        &outside,
        &inside,
        tcp()
            .src(INTERNET_CLIENT)
            .dst(at(lab.host_uplink_ip(), 8080))
            .flags(TcpFlags::SYN),
    )
    .dnat_to(at(web, 80))
    .within(WAIT)?;
    assert!(
        flow.before.tcp().map(|t| t.src_port) == flow.after.tcp().map(|t| t.src_port),
        "no SNAT on the way in: {flow:?}"
    );

    // The connection works end to end, and the server saw the real client.
    stream
        .set_read_timeout(Some(WAIT))
        .expect("set a read timeout");
    let mut echo = [0u8; 5];
    let echoed = stream
        .write_all(b"hello")
        .and_then(|()| stream.read_exact(&mut echo));
    let peers = server.wait_for_peers(1, WAIT)?;
    if echoed.is_err() || &echo != b"hello" || peers[0].ip() != INTERNET_CLIENT {
        return Err(failure(
            &lab,
            &format!(
                "expected an echo and peer {INTERNET_CLIENT}; got {echoed:?} {echo:?}, peers {peers:?}"
            ),
        ));
    }
    Ok(())
}
