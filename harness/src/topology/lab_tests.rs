//! Generic lab files: the same lab from a file and from code are equal, any
//! lab written back as a file parses to itself, and each kind of mistake is
//! reported at the offending entry's line, column and key.

use std::path::Path;

use super::*;
use crate::net::Proto;
use crate::spec::ShapeSpec;
use crate::wiring::{Endpoint, NodeSpec, Route, Wiring};

fn lab_error(text: &str) -> String {
    match parse(text, "t.toml") {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(Error::Topology { file, message }) => {
            assert_eq!(file, PathBuf::from("t.toml"));
            message
        }
        Err(e) => panic!("expected a Topology error, got {e}"),
    }
}

const PAIR: &str = "[[node]]\nname = \"a\"\n[[node]]\nname = \"b\"\n";

/// topologies/gateway-nft.toml equals the same lab built in code.
#[test]
fn gateway_file_equals_the_lab_built_in_code() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let file = load(root.join("topologies/gateway-nft.toml")).unwrap();
    let spec = Wiring::new("gateway-nft")
        .node("client")
        .node(
            NodeSpec::new("gw")
                .forwarding(true)
                .sysctl("net.ipv4.conf.all.rp_filter", "1"),
        )
        .node("wan")
        .link(
            Endpoint::new("client", "eth0").addr("10.10.0.2/24"),
            Endpoint::new("gw", "lan0").addr("10.10.0.1/24"),
        )
        .link(
            Endpoint::new("gw", "wan0").addr("198.51.100.1/24"),
            Endpoint::new("wan", "eth0").addr("198.51.100.10/24"),
        )
        .route("client", Route::default_via("10.10.0.1"));
    let code = LabSpec::wired(spec)
        .rules_file("gw", root.join("topologies/rules/gateway.nft"))
        .server("wan", Proto::Udp, "198.51.100.10:53".parse().unwrap())
        .server("wan", Proto::Tcp, "198.51.100.10:80".parse().unwrap())
        .server("wan", Proto::Tcp, "198.51.100.10:23".parse().unwrap());
    assert_eq!(file, code);
}

/// Every feature of a Wiring, written as a file by `to_toml`, parses back
/// to an equal value (the file can say whatever the code can).
#[test]
fn any_lab_round_trips_through_a_file() {
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/rules/docker-user.rules");
    let spec = Wiring::new("every-key")
        .static_neighbours(false)
        .node(
            NodeSpec::new("r")
                .forwarding(true)
                .ipv6(true)
                .sysctl("net.ipv4.conf.all.route_localnet", "1")
                .sysctl("net.ipv4.conf.all.rp_filter", "2"),
        )
        .node("h")
        .alias("router", "r")
        .bridge_with(crate::wiring::BridgeSpec {
            node: "r".into(),
            name: "br0".into(),
            addrs: vec!["10.1.0.1/24".into(), "fd00::1/64".into()],
            mac: Some([0x02, 0, 0, 0, 0, 0x42]),
        })
        .link(
            Endpoint {
                mtu: Some(1400),
                ..Endpoint::new("r", "p0").bridge("br0")
            },
            Endpoint {
                mtu: Some(1400),
                ..Endpoint::new("h", "eth0")
                    .addr("10.1.0.2/24")
                    .mac([0x02, 0, 0, 0, 0, 0x43])
            },
        )
        .address("r", "lo", "198.51.100.1/32")
        .route("h", Route::default_via("10.1.0.1"))
        .route("h", Route::to("203.0.113.0/24").dev("eth0"))
        .route(
            "h",
            Route::to("198.51.100.0/24").via("10.1.0.1").dev("eth0"),
        );
    let lab = LabSpec::wired(spec)
        .rules_file("r", &rules)
        .server("h", Proto::Tcp, "10.1.0.2:80".parse().unwrap())
        .program("h", ["sleep", "60"])
        .shape(ShapeSpec {
            node: "h".into(),
            ifname: "eth0".into(),
            rate: Some("5mbit".into()),
            delay: Some("10ms".into()),
            loss: Some("1%".into()),
        });
    let text = lab.to_toml();
    let back = parse(&text, "every-key.toml").unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(back, lab, "{text}");
}

