//! Unit tests of the Docker model: validation messages, allocation, the lab
//! mapping and step bookkeeping. Rule rendering is checked against real
//! recordings in `fidelity/`.

use super::container::{mac_for, mac_in};
use super::host::Happening;
use super::network::{bridge_name_for, network_id_for};
use super::ruleset::Table;
use super::*;
use crate::error::Error;

fn err(b: DockerHostBuilder) -> (Option<String>, String, String) {
    match b.build() {
        Ok(_) => panic!("expected a validation error"),
        Err(Error::Invalid {
            subject,
            field,
            message,
        }) => (subject.node.map(String::from), field, message),
        Err(e) => panic!("expected Error::Invalid, got {e}"),
    }
}

fn web() -> ContainerSpec {
    ContainerSpec::new("web")
}

/// Each invalid host is refused before anything is rendered, with Docker's
/// wording where Docker has one, naming the container or network and field.
#[test]
fn every_validation_error_names_subject_field_and_reason() {
    let b = DockerHost::builder;
    #[rustfmt::skip]
    let cases: Vec<(DockerHostBuilder, Option<&str>, &str, &str)> = vec![
        (b().container(ContainerSpec::new("db")).container(web().mode("container:db".parse().unwrap()).publish("80:80")),
            Some("web"), "container \"web\" ports", "conflicting options: port publishing and the container type network mode"),
        (b().container(web().mode(NetworkMode::Container("web".into()))),
            Some("web"), "container \"web\" network", "cannot join own network namespace"),
        (b().container(web().mode(NetworkMode::Container("ghost".into()))),
            Some("web"), "container \"web\" network", "No such container: ghost"),
        (b().container(web().network("nope")),
            Some("web"), "container \"web\" network", "network nope not found"),
        (b().container(web().network("br")).network(NetworkSpec::new("br")),
            Some("web"), "container \"web\" network", "network br not found (it is created after web starts)"),
        (b().container(web().network("a").network("a")).network(NetworkSpec::new("a")),
            Some("web"), "container \"web\" network", "network a not found"),
        (b().network(NetworkSpec::new("a")).container(web().network("a").network("a")),
            Some("web"), "container \"web\" network", "network a is listed twice"),
        (b().container(web().mode(NetworkMode::Bridge(vec![]))),
            Some("web"), "container \"web\" network", "bridge mode needs at least one network"),
        (b().container(web()).container(web()),
            Some("web"), "container \"web\" name", "Conflict. The container name \"/web\" is already in use"),
        (b().container(ContainerSpec::new("host")),
            Some("host"), "container \"host\" name", "lab node"),
        (b().container(ContainerSpec::new("we b")),
            Some("we b"), "container \"we b\" name", "contains ' '"),
        (b().network(NetworkSpec::new("a")).network(NetworkSpec::new("a")),
            None, "network \"a\" name", "network with name a already exists"),
        (b().network(NetworkSpec::new("host")),
            None, "network \"host\" name", "pre-defined network name"),
        (b().network(NetworkSpec::new("a").subnet("172.17.5.0/24")),
            None, "network \"a\" subnet", "overlaps network \"bridge\" (172.17.0.0/16): Pool overlaps with other one on this address space"),
        (b().network(NetworkSpec::new("a").subnet("10.0.0.0/8")).network(NetworkSpec::new("b").subnet("10.1.0.0/16")),
            None, "network \"b\" subnet", "Pool overlaps with other one"),
        (b().network(NetworkSpec::new("a").subnet("203.0.113.0/25")),
            None, "network \"a\" subnet", "overlaps the host uplink (203.0.113.0/24)"),
        (b().lan_peer("pc").network(NetworkSpec::new("a").subnet("198.51.100.128/25")),
            None, "network \"a\" subnet", "overlaps the LAN"),
        (b().network(NetworkSpec::new("a").subnet("172.18.0.1/16")),
            None, "network \"a\" subnet", "is not a network address (did you mean 172.18.0.0/16?)"),
        (b().network(NetworkSpec::new("a").subnet("banana")),
            None, "network \"a\" subnet", "is not an IPv4 subnet"),
        (b().network(NetworkSpec::new("a").subnet("172.18.0.0/16").gateway("172.19.0.1")),
            None, "network \"a\" gateway", "172.19.0.1 is not a usable address of subnet 172.18.0.0/16"),
        (b().network(NetworkSpec::new("a").bridge("a-very-long-bridge")),
            None, "network \"a\" bridge", "the kernel allows at most 15"),
        (b().network(NetworkSpec::new("a").bridge("docker0")),
            None, "network \"a\" bridge", "bridge name \"docker0\" is already in use on the host"),
        (b().network(NetworkSpec::new("a").host_binding("localhost")),
            None, "network \"a\" host_binding", "is not an IPv4 address"),
        (b().network(NetworkSpec::new("a").subnet("172.18.0.0/16"))
            .container(ContainerSpec::new("x").network("a").ip("a", "172.18.0.5"))
            .container(web().network("a").ip("a", "172.18.0.5")),
            Some("web"), "container \"web\" ip", "Address already in use: 172.18.0.5 on network a"),
        (b().network(NetworkSpec::new("a").subnet("172.18.0.0/16")).container(web().network("a").ip("a", "172.18.0.1")),
            Some("web"), "container \"web\" ip", "Address already in use: 172.18.0.1"),
        (b().network(NetworkSpec::new("a").subnet("172.18.0.0/16")).container(web().network("a").ip("a", "10.0.0.5")),
            Some("web"), "container \"web\" ip", "no configured subnet contains the IP address 10.0.0.5"),
        (b().container(web().ip("bridge", "172.17.0.9")),
            Some("web"), "container \"web\" ip", "user specified IP address is supported on user defined networks only"),
        (b().network(NetworkSpec::new("a")).container(web().network("a").ip("b", "172.18.0.9")),
            Some("web"), "container \"web\" ip", "an address is given for network b, which the container is not on"),
        (b().container(web().mode(NetworkMode::Host).ip("bridge", "172.17.0.9")),
            Some("web"), "container \"web\" ip", "fixed addresses need bridge networks"),
        (b().existing_sysctl("net.ipv4.ip_local_port_range", "40000 40000")
            .container(ContainerSpec::new("a").publish("40000:80")).container(web().publish("80")),
            Some("web"), "container \"web\" ports", "no free host port in ip_local_port_range"),
        (b().existing_sysctl("net.ipv4.ip_local_port_range", "high low").container(web()),
            None, "before.sysctls \"net.ipv4.ip_local_port_range\"", "expected \"FIRST LAST\""),
        (b().container(ContainerSpec::new("a").publish("8080:80")).container(web().publish("127.0.0.1:8080:81")),
            Some("web"), "container \"web\" ports", "Bind for 127.0.0.1:8080 failed: port is already allocated (by a)"),
        (b().layout(Layout::Classic).backend(Backend::Nftables),
            None, "backend", "exists only from Docker 29"),
        (b().layout(Layout::V29).backend(Backend::Nftables),
            None, "ip_forward", "Docker refuses to start"),
        (b().server("172.17.3.3"),
            None, "internet servers", "172.17.3.3 is inside network \"bridge\""),
        (b().lan_peer_at("pc", "198.51.100.129"),
            None, "LAN peer \"pc\" address", "is not a free address of the LAN"),
        (b().container(web()).lan_peer("web"),
            None, "LAN peer \"web\" name", "is already a node name"),
        (b().name("my lab"),
            None, "host name", "contains ' '"),
        (b().ip_forward_no_drop(true),
            None, "ip_forward_no_drop", "--ip-forward-no-drop exists from Docker 28.0: use layout v28 or v29"),
        (b().allow_direct_routing(true),
            None, "allow_direct_routing", "--allow-direct-routing exists from Docker 28.2"),
        (b().network(NetworkSpec::new("r").gateway_mode_ipv4(GatewayMode::Routed)),
            None, "network \"r\" gateway_mode_ipv4", "is emulated for layouts v28 and v29 only"),
        (b().layout(Layout::V28).container(web()).restart_daemon().start_existing("web").start_existing("web"),
            Some("web"), "container \"web\" start", "container web is already running"),
        (b().layout(Layout::V29).backend(Backend::Nftables).ip_forward_was_on(true).allow_direct_routing(true),
            None, "allow_direct_routing", "emulated with the iptables backends only"),
        (b().layout(Layout::V28).container(web()).start_existing("web"),
            Some("web"), "container \"web\" start", "already running"),
        (b().layout(Layout::V28).restart_daemon().container(web()).container(web()),
            Some("web"), "container \"web\" name", "is already in use"),
        (b().layout(Layout::V29).backend(Backend::Nftables).ip_forward_was_on(true).restart_daemon(),
            None, "restart", "daemon restarts are emulated with an iptables backend"),
        (b().network(NetworkSpec::new("n").id("E2CE")),
            None, "network \"n\" id", "is not a network id: 64 lowercase hex digits"),
        (b().network(NetworkSpec::new("n").id("e".repeat(64))).network(NetworkSpec::new("m").id("e".repeat(64))),
            None, "network \"m\" id", "is already in use on the host"),
    ];
    for (i, (builder, node, field, msg)) in cases.into_iter().enumerate() {
        let (got_node, got_field, got_msg) = err(builder);
        assert_eq!(got_node.as_deref(), node, "case {i}: node");
        assert_eq!(got_field, field, "case {i}: field");
        assert!(
            got_msg.contains(msg),
            "case {i}: message {got_msg:?} lacks {msg:?}"
        );
    }
}

