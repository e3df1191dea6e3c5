//! Handles that outlive their lab, labs used from async code, and addresses
//! usable the moment a lab is returned.

use std::fs::File;
use std::net::UdpSocket;
use std::time::Duration;

use netrig::{Lab, unique_lab_name};

use crate::common;

fn pair(prefix: &str) -> Lab {
    common::labs::pair(prefix).unwrap()
}

/// A command built before its lab was dropped still runs in that lab's
/// namespace — even once the process has opened enough files to reuse every
/// fd number the lab had — never in the namespace of whatever file now has
/// the lab's old fd number.
fn a_command_kept_after_its_lab_runs_in_that_lab() {
    let _labs = common::shared();
    let lab = pair("kept-cmd");
    let inode = common::inode(&lab.node("a").unwrap());
    let cmd = lab
        .node("a")
        .unwrap()
        .command("readlink")
        .arg("/proc/self/ns/net");
    let links = lab.node("a").unwrap().command("ip").args(["-o", "link"]);
    drop(lab);
    // Reuse every freed fd number, and more: the host's own namespace file
    // among them, which a raw fd number kept by the command would now name.
    let files: Vec<File> = (0..256)
        .map(|_| File::open("/proc/self/ns/net").unwrap())
        .collect();
    let out = cmd.checked_output().unwrap();
    let seen = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(seen, format!("net:[{inode}]"), "the command left its lab");
    // Only the node's own links: lo, and eth0 until the kernel's cleanup of
    // the peer's (dropped) namespace takes the veth pair away.
    let out = links.checked_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n))
        .collect();
    assert!(
        names.contains(&"lo") && names.iter().all(|n| ["lo", "eth0"].contains(n)),
        "`ip -o link` should list only the lab node's links:\n{text}"
    );
    drop(files);
}

/// Labs, nodes, captures and traffic work from inside a current-thread tokio
/// runtime (what `#[tokio::test]` runs a test in), and dropping the lab there
/// does not panic.
fn works_inside_a_current_thread_runtime() {
    let _labs = common::shared();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async { exercise_lab_from_async("async-ct") });
}

/// The same from a multi-thread runtime (`#[tokio::main]`).
fn works_inside_a_multi_thread_runtime() {
    let _labs = common::shared();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(async { exercise_lab_from_async("async-mt") });
}

fn exercise_lab_from_async(prefix: &str) {
    let lab = pair(prefix);
    let a = lab.node("a").unwrap();
    let b = lab.node("b").unwrap();
    let names: Vec<String> = a.links().unwrap().into_iter().map(|l| l.name).collect();
    assert!(names.contains(&"eth0".to_string()), "{names:?}");
    a.add_address("eth0", "10.0.0.11/24").unwrap();
    assert!(
        a.addresses()
            .unwrap()
            .iter()
            .any(|(_, n)| n.to_string() == "10.0.0.11/24")
    );
    a.remove_address("eth0", "10.0.0.11/24").unwrap();
    let server = b.udp_echo_server("10.0.0.2:7000").unwrap();
    let cap = b.capture("eth0").unwrap();
    a.udp_send("10.0.0.2:7000", b"from async").unwrap();
    cap.expect(netrig::expect::udp().payload("from async"))
        .within(Duration::from_secs(1))
        .unwrap();
    assert_eq!(
        server
            .wait_for_datagrams(1, Duration::from_secs(1))
            .unwrap()[0]
            .from
            .ip()
            .to_string(),
        "10.0.0.1"
    );
    drop(cap);
    drop(lab);
}

