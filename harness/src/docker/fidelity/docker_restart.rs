//! Daemon restarts in the classic layout, against a real Docker 20.10.24:
//! the FORWARD and POSTROUTING rules stay where they were, the chains the
//! restarted bridge driver flushes (nat `DOCKER`, the isolation chains) are
//! refilled network by network in network-id order, and the default bridge
//! is deleted and created again on top; `docker start` appends the port
//! rules again. Recordings: `tests/data/real-docker/dumps/default-after-*`
//! (the standard scenario) and `tests/data/real-docker/restart` (three user
//! networks whose ids do not sort in creation order, three restarts, and ten
//! restarts of five networks to see how the order varies).

use super::recordings::*;
use crate::docker::ruleset::Table;
use crate::docker::{ContainerSpec, DockerHost, DockerHostBuilder, NetworkSpec};
use crate::{Lab, unique_lab_name};

/// The ids the recording's daemon gave `br` and `brint`
/// (`default-after-daemon-restart.txt`, `docker network ls`).
fn standard_id(name: &str) -> &'static str {
    match name {
        "br" => "ed21eb42735510b10af85646776024c84f637c65833d2b4eb88c2f373c5c8d11",
        "brint" => "e2ce1430f92ef6f4c17cc7afc674236630d7e9ecfeaf9ceb8a0e82ec4971cce7",
        _ => panic!("no recorded id for {name}"),
    }
}

/// The standard scenario with `brint`, a restart, then `docker start` of
/// every container in the recording's order.
fn standard_restart() -> DockerHost {
    let b = standard_builder(DockerHost::builder(), true, |n| {
        let id = standard_id(&n.name);
        n.id(id)
    });
    let mut b = b.restart_daemon();
    for c in ["ca", "ca2", "cb", "ci", "cn", "ch", "cc"] {
        b = b.start_existing(c);
    }
    b.build().expect("valid")
}

/// The standard scenario: before the restart, after it, and after the
/// containers started again, rule for rule and in order: docker0's block is
/// on top after the restart, br's isolation rules above brint's drops.
#[test]
fn standard_restart_matches_recording() {
    let h = standard_restart();
    let before = 9;
    assert_matches_dump(
        &h,
        &h.at(before).iptables(),
        "real-docker/dumps/default-plus-internal.rules",
    );
    assert_matches_dump(
        &h,
        &h.at(before + 1).iptables(),
        "real-docker/dumps/default-after-daemon-restart.rules",
    );
    assert_matches_dump(
        &h,
        &h.running().iptables(),
        "real-docker/dumps/default-after-daemon-restart-and-container-start.rules",
    );
}

/// `networks.txt` of the restart recording: the id of each network.
fn recorded_ids(file: &str) -> Vec<(String, String)> {
    data(&format!("real-docker/restart/{file}"))
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(n, id)| (n.to_string(), id.trim().to_string()))
        .collect()
}

fn id_of(ids: &[(String, String)], name: &str) -> String {
    ids.iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("networks.txt has no {name}"))
        .1
        .clone()
}

/// The `record-restart.sh` scenario: `ca -p 8080:80`; `nb`, `cb -p 8081:80`
/// on it; `ni` (internal), `ci`; `na`, `cx` — each network with its recorded id.
fn three_networks() -> DockerHostBuilder {
    let ids = recorded_ids("networks.txt");
    let net = |name: &str| NetworkSpec::new(name).id(id_of(&ids, name));
    DockerHost::builder()
        .container(ContainerSpec::new("ca").publish("8080:80"))
        .network(net("nb"))
        .container(ContainerSpec::new("cb").network("nb").publish("8081:80"))
        .network(net("ni").internal(true))
        .container(ContainerSpec::new("ci").network("ni"))
        .network(net("na"))
        .container(ContainerSpec::new("cx").network("na"))
}