/// Addresses go from .2 upwards in start order, skipping fixed ones; subnets
/// from 172.18.0.0/16 upwards, skipping those given explicitly.
#[test]
fn allocation_follows_docker() {
    let host = DockerHost::builder()
        .network(NetworkSpec::new("fixed").subnet("172.18.0.0/16"))
        .network(NetworkSpec::new("auto"))
        .container(
            ContainerSpec::new("a")
                .network("fixed")
                .ip("fixed", "172.18.0.2"),
        )
        .container(ContainerSpec::new("b").network("fixed"))
        .container(ContainerSpec::new("c"))
        .container(ContainerSpec::new("d").network("auto").network("fixed"))
        .build()
        .unwrap();
    assert_eq!(
        host.network("auto").unwrap().subnet.to_string(),
        "172.19.0.0/16"
    );
    assert_eq!(
        host.network("auto").unwrap().gateway.to_string(),
        "172.19.0.1"
    );
    let ips = |c: &str| -> Vec<String> {
        host.container(c)
            .unwrap()
            .attachments()
            .iter()
            .map(|a| format!("{} {}", a.ifname, a.cidr()))
            .collect()
    };
    assert_eq!(ips("a"), ["eth0 172.18.0.2/16"]);
    assert_eq!(ips("b"), ["eth0 172.18.0.3/16"]);
    assert_eq!(ips("c"), ["eth0 172.17.0.2/16"]);
    assert_eq!(ips("d"), ["eth0 172.19.0.2/16", "eth1 172.18.0.4/16"]);
    let att = &host.container("c").unwrap().attachments()[0];
    assert_eq!(crate::net::fmt_mac(&att.mac), "02:42:ac:11:00:02");
    assert!(att.host_veth.starts_with("veth") && att.host_veth.len() == 11);
    let br = &host.network("fixed").unwrap().bridge;
    assert_eq!(br, &bridge_name_for("fixed"));
}

