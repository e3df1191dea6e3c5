//! Loopback bindings (`-p 127.0.0.1:8081:80`) seen from the uplink: a
//! neighbour that sends packets for 127.0.0.1 to the host's MAC (moby #45610).
//!
//! Docker's DNAT for the binding matches `-d 127.0.0.1/32` before routing, so
//! classic Docker forwards such packets to the container; Docker 28+ drops
//! them in raw PREROUTING (`! -i lo`), as recorded for 28.5.2.

use std::net::{Ipv4Addr, SocketAddrV4};

use crate::support::{HostLab as _, Up as _};
use crate::wire::{mac, tcp_syn_frame};
use netrig::Backend;
use netrig::TcpFlags;
use netrig::docker::{ContainerSpec, Layout};
use netrig::expect::{tcp, udp};
use netrig::{Result, Sentinel};

use crate::matrix::Variant;
use crate::support::{INTERNET_CLIENT, Rule, WAIT, at, expect_counted, failure, ip_of, packets};

/// A TcpFlags::SYN for 127.0.0.1:8081 sent to the host from the uplink: classic DNATs it to the container and answers (moby #45610); V28 and V29 drop it in raw PREROUTING.
pub fn loopback_binding_from_the_uplink(v: &Variant) -> Result<()> {
    let lab = v
        .host("loopback")
        .container(
            ContainerSpec::new("web")
                .publish("127.0.0.1:8081:80")
                .publish("9999:9999/udp"),
        )
        .build()?
        .up()?;
    let web = ip_of(&lab, "web");
    let _server = lab.container("web")?.tcp_echo_server("0.0.0.0:80")?;
    let internet = lab.internet()?;
    let inside = lab.container("web")?.capture("eth0")?;
    let back = internet.capture("eth0")?;
    let syn = tcp_syn_frame(
        mac(&internet, "eth0")?,
        mac(&lab.host_node()?, "eth0")?,
        SocketAddrV4::new(INTERNET_CLIENT, 40123),
        SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8081),
        7,
    );
    let dnated = tcp()
        .src(at(INTERNET_CLIENT, 40123))
        .dst(at(web, 80))
        .flags(TcpFlags::SYN);
    let answer = tcp()
        .src(at(Ipv4Addr::LOCALHOST, 8081))
        .dst(at(INTERNET_CLIENT, 40123));
    if v.layout == Layout::Classic {
        internet.inject("eth0", &syn)?;
        inside.expect(dnated).within(WAIT)?;
        back.expect(answer).within(WAIT)?;
        return Ok(());
    }
    let rule = match v.backend {
        Backend::Nftables => Rule::new(
            "ip docker-bridges",
            "raw-PREROUTING",
            &["iifname != \"lo\" ip daddr 127.0.0.1", "dport 8081", "drop"],
        ),
        _ => Rule::new(
            "raw",
            "PREROUTING",
            &["-d 127.0.0.1/32 ! -i lo", "--dport 8081 -j DROP"],
        ),
    };
    let before = packets(&lab, &rule)?;
    internet.inject("eth0", &syn)?;
    expect_counted(&lab, &rule, before)?;
    // The sentinel takes a published port the allowed way, DNATed to web.
    internet.udp_send(at(lab.host_uplink_ip(), 9999), b"lo-sentinel")?;
    inside
        .expect_none(
            dnated,
            Sentinel::packet(udp().dst(at(web, 9999)).payload("lo-sentinel")),
        )
        .within(WAIT)?;
    if back.packets().iter().any(|p| answer.matches(p)) {
        return Err(failure(&lab, "the host answered for 127.0.0.1:8081"));
    }
    Ok(())
}
