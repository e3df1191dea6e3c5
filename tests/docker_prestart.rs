//! A Docker host's state before the daemon starts: rules already in its
//! tables (ufw-style filter chains, a libvirt-style MASQUERADE) stay, and
//! Docker's rules land around them where a real Docker 20.10.24 put them
//! (`tests/data/real-docker/prestart`, recorded over the same rules with
//! `ip_forward` 0 and 1) — in the model at every step, and loaded into a
//! running host and read back.

mod common;

use std::path::PathBuf;

use common::recordings::*;
use netrig::docker::{DockerHost, Table};

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
fn forwarding_on_before_docker_gives_the_same_rules() {
    let h = host("prestart.rules", true);
    for (step, suffix) in STEPS.iter().enumerate() {
        check_step(&h, &format!("prestart-ufw-fwd-on{suffix}"), step);
    }
}

/// With the fragment's FORWARD policy ACCEPT, Docker sets DROP only when it
/// turned forwarding on itself, as recorded at daemon start.
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
    let mut h = host("prestart.rules", false);
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

netrig::testing::main!(
    #[plain]
    rules_before_docker_stay_where_real_docker_leaves_them,
    #[plain]
    forwarding_on_before_docker_gives_the_same_rules,
    #[plain]
    the_forward_policy_is_dropped_only_when_docker_enables_forwarding,
    #[plain]
    a_bad_fragment_names_its_file_and_line,
    a_running_host_reads_back_as_recorded,
);