/// The lab has host, internet, a node per bridge/none container, aliases for
/// host and container: modes, veths with eth0 inside, and the default routes.
#[test]
fn lab_spec_maps_every_mode() {
    let host = DockerHost::builder()
        .container(ContainerSpec::new("ca").publish("8080:80"))
        .container(ContainerSpec::new("cn").mode(NetworkMode::None))
        .container(ContainerSpec::new("ch").mode(NetworkMode::Host))
        .container(ContainerSpec::new("cc").mode(NetworkMode::Container("ca".into())))
        .container(ContainerSpec::new("cd").mode(NetworkMode::Container("ch".into())))
        .lan_peer("pc")
        .build()
        .unwrap();
    let lab = host.lab_spec();
    let nodes: Vec<&str> = lab.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(nodes, ["host", "internet", "ca", "cn", "pc"]);
    assert!(lab.nodes[0].forwarding, "Docker turns forwarding on");
    assert_eq!(
        lab.aliases,
        [
            ("ch".into(), "host".into()),
            ("cc".into(), "ca".into()),
            ("cd".into(), "host".into())
        ]
    );
    let bridges: Vec<(&str, &str, Vec<String>)> = lab
        .bridges
        .iter()
        .map(|b| (b.node.as_str(), b.name.as_str(), b.addrs.clone()))
        .collect();
    assert_eq!(
        bridges,
        [
            ("host", "docker0", vec!["172.17.0.1/16".to_string()]),
            ("host", "lan0", vec!["198.51.100.129/25".into()])
        ]
    );
    let ca = lab.links.iter().find(|l| l.a.node == "ca").unwrap();
    assert_eq!(
        (ca.a.ifname.as_str(), ca.a.addrs.clone()),
        ("eth0", vec!["172.17.0.2/16".to_string()])
    );
    assert_eq!(ca.a.mac, Some([0x02, 0x42, 172, 17, 0, 2]));
    assert_eq!(
        (ca.b.node.as_str(), ca.b.bridge.as_deref()),
        ("host", Some("docker0"))
    );
    let up = lab.links.iter().find(|l| l.b.node == "internet").unwrap();
    assert_eq!(
        (up.a.ifname.as_str(), up.a.addrs[0].as_str()),
        ("eth0", "203.0.113.2/24")
    );
    assert_eq!(
        (up.b.ifname.as_str(), up.b.addrs[0].as_str()),
        ("eth0", "203.0.113.1/24")
    );
    assert!(
        lab.addresses
            .iter()
            .any(|a| a.node == "internet" && a.cidr == "198.51.100.10/32")
    );
    let routes: Vec<(String, Option<String>, Option<String>)> = lab
        .routes
        .iter()
        .map(|r| (r.node.clone(), r.route.dest.clone(), r.route.via.clone()))
        .collect();
    assert!(routes.contains(&("host".into(), None, Some("203.0.113.1".into()))));
    assert!(routes.contains(&("ca".into(), None, Some("172.17.0.1".into()))));
    assert!(routes.contains(&(
        "pc".into(),
        Some("172.17.0.0/16".into()),
        Some("198.51.100.129".into())
    )));
    assert!(
        !routes.iter().any(|r| r.0 == "cn"),
        "none mode has no routes"
    );
    assert_eq!(host.node_of("cd"), "host");
    let cn = lab.nodes.iter().find(|n| n.name == "cn").unwrap();
    assert!(
        cn.sysctls
            .contains(&("net.ipv4.ip_unprivileged_port_start".into(), "0".into()))
    );
}

