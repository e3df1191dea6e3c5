//! Topology parsing: every file in `topologies/` loads, and each kind of
//! mistake is reported with file, line, column and key.

use std::path::PathBuf;

use super::*;
use crate::docker::{Layout, Networking};

/// A Docker host file's model (these tests' shorthand).
fn host_of(spec: LabSpec) -> DockerHost {
    spec.docker_host("host")
        .expect("a Docker host file")
        .clone()
}

/// [`super::load`] of a Docker host file, as its model.
fn load(path: impl AsRef<Path>) -> Result<DockerHost> {
    super::load(path).map(host_of)
}

/// [`super::parse`] of a Docker host file, as its model.
fn parse(text: &str, path: impl AsRef<Path>) -> Result<DockerHost> {
    super::parse(text, path).map(host_of)
}

fn message(text: &str) -> String {
    match parse(text, "t.toml") {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(Error::Topology { file, message }) => {
            assert_eq!(file, PathBuf::from("t.toml"));
            message
        }
        Err(e) => panic!("expected a Topology error, got {e}"),
    }
}

/// Every file in `topologies/` parses and validates, and has a comment header.
#[test]
fn every_topology_file_loads() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("topologies");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("topologies/ exists") {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("# "),
            "{} starts with a comment header",
            path.display()
        );
        let stem = path.file_stem().and_then(|s| s.to_str());
        let spec = super::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(Some(spec.name()), stem);
        if let Some(host) = spec
            .docker_host("host")
            .filter(|_| spec.wiring.nodes.is_empty())
        {
            assert_eq!(Some(host.name()), stem);
            assert!(!host.running().iptables().save_lines().is_empty());
        }
        n += 1;
    }
    assert!(n >= 5, "found only {n} topology files");
}

/// The files model what their headers say.
#[test]
fn topology_files_model_their_headers() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("topologies");
    let modes = load(dir.join("docker-modes.toml")).unwrap();
    let kinds: Vec<&str> = modes
        .containers()
        .iter()
        .map(|c| match c.networking {
            Networking::Bridge(_) => "bridge",
            Networking::Host => "host",
            Networking::Container(_) => "container",
            Networking::None => "none",
        })
        .collect();
    assert_eq!(kinds, ["bridge", "host", "container", "none"]);
    let two = load(dir.join("docker-two-networks.toml")).unwrap();
    assert_eq!(two.container("api").unwrap().attachments().len(), 2);
    assert_eq!(
        two.container("db").unwrap().attachments()[0].ip.to_string(),
        "172.19.0.10"
    );
    assert_eq!(two.lan_peers().len(), 1);
    let internal = load(dir.join("docker-internal.toml")).unwrap();
    assert!(internal.network("secure").unwrap().internal);
    let no_proxy = load(dir.join("docker-no-proxy.toml")).unwrap();
    assert!(!no_proxy.daemon().userland_proxy && no_proxy.running().proxies().is_empty());
    assert_eq!(no_proxy.running().hairpin_ports().len(), 2);
    let bridge = load(dir.join("docker-bridge.toml")).unwrap();
    assert_eq!(bridge.layout(), Layout::Classic);
    assert_eq!(bridge.running().proxies().len(), 2);
}

/// An unknown key is reported at its line and column, by name.
#[test]
fn unknown_keys_have_line_column_and_name() {
    let m = message("name = \"x\"\n\n[[container]]\nname = \"web\"\nport = [\"8080:80\"]\n");
    assert!(m.starts_with("line 5, column 1"), "{m}");
    assert!(m.contains("unknown field `port`"), "{m}");
    let m = message("[daemon]\n  userland-proxy = false\n");
    assert!(
        m.starts_with("line 2, column 3") && m.contains("`userland-proxy`"),
        "{m}"
    );
    let m = message("colour = 1\n");
    assert!(
        m.starts_with("line 1, column 1") && m.contains("`colour`"),
        "{m}"
    );
}

