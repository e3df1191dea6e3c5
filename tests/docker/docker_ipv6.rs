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
use netrig::{Lab, Result, TcpFlags, unique_lab_name};

use crate::common;

const FILE: &str = "topologies/docker-ipv6.toml";

/// The layouts and backends the file comes up under.
#[derive(Debug, Clone, Copy)]
enum Under {
    /// The file's backend (iptables-nft) with this layout.
    Layout(Layout),
    /// V29 with the native nftables backend (`table ip6 docker-bridges`):
    /// forwarding of both families on before the daemon, which never turns
    /// it on itself.
    V29Nftables,
    /// V28 with the userland proxy off: dockerd holds `[::]:8080` beside
    /// `0.0.0.0:8080`, and hairpin NAT instead of docker-proxy.
    V28NoProxy,
    /// Classic with 20.10's experimental `--ip6tables` (`ip6tables = true`).
    ClassicIp6tables,
}

impl Under {
    fn layout(self) -> Layout {
        match self {
            Under::Layout(l) => l,
            Under::V29Nftables => Layout::V29,
            Under::V28NoProxy => Layout::V28,
            Under::ClassicIp6tables => Layout::Classic,
        }
    }
    /// Whether Docker's ip6tables rules (DNAT, MASQUERADE) apply: the 28+
    /// layouts, and classic with `--ip6tables`; 20.10 has it off by default.
    fn nat6(self) -> bool {
        !matches!(self, Under::Layout(Layout::Classic))
    }
}

impl std::fmt::Display for Under {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Under::Layout(l) => write!(f, "{l}"),
            Under::V29Nftables => f.write_str("v29::nftables"),
            Under::V28NoProxy => f.write_str("v28::proxy_off"),
            Under::ClassicIp6tables => f.write_str("classic::ip6tables"),
        }
    }
}

fn up(under: Under) -> Result<Lab> {
    let mut spec = match under {
        Under::Layout(layout) => {
            let text = std::fs::read_to_string(FILE).expect("the topology file");
            let text = text.replace("layout = \"v28\"", &format!("layout = \"{layout}\""));
            netrig::topology::parse(&text, FILE)?
        }
        Under::V29Nftables => {
            let text = std::fs::read_to_string(FILE).expect("the topology file");
            let text = text
                .replace("layout = \"v28\"", "layout = \"v29\"")
                .replace(
                    "backend = \"iptables-nft\"",
                    "backend = \"nftables\"\nip_forward_was_on = true",
                )
                + "\n[before]\nsysctls = [\"net.ipv6.conf.all.forwarding=1\"]\n";
            netrig::topology::parse(&text, FILE)?
        }
        Under::ClassicIp6tables => {
            let text = std::fs::read_to_string(FILE).expect("the topology file");
            let text = text.replace("layout = \"v28\"", "layout = \"classic\"\nip6tables = true");
            netrig::topology::parse(&text, FILE)?
        }
        Under::V28NoProxy => {
            let text = std::fs::read_to_string(FILE).expect("the topology file");
            let text = text.replace(
                "ipv6 = true\nfixed_cidr_v6",
                "userland_proxy = false\nipv6 = true\nfixed_cidr_v6",
            );
            assert!(text.contains("userland_proxy = false"));
            netrig::topology::parse(&text, FILE)?
        }
    };
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
fn published_port_over_ipv6(under: Under) -> Result<()> {
    let _labs = common::shared();
    let layout = under.layout();
    let lab = up(under)?;
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
    let seen_src = if under.nat6() {
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
fn container_ipv6_leaves_masqueraded(under: Under) -> Result<()> {
    let _labs = common::shared();
    let layout = under.layout();
    let lab = up(under)?;
    let internet = lab.node("internet")?;
    let server = internet.tcp_echo_server("[2001:db8:100::10]:7")?;
    let wan = internet.capture("eth0")?;
    let to: SocketAddr = "[2001:db8:100::10]:7".parse().expect("addr");
    let c6 = lab.docker("host")?.container("c6")?;
    let out = c6.tcp_connect(to, Duration::from_secs(1))?;
    let modern = under.nat6();
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

/// Classic without `[daemon] ipv6` but with the file's `--ipv6` user
/// networks: the host has IPv6 (its uplink, the networks' gateways), so
/// Docker's `[::]:8080` docker-proxy listens there and forwards to web's
/// IPv4 address (docker0 has no IPv6): web's server sees the proxy's
/// connection from docker0's gateway, 172.17.0.1.
fn wildcard_proxy_with_ipv6_user_networks_only() -> Result<()> {
    let _labs = common::shared();
    let text = std::fs::read_to_string(FILE).expect("the topology file");
    let text = text
        .replace("layout = \"v28\"", "layout = \"classic\"")
        .replace("ipv6 = true\nfixed_cidr_v6 = \"fd00:17::/64\"\n", "")
        .replace(", \"[::1]:8081:80\"", "");
    assert!(
        !text.contains("fixed_cidr_v6"),
        "the premise: docker0 without IPv6"
    );
    let mut spec = netrig::topology::parse(&text, FILE)?;
    spec.set_name(unique_lab_name("ip6p"));
    let lab = spec.up()?;
    let web = lab.docker("host")?.container("web")?;
    let server = web.tcp_echo_server("0.0.0.0:80")?;
    let to: SocketAddr = "[2001:db8:113::2]:8080".parse().expect("addr");
    let out = lab
        .node("internet")?
        .tcp_connect(to, Duration::from_secs(2))?;
    assert!(
        out.is_connected(),
        "lab {}: internet -> {to}: {out:?}",
        lab.name()
    );
    let peers = server.wait_for_peers(1, Duration::from_secs(1))?;
    assert_eq!(
        peers[0].ip(),
        ip("172.17.0.1"),
        "lab {}: {peers:?}",
        lab.name()
    );
    Ok(())
}

/// This module's tests, per layout.
pub fn tests() -> Vec<Test> {
    let mut tests = Vec::new();
    let unders = [
        Under::Layout(Layout::Classic),
        Under::Layout(Layout::V28),
        Under::Layout(Layout::V29),
        Under::V29Nftables,
        Under::V28NoProxy,
        Under::ClassicIp6tables,
    ];
    for under in unders {
        tests.push(Test::lab(
            format!("ipv6::published_port_over_ipv6::{under}"),
            move || published_port_over_ipv6(under),
        ));
        tests.push(Test::lab(
            format!("ipv6::container_ipv6_leaves_masqueraded::{under}"),
            move || container_ipv6_leaves_masqueraded(under),
        ));
    }
    tests.push(Test::lab(
        "ipv6::wildcard_proxy_with_ipv6_user_networks_only::classic",
        wildcard_proxy_with_ipv6_user_networks_only,
    ));
    tests
}