/// Steps count the daemon start plus each event; rendering clamps past the end.
#[test]
fn steps_follow_creation_order() {
    let host = DockerHost::builder()
        .container(ContainerSpec::new("ca").publish("8080:80"))
        .network(NetworkSpec::new("br"))
        .build()
        .unwrap();
    assert_eq!(host.steps(), 3);
    assert_eq!(
        host.events(),
        [
            Event::StartContainer("ca".into()),
            Event::CreateNetwork("br".into())
        ]
    );
    assert_eq!(host.timeline(0).len(), 1);
    assert_eq!(host.at(99).iptables(), host.running().iptables());
    assert!(!host.at(0).iptables().iptables_restore().contains("DNAT"));
    assert!(host.at(1).iptables().iptables_restore().contains("DNAT"));
}

/// The restore text declares every chain before its rules and commits each table.
#[test]
fn restore_text_is_well_formed() {
    let host = DockerHost::builder()
        .layout(Layout::V29)
        .container(web().publish("127.0.0.1:8080:80"))
        .build()
        .unwrap();
    let text = host.running().iptables().iptables_restore();
    assert_eq!(text.matches("COMMIT").count(), 3);
    assert!(text.starts_with("*raw\n:PREROUTING ACCEPT [0:0]\n"));
    assert!(
        text.contains("-A PREROUTING -d 127.0.0.1/32 ! -i lo -p tcp -m tcp --dport 8080 -j DROP\n")
    );
    assert!(
        text.contains("-A DOCKER -d 127.0.0.1/32 ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT")
    );
    for line in text.lines().filter(|l| l.starts_with("-A ")) {
        let chain = line.split_whitespace().nth(1).unwrap();
        assert!(
            text.contains(&format!(":{chain} ")),
            "chain {chain} declared"
        );
    }
    let p = host.running().proxies();
    assert_eq!(p.len(), 1, "an addressed binding gets one proxy");
    assert_eq!(
        p[0].args().last().map(String::as_str),
        Some("-use-listen-fd")
    );
}

