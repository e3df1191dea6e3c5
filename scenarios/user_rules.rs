//! A user's own rules, applied after Docker's: an iptables-save fragment for
//! `DOCKER-USER` (iptables backends) or an nft file with its own table (the
//! nftables backend, which has no `DOCKER-USER`), both in `scenarios/rules/`.

use std::path::PathBuf;

use crate::support::HostLab as _;
use netrig::Backend;
use netrig::TcpFlags;
use netrig::docker::ContainerSpec;
use netrig::expect::{tcp, udp};
use netrig::{Result, Sentinel};

use crate::matrix::Variant;
use crate::support::{
    INTERNET_CLIENT, Rule, WAIT, at, expect_counted, failure, ip_of, packets, tcp_connects_from,
};

/// The other internet client, which the user's rule does not block.
const OTHER_CLIENT: &str = "198.51.100.20";

fn rules_file(v: &Variant) -> PathBuf {
    let name = match v.backend {
        Backend::Nftables => "block-client.nft",
        _ => "block-client.rules",
    };
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/rules")
        .join(name)
}

/// A user's rule file blocking published port 8080 for one internet client stops that client's packets at the host (the rule counts them), while another client still gets through.
pub fn docker_user_rule_blocks_one_source(v: &Variant) -> Result<()> {
    let host = v
        .host("userrule")
        .container(
            ContainerSpec::new("web")
                .publish("8080:80")
                .publish("9999:9999/udp"),
        )
        .build()?;
    let lab = netrig::LabSpec::from(host)
        .rules_file("host", rules_file(v))
        .up()?;
    let web = ip_of(&lab, "web");
    let internet = lab.internet()?;
    internet.add_address("lo", &format!("{OTHER_CLIENT}/32"))?;
    let _server = lab.container("web")?.tcp_echo_server("0.0.0.0:80")?;
    let rule = match v.backend {
        Backend::Nftables => Rule::new(
            "ip docker-user",
            "forward",
            &["ip saddr 203.0.113.1", "drop"],
        ),
        _ => Rule::new("filter", "DOCKER-USER", &["-s 203.0.113.1/32", "-j DROP"]),
    };
    let before = packets(&lab, &rule)?;
    let entering = lab.host_node()?.capture("eth0")?;
    let inside = lab.container("web")?.capture("eth0")?;
    let published = at(lab.host_uplink_ip(), 8080);

    // The blocked client: its TcpFlags::SYN reaches the host, is counted, and goes no further.
    let blocked = tcp_connects_from(
        &internet,
        INTERNET_CLIENT,
        published,
        std::time::Duration::from_millis(200),
    )?;
    let syn = tcp().src(INTERNET_CLIENT).flags(TcpFlags::SYN);
    entering.expect(syn.clone().dst(published)).within(WAIT)?;
    expect_counted(&lab, &rule, before)?;
    // The sentinel: a datagram to another published port of web, sent later
    // along the same path (DNAT, FORWARD) from the same client.
    internet.udp_send(at(lab.host_uplink_ip(), 9999), b"user-rule-sentinel")?;
    inside
        .expect_none(
            syn.dst(at(web, 80)),
            Sentinel::packet(udp().dst(at(web, 9999)).payload("user-rule-sentinel")),
        )
        .within(WAIT)?;
    if blocked {
        return Err(failure(&lab, "the blocked client connected anyway"));
    }

    // Another client on the internet still reaches the published port.
    let other = OTHER_CLIENT.parse().expect("an IPv4 address");
    if !tcp_connects_from(&internet, other, published, WAIT)? {
        return Err(failure(
            &lab,
            &format!("{OTHER_CLIENT} could not connect to {published}"),
        ));
    }
    inside
        .expect(tcp().src(other).dst(at(web, 80)).flags(TcpFlags::SYN))
        .within(WAIT)?;
    Ok(())
}
