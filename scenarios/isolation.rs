//! Isolation: what Docker keeps apart. Containers on different bridges, and
//! an internal network and the outside world. Absence is proved twice: the
//! packet is seen entering the host, the rule that drops it counts it, and a
//! capture past the drop sees nothing before a sentinel that was sent later.

use crate::support::{HostLab as _, Up as _};
use netrig::Backend;
use netrig::docker::{ContainerSpec, Layout, NetworkSpec};
use netrig::expect::udp;
use netrig::{Result, Route, Sentinel};

use crate::matrix::Variant;
use crate::support::{
    Rule, SERVER, WAIT, at, bridge_of, expect_counted, failure, ip_of, packets, port_of,
};

/// Containers on one bridge reach each other; a packet from a container on another bridge dies at the host, counted by Docker's isolation rule.
pub fn bridges_are_isolated(v: &Variant) -> Result<()> {
    let lab = v
        .host("isol")
        .container(ContainerSpec::new("a1"))
        .container(ContainerSpec::new("a2"))
        .network(NetworkSpec {
            subnet: Some("172.18.0.0/16".into()),
            ..NetworkSpec::from("other")
        })
        .container(ContainerSpec::new("b").network("other"))
        .build()?
        .up()?;
    let (a1, a2, b) = (ip_of(&lab, "a1"), ip_of(&lab, "a2"), ip_of(&lab, "b"));
    let sender = lab.container("a1")?;

    // Same bridge: switched straight through docker0.
    let at_a2 = lab.container("a2")?.capture("eth0")?;
    sender.udp_send(at(a2, 7), b"same-bridge")?;
    at_a2
        .expect(udp().src(a1).dst(at(a2, 7)).payload("same-bridge"))
        .within(WAIT)?;

    // Across bridges: into the host through a1's bridge port, dropped there.
    let other = bridge_of(&lab, "other");
    let rule = match (v.layout, v.backend) {
        (Layout::Classic, _) => Rule::new(
            "filter",
            "DOCKER-ISOLATION-STAGE-2",
            &[&format!("-o {other} -j DROP")],
        ),
        // V28 and V29 drop direct access to a container from outside its bridge in raw PREROUTING.
        (Layout::V29, Backend::Nftables) => Rule::new(
            "ip docker-bridges",
            "raw-PREROUTING",
            &[&format!("ip daddr {b} iifname != \"{other}\""), "drop"],
        ),
        (Layout::V28 | Layout::V29, _) => Rule::new(
            "raw",
            "PREROUTING",
            &[&format!("-d {b}/32 ! -i {other} -j DROP")],
        ),
    };
    let before = packets(&lab, &rule)?;
    // Captured at a1's bridge port, not on docker0: with br_netfilter, V29's
    // raw drop runs as the frame enters the bridge, before docker0 sees it.
    let entering = lab.host_node()?.capture(&port_of(&lab, "a1"))?;
    let at_b = lab.container("b")?.capture("eth0")?;
    sender.udp_send(at(b, 7), b"cross-bridge")?;
    let crossing = udp().src(a1).dst(at(b, 7)).payload("cross-bridge");
    entering.expect(crossing.clone()).within(WAIT)?;
    expect_counted(&lab, &rule, before)?;
    // The host may always talk to its containers: its sentinel reaches b.
    at_b.expect_none(crossing, Sentinel::udp(&lab.host_node()?, format!("{b}:9")))
        .within(WAIT)
}

/// A container on an --internal network has no way out: V28 and V29 give it no default route, and even with one of its own its packets die at the host, counted by Docker's internal-network rule.
pub fn internal_network_has_no_way_out(v: &Variant) -> Result<()> {
    let lab = v
        .host("internal")
        .network(NetworkSpec {
            subnet: Some("172.20.0.0/16".into()),
            internal: true,
            ..NetworkSpec::from("secure")
        })
        .container(ContainerSpec::new("vault").network("secure"))
        .build()?
        .up()?;
    let vault = lab.container("vault")?;
    let secure = bridge_of(&lab, "secure");
    let has_default = vault.routes()?.iter().any(|r| r.dest.prefix_len() == 0);
    match v.layout {
        // Docker 20.10 keeps the default route on internal networks (recorded).
        Layout::Classic => {}
        Layout::V28 | Layout::V29 if has_default => {
            return Err(failure(
                &lab,
                &format!(
                    "{} gave a container on an internal network a default route",
                    v.layout
                ),
            ));
        }
        // A container with NET_ADMIN can add one itself: the firewall must still hold.
        Layout::V28 | Layout::V29 => vault.add_route(&Route::to("default").via("172.20.0.1"))?,
    }

    let rule = match (v.layout, v.backend) {
        (Layout::Classic, _) => Rule::new(
            "filter",
            "DOCKER-ISOLATION-STAGE-1",
            &[&format!("! -d 172.20.0.0/16 -i {secure} -j DROP")],
        ),
        // 28.5.2 (recorded): the internal network's DROPs top DOCKER-ISOLATION-STAGE-1.
        (Layout::V28, _) => Rule::new(
            "filter",
            "DOCKER-ISOLATION-STAGE-1",
            &[&format!("! -d 172.20.0.0/16 -i {secure} -j DROP")],
        ),
        (Layout::V29, Backend::Nftables) => Rule::new(
            "ip docker-bridges",
            format!("filter-forward-out__{secure}"),
            &[&format!("oifname != \"{secure}\""), "drop"],
        ),
        (Layout::V29, _) => Rule::new(
            "filter",
            "DOCKER-INTERNAL",
            &[&format!("! -d 172.20.0.0/16 -i {secure} -j DROP")],
        ),
    };
    let before = packets(&lab, &rule)?;
    let entering = lab.host_node()?.capture(&port_of(&lab, "vault"))?;
    let outside = lab.internet()?.capture("eth0")?;
    vault.udp_send(at(SERVER, 53), b"let-me-out")?;
    let leak = udp().dst(at(SERVER, 53)).payload("let-me-out");
    entering.expect(leak.clone()).within(WAIT)?;
    expect_counted(&lab, &rule, before)?;
    // The host's own traffic takes the uplink: its sentinel reaches the internet.
    outside
        .expect_none(
            udp().payload("let-me-out"),
            Sentinel::udp(&lab.host_node()?, format!("{SERVER}:9")),
        )
        .within(WAIT)
}