/// Sysctls are set in file order, not sorted.
#[test]
fn sysctls_keep_file_order() {
    let lab = parse(
        "[[node]]\nname = \"a\"\nsysctls = [\"net.ipv4.ip_forward=1\", \"net.ipv4.conf.all.forwarding = 0\"]\n",
        "t.toml",
    )
    .unwrap();
    let keys: Vec<&str> = lab.wiring.nodes[0]
        .sysctls
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(
        keys,
        ["net.ipv4.ip_forward", "net.ipv4.conf.all.forwarding"]
    );
}

/// A duplicate node is reported at the second entry, not the first.
#[test]
fn duplicate_node_is_reported_at_the_duplicate() {
    let m = lab_error("[[node]]\nname = \"a\"\n\n[[node]]\nname = \"a\"\n");
    assert!(
        m.starts_with("line 5, column 8, key `name`: duplicate node name \"a\""),
        "{m}"
    );
}

/// A reference to an unknown node names the entry's own `node` key and the known nodes.
#[test]
fn unknown_node_in_a_link_end() {
    let m = lab_error(&format!(
        "{PAIR}[[link]]\na = {{ node = \"a\", ifname = \"eth0\" }}\nb = {{ node = \"c\", ifname = \"eth0\" }}\n"
    ));
    assert!(m.starts_with("line 7, column 14, key `node`: link end c:eth0 refers to unknown node \"c\" (known nodes: a, b)"), "{m}");
}

/// Bad values are reported at their own line and column, each with its key.
#[test]
fn bad_values_name_line_column_and_key() {
    let cases: &[(&str, &str)] = &[
        (
            "[[link]]\na = { node = \"a\", ifname = \"eth0\", addresses = [\"10.0.0.300/24\"] }\nb = { node = \"b\", ifname = \"eth0\" }\n",
            "line 6, column 49, key `addresses`",
        ),
        (
            "[[link]]\na = { node = \"a\", ifname = \"eth0\", mac = \"zz\" }\nb = { node = \"b\", ifname = \"eth0\" }\n",
            "line 6, column 42, key `mac`",
        ),
        (
            "[[link]]\nrate = \"fast\"\na = { node = \"a\", ifname = \"eth0\" }\nb = { node = \"b\", ifname = \"eth0\" }\n",
            "line 6, column 8, key `rate`",
        ),
        (
            "[[link]]\nloss = \"half\"\na = { node = \"a\", ifname = \"eth0\" }\nb = { node = \"b\", ifname = \"eth0\" }\n",
            "line 6, column 8, key `loss`",
        ),
        (
            "[[link]]\nmtu = 20\na = { node = \"a\", ifname = \"eth0\" }\nb = { node = \"b\", ifname = \"eth0\" }\n",
            "line 6, column 7, key `mtu`",
        ),
        (
            "[[link]]\na = { node = \"a\", ifname = \"eth0\", bridge = \"br9\" }\nb = { node = \"b\", ifname = \"eth0\" }\n",
            "line 6, column 45, key `bridge`",
        ),
        (
            "[[link]]\na = { node = \"a\", ifname = \"an-interface-name-too-long\" }\nb = { node = \"b\", ifname = \"eth0\" }\n",
            "line 6, column 28, key `ifname`",
        ),
        (
            "[[route]]\nnode = \"a\"\nto = \"10.0.0/8\"\nvia = \"10.0.0.1\"\n",
            "line 7, column 6, key `to`",
        ),
        (
            "[[route]]\nnode = \"a\"\nto = \"default\"\nvia = \"gateway\"\n",
            "line 8, column 7, key `via`",
        ),
        (
            "[[route]]\nnode = \"a\"\nto = \"default\"\n",
            "line 7, column 6, key `to`",
        ),
        (
            "[[route]]\nnode = \"a\"\nto = \"default\"\ndev = \"eth9\"\n",
            "line 8, column 7, key `dev`",
        ),
        (
            "[[address]]\nnode = \"a\"\nifname = \"eth0\"\naddress = \"10.0.0.1/24\"\n",
            "line 7, column 10, key `ifname`",
        ),
        (
            "[[bridge]]\nnode = \"a\"\nname = \"br0\"\naddresses = [\"fd00::1/64\"]\n",
            "line 8, column 14, key `addresses`",
        ),
        (
            "[[alias]]\nname = \"b\"\nnode = \"a\"\n",
            "line 6, column 8, key `name`",
        ),
    ];
    for (tail, want) in cases {
        let m = lab_error(&format!("{PAIR}{tail}"));
        assert!(m.starts_with(want), "want {want}, got: {m}\n{PAIR}{tail}");
    }
}

