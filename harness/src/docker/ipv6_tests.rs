//! IPv6 Docker networks, pure (issue 21): the topology keys, Docker's
//! refusals in its words, and what `topologies/docker-ipv6.toml` renders —
//! addresses, routes, sysctls and rules — per layout. (Rule for rule
//! against the real 28.5.2: `fidelity::ipv6`; in a lab: `tests/docker`.)

use super::{DockerHost, Layout};

const FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/topologies/docker-ipv6.toml");

fn host(layout: Layout) -> DockerHost {
    // The file's own backend (iptables-nft), the layout replaced.
    let text = std::fs::read_to_string(FILE).expect("docker-ipv6.toml");
    let text = text.replace("layout = \"v28\"", &format!("layout = \"{layout}\""));
    let spec = crate::topology::parse(&text, FILE).expect("docker-ipv6.toml loads");
    spec.docker_host("host").expect("a Docker host").clone()
}

fn parse(text: &str) -> crate::Result<DockerHost> {
    crate::topology::parse(text, "ipv6.toml")
        .map(|s| s.docker_host("host").expect("a host").clone())
}

fn addrs6(h: &DockerHost, ctr: &str) -> Vec<String> {
    let c = h.containers().iter().find(|c| c.name == ctr).expect(ctr);
    c.attachments().iter().filter_map(|a| a.cidr6()).collect()
}

/// Under every layout the containers get their IPv6 addresses and an IPv6
/// default route; the 28+ layouts allocate in order, 20.10 derives
/// docker0's from the MAC; only the 28+ layouts program ip6tables.
#[test]
fn addresses_routes_and_rules_per_layout() {
    for layout in Layout::ALL {
        let h = host(layout);
        let web = if layout.is_modern() {
            "fd00:17::2/64"
        } else {
            "fd00:17::242:ac11:2/64"
        };
        assert_eq!(addrs6(&h, "web"), [web], "{layout}");
        assert_eq!(addrs6(&h, "c6"), ["fd00:18::2/64"], "{layout}");
        assert_eq!(addrs6(&h, "gc"), ["2001:db8:19::2/64"], "{layout}");
        let r = h.rendered();
        let route6 = |node: &str, via: &str| {
            r.wiring.routes.iter().any(|x| {
                x.node == node && x.route.dest.is_none() && x.route.via.as_deref() == Some(via)
            })
        };
        assert!(
            route6("c6", "fd00:18::1") && route6("host", "2001:db8:113::1"),
            "{layout}"
        );
        let bridge = r
            .wiring
            .bridges
            .iter()
            .find(|b| b.name == "docker0")
            .expect("docker0");
        assert!(
            bridge.addrs.contains(&"fd00:17::1/64".to_string()),
            "{layout}: {bridge:?}"
        );
        assert_eq!(r.rules6.is_some(), layout.is_modern(), "{layout}");
        let forwarding = (
            "host".to_string(),
            "net.ipv6.conf.all.forwarding".to_string(),
            "1".to_string(),
        );
        assert!(r.sysctls.contains(&forwarding), "{layout}");
    }
}

/// Published ports: a `[::]` docker-proxy to the container's IPv6 address,
/// `[::1]` for a binding on ::1, none on IPv6 for a binding on 127.0.0.1.
#[test]
fn ipv6_proxies() {
    let h = host(Layout::V28);
    let six: Vec<String> = h
        .running()
        .proxies()
        .iter()
        .filter(|p| p.host_ip.is_ipv6())
        .map(|p| format!("{}:{}->{}", p.host_ip, p.host_port, p.container_ip))
        .collect();
    assert_eq!(
        six,
        [
            ":::8080->fd00:17::2",
            "::1:8081->fd00:17::2",
            ":::8443->fd00:18::2"
        ]
    );
}

/// A container without IPv6 still gets a `[::]` proxy, to its IPv4
/// address (Docker's 6-to-4 proxying), and no ip6tables rule.
#[test]
fn an_ipv4_only_container_is_proxied_from_ipv6() {
    let h = DockerHost::builder()
        .layout(Layout::V28)
        .container(super::ContainerSpec::new("web").publish("8080:80"))
        .build()
        .unwrap();
    let p = h.running().proxies();
    assert_eq!(p[1].host_ip.to_string(), "::");
    assert_eq!(p[1].container_ip.to_string(), "172.17.0.2");
    assert!(!h.rendered().rules6.unwrap().contains("DNAT"));
}

