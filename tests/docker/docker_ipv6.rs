//! topologies/docker-ipv6.toml brought up under `classic`, `v28` and `v29`
//! (issue 21): a published port reached over IPv6 from the internet, and a
//! container's IPv6 traffic leaving the host — each claim proved on captured
//! packets and on the address the server saw. Under the 28+ layouts Docker's
//! ip6tables DNAT and MASQUERADE do the work; under `classic` (Docker 20.10,
//! ip6tables off) the `[::]` docker-proxy answers and nothing is NATed.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use netrig::docker::Layout;
use netrig::expect::tcp;
use netrig::testing::Test;
use netrig::topology::Overrides;
use netrig::{Lab, Result, TcpFlags, unique_lab_name};

use crate::common;

const FILE: &str = "topologies/docker-ipv6.toml";

fn up(layout: Layout) -> Result<Lab> {
    let o = Overrides {
        layout: Some(layout),
        backend: None,
    };
    let mut spec = netrig::topology::load_with(FILE, &o)?;
    spec.set_name(unique_lab_name("ip6"));
    spec.up()
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("an address")
}

/// web's IPv6 address on docker0, from the model.
fn web_ipv6(model: &netrig::docker::DockerHost) -> IpAddr {
    let web = model.containers().iter().find(|c| c.name == "web");
    match web.map(|c| &c.networking) {
        Some(netrig::docker::Networking::Bridge(atts)) => {
            IpAddr::V6(atts[0].ip6.expect("web has IPv6 on docker0").0)
        }
        other => panic!("web is not on docker0: {other:?}"),
    }
}

/// The internet connects to `[2001:db8:113::2]:8080`: under v28/v29 the SYN
/// crosses docker0 DNATed to web's IPv6 address, port 80, with the client's own
/// address, and web's server sees 2001:db8:113::1; under classic the `[::]`
/// docker-proxy connects from the bridge (fd00:17::1).
fn published_port_over_ipv6(layout: Layout) -> Result<()> {
    let _labs = common::shared();
    let lab = up(layout)?;
    let docker = lab.docker("host")?;
    let web = docker.container("web")?;
    let server = web.tcp_echo_server("[::]:80")?;
    let bridge = docker.host()?.capture("docker0")?;
    let to: SocketAddr = "[2001:db8:113::2]:8080".parse().expect("addr");
    let out = lab
        .node("internet")?
        .tcp_connect(to, Duration::from_secs(2))?;
    assert!(
        out.is_connected(),
        "lab {}: internet -> {to}: {out:?}",
        lab.name()
    );
    let client = ip("2001:db8:113::1");
    let seen_src = if layout.is_modern_for_tests() {
        client
    } else {
        ip("fd00:17::1")
    };
    // Docker 20.10 derives docker0's IPv6 addresses from the MAC
    // (fd00:17::242:ac11:2); 28+ allocates them in order (fd00:17::2).
    let web6 = web_ipv6(docker.model());
    bridge
        .expect(
            tcp()
                .src(seen_src)
                .dst(SocketAddr::new(web6, 80))
                .flags(TcpFlags::SYN),
        )
        .within(Duration::from_secs(2))?;
    let peers = server.wait_for_peers(1, Duration::from_secs(1))?;
    assert_eq!(
        peers[0].ip(),
        seen_src,
        "lab {} ({layout}): {peers:?}",
        lab.name()
    );
    Ok(())
}

/// c6 (fd00:18::2 on n6) connects to the internet server over IPv6: under
/// v28/v29 the SYN leaves the host MASQUERADEd to 2001:db8:113::2 and is
/// answered; under classic it leaves with fd00:18::2, which the internet
/// cannot route back to.
fn container_ipv6_leaves_masqueraded(layout: Layout) -> Result<()> {
    let _labs = common::shared();
    let lab = up(layout)?;
    let internet = lab.node("internet")?;
    let server = internet.tcp_echo_server("[2001:db8:100::10]:7")?;
    let wan = internet.capture("eth0")?;
    let to: SocketAddr = "[2001:db8:100::10]:7".parse().expect("addr");
    let c6 = lab.docker("host")?.container("c6")?;
    let out = c6.tcp_connect(to, Duration::from_secs(1))?;
    let modern = layout.is_modern_for_tests();
    let src = if modern {
        ip("2001:db8:113::2")
    } else {
        ip("fd00:18::2")
    };
    wan.expect(tcp().src(src).dst(to).flags(TcpFlags::SYN))
        .within(Duration::from_secs(2))?;
    assert_eq!(
        out.is_connected(),
        modern,
        "lab {} ({layout}): {out:?}",
        lab.name()
    );
    if modern {
        let peers = server.wait_for_peers(1, Duration::from_secs(1))?;
        assert_eq!(peers[0].ip(), src, "lab {}: {peers:?}", lab.name());
    }
    Ok(())
}

trait Modern {
    fn is_modern_for_tests(self) -> bool;
}

impl Modern for Layout {
    fn is_modern_for_tests(self) -> bool {
        self != Layout::Classic
    }
}

/// This module's tests, per layout.
pub fn tests() -> Vec<Test> {
    let mut tests = Vec::new();
    for layout in [Layout::Classic, Layout::V28, Layout::V29] {
        tests.push(Test::lab(
            format!("ipv6::published_port_over_ipv6::{layout}"),
            move || published_port_over_ipv6(layout),
        ));
        tests.push(Test::lab(
            format!("ipv6::container_ipv6_leaves_masqueraded::{layout}"),
            move || container_ipv6_leaves_masqueraded(layout),
        ));
    }
    tests
}
