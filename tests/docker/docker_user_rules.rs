//! User rule files under test: applied after Docker's rules, counted, and
//! rejected with file and line when malformed.

use crate::common::host_lab::HostLab as _;
use std::time::Duration;

use netrig::TcpOutcome;

use crate::common;

/// A DOCKER-USER rule file drops published-port traffic from one source and lets another through.
fn docker_user_rules_filter_published_ports() {
    let _labs = common::shared();
    let docker = common::topology("docker-user-rules.toml", "dockeruser")
        .up()
        .unwrap();
    let server = docker
        .container("web")
        .unwrap()
        .tcp_echo_server("0.0.0.0:80")
        .unwrap();
    let internet = docker.internet().unwrap();

    // From 203.0.113.1 (not in 198.51.100.0/24): dropped in DOCKER-USER.
    let dropped = internet
        .tcp_connect("203.0.113.2:8080", Duration::from_millis(500))
        .unwrap();
    assert_eq!(
        dropped,
        TcpOutcome::NoAnswer,
        "lab {}: the user's DROP rule did not apply",
        docker.name()
    );
    let counters = docker.counters().unwrap();
    let rule = counters
        .rule("filter", "DOCKER-USER", "-j DROP")
        .expect("user rule loaded after Docker's");
    assert!(rule.packets >= 1, "the user rule counted nothing: {rule:?}");

    // From 198.51.100.10: allowed, DNATed to web:80 with the source preserved.
    internet
        .command("ip")
        .args([
            "route",
            "replace",
            "203.0.113.2/32",
            "dev",
            "eth0",
            "src",
            "198.51.100.10",
        ])
        .checked_output()
        .unwrap();
    let allowed = internet
        .tcp_connect("203.0.113.2:8080", Duration::from_secs(2))
        .unwrap();
    assert!(allowed.is_connected(), "{allowed:?}");
    let peers = server.wait_for_peers(1, Duration::from_secs(2)).unwrap();
    assert_eq!(peers[0].ip().to_string(), "198.51.100.10");
}

/// A malformed user rule file fails the bring-up with the file and line, and leaves no lab.
fn malformed_user_rules_fail_the_bring_up() {
    let _labs = common::shared();
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("bad.rules");
    std::fs::write(
        &rules,
        "*filter\n-A DOCKER-USER -s 10.0.0.0/8 -j NOPE\nCOMMIT\n",
    )
    .unwrap();
    let topo = dir.path().join("t.toml");
    std::fs::write(
        &topo,
        "rules = [\"bad.rules\"]\n\n[[container]]\nname = \"web\"\nports = [\"8080:80\"]\n",
    )
    .unwrap();
    let mut host = netrig::topology::load(&topo).unwrap();
    host.set_name(netrig::unique_lab_name("badrules"));
    let err = host.up().unwrap_err().to_string();
    assert!(
        err.contains(&format!("{}:2", rules.display())) && err.contains("NOPE"),
        "{err}"
    );

    // A rule file that does not exist is reported at load time, naming it.
    std::fs::write(&topo, "rules = [\"missing.rules\"]\n").unwrap();
    let err = netrig::topology::load(&topo).unwrap_err().to_string();
    assert!(
        err.contains("missing.rules") && err.contains("does not exist"),
        "{err}"
    );
}

/// This module's tests.
pub fn tests() -> Vec<netrig::testing::Test> {
    netrig::testing::tests![
        docker_user_rules_filter_published_ports,
        malformed_user_rules_fail_the_bring_up,
    ]
}
