//! docker-proxy versus hairpin NAT, seen from the container: a neighbour on
//! the same bridge connects to the host's published port. With the userland
//! proxy the connection ends at the host and the proxy opens a new one, so
//! the container sees the bridge's address; with `--userland-proxy=false`
//! the kernel DNATs the neighbour's own packets, so it sees the neighbour.

use std::io::{Read, Write};
use std::net::IpAddr;

use crate::support::{HostLab as _, Up as _};
use netrig::Lab;
use netrig::TcpFlags;
use netrig::docker::{ContainerSpec, DaemonOptions};
use netrig::expect::{expect_nat, tcp};
use netrig::{Capture, Result, Sentinel};

use crate::matrix::Variant;
use crate::support::{WAIT, at, failure, gateway_of, ip_of};

/// Builds docker0 with `web` (8080:80 published, echo server on 80) and a
/// neighbour `client`, with captures on both `eth0`s; the neighbour connects
/// to host:8080 and gets its echo back. Then `checks` runs with the source
/// address the server saw and the captures (client's, web's).
fn neighbour_connects(
    v: &Variant,
    proxy: bool,
    checks: impl FnOnce(&Lab, IpAddr, &Capture, &Capture) -> Result<()>,
) -> Result<()> {
    let lab = v
        .host(if proxy { "proxy" } else { "hairpin" })
        .daemon(DaemonOptions {
            userland_proxy: proxy,
            ..v.daemon()
        })
        .container(ContainerSpec::new("web").publish("8080:80"))
        .container(ContainerSpec::new("client"))
        .build()?
        .up()?;
    let server = lab.container("web")?.tcp_echo_server("0.0.0.0:80")?;
    let at_client = lab.container("client")?.capture("eth0")?;
    let at_web = lab.container("web")?.capture("eth0")?;

    let mut stream = crate::wire::tcp_stream(
        &lab.container("client")?,
        at(lab.host_uplink_ip(), 8080),
        WAIT,
    )?;
    stream
        .set_read_timeout(Some(WAIT))
        .expect("set a read timeout");
    let mut echo = [0u8; 5];
    let echoed = stream
        .write_all(b"hello")
        .and_then(|()| stream.read_exact(&mut echo));
    if echoed.is_err() || &echo != b"hello" {
        return Err(failure(
            &lab,
            &format!("client got no echo through host:8080: {echoed:?}"),
        ));
    }
    let peer = server.wait_for_peers(1, WAIT)?[0].ip();
    checks(&lab, peer, &at_client, &at_web)
}

/// With the userland proxy, a neighbour connecting to host:8080 is served through docker-proxy: the container sees the bridge address 172.17.0.1, never the neighbour.
pub fn userland_proxy_hides_client(v: &Variant) -> Result<()> {
    neighbour_connects(v, true, |lab, peer, at_client, at_web| {
        let (web, client) = (ip_of(lab, "web"), ip_of(lab, "client"));
        let gateway = gateway_of(lab, "bridge");
        if peer != gateway {
            return Err(failure(
                lab,
                &format!("web saw {peer}, not the proxy at {gateway}"),
            ));
        }
        at_client
            .expect(
                tcp()
                    .src(client)
                    .dst(at(lab.host_uplink_ip(), 8080))
                    .flags(TcpFlags::SYN),
            )
            .within(WAIT)?;
        // A new connection, opened by the proxy from the bridge's address.
        at_web
            .expect(tcp().src(gateway).dst(at(web, 80)).flags(TcpFlags::SYN))
            .within(WAIT)?;
        at_web
            .expect_none(
                tcp().src(client).dst(at(web, 80)),
                Sentinel::udp(&lab.container("client")?, format!("{web}:9")),
            )
            .within(WAIT)
    })
}

/// With --userland-proxy=false, a neighbour connecting to host:8080 is DNATed in the kernel (hairpin): the container sees the neighbour's own address.
pub fn hairpin_nat_preserves_client(v: &Variant) -> Result<()> {
    neighbour_connects(v, false, |lab, peer, at_client, at_web| {
        let (web, client) = (ip_of(lab, "web"), ip_of(lab, "client"));
        let gateway = gateway_of(lab, "bridge");
        if peer != client {
            return Err(failure(
                lab,
                &format!("web saw {peer}, not the client {client}"),
            ));
        }
        expect_nat(
            at_client,
            at_web,
            tcp()
                .src(client)
                .dst(at(lab.host_uplink_ip(), 8080))
                .flags(TcpFlags::SYN),
        )
        .dnat_to(at(web, 80))
        .within(WAIT)?;
        at_web
            .expect_none(
                tcp().src(gateway).dst(at(web, 80)),
                Sentinel::udp(&lab.container("client")?, format!("{web}:9")),
            )
            .within(WAIT)
    })
}