/// Node keys: an unknown key, a bad server, a missing rule file, a bad iptables backend.
#[test]
fn bad_node_keys_name_line_column_and_key() {
    let cases: &[(&str, &str)] = &[
        (
            "[[node]]\nname = \"a\"\nforward = true\n",
            "line 3, column 1: unknown field `forward`",
        ),
        (
            "[[node]]\nname = \"a\"\nservers = [\"sctp:10.0.0.1:9\"]\n",
            "line 3, column 12, key `servers`",
        ),
        (
            "[[node]]\nname = \"a\"\nrules = [\"no-such.rules\"]\n",
            "line 3, column 10, key `rules`: rule file no-such.rules does not exist",
        ),
        (
            "[[node]]\nname = \"a\"\niptables = \"nftables\"\n",
            "line 3, column 12, key `iptables`",
        ),
        (
            "[[node]]\nname = \"a\"\nprograms = [[]]\n",
            "line 3, column 13, key `programs`",
        ),
        ("[[node]]\nname = \"a b\"\n", "line 2, column 8, key `name`"),
        (
            "[[node]]\nname = \"a\"\nsysctls = [\"net.ipv4.ip_forward\"]\n",
            "line 3, column 12, key `sysctls`",
        ),
    ];
    for (text, want) in cases {
        let m = lab_error(text);
        assert!(m.starts_with(want), "want {want}, got: {m}\n{text}");
    }
}

/// The planner's remaining checks still run before anything is built.
#[test]
fn planner_errors_are_reported_with_the_file() {
    let m = lab_error(&format!(
        "{PAIR}[[link]]\na = {{ node = \"a\", ifname = \"eth0\", addresses = [\"10.0.0.1/24\"] }}\nb = {{ node = \"a\", ifname = \"eth1\", addresses = [\"10.0.0.1/24\"] }}\n"
    ));
    assert!(m.contains("10.0.0.1 is already assigned"), "{m}");
}

/// Overrides replace a Docker file's layout and backend, and are refused for a generic lab.
#[test]
fn overrides_apply_to_docker_files_only() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let o = Overrides {
        layout: Some(crate::docker::Layout::V28),
        backend: Some(crate::Backend::IptablesLegacy),
        ..Overrides::default()
    };
    let spec = load_with(root.join("topologies/docker-bridge.toml"), &o).unwrap();
    let h = spec
        .docker_host("host")
        .expect("docker-bridge.toml is a Docker host");
    assert_eq!(h.layout(), crate::docker::Layout::V28);
    assert_eq!(h.backend(), crate::Backend::IptablesLegacy);
    let plain = load(root.join("topologies/docker-bridge.toml")).unwrap();
    assert_eq!(
        plain.docker_host("host").unwrap().layout(),
        crate::docker::Layout::Classic
    );
    let err = load_with(root.join("topologies/gateway-nft.toml"), &o).unwrap_err();
    assert!(err.to_string().contains("apply to Docker hosts"), "{err}");
}