/// A bad value is reported at the value, naming its key and the problem.
#[test]
fn bad_values_have_line_column_and_key() {
    let cases = [
        (
            "[[network]]\nname = \"a\"\nsubnet = \"172.18.0.1/16\"\n",
            "line 3, column 10, key `subnet`",
            "not a network address",
        ),
        (
            "[[container]]\nname = \"w\"\nports = [\"x:80\"]\n",
            "line 3, column 9, key `ports`",
            "host port \"x\" is not a number",
        ),
        (
            "[daemon]\nversion = \"29.9\"\n",
            "line 2, column 11, key `version`",
            "the newest tag read is docker-v29.7.2",
        ),
        (
            "[daemon]\nlayout = \"v27\"\n",
            "line 2, column 10, key `layout`",
            "unknown layout \"v27\" (use \"classic\", \"v28\" or \"v29\")",
        ),
        (
            "[[network]]\nname = \"r\"\ngateway_mode_ipv4 = \"route\"\n",
            "line 3, column 21, key `gateway_mode_ipv4`",
            "failed to parse com.docker.network.bridge.gateway_mode_ipv4 value: route (unknown gateway mode route)",
        ),
        (
            "[daemon]\nbackend = \"ipfw\"\n",
            "line 2, column 11, key `backend`",
            "unknown backend",
        ),
        (
            "[daemon]\nicc = \"no\"\n",
            "line 2, column 7, key `icc`",
            "expected a boolean",
        ),
        (
            "[[container]]\nname = \"w\"\nnetwork = \"container:\"\n",
            "line 3, column 11, key `network`",
            "needs a container name",
        ),
        (
            "[[container]]\nname = \"w\"\nips = { br = \"x\" }\n",
            "line 3",
            "not an IPv4 address",
        ),
        (
            "[internet]\nservers = [\"198.51.100.300\"]\n",
            "line 2, column 11, key `servers`",
            "not an IPv4 address",
        ),
    ];
    for (text, at, what) in cases {
        let m = message(text);
        assert!(m.starts_with(at), "want {at:?}, got {m:?}");
        assert!(m.contains(what), "want {what:?} in {m:?}");
    }
}

/// Broken TOML syntax is reported with its position.
#[test]
fn syntax_errors_have_line_column() {
    let m = message("[daemon]\nicc = \n");
    assert!(m.starts_with("line 2, column "), "{m}");
}

/// Model errors found after parsing point at the entry they concern.
#[test]
fn validation_errors_point_at_the_entry() {
    let text = "[[container]]\nname = \"a\"\n\n[[container]]\nname = \"web\"\nnetwork = \"container:ghost\"\n";
    let m = message(text);
    assert!(
        m.starts_with("line 5: container \"web\" network: No such container: ghost"),
        "{m}"
    );
    let m = message("[[container]]\nname = \"w\"\nnetwork = \"x\"\nnetworks = [\"y\"]\n");
    assert!(m.contains("give either `network` or `networks`"), "{m}");
    let m = message("[[container]]\nname = \"w\"\nnetwork = \"nope\"\n");
    assert!(
        m.contains("line 2: container \"w\" network: network nope not found"),
        "{m}"
    );
}

/// `load` reports a missing file by path.
#[test]
fn missing_file_is_reported() {
    let e = load("/nonexistent/x.toml").unwrap_err().to_string();
    assert!(e.starts_with("/nonexistent/x.toml: cannot read"), "{e}");
}

/// `order` interleaves network creation and container starts, and is checked.
#[test]
fn order_key_sets_creation_order() {
    use crate::docker::Event;
    let base = "[[network]]\nname = \"br\"\n\n[[container]]\nname = \"ca\"\n\n[[container]]\nname = \"cb\"\nnetwork = \"br\"\n";
    let host = parse(
        &format!("order = [\"ca\", \"br\", \"cb\"]\n{base}"),
        "t.toml",
    )
    .unwrap();
    assert_eq!(
        host.events(),
        [
            Event::StartContainer("ca".into()),
            Event::CreateNetwork("br".into()),
            Event::StartContainer("cb".into())
        ]
    );
    let m = message(&format!("order = [\"ca\", \"br\"]\n{base}"));
    assert!(
        m.contains("order: container cb is missing from the order"),
        "{m}"
    );
    let m = message(&format!("order = [\"ca\", \"ca\", \"br\", \"cb\"]\n{base}"));
    assert!(m.contains("\"ca\" is listed twice"), "{m}");
    let m = message(&format!("order = [\"cb\", \"br\", \"ca\"]\n{base}"));
    assert!(
        m.contains("network br not found (it is created after cb starts)"),
        "{m}"
    );
    let both = "order = [\"x\"]\n[[network]]\nname = \"x\"\n[[container]]\nname = \"x\"\nnetwork = \"x\"\n";
    assert!(message(both).contains("write network:x or container:x"));
    let fixed = both.replace(
        "order = [\"x\"]",
        "order = [\"network:x\", \"container:x\"]",
    );
    assert!(parse(&fixed, "t.toml").is_ok());
}

/// The 28.x options: layout v28, the daemon's direct-routing knobs, gateway
/// modes, daemon restart and `docker start` in `order`; Docker's checks apply.
/// A classic host restarts too; `[[network]] id` names the bridge and is checked.
#[test]
fn classic_restart_and_network_ids_parse() {
    let id = "e2ce1430f92ef6f4c17cc7afc674236630d7e9ecfeaf9ceb8a0e82ec4971cce7";
    let text =
        format!("order = [\"br\", \"restart\"]\n[[network]]\nname = \"br\"\nid = \"{id}\"\n");
    let host = parse(&text, "t.toml").unwrap();
    assert_eq!(host.layout(), Layout::Classic);
    assert_eq!(host.network("br").unwrap().id, id);
    assert_eq!(
        host.networks()
            .iter()
            .find(|n| n.name == "br")
            .map(|n| n.bridge.as_str()),
        Some("br-e2ce1430f92e")
    );
    let m = message(&text.replace(id, "e2ce1430f92e"));
    assert!(
        m.contains("network \"br\" id") && m.contains("is not a network id"),
        "{m}"
    );
}