/// Each mistake is refused with Docker's words (or what netrig cannot do),
/// naming the key.
#[test]
fn refusals() {
    let cases = [
        (
            "[daemon]\nlayout = \"classic\"\n[[network]]\nname = \"n\"\nipv6 = true\n",
            "subnet_v6",
            "could not find an available, non-overlapping IPv6 address pool",
        ),
        (
            "[daemon]\nlayout = \"v28\"\n[[network]]\nname = \"a\"\nipv6 = true\nsubnet_v6 = \"fd00:1::/64\"\n[[network]]\nname = \"b\"\nipv6 = true\nsubnet_v6 = \"fd00:1::/48\"\n",
            "subnet_v6",
            "Pool overlaps with other one on this address space",
        ),
        (
            "[daemon]\nfixed_cidr_v6 = \"fd00:17::/64\"\n",
            "fixed_cidr_v6",
            "IPv6 is not enabled",
        ),
        (
            "[[network]]\nname = \"n\"\nsubnet_v6 = \"fd00:1::/64\"\n",
            "subnet_v6",
            "set ipv6 = true",
        ),
        (
            "[[network]]\nname = \"n\"\n[[container]]\nname = \"c\"\nnetworks = [\"n\"]\nip6 = \"fd00::5\"\n",
            "ip6",
            "has no IPv6",
        ),
        (
            "[daemon]\nlayout = \"v28\"\n[[network]]\nname = \"n\"\nipv6 = true\nsubnet_v6 = \"fd00:1::/64\"\n[[container]]\nname = \"c\"\nnetworks = [\"n\"]\nip6 = \"fd00:2::5\"\n",
            "ip6",
            "no configured subnet contains the IP address fd00:2::5",
        ),
        (
            "order = [\"restart\"]\n[daemon]\nlayout = \"classic\"\nip6tables = true\nipv6 = true\nfixed_cidr_v6 = \"fd00:17::/64\"\n",
            "restart",
            "not emulated with classic --ip6tables",
        ),
        (
            "[daemon]\nlayout = \"v29\"\nbackend = \"nftables\"\nip_forward_was_on = true\nipv6 = true\nfixed_cidr_v6 = \"fd00:17::/64\"\n",
            "ip_forward",
            "net.ipv6.conf.all.forwarding=1",
        ),
        (
            "[daemon]\nlayout = \"classic\"\n[[network]]\nname = \"n\"\nipv6 = true\nsubnet_v6 = \"fd00:1::/64\"\ngateway_mode_ipv6 = \"routed\"\n",
            "gateway_mode_ipv6",
            "v28 and v29 only",
        ),
        (
            "[daemon]\nlayout = \"v28\"\n[[network]]\nname = \"n\"\nipv6 = true\nsubnet_v6 = \"2001:db8:113::/64\"\n",
            "subnet_v6",
            "overlaps the host uplink",
        ),
        (
            "[[network]]\nname = \"n\"\nsubnet_v6 = \"fd00:1::1/64\"\n",
            "subnet_v6",
            "is not a network address",
        ),
        (
            "[[container]]\nname = \"c\"\nports = [\"[::1:8080:80\"]\n",
            "ports",
            "written in brackets",
        ),
    ];
    for (text, key, want) in cases {
        let err = parse(text)
            .err()
            .unwrap_or_else(|| panic!("accepted:\n{text}"))
            .to_string();
        assert!(
            err.contains(key) && err.contains(want),
            "{text}\n-> {err}\n(want {key:?} and {want:?})"
        );
    }
}

/// Without a subnet the 28+ layouts allocate /64s in order, skipping
/// those given to other networks.
#[test]
fn v6_subnets_are_allocated() {
    let h = parse(
        "[daemon]\nlayout = \"v29\"\n[[network]]\nname = \"a\"\nipv6 = true\n[[network]]\nname = \"b\"\nipv6 = true\nsubnet_v6 = \"fd00:d0c:ee:1::/64\"\n[[network]]\nname = \"c\"\nipv6 = true\n",
    )
    .unwrap();
    let subs: Vec<String> = h.networks()[1..]
        .iter()
        .map(|n| n.subnet_v6.unwrap().to_string())
        .collect();
    assert_eq!(
        subs,
        [
            "fd00:d0c:ee::/64",
            "fd00:d0c:ee:1::/64",
            "fd00:d0c:ee:2::/64"
        ]
    );
}
