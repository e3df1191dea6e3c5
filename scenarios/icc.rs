//! Inter-container communication on one bridge (docker-rules §2.4): switched
//! straight through with icc on; dropped by Docker's ICC rule with
//! `enable_icc=false` (which needs br_netfilter to see bridged frames); and
//! an internal network's containers still reach each other.

use crate::support::{HostLab as _, Up as _};
use netrig::docker::{ContainerSpec, Layout, NetworkSpec};
use netrig::expect::{tcp, udp};
use netrig::{Backend, Lab, Result, Sentinel, TcpFlags};

use crate::matrix::Variant;
use crate::support::{Rule, WAIT, at, bridge_of, ensure, expect_counted, ip_of, packets, port_of};

/// `a` connects over TCP to `b`:80; `b` sees `a`'s own address (no NAT on one bridge).
fn connects_unchanged(lab: &Lab, a: &str, b: &str) -> Result<()> {
    let (ia, ib) = (ip_of(lab, a), ip_of(lab, b));
    let server = lab.container(b)?.tcp_echo_server("0.0.0.0:80")?;
    let at_b = lab.container(b)?.capture("eth0")?;
    let outcome = lab.container(a)?.tcp_connect(at(ib, 80), WAIT)?;
    at_b.expect(tcp().src(ia).dst(at(ib, 80)).flags(TcpFlags::SYN))
        .within(WAIT)?;
    let seen = server.wait_for_peer_from(ia.into(), WAIT);
    ensure(lab, outcome.is_connected() && seen, || {
        format!("{a} -> {b}:80: {outcome}; {b} saw {:?}", server.peers())
    })
}

/// Two containers on one user network connect to each other directly, each seeing the other's own address.
pub fn containers_on_one_bridge_connect(v: &Variant) -> Result<()> {
    let lab = v
        .host("icc")
        .network(NetworkSpec {
            subnet: Some("172.18.0.0/16".into()),
            ..NetworkSpec::from("app")
        })
        .container(ContainerSpec::new("a").network("app"))
        .container(ContainerSpec::new("b").network("app"))
        .build()?
        .up()?;
    connects_unchanged(&lab, "a", "b")
}

/// Two containers on one --internal network still reach each other (only the way out is closed).
pub fn internal_network_containers_connect(v: &Variant) -> Result<()> {
    let lab = v
        .host("internal-icc")
        .network(NetworkSpec {
            subnet: Some("172.20.0.0/16".into()),
            internal: true,
            ..NetworkSpec::from("secure")
        })
        .container(ContainerSpec::new("a").network("secure"))
        .container(ContainerSpec::new("b").network("secure"))
        .build()?
        .up()?;
    connects_unchanged(&lab, "a", "b")
}

/// The ICC drop rule of network bridge `br` for this cell.
pub fn icc_drop_rule(v: &Variant, br: &str) -> Rule {
    match (v.layout, v.backend) {
        (Layout::Classic, _) => {
            Rule::new("filter", "FORWARD", &[&format!("-i {br} -o {br} -j DROP")])
        }
        (_, Backend::Nftables) => Rule::new(
            "ip docker-bridges",
            format!("filter-forward-in__{br}"),
            &[&format!("iifname \"{br}\""), "drop"],
        ),
        _ => Rule::new(
            "filter",
            "DOCKER-FORWARD",
            &[&format!("-i {br} -o {br} -j DROP")],
        ),
    }
}

/// With enable_icc=false, a datagram between two containers on the same bridge enters the host, is counted by Docker's ICC drop and never reaches the other container (br_netfilter).
pub fn icc_false_drops_traffic_on_one_bridge(v: &Variant) -> Result<()> {
    let lab = v
        .host("noicc")
        .network(NetworkSpec {
            subnet: Some("172.18.0.0/16".into()),
            icc: false,
            ..NetworkSpec::from("quiet")
        })
        .container(ContainerSpec::new("a").network("quiet"))
        .container(ContainerSpec::new("b").network("quiet"))
        .build()?
        .up()?;
    let (ia, ib) = (ip_of(&lab, "a"), ip_of(&lab, "b"));
    let rule = icc_drop_rule(v, &bridge_of(&lab, "quiet"));
    let before = packets(&lab, &rule)?;
    let entering = lab.host_node()?.capture(&port_of(&lab, "a"))?;
    let at_b = lab.container("b")?.capture("eth0")?;
    lab.container("a")?.udp_send(at(ib, 7), b"icc-off")?;
    let m = udp().src(ia).dst(at(ib, 7)).payload("icc-off");
    entering.expect(m.clone()).within(WAIT)?;
    expect_counted(&lab, &rule, before)?;
    // The host may still talk to b: its sentinel arrives.
    at_b.expect_none(m, Sentinel::udp(&lab.host_node()?, format!("{ib}:9")))
        .within(WAIT)
}