/// A network's host binding address applies to ports published without one.
#[test]
fn host_binding_applies_to_unaddressed_ports() {
    let host = DockerHost::builder()
        .network(NetworkSpec::new("lo-only").host_binding("127.0.0.1"))
        .container(web().network("lo-only").publish("8080:80/udp"))
        .build()
        .unwrap();
    let lines = host.running().iptables().save_lines().join("\n");
    assert!(
        lines.contains("-A DOCKER -d 127.0.0.1/32 ! -i br-"),
        "{lines}"
    );
    assert!(
        lines.contains("-p udp -m udp --dport 8080 -j DNAT"),
        "{lines}"
    );
    assert_eq!(host.running().proxies()[0].host_ip.to_string(), "127.0.0.1");
}

/// A restart re-creates the networks user networks first, the default bridge
/// last, and forgets containers until `docker start` (the 28.5.2 order).
#[test]
fn restart_reorders_networks_and_stops_containers() {
    let host = DockerHost::builder()
        .layout(Layout::V28)
        .container(web())
        .network(NetworkSpec::new("a"))
        .network(NetworkSpec::new("b"))
        .restart_daemon()
        .start_existing("web")
        .build()
        .unwrap();
    let names = |step| -> Vec<String> {
        host.timeline(step)
            .iter()
            .map(|h| match h {
                Happening::Network(n) => n.name.clone(),
                Happening::Container(c) => c.name.clone(),
            })
            .collect()
    };
    assert_eq!(names(3), ["bridge", "web", "a", "b"]);
    assert_eq!(names(4), ["a", "b", "bridge"]);
    assert_eq!(names(5), ["a", "b", "bridge", "web"]);
    assert!(host.at(4).proxies().is_empty());
}

/// A classic restart restores the user networks by id, not creation order,
/// then the default bridge; the bridges are named after the ids.
#[test]
fn classic_restart_restores_networks_by_id() {
    let host = DockerHost::builder()
        .network(NetworkSpec::new("a").id("f".repeat(64)))
        .network(NetworkSpec::new("b").id(format!("0{}", "a".repeat(63))))
        .restart_daemon()
        .build()
        .unwrap();
    assert_eq!(
        host.networks()
            .iter()
            .find(|n| n.name == "a")
            .map(|n| n.bridge.as_str()),
        Some("br-ffffffffffff")
    );
    let names: Vec<&str> = host
        .timeline(3)
        .iter()
        .map(|h| match h {
            Happening::Network(n) => n.name.as_str(),
            Happening::Container(c) => c.name.as_str(),
        })
        .collect();
    assert_eq!(names, ["b", "a", "bridge"]);
    let stage1: Vec<String> = host
        .running()
        .iptables()
        .rules(Table::Filter)
        .into_iter()
        .filter(|l| l.starts_with("-A DOCKER-ISOLATION-STAGE-1 -i "))
        .collect();
    assert_eq!(
        stage1,
        [
            "-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2",
            "-A DOCKER-ISOLATION-STAGE-1 -i br-ffffffffffff ! -o br-ffffffffffff -j DOCKER-ISOLATION-STAGE-2",
            "-A DOCKER-ISOLATION-STAGE-1 -i br-0aaaaaaaaaaa ! -o br-0aaaaaaaaaaa -j DOCKER-ISOLATION-STAGE-2",
        ]
    );
}

/// Gateway modes parse Docker's spelling and refuse others with Docker's message.
#[test]
fn gateway_modes_parse_like_docker() {
    for m in [
        GatewayMode::Nat,
        GatewayMode::NatUnprotected,
        GatewayMode::Routed,
    ] {
        assert_eq!(GatewayMode::parse(m.as_str()), Ok(m));
    }
    assert_eq!(
        GatewayMode::parse("nat-unprot").unwrap_err(),
        "failed to parse com.docker.network.bridge.gateway_mode_ipv4 value: nat-unprot (unknown gateway mode nat-unprot)"
    );
    assert!(
        GatewayMode::parse("isolated")
            .unwrap_err()
            .contains("not emulated")
    );
}