/// Every IPv6 address is usable when `up()` returns, and when
/// `Node::add_address` returns: hundreds of bring-ups, two at a time, each
/// binding both addresses at once (no DAD, no "tentative" window in which
/// bind fails with EADDRNOTAVAIL) and receiving a datagram sent at once to
/// each (no window before the kernel's local route exists, in which the
/// receiver drops it as not addressed to it).
fn ipv6_addresses_are_usable_when_up_returns() {
    let _labs = common::shared();
    const ROUNDS: usize = 150;
    std::thread::scope(|s| {
        for t in 0..2 {
            s.spawn(move || {
                for round in 0..ROUNDS {
                    let lab = common::labs::pair6("v6rep").unwrap();
                    let bind = |node: &str, addr: &str| {
                        let bound = lab.node(node).unwrap().run(|| UdpSocket::bind(addr));
                        match bound.unwrap() {
                            Ok(s) => s,
                            Err(e) => {
                                panic!("thread {t}, round {round}: binding {addr} in {node}: {e}")
                            }
                        }
                    };
                    let client = bind("a", "[2001:db8::1]:7000");
                    let mut to = vec![bind("b", "[2001:db8::2]:7000")];
                    lab.node("b")
                        .unwrap()
                        .add_address("eth0", "2001:db8::3/64")
                        .unwrap();
                    to.push(bind("b", "[2001:db8::3]:7000"));
                    for server in to {
                        let addr = server.local_addr().unwrap();
                        server
                            .set_read_timeout(Some(Duration::from_secs(3)))
                            .unwrap();
                        client.send_to(b"six", addr).unwrap();
                        let mut buf = [0u8; 8];
                        if let Err(e) = server.recv_from(&mut buf) {
                            panic!("thread {t}, round {round}: a datagram to {addr}: {e}");
                        }
                    }
                }
            });
        }
    });
}

/// This module's tests.
/// Namespaces adopted by path (`Lab::adopt`): the adopted node is the same
/// namespace (inode), its interfaces and addresses are read from the
/// kernel, traffic and matrices work from it, and it stays alive through
/// its fd after the pin it was found by is gone and its own lab dropped.
fn namespaces_adopted_by_path_are_nodes() {
    let _labs = common::shared();
    let lab = pair("adopt-src");
    let pins = tempfile::tempdir().unwrap();
    let pinned = lab.pin_all(pins.path()).unwrap();
    let path_of = |node: &str| pinned.iter().find(|(n, _)| n == node).unwrap().1.clone();
    let (pa, pb) = (path_of("a"), path_of("b"));
    let adopted = Lab::adopt(
        &unique_lab_name("adopted"),
        &[("left", pa.as_path()), ("right", pb.as_path())],
    )
    .unwrap();
    let left = adopted.node("left").unwrap();
    assert_eq!(common::inode(&left), common::inode(&lab.node("a").unwrap()));
    let eth0: Vec<String> = (left.addresses().unwrap().into_iter())
        .filter(|(ifname, _)| ifname == "eth0")
        .map(|(_, a)| a.to_string())
        .collect();
    assert!(
        eth0.contains(&"10.0.0.1/24".to_string()),
        "read from the kernel: {eth0:?}"
    );
    let ok = left
        .command("ping")
        .args(["-c1", "-W2", "10.0.0.2"])
        .output()
        .unwrap();
    assert!(ok.status.success(), "left reaches right");
    let m = netrig::reach::Matrix::probe_cells(
        &adopted,
        vec![netrig::reach::Cell::parse("left", "10.0.0.2:7/tcp").unwrap()],
        netrig::reach::DEFAULT_DEADLINE,
    )
    .unwrap();
    assert_eq!(m.rows[0].outcome, netrig::reach::Outcome::Delivered, "{m}");
    // Neither a file that is no namespace nor a missing one is adopted.
    assert!(Lab::adopt("bad", &[("x", std::path::Path::new("/proc/self/ns/mnt"))]).is_err());
    assert!(Lab::adopt("bad", &[("x", std::path::Path::new("/nonexistent"))]).is_err());
    drop(lab);
    drop(pins);
    let still = adopted
        .node("left")
        .unwrap()
        .command("ip")
        .args(["-o", "addr"])
        .checked_output()
        .unwrap();
    assert!(String::from_utf8_lossy(&still.stdout).contains("10.0.0.1/24"));
}

pub fn tests() -> Vec<netrig::testing::Test> {
    netrig::testing::tests![
        namespaces_adopted_by_path_are_nodes,
        a_command_kept_after_its_lab_runs_in_that_lab,
        works_inside_a_current_thread_runtime,
        works_inside_a_multi_thread_runtime,
        ipv6_addresses_are_usable_when_up_returns,
    ]
}