/// A lab with Docker parts: the file equals the lab built in code (parts'
/// nodes named `PART-NODE`, no internet node), writes back to itself, and
/// `--layout` reaches every part.
#[test]
fn docker_parts_from_a_file_equal_the_lab_built_in_code() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = root.join("topologies/two-docker-hosts.toml");
    let file = load(&path).unwrap();
    let part = crate::topology::load(root.join("topologies/parts/web-host.toml"))
        .unwrap()
        .docker_host("host")
        .unwrap()
        .clone();
    let names: Vec<String> = file
        .full_wiring()
        .nodes
        .iter()
        .map(|n| n.name.clone())
        .collect();
    assert_eq!(names, ["h1", "h1-web", "h2", "h2-web", "router"]);
    assert_eq!(file.docker.len(), 2);
    assert_eq!(file.docker[0].host, part);
    let in_code = LabSpec::wired(file.wiring.clone())
        .docker("h1", part.clone())
        .docker("h2", part);
    assert_eq!(in_code.full_wiring(), file.full_wiring());
    let again = parse(&file.to_toml(), &path).unwrap();
    assert_eq!(again, file);
    let v29 = Overrides {
        layout: Some(crate::docker::Layout::V29),
        ..Overrides::default()
    };
    let lab = load_with(&path, &v29).unwrap();
    assert!(
        lab.docker
            .iter()
            .all(|p| p.host.layout() == crate::docker::Layout::V29)
    );
}

/// Mistakes in `[[docker]]` entries are reported at their own line and key.
#[test]
fn docker_part_errors_point_at_the_entry() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies");
    let at = |text: &str| match parse(text, root.join("t.toml")) {
        Err(Error::Topology { message, .. }) => message,
        other => panic!("expected a Topology error, got {other:?}"),
    };
    let missing =
        at("[[node]]\nname = \"a\"\n[[docker]]\nname = \"h\"\nfile = \"parts/nope.toml\"\n");
    assert!(
        missing.starts_with("line 5, column 8, key `file`") && missing.contains("does not exist"),
        "{missing}"
    );
    let clash = at(
        "[[docker]]\nname = \"h\"\nfile = \"parts/web-host.toml\"\n[[node]]\nname = \"h-web\"\n",
    );
    assert!(
        clash.starts_with("line 5") && clash.contains("duplicate node name"),
        "{clash}"
    );
    let unknown =
        at("[[docker]]\nname = \"h\"\nfile = \"parts/web-host.toml\"\nlayout = \"v29\"\n");
    assert!(
        unknown.contains("line 4") && unknown.contains("layout"),
        "{unknown}"
    );
    let linked = at(
        "[[docker]]\nname = \"h\"\nfile = \"parts/web-host.toml\"\n[[node]]\nname = \"a\"\n[[link]]\na = { node = \"h\", ifname = \"docker0\" }\nb = { node = \"a\", ifname = \"eth0\" }\n",
    );
    assert!(
        linked.starts_with("line 7") && linked.contains("docker0"),
        "{linked}"
    );
}

/// A link endpoint written as something else than an inline table says what
/// an endpoint looks like (serde alone said "expected struct End").
#[test]
fn a_malformed_link_endpoint_says_what_an_endpoint_is() {
    let m = lab_error(
        "[[node]]\nname = \"a\"\n[[node]]\nname = \"b\"\n[[link]]\na = \"a:eth0\"\n\
         b = { node = \"b\", ifname = \"eth0\" }\n",
    );
    assert!(
        m.starts_with("line 6, column 5, key `a`")
            && m.contains(
                "a link endpoint: an inline table such as { node = \"a\", ifname = \"eth0\""
            )
            && !m.contains("struct End"),
        "{m}"
    );
}