/// As Docker does, ports published by a host-mode container are discarded
/// with a warning, not refused.
#[test]
fn host_mode_published_ports_are_discarded() {
    let host = DockerHost::builder()
        .container(
            ContainerSpec::new("web")
                .mode(NetworkMode::Host)
                .publish("8080:80"),
        )
        .build()
        .unwrap();
    assert!(host.container("web").unwrap().ports.is_empty());
    assert!(host.running().proxies().is_empty());
    assert!(
        !host
            .running()
            .iptables()
            .iptables_restore()
            .contains("8080")
    );
}

/// Docker's classic MAC is `02:42` and the address bytes.
#[test]
fn mac_for_is_02_42_and_the_address() {
    let mac = mac_for("172.17.0.2".parse().unwrap());
    assert_eq!(crate::net::fmt_mac(&mac), "02:42:ac:11:00:02");
}

/// Classic MACs are `02:42:…`; the 28+ layouts' are locally administered
/// unicast addresses that are not.
#[test]
fn mac_in_follows_the_layout() {
    let ip = "172.17.0.2".parse().unwrap();
    assert_eq!(
        mac_in(Layout::Classic, "ca", "bridge", ip)[..2],
        [0x02, 0x42]
    );
    let m = mac_in(Layout::V28, "ca", "bridge", ip);
    assert_ne!(m[..2], [0x02, 0x42]);
    assert_eq!(m[0] & 0x03, 0x02, "locally administered, unicast");
}

/// Bridge names are `br-` and 12 hex digits, the same every time, and the
/// first 12 digits of the network's id.
#[test]
fn bridge_names_and_ids_are_deterministic() {
    let b = bridge_name_for("br");
    assert!(b.starts_with("br-") && b.len() == 15);
    assert_eq!(b, bridge_name_for("br"));
    let id = network_id_for("br");
    assert_eq!(id.len(), 64);
    assert_eq!(format!("br-{}", &id[..12]), bridge_name_for("br"));
}

/// Point releases (`docker::Version`): a version implies its layout, a
/// layout of another family is refused, and each modelled difference shows
/// in what is rendered.
mod point_releases {
    use super::*;

    fn at(version: &str) -> DockerHostBuilder {
        DockerHost::builder().daemon(DaemonOptions {
            version: Some(version.parse().unwrap()),
            ..Default::default()
        })
    }

    #[test]
    fn a_version_implies_its_layout_and_refuses_another() {
        for (v, layout) in [
            ("20.10", Layout::Classic),
            ("28.2.0", Layout::V28),
            ("29.0", Layout::V29),
        ] {
            assert_eq!(at(v).build().unwrap().layout(), layout, "{v}");
        }
        let (_, field, message) = err(at("29.5").layout(Layout::V28));
        assert_eq!(field, "version");
        assert!(
            message.contains("Docker 29.5.3 has layout v29, not v28"),
            "{message}"
        );
        assert_eq!(
            DockerHost::builder()
                .layout(Layout::V29)
                .build()
                .unwrap()
                .daemon()
                .release(),
            Version::new(29, 7, 2)
        );
    }

    /// 28.2.0–28.2.1 still end `DOCKER-USER` in `-j RETURN` (dc519a0f18, 28.2.2).
    #[test]
    fn docker_user_return_until_28_2_2() {
        let rules = |v: &str| {
            at(v)
                .build()
                .unwrap()
                .running()
                .iptables()
                .rules(Table::Filter)
        };
        assert!(rules("28.2.1").contains(&"-A DOCKER-USER -j RETURN".to_string()));
        assert!(!rules("28.2.2").contains(&"-A DOCKER-USER -j RETURN".to_string()));
        assert!(
            !rules("29.0")
                .iter()
                .any(|r| r.starts_with("-A DOCKER-USER"))
        );
    }

