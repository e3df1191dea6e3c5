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

/// A real host's rules as found (`ruleset` + `ruleset6`, as `netrig
/// import` writes them) load with their tables reordered for speed, yet a
/// malformed line is named by its file and its line as the user has them.
fn malformed_found_rules_name_their_own_line() {
    let _labs = common::shared();
    let dir = tempfile::tempdir().unwrap();
    let (four, six) = (dir.path().join("h.rules"), dir.path().join("h.rules6"));
    // raw first, nat (more extensions) last: nat is fed to the tool first.
    let rules4 = "# the host's rules\n*raw\n:PREROUTING ACCEPT [0:0]\n\
        -A PREROUTING -d 172.17.0.2/32 ! -i docker0 -j DROP\nCOMMIT\n\
        *nat\n:PREROUTING ACCEPT [0:0]\n:DOCKER - [0:0]\n\
        -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER\n\
        -A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80\nCOMMIT\n";
    let rules6 = "*filter\n:FORWARD ACCEPT [0:0]\n:DOCKER-USER - [0:0]\n\
        -A FORWARD -j DOCKER-USER\nCOMMIT\n";
    let topo = dir.path().join("h.toml");
    std::fs::write(
        &topo,
        "ruleset = \"h.rules\"\nruleset6 = \"h.rules6\"\n[daemon]\nlayout = \"v28\"\n\n\
         [[container]]\nname = \"web\"\nports = [\"8080:80\"]\n",
    )
    .unwrap();
    let up_err = |r4: &str, r6: &str| {
        std::fs::write(&four, r4).unwrap();
        std::fs::write(&six, r6).unwrap();
        let mut host = netrig::topology::load(&topo).unwrap();
        host.set_name(netrig::unique_lab_name("badfound"));
        host.up().unwrap_err().to_string()
    };
    let err = up_err(&rules4.replace("-j DROP", "-j NOPE"), rules6);
    assert!(
        err.contains(&format!("{}:4", four.display())) && err.contains("-j NOPE"),
        "{err}"
    );
    let err = up_err(rules4, &rules6.replace("-j DOCKER-USER", "-j NOPE6"));
    assert!(
        err.contains(&format!("{}:4", six.display())) && err.contains("NOPE6"),
        "{err}"
    );
}

/// This module's tests.
pub fn tests() -> Vec<netrig::testing::Test> {
    netrig::testing::tests![
        docker_user_rules_filter_published_ports,
        malformed_user_rules_fail_the_bring_up,
        malformed_found_rules_name_their_own_line,
    ]
}