#[test]
fn v28_options_parse_and_are_checked() {
    use crate::docker::{Event, GatewayMode};
    let text = "order = [\"ca\", \"rt\", \"cr\", \"restart\", \"start:ca\"]\n\
        [daemon]\nlayout = \"v28\"\nip_forward_no_drop = true\nallow_direct_routing = true\n\
        [[network]]\nname = \"rt\"\ngateway_mode_ipv4 = \"routed\"\n\
        [[container]]\nname = \"ca\"\nports = [\"127.0.0.1:8081:80\"]\n\
        [[container]]\nname = \"cr\"\nnetwork = \"rt\"\nports = [\"8082:80\"]\n";
    let host = parse(text, "v28.toml").unwrap();
    assert_eq!(host.layout(), Layout::V28);
    assert!(host.daemon().ip_forward_no_drop && host.daemon().allow_direct_routing);
    assert_eq!(
        host.network("rt").unwrap().gateway_mode,
        GatewayMode::Routed
    );
    assert_eq!(
        host.events()[3..],
        [Event::RestartDaemon, Event::StartExisting("ca".into())]
    );
    let m = message(&text.replace("\"start:ca\"", "\"start:ca\", \"start:ca\""));
    assert!(m.contains("container ca is already running"), "{m}");
    let m = message(&text.replace("\"start:ca\"", "\"start:nope\""));
    assert!(m.contains("No such container: nope"), "{m}");
    let classic = text.replace("layout = \"v28\"", "layout = \"classic\"");
    let m = message(&classic);
    assert!(
        m.contains("--ip-forward-no-drop exists from Docker 28.0"),
        "{m}"
    );
    let m = message(&classic.replace(
        "ip_forward_no_drop = true\nallow_direct_routing = true\n",
        "",
    ));
    assert!(
        m.contains("network \"rt\" gateway_mode_ipv4: com.docker.network.bridge.gateway_mode_ipv4=routed is emulated for layouts v28 and v29"),
        "{m}"
    );
    let classic = parse(
        "order = [\"restart\"]\n[daemon]\nlayout = \"classic\"\n",
        "t.toml",
    )
    .expect("a classic daemon restart is emulated");
    assert_eq!(classic.events(), [Event::RestartDaemon]);
    let m = message(
        "order = [\"restart\"]\n[daemon]\nlayout = \"v29\"\nbackend = \"nftables\"\nip_forward_was_on = true\n",
    );
    assert!(
        m.contains("daemon restarts are emulated with an iptables backend"),
        "{m}"
    );
}

/// A duplicate container name is reported at the duplicate, not at the first entry.
#[test]
fn duplicate_container_is_reported_at_the_duplicate() {
    let m = message("[[container]]\nname = \"web\"\n\n[[container]]\nname = \"web\"\n");
    assert!(m.starts_with("line 5: "), "{m}");
    let m = message("[[network]]\nname = \"n\"\n\n[[network]]\nname = \"n\"\n");
    assert!(m.starts_with("line 5: "), "{m}");
}

#[test]
fn daemon_version_selects_a_point_release() {
    use crate::docker::Version;
    let host = parse("[daemon]\nversion = \"29.5\"\n", "v.toml").unwrap();
    assert_eq!(host.layout(), Layout::V29, "the version implies the layout");
    assert_eq!(
        host.daemon().release(),
        Version {
            major: 29,
            minor: 5,
            patch: 3
        }
    );
    let m = parse("[daemon]\nlayout = \"v28\"\nversion = \"29.7\"\n", "v.toml")
        .unwrap_err()
        .to_string();
    assert!(
        m.contains("version") && m.contains("layout v29, not v28"),
        "{m}"
    );
}

/// `ruleset` (a real host's rules as found, `netrig import`) names a file
/// beside the topology, and replaces `[before] rules` rather than joining them.
#[test]
fn ruleset_key_is_a_file_and_excludes_before_rules() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("h.toml");
    std::fs::write(dir.path().join("h.rules"), "*filter\nCOMMIT\n").unwrap();
    let host = parse("ruleset = \"h.rules\"\n", &file).unwrap();
    assert_eq!(
        host.ruleset_file(),
        Some(dir.path().join("h.rules").as_path())
    );
    let missing = parse("ruleset = \"nope.rules\"\n", &file).unwrap_err();
    assert!(
        missing.to_string().contains("nope.rules does not exist"),
        "{missing}"
    );
    let both = parse(
        "ruleset = \"h.rules\"\n[before]\nrules = [\"h.rules\"]\n",
        &file,
    )
    .unwrap_err();
    assert!(
        both.to_string().contains("replaces `[before] rules`"),
        "{both}"
    );
}