    /// 29.0 (#50140): a routed network that is not the container's gateway
    /// still opens its published ports; 28.x opened them on the gateway only.
    #[test]
    fn routed_ports_on_every_endpoint_from_29_0() {
        let host = |v: &str| {
            at(v)
                .network(
                    NetworkSpec::new("rt")
                        .subnet("172.30.0.0/24")
                        .gateway_mode_ipv4(GatewayMode::Routed),
                )
                .container(
                    ContainerSpec::new("c")
                        .network("bridge")
                        .network("rt")
                        .publish("8080:80"),
                )
                .build()
                .unwrap()
        };
        let accept = "-d 172.30.0.2/32 ! -i br-rt -o br-rt -p tcp -m tcp --dport 80 -j ACCEPT";
        let bridge = |h: &DockerHost| {
            h.networks()
                .iter()
                .find(|n| n.name == "rt")
                .unwrap()
                .bridge
                .clone()
        };
        for (v, opened) in [("28.5", false), ("29.0", true), ("29.7", true)] {
            let h = host(v);
            let rules = h
                .running()
                .iptables()
                .rules(Table::Filter)
                .join("\n")
                .replace(&bridge(&h), "br-rt");
            assert_eq!(rules.contains(accept), opened, "{v}:\n{rules}");
            assert!(
                !h.running()
                    .iptables()
                    .rules(Table::Nat)
                    .join("\n")
                    .contains("172.30.0.2"),
                "{v}: routed maps no host port"
            );
        }
        let nft = DockerHost::builder()
            .backend(crate::Backend::Nftables)
            .daemon(DaemonOptions {
                ip_forward_was_on: true,
                version: Some("29.7".parse().unwrap()),
                ..Default::default()
            })
            .network(
                NetworkSpec::new("rt")
                    .subnet("172.30.0.0/24")
                    .gateway_mode_ipv4(GatewayMode::Routed),
            )
            .container(
                ContainerSpec::new("c")
                    .network("bridge")
                    .network("rt")
                    .publish("8080:80"),
            )
            .build()
            .unwrap();
        assert!(
            nft.running()
                .nftables()
                .render()
                .contains("ip daddr 172.30.0.2 tcp dport 80 counter accept")
        );
    }

    /// 29.6 (#52818): automatic host ports skip `ip_local_reserved_ports`;
    /// before, the allocator hands out the range's first port regardless.
    #[test]
    fn automatic_host_ports_skip_reserved_ports_from_29_6() {
        let host = |v: &str| {
            at(v)
                .existing_sysctl("net.ipv4.ip_local_port_range", "40000 40010")
                .existing_sysctl("net.ipv4.ip_local_reserved_ports", "40000-40001,40003")
                .container(ContainerSpec::new("a").publish("80"))
                .container(ContainerSpec::new("b").publish("80").publish("53/udp"))
                .build()
                .unwrap()
        };
        let ports = |h: &DockerHost| -> Vec<u16> {
            h.containers()
                .iter()
                .flat_map(|c| c.ports.iter().map(|p| p.host_port))
                .collect()
        };
        assert_eq!(ports(&host("29.5")), [40000, 40001, 40000]);
        assert_eq!(ports(&host("29.6")), [40002, 40004, 40002]);
        let h = host("29.6");
        assert!(
            h.rendered()
                .rules
                .contains("--dport 40004 -j DNAT --to-destination 172.17.0.3:80")
        );
        // The default range starts at 32768, and a fixed port is never moved.
        let d = at("29.7")
            .container(ContainerSpec::new("a").publish("32768:80").publish("81"))
            .build()
            .unwrap();
        assert_eq!(ports(&d), [32768, 32769]);
    }

    /// 29.7.2 (ea57cdf1c7) ends base-chain declarations with `;` in the
    /// `nft -f` text; the reload template's shape otherwise since 29.0.
    #[test]
    fn the_nft_text_follows_the_release() {
        let script = |v: &str| {
            DockerHost::builder()
                .backend(crate::Backend::Nftables)
                .daemon(DaemonOptions {
                    ip_forward_was_on: true,
                    version: Some(v.parse().unwrap()),
                    ..Default::default()
                })
                .build()
                .unwrap()
                .rendered()
                .rules
        };
        let new = script("29.7.2");
        assert!(new.starts_with("table ip docker-bridges {}\ndelete table ip docker-bridges\ntable ip docker-bridges {\n"), "{new}");
        assert!(new.contains("\t\ttype filter hook forward priority 0; policy accept;\n"));
        assert!(
            new.contains("table ip6 docker-bridges {}\n"),
            "the ip6 table too"
        );
        assert!(
            script("29.7.1").contains("\t\ttype filter hook forward priority 0; policy accept\n")
        );
    }
}