/// Three user networks created as nb, ni, na with ids sorting ni < na < nb:
/// after each of three restarts the isolation chains and nat `DOCKER` list
/// nb, na, ni under docker0 (restored by id, each inserted on top), while
/// FORWARD and POSTROUTING keep the creation order; `docker start` appends
/// the port rules; a restart of a restarted host changes nothing more.
#[test]
fn three_networks_restart_matches_recording() {
    let mut b = three_networks().restart_daemon();
    for c in ["ca", "cb", "ci", "cx"] {
        b = b.start_existing(c);
    }
    let h = b.restart_daemon().restart_daemon().build().expect("valid");
    let dumps = [
        (7, "restart3-before"),
        (8, "restart3-after-restart-1"),
        (12, "restart3-after-start-1"),
        (13, "restart3-after-restart-2"),
        (14, "restart3-after-restart-3"),
    ];
    assert_eq!(h.last_step(), 14);
    for (step, name) in dumps {
        assert_matches_dump(
            &h,
            &h.at(step).iptables(),
            &format!("real-docker/restart/dumps/{name}.rules"),
        );
    }
}

/// The model's bridges in `DOCKER-ISOLATION-STAGE-1` jump order after one
/// restart of five networks with the recorded ids (`rotation.txt`).
fn modelled_stage1_order() -> Vec<String> {
    let ids = recorded_ids("rotation-networks.txt");
    let mut b = DockerHost::builder();
    for n in ["n1", "n2", "n3", "n4", "n5"] {
        b = b.network(NetworkSpec::new(n).id(id_of(&ids, n)));
    }
    let h = b.restart_daemon().build().expect("valid");
    h.running()
        .iptables()
        .rules(Table::Filter)
        .iter()
        .filter_map(|l| l.strip_prefix("-A DOCKER-ISOLATION-STAGE-1 -i "))
        .map(|l| l.split_whitespace().next().unwrap_or_default().to_string())
        .collect()
}

/// Ten restarts of a real daemon with five networks: every order it left is
/// a rotation of the model's (Go's map iteration over the driver's store
/// cache starts at a random slot of the id-sorted entries), and the model's
/// own order — id order — is among them.
#[test]
fn restart_order_is_id_order_up_to_a_rotation() {
    let model = modelled_stage1_order();
    assert_eq!(model.len(), 6, "docker0 and five networks: {model:?}");
    assert_eq!(model[0], "docker0");
    let users = &model[1..];
    let recorded: Vec<Vec<String>> = data("real-docker/restart/rotation.txt")
        .lines()
        .filter_map(|l| l.strip_prefix("restart "))
        .filter_map(|l| l.split_once(": "))
        .map(|(_, order)| order.split_whitespace().map(String::from).collect())
        .collect();
    assert_eq!(recorded.len(), 10, "rotation.txt: ten restarts");
    let mut same = 0;
    for order in &recorded {
        assert_eq!(order[0], "docker0", "{order:?}");
        let got = &order[1..];
        let k = (0..users.len()).find(|&k| users[k..].iter().chain(&users[..k]).eq(got.iter()));
        assert!(
            k.is_some(),
            "recorded {got:?} is no rotation of the model's {users:?}"
        );
        same += usize::from(k == Some(0));
    }
    assert!(same > 0, "the model's order {users:?} was never recorded");
}

/// The restarted rules as netrig loads them: each recorded step of the
/// three-network scenario, loaded with the real `iptables-nft-restore` into a
/// node and read back with `iptables-nft-save`, equals the recording.
#[test]
fn restarted_rules_load_and_read_back_as_recorded() {
    if !super::builds_labs(
        "docker::fidelity::docker_restart::restarted_rules_load_and_read_back_as_recorded",
    ) {
        return;
    }
    let lab = Lab::builder(unique_lab_name("restart"))
        .node("host")
        .up()
        .unwrap();
    let node = lab.node("host").unwrap();
    let mut b = three_networks().restart_daemon();
    for c in ["ca", "cb", "ci", "cx"] {
        b = b.start_existing(c);
    }
    let h = b.restart_daemon().build().expect("valid");
    for (step, name) in [
        (8, "restart3-after-restart-1"),
        (12, "restart3-after-start-1"),
        (13, "restart3-after-restart-2"),
    ] {
        h.backend()
            .replace_tables(node.ns(), &h.at(step).firewall().input())
            .unwrap_or_else(|e| panic!("loading step {step}: {e}"));
        let saved = h.backend().save(node.ns()).unwrap();
        assert_saved_matches_dump(
            &h,
            &saved,
            &format!("real-docker/restart/dumps/{name}.rules"),
        );
    }
}