/// `ruleset6` goes with `ruleset`; `[[interface]]` (a real host's wireguard,
/// vlan … as a veth) becomes a veth to a stub node with its addresses and
/// routes, and a bad name, address or route is refused naming it.
#[test]
fn ruleset6_and_substituted_interfaces() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("h.toml");
    std::fs::write(dir.path().join("h.rules"), "*filter\nCOMMIT\n").unwrap();
    let host = parse(
        "ruleset = \"h.rules\"\nruleset6 = \"h.rules\"\n[daemon]\nlayout = \"v28\"\n",
        &file,
    )
    .unwrap();
    assert_eq!(
        host.ruleset6_file(),
        Some(dir.path().join("h.rules").as_path())
    );
    let alone = parse("ruleset6 = \"h.rules\"\n", &file).unwrap_err();
    assert!(alone.to_string().contains("goes with `ruleset`"), "{alone}");
    // An nft ruleset lists both families: an ip6tables file beside it is refused.
    std::fs::write(dir.path().join("h.nft"), "table inet t {}\n").unwrap();
    let with_nft = parse(
        "ruleset = \"h.nft\"\nruleset6 = \"h.rules\"\n[daemon]\nlayout = \"v28\"\n",
        &file,
    )
    .unwrap_err();
    assert!(
        with_nft
            .to_string()
            .contains("a .nft `ruleset` holds both families"),
        "{with_nft}"
    );

    let wg = "[[interface]]\nname = \"wg0\"\naddresses = [\"10.8.0.1/24\"]\nroutes = [\"10.9.0.0/16\"]\n";
    let host = parse(wg, &file).unwrap();
    let w = host.lab_spec();
    let link = w
        .links
        .iter()
        .find(|l| l.a.ifname == "wg0")
        .expect("a veth named wg0");
    assert_eq!(
        (link.a.node.as_str(), link.b.node.as_str()),
        ("host", "if-wg0")
    );
    assert_eq!(link.a.addrs, ["10.8.0.1/24"]);
    assert!(
        w.routes
            .iter()
            .any(|r| r.node == "host" && r.route.dev.as_deref() == Some("wg0")),
        "{:?}",
        w.routes
    );
    for (bad, want) in [
        (
            wg.replace("10.8.0.1/24", "10.8.0.1"),
            "interface \"wg0\" addresses",
        ),
        (
            wg.replace("10.9.0.0/16", "fd00::/64"),
            "interface \"wg0\" routes",
        ),
        (wg.replace("\"wg0\"", "\"docker0\""), "already has"),
        (
            wg.replace("\"wg0\"", "\"a-very-long-name0\""),
            "interface \"a-very-long-name0\" name",
        ),
    ] {
        let e = parse(&bad, &file).unwrap_err().to_string();
        assert!(e.contains(want), "{want}: {e}");
    }
}

/// ufw on an iptables-legacy host is refused when the file is read (ufw's
/// `iptables` is iptables-nft on Debian), before anything is built.
#[test]
fn ufw_on_iptables_legacy_is_refused_at_load() {
    let text = "[before]\nufw = [\"enable\"]\n[daemon]\nbackend = \"iptables-legacy\"\n";
    let err = parse(text, "ufw.toml").unwrap_err().to_string();
    assert!(err.contains("ufw") && err.contains("iptables-nft"), "{err}");
    let ok = "[before]\nufw = [\"enable\"]\n[daemon]\nbackend = \"iptables-nft\"\n";
    assert!(parse(ok, "ufw.toml").is_ok());
}

/// firewalld on an iptables-legacy host, or beside ufw, is refused when the
/// file is read, before anything is built.
#[test]
fn firewalld_on_iptables_legacy_or_with_ufw_is_refused_at_load() {
    let legacy = "[before]\nfirewalld = [\"--permanent --zone=public --add-service=ssh\"]\n[daemon]\nbackend = \"iptables-legacy\"\n";
    let err = parse(legacy, "fw.toml").unwrap_err().to_string();
    assert!(
        err.contains("firewalld") && err.contains("iptables-nft"),
        "{err}"
    );
    let both = "[before]\nufw = [\"enable\"]\nfirewalld = [\"--permanent --zone=public --add-service=ssh\"]\n";
    let err = parse(both, "fw.toml").unwrap_err().to_string();
    assert!(err.contains("not both"), "{err}");
}
