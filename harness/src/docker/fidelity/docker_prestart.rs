//! A Docker host's state before the daemon starts: rules already in its
//! tables (ufw-style filter chains, a libvirt-style MASQUERADE) stay, and
//! Docker's rules land around them where a real Docker 20.10.24 put them
//! (`tests/data/real-docker/prestart`, recorded over the same rules with
//! `ip_forward` 0 and 1) — in the model at every step. (Loaded into a
//! running host and read back: `tests/docker/docker_prestart.rs`.)

use std::path::PathBuf;

use super::recordings::*;
use crate::docker::DockerHost;
use crate::docker::ruleset::Table;

fn prestart(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/data/real-docker/prestart/{name}"))
}

/// The recorded scenario over `rules`, with forwarding on or off before the daemon.
fn host(rules: &str, forwarding_was_on: bool) -> DockerHost {
    standard(
        DockerHost::builder()
            .existing_rules_file(prestart(rules))
            .ip_forward_was_on(forwarding_was_on),
        false,
    )
}

/// Chain declarations (with policies) and rules of one recorded step equal
/// the model's, table by table.
fn check_step(host: &DockerHost, recording: &str, step: usize) {
    assert_matches_dump(
        host,
        &host.at(step).iptables(),
        &format!("real-docker/prestart/dumps/{recording}.rules"),
    );
}

/// Forwarding off before Docker: at every step the ufw chains and the
/// libvirt MASQUERADE keep their rules and order, Docker's FORWARD rules go
/// above `-j ufw-before-forward`, its MASQUERADEs above libvirt's and its
/// per-port one below — as recorded.
#[test]
fn rules_before_docker_stay_where_real_docker_leaves_them() {
    let h = host("prestart.rules", false);
    for (step, suffix) in STEPS.iter().enumerate() {
        check_step(&h, &format!("prestart-ufw{suffix}"), step);
    }
    check_step(&h, "prestart-ufw", h.last_step());
    let forward = h.running().iptables().rules(Table::Filter);
    let at = |r: &str| {
        forward
            .iter()
            .position(|l| l == r)
            .unwrap_or_else(|| panic!("{r} missing"))
    };
    assert!(at("-A FORWARD -j DOCKER-USER") < at("-A FORWARD -j ufw-before-forward"));
}

/// Forwarding already on: the same rules (the fragment's own FORWARD DROP stays).
#[test]
fn forwarding_on_before_docker_gives_the_same_rules() {
    let h = host("prestart.rules", true);
    for (step, suffix) in STEPS.iter().enumerate() {
        check_step(&h, &format!("prestart-ufw-fwd-on{suffix}"), step);
    }
}

/// With the fragment's FORWARD policy ACCEPT, Docker sets DROP only when it
/// turned forwarding on itself, as recorded at daemon start.
#[test]
fn the_forward_policy_is_dropped_only_when_docker_enables_forwarding() {
    for (was_on, recording, policy) in [
        (false, "prestart-ufw-forward-accept-0-daemon-start", "DROP"),
        (
            true,
            "prestart-ufw-forward-accept-fwd-on-0-daemon-start",
            "ACCEPT",
        ),
    ] {
        let h = host("prestart-forward-accept.rules", was_on);
        check_step(&h, recording, 0);
        assert_eq!(
            h.at(0).iptables().policy(Table::Filter, "FORWARD"),
            Some(policy)
        );
    }
}

/// Pre-start sysctls are checked: IPv4 forwarding has its own option, and a
/// key outside `net.` is refused, in code and in a topology file (with the
/// line and key).
#[test]
fn bad_pre_start_sysctls_are_refused() {
    let err = DockerHost::builder()
        .existing_sysctl("net.ipv4.ip_forward", "1")
        .build()
        .unwrap_err()
        .to_string();
    assert!(err.contains("ip_forward_was_on"), "{err}");
    let text = "[before]\nsysctls = [\"kernel.panic=1\"]\n";
    let err = crate::topology::parse(text, "t.toml")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("t.toml")
            && err.contains("line 2")
            && err.contains("sysctls")
            && err.contains("kernel.panic"),
        "{err}"
    );
    let text = "[before]\nsysctls = [\"net.bridge.bridge-nf-call-iptables=0\"]\n";
    let host = crate::topology::parse(text, "t.toml")
        .expect("a valid pre-start sysctl")
        .docker_host("host")
        .expect("a Docker host file")
        .clone();
    assert_eq!(
        host.existing_sysctls(),
        [(
            "net.bridge.bridge-nf-call-iptables".to_string(),
            "0".to_string()
        )]
    );
}
