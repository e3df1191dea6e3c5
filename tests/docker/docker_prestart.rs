//! A Docker host's state before the daemon starts: rules already in its
//! tables (ufw-style filter chains, a libvirt-style MASQUERADE) stay, and
//! Docker's rules land around them where a real Docker 20.10.24 put them
//! (`tests/data/real-docker/prestart`, recorded over the same rules with
//! `ip_forward` 0 and 1) — loaded into a running host and read back; a bad
//! fragment is refused; a host sysctl before the daemon changes what crosses
//! iptables. (The model at every step: the crate's
//! `docker::fidelity::docker_prestart`.)

use crate::common::host_lab::HostLab as _;
use std::path::PathBuf;

use common::recordings::*;
use netrig::docker::{ContainerSpec, DaemonOptions, DockerHost};

use crate::common;

fn prestart(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/data/real-docker/prestart/{name}"))
}

/// The recorded scenario over `rules`, with forwarding on or off before the daemon.
fn host(rules: &str, forwarding_was_on: bool) -> DockerHost {
    standard(
        DockerHost::builder()
            .existing_rules_file(prestart(rules))
            .daemon(DaemonOptions {
                ip_forward_was_on: forwarding_was_on,
                ..Default::default()
            }),
        false,
    )
}

/// A malformed pre-start fragment is refused, naming its file and line.
fn a_bad_fragment_names_its_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.rules");
    std::fs::write(
        &bad,
        "*filter\n:INPUT DROP [0:0]\n-A NOSUCH -j ACCEPT\nCOMMIT\n",
    )
    .unwrap();
    let err = DockerHost::builder()
        .existing_rules_file(&bad)
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("{}:3", bad.display())) && err.contains("NOSUCH"),
        "{err}"
    );
}

/// Brought up: the kernel's tables, read back with iptables-nft-save, equal
/// the recording — the rules there before were loaded first and not wiped.
fn a_running_host_reads_back_as_recorded() -> netrig::Result<()> {
    let _labs = common::shared();
    let mut h = netrig::LabSpec::from(host("prestart.rules", false));
    h.set_name(netrig::unique_lab_name("prestart"));
    let docker = h.up()?;
    let saved = docker.rules()?;
    let got = tables(&normalise(docker.model(), &bare(&saved)));
    let want = recorded_tables(
        &data("real-docker/prestart/dumps/prestart-ufw.rules"),
        "iptables-nft-save",
    );
    for (t, lines) in &want {
        let got_t = got.get(t).map(|l| l.join("\n")).unwrap_or_default();
        assert_same_lines(
            &format!("prestart-ufw table {t}, loaded"),
            &bare(&lines.join("\n")),
            &got_t,
        );
    }
    Ok(())
}

/// Two containers on docker0 with a DOCKER-USER drop from `ca` to `cb`'s
/// port 80, and `before` sysctls; `icc` is the daemon's `--icc`.
fn same_bridge_host(before: &[(&str, &str)], icc: bool) -> netrig::Result<netrig::Lab> {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("user.rules");
    std::fs::write(
        &rules,
        "*filter\n-I DOCKER-USER -s 172.17.0.2 -d 172.17.0.3 -p tcp --dport 80 -j DROP\nCOMMIT\n",
    )
    .expect("write rules");
    let mut b = DockerHost::builder()
        .name(netrig::unique_lab_name("brnf"))
        .daemon(DaemonOptions {
            icc,
            ..Default::default()
        })
        .container(ContainerSpec::new("ca"))
        .container(ContainerSpec::new("cb"));
    for (k, v) in before {
        b = b.existing_sysctl(*k, *v);
    }
    netrig::LabSpec::from(b.build()?)
        .rules_file("host", &rules)
        .up()
}

/// What `ca`'s connection to `cb:80` met: connected or not, the
/// bridge-nf-call-iptables value the host ended with, and the packets
/// counted by the DOCKER-USER drop and by Docker's ICC drop.
fn same_bridge_connect(docker: &netrig::Lab) -> netrig::Result<(bool, String, u64, u64)> {
    let _server = docker.container("cb")?.tcp_echo_server("0.0.0.0:80")?;
    let outcome = docker
        .container("ca")?
        .tcp_connect("172.17.0.3:80", std::time::Duration::from_millis(500))?;
    let brnf = docker
        .host_node()?
        .sysctl_get("net.bridge.bridge-nf-call-iptables")?;
    let counters = docker.counters()?;
    let count = |chain: &str, rule: &str| {
        counters
            .rule("filter", chain, rule)
            .map_or(0, |r| r.packets)
    };
    Ok((
        outcome.is_connected(),
        brnf.trim().to_string(),
        count("DOCKER-USER", "-s 172.17.0.2/32 -d 172.17.0.3/32"),
        count("FORWARD", "-i docker0 -o docker0 -j DROP"),
    ))
}

/// `net.bridge.bridge-nf-call-iptables` off before the daemon (a host
/// without br_netfilter's iptables hook): traffic between two containers on
/// docker0 is bridged without crossing iptables, so a DOCKER-USER drop
/// between them counts nothing and the connection succeeds. With the
/// kernel's default (on) the same rule drops it. With `--icc=false` Docker
/// turns the hook on itself, so its ICC drop applies whatever the host had.
fn bridge_nf_call_off_before_docker_lets_same_bridge_traffic_skip_iptables() -> netrig::Result<()> {
    let _labs = common::shared();
    let key = "net.bridge.bridge-nf-call-iptables";

    let on = same_bridge_host(&[], true)?;
    let (connected, brnf, user, _) = same_bridge_connect(&on)?;
    assert!(
        !connected && user >= 1,
        "hook on: the DOCKER-USER drop must stop ca -> cb:80 (connected {connected}, counted {user})"
    );
    assert_eq!(brnf, "1");
    drop(on);

    let off = same_bridge_host(&[(key, "0")], true)?;
    let (connected, brnf, user, _) = same_bridge_connect(&off)?;
    assert_eq!(
        brnf, "0",
        "Docker with --icc=true leaves the host's setting alone"
    );
    assert!(
        connected && user == 0,
        "hook off: ca -> cb:80 must be bridged past iptables (connected {connected}, counted {user})"
    );
    drop(off);

    let no_icc = same_bridge_host(&[(key, "0")], false)?;
    let (connected, brnf, user, icc) = same_bridge_connect(&no_icc)?;
    assert_eq!(brnf, "1", "Docker with --icc=false turns the hook on");
    assert!(
        !connected && user + icc >= 1,
        "icc=false: ca -> cb:80 must be dropped in FORWARD (DOCKER-USER {user}, ICC {icc})"
    );
    Ok(())
}

/// This module's tests.
pub fn tests() -> Vec<netrig::testing::Test> {
    netrig::testing::tests![
        #[plain]
        a_bad_fragment_names_its_file_and_line,
        a_running_host_reads_back_as_recorded,
        bridge_nf_call_off_before_docker_lets_same_bridge_traffic_skip_iptables,
    ]
}
