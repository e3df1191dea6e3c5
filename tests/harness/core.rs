//! Tests of the core harness: namespaces, netlink plumbing, labs, processes.
//! Each builds its own labs; all run in parallel.

use std::io::{BufRead, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use common::{Witness, held_netns_inodes, wait_pid_gone};
use netrig::unique_lab_name;
use netrig::{Endpoint, Error, Lab, LabSpec, NodeSpec, Route};

use crate::common;

fn pair(name: &str) -> LabSpec {
    Lab::builder(name).node("a").node("b").link(
        Endpoint::new("a", "eth0").addr("10.0.0.1/24"),
        Endpoint::new("b", "eth0").addr("10.0.0.2/24"),
    )
}

/// A UDP socket created inside `node` (so it lives in its namespace), with a read timeout.
fn udp_in(lab: &Lab, node: &str, bind: &str) -> UdpSocket {
    let s = lab
        .node(node)
        .unwrap()
        .run(|| UdpSocket::bind(bind))
        .unwrap()
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s
}

fn root_links() -> String {
    let out = std::process::Command::new("ip")
        .args(["-o", "link"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split(": ").nth(1).unwrap_or("").to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// An interface created in one namespace is visible neither in another nor in the root namespace.
fn namespaces_are_isolated() {
    let _labs = common::shared();
    let root_before = root_links();
    let lab = Lab::builder(unique_lab_name("iso"))
        .node("a")
        .node("b")
        .bridge("a", "only-in-a", ["10.9.0.1/24"])
        .up()
        .unwrap();
    let names = |n: &str| common::link_names(&lab, n);
    assert_eq!(
        names("a"),
        vec!["lo", "only-in-a"],
        "lab {}: node a",
        lab.name()
    );
    assert_eq!(
        names("b"),
        vec!["lo"],
        "lab {}: node b must not see a's bridge",
        lab.name()
    );
    assert_eq!(root_links(), root_before, "root namespace links changed");
    assert!(!root_before.contains("only-in-a"));
}

/// A veth between two namespaces carries a real UDP exchange and a TCP connection.
fn veth_carries_udp_and_tcp() {
    let _labs = common::shared();
    let lab = pair(&unique_lab_name("veth")).up().unwrap();
    let (a, b) = (lab.node("a").unwrap(), lab.node("b").unwrap());

    let server = b.run(|| UdpSocket::bind("10.0.0.2:7000")).unwrap().unwrap();
    let client = a.run(|| UdpSocket::bind("10.0.0.1:0")).unwrap().unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    server
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    client.send_to(b"ping", "10.0.0.2:7000").unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = server
        .recv_from(&mut buf)
        .expect("server got no datagram over the veth");
    assert_eq!(&buf[..n], b"ping");
    assert_eq!(from.ip().to_string(), "10.0.0.1");
    server.send_to(b"pong", from).unwrap();
    let (n, from) = client.recv_from(&mut buf).expect("client got no reply");
    assert_eq!(
        (&buf[..n], from.to_string().as_str()),
        (&b"pong"[..], "10.0.0.2:7000")
    );

    let listener = b
        .run(|| TcpListener::bind("10.0.0.2:8000"))
        .unwrap()
        .unwrap();
    let stream = a
        .run(|| {
            TcpStream::connect_timeout(&"10.0.0.2:8000".parse().unwrap(), Duration::from_secs(2))
        })
        .unwrap()
        .expect("TCP connect over the veth");
    let (mut accepted, peer) = listener.accept().unwrap();
    assert_eq!(peer.ip().to_string(), "10.0.0.1");
    let mut stream = stream;
    stream.write_all(b"hello").unwrap();
    let mut got = [0u8; 5];
    accepted.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"hello");
}

/// Routes, bridges and forwarding: a router node joins two subnets.
fn routed_lab_forwards_between_subnets() {
    let _labs = common::shared();
    let lab = Lab::builder(unique_lab_name("route"))
        .node("c")
        .node(NodeSpec {
            forwarding: true,
            ..NodeSpec::from("r")
        })
        .node("s")
        .bridge("r", "br0", ["10.1.0.1/24"])
        .link(
            Endpoint::new("r", "p0").bridge("br0"),
            Endpoint::new("c", "eth0").addr("10.1.0.2/24"),
        )
        .link(
            Endpoint::new("r", "eth1").addr("10.2.0.1/24"),
            Endpoint::new("s", "eth0").addr("10.2.0.2/24"),
        )
        .route("c", Route::to("default").via("10.1.0.1"))
        .route("s", Route::to("10.1.0.0/24").via("10.2.0.1"))
        .up()
        .unwrap();
    assert_eq!(
        lab.node("r")
            .unwrap()
            .sysctl_get("net.ipv4.ip_forward")
            .unwrap(),
        "1"
    );
    assert_eq!(
        lab.node("c")
            .unwrap()
            .sysctl_get("net.ipv4.ip_forward")
            .unwrap(),
        "0"
    );
    let routes = lab.node("c").unwrap().routes().unwrap();
    assert!(
        routes
            .iter()
            .any(|r| r.dest.prefix_len() == 0
                && r.via.map(|g| g.to_string()) == Some("10.1.0.1".into())),
        "lab {}: node c has no default route via 10.1.0.1: {routes:?}",
        lab.name()
    );
    let server = udp_in(&lab, "s", "10.2.0.2:9");
    let client = udp_in(&lab, "c", "0.0.0.0:0");
    client.send_to(b"x", "10.2.0.2:9").unwrap();
    let mut buf = [0u8; 8];
    let (_, from) = server
        .recv_from(&mut buf)
        .expect("datagram routed through r");
    assert_eq!(
        from.ip().to_string(),
        "10.1.0.2",
        "no NAT here: the source is preserved"
    );
    // Permanent neighbour entries were installed on the bridge segment.
    let neigh = lab
        .node("c")
        .unwrap()
        .command("ip")
        .arg("neigh")
        .checked_output()
        .unwrap();
    assert!(String::from_utf8_lossy(&neigh.stdout).contains("10.1.0.1 dev eth0 lladdr"));
    assert!(String::from_utf8_lossy(&neigh.stdout).contains("PERMANENT"));
}

/// Dropping a lab removes everything it created, as the kernel reports it:
/// a veth into a witness namespace disappears, processes die, no fd or pin is left.
fn dropping_a_lab_removes_everything() {
    let _labs = common::exclusive();
    let mut witness = Witness::new().unwrap();
    let held_before = held_netns_inodes();
    // Pins in a folder of this test's own, never the machine's /run/netns.
    let pins = tempfile::tempdir().unwrap();
    let lab = pair(&unique_lab_name("drop")).up().unwrap();
    assert_eq!(lab.pin_all(pins.path()).unwrap().len(), 2);
    let a = lab.node("a").unwrap();
    witness.attach(&a, "towitness", "witness0").unwrap();
    assert!(witness.links().unwrap().contains(&"witness0".to_string()));
    let sleeper = a.command("sleep").arg("600").spawn().unwrap();
    let pid = sleeper.pid() as i32;
    assert!(
        !wait_pid_gone(pid, Duration::ZERO),
        "the sleeper is running"
    );
    std::mem::forget(sleeper); // only the lab can kill it now
    drop(lab);
    assert!(
        wait_pid_gone(pid, Duration::from_secs(5)),
        "process {pid} outlived its lab"
    );
    assert!(
        witness.wait_link_removed("witness0", Duration::from_secs(10)),
        "the kernel did not remove the lab's veth: its namespace is still alive"
    );
    assert_eq!(held_netns_inodes(), held_before, "namespace fds still held");
    assert_eq!(
        std::fs::read_dir(pins.path()).unwrap().count(),
        0,
        "pins left behind"
    );
}

/// Body of the SIGKILL test's child process (run only when re-executed by it).
fn holder_process() {
    let Ok(witness_path) = std::env::var("NETRIG_WITNESS") else {
        return;
    };
    let lab = pair("holder").up().unwrap();
    let a = lab.node("a").unwrap();
    a.command("ip")
        .args([
            "link",
            "add",
            "towitness",
            "type",
            "veth",
            "peer",
            "name",
            "held0",
            "netns",
            &witness_path,
        ])
        .checked_output()
        .unwrap();
    let child = a.command("sleep").arg("600").spawn().unwrap();
    println!("READY {}", child.pid());
    std::io::stdout().flush().unwrap();
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap(); // blocks until killed
}

/// A process holding a lab that is SIGKILLed leaves no namespace, interface or child process.
fn sigkilled_holder_leaves_nothing() {
    let _labs = common::shared();
    let mut witness = Witness::new().unwrap();
    let witness_path = witness.path();
    let artifacts = tempfile::tempdir().unwrap();
    let mut holder = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "holder_process",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("NETRIG_WITNESS", &witness_path)
        // A SIGKILLed process cannot delete its artifacts: keep them out of the suite's.
        .env("NETRIG_ARTIFACTS", artifacts.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = holder.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            // libtest prints "test holder_process ... " on the same line.
            if let Some(pid) = line.split("READY ").nth(1) {
                let _ = tx.send(pid.trim().parse::<i32>().unwrap());
            }
        }
    });
    let child_pid = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("holder never became ready");
    assert!(witness.links().unwrap().contains(&"held0".to_string()));
    holder.kill().unwrap(); // SIGKILL
    holder.wait().unwrap();
    assert!(
        wait_pid_gone(child_pid, Duration::from_secs(5)),
        "the holder's child survived it"
    );
    assert!(
        witness.wait_link_removed("held0", Duration::from_secs(10)),
        "the holder's namespaces survived it"
    );
}

/// Eight labs built concurrently with identical node names, interface names and addresses do not interfere.
fn concurrent_identical_labs_do_not_interfere() {
    let _labs = common::shared();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..8u8)
            .map(|i| {
                s.spawn(move || {
                    let lab = pair("same").up().unwrap();
                    let server = udp_in(&lab, "b", "10.0.0.2:7000");
                    let client = udp_in(&lab, "a", "10.0.0.1:0");
                    client.send_to(&[i], "10.0.0.2:7000").unwrap();
                    let mut buf = [0u8; 4];
                    let (n, from) = server.recv_from(&mut buf).unwrap();
                    assert_eq!(&buf[..n], &[i], "lab {i} received another lab's datagram");
                    server.send_to(&[i, i], from).unwrap();
                    let (n, _) = client.recv_from(&mut buf).unwrap();
                    assert_eq!(&buf[..n], &[i, i], "lab {i} got another lab's reply");
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
}

fn expect_invalid(spec: LabSpec, field: &str, needle: &str) {
    let held = held_netns_inodes();
    match spec.up() {
        Err(Error::Invalid {
            field: f,
            message,
            subject,
        }) => {
            assert_eq!(f, field, "wrong field in error: {message}");
            assert!(
                message.contains(needle),
                "message {message:?} lacks {needle:?}"
            );
            assert!(subject.lab.is_some(), "error names no lab");
        }
        Err(other) => panic!("expected an invalid-{field} error, got: {other}"),
        Ok(_) => panic!("a bad spec was accepted (expected error on {field})"),
    }
    assert_eq!(
        held_netns_inodes(),
        held,
        "a failed build left namespaces behind"
    );
}

/// Bad inputs give clear errors naming the field and leave nothing behind.
fn bad_inputs_give_clear_errors() {
    let _labs = common::exclusive();
    expect_invalid(
        Lab::builder("bad").node("a").node("a"),
        "node name",
        "duplicate node name \"a\"",
    );
    expect_invalid(
        Lab::builder("bad").node("a").node("b").link(
            Endpoint::new("a", "eth0").addr("10.0.0.300/24"),
            Endpoint::new("b", "eth0"),
        ),
        "address",
        "10.0.0.300/24",
    );
    expect_invalid(
        Lab::builder("bad").node("a").node("b").link(
            Endpoint::new("a", "eth0").addr("10.0.0.1"),
            Endpoint::new("b", "eth0"),
        ),
        "address",
        "no prefix length",
    );
    expect_invalid(
        Lab::builder("bad")
            .node("a")
            .link(Endpoint::new("a", "eth0"), Endpoint::new("ghost", "eth0")),
        "node",
        "unknown node \"ghost\"",
    );
    // An extra address on an interface the lab lacks: a file's `[[address]]`
    // (the one way to write one) is refused naming it; the same check at
    // `up` is the unit test `wiring::tests::an_address_on_an_unknown_interface_is_refused`.
    let err = netrig::topology::parse(
        "name = \"bad\"\n[[node]]\nname = \"a\"\n\n[[address]]\nnode = \"a\"\nifname = \"eth9\"\naddress = \"10.0.0.1/24\"\n",
        "bad.toml",
    )
    .expect_err("an address on a missing interface was accepted")
    .to_string();
    assert!(err.contains("no interface named \"eth9\""), "{err}");
    expect_invalid(
        Lab::builder("bad").node("a").node("b").link(
            Endpoint::new("a", "this-name-is-too-long"),
            Endpoint::new("b", "eth0"),
        ),
        "interface name",
        "at most 15",
    );
    expect_invalid(
        Lab::builder("bad").node("a").route(
            "a",
            Route {
                dev: Some("nope".into()),
                ..Route::to("default").via("10.0.0.1")
            },
        ),
        "route device",
        "nope",
    );
    // An error the kernel reports (gateway not on a connected subnet) is also
    // typed, names the node, and the partial lab is dropped.
    let held = held_netns_inodes();
    let err = Lab::builder("bad")
        .node("a")
        .route("a", Route::to("default").via("10.7.7.7"))
        .up()
        .unwrap_err();
    match &err {
        Error::Netlink { subject, op, .. } => {
            assert_eq!(subject.node.as_deref(), Some("a"));
            assert!(op.contains("default via 10.7.7.7"), "{err}");
        }
        other => panic!("expected a netlink error, got {other}"),
    }
    assert_eq!(held_netns_inodes(), held);
    // Unknown node at use time.
    let lab = pair(&unique_lab_name("bad")).up().unwrap();
    let msg = lab.node("nope").unwrap_err().to_string();
    assert!(
        msg.contains("no node named \"nope\"") && msg.contains("a, b"),
        "{msg}"
    );
    // (An unknown interface's error: the unit test
    // lab::lab_tests::unknown_interface_names_the_interfaces.)
}

/// The inode of the calling thread's network namespace.
fn thread_netns_inode() -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/thread-self/ns/net").unwrap().ino()
}

/// The harness thread's own namespace is unchanged after namespace work.
fn harness_thread_never_changes_namespace() {
    let _labs = common::shared();
    let before = thread_netns_inode();
    let lab = pair(&unique_lab_name("thread")).up().unwrap();
    let inside = lab.node("a").unwrap().run(thread_netns_inode).unwrap();
    assert_ne!(inside, before, "run() did not enter the node");
    assert_eq!(inside, common::inode(&lab.node("a").unwrap()));
    lab.node("b")
        .unwrap()
        .sysctl_set("net.ipv4.ip_default_ttl", "33")
        .unwrap();
    lab.node("a")
        .unwrap()
        .command("true")
        .checked_output()
        .unwrap();
    assert_eq!(thread_netns_inode(), before);
    assert_eq!(
        lab.node("b")
            .unwrap()
            .sysctl_get("net.ipv4.ip_default_ttl")
            .unwrap(),
        "33"
    );
    assert_eq!(
        lab.node("a")
            .unwrap()
            .sysctl_get("net.ipv4.ip_default_ttl")
            .unwrap(),
        "64"
    );
}

/// IPv6 is off unless a node asks for it; lo is up in every node.
fn ipv6_off_by_default_and_lo_up() {
    let _labs = common::shared();
    let lab = Lab::builder(unique_lab_name("v6"))
        .node("plain")
        .node(NodeSpec {
            ipv6: true,
            ..NodeSpec::from("six")
        })
        .up()
        .unwrap();
    assert_eq!(
        lab.node("plain")
            .unwrap()
            .sysctl_get("net.ipv6.conf.all.disable_ipv6")
            .unwrap(),
        "1"
    );
    // Links made later inherit `default`, which the one write to `all` set too.
    assert_eq!(
        lab.node("plain")
            .unwrap()
            .sysctl_get("net.ipv6.conf.default.disable_ipv6")
            .unwrap(),
        "1"
    );
    assert_eq!(
        lab.node("six")
            .unwrap()
            .sysctl_get("net.ipv6.conf.all.disable_ipv6")
            .unwrap(),
        "0"
    );
    for n in ["plain", "six"] {
        let lo = lab
            .node(n)
            .unwrap()
            .links()
            .unwrap()
            .into_iter()
            .find(|l| l.name == "lo")
            .unwrap();
        assert!(lo.up, "lo is down in {n}");
    }
}

/// Processes spawned in a node are killed when their handle is dropped; pins are removed on drop.
fn processes_and_pins_are_cleaned_up() {
    let _labs = common::shared();
    let lab = pair(&unique_lab_name("proc")).up().unwrap();
    let p = lab
        .node("a")
        .unwrap()
        .command("sleep")
        .arg("600")
        .spawn()
        .unwrap();
    let pid = p.pid() as i32;
    drop(p);
    assert!(wait_pid_gone(pid, Duration::from_secs(5)));
    let missing = lab
        .node("a")
        .unwrap()
        .command("netrig-no-such-program")
        .output()
        .unwrap_err();
    assert!(matches!(missing, Error::MissingProgram { .. }), "{missing}");

    let dir = tempfile::tempdir().unwrap();
    let pins = lab.pin_all(dir.path()).unwrap();
    assert_eq!(pins.len(), 2);
    let out = std::process::Command::new("nsenter")
        .arg(format!("--net={}", pins[0].1.display()))
        .args(["ip", "-o", "link"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("eth0"),
        "pinned namespace not enterable"
    );
    let paths: Vec<_> = pins.iter().map(|p| p.1.clone()).collect();
    lab.down().expect("teardown reports no error");
    for p in paths {
        assert!(!p.exists(), "pin {} left behind", p.display());
    }
}

/// IPv6 when asked for: addresses usable at once (no DAD wait), a UDP exchange over v6.
fn ipv6_nodes_exchange_datagrams() {
    let _labs = common::shared();
    let lab = common::labs::pair6("v6x").unwrap();
    let server = udp_in(&lab, "b", "[2001:db8::2]:7000");
    let client = udp_in(&lab, "a", "[2001:db8::1]:0");
    client.send_to(b"six", "[2001:db8::2]:7000").unwrap();
    let mut buf = [0u8; 8];
    let (n, from) = server.recv_from(&mut buf).expect("datagram over IPv6");
    assert_eq!(
        (&buf[..n], from.ip().to_string().as_str()),
        (&b"six"[..], "2001:db8::1")
    );
    // IPv6 routes read back beside IPv4 ones: the on-link prefix and one added via b.
    let a = lab.node("a").unwrap();
    a.add_route(&Route::to("2001:db8:99::/48").via("2001:db8::2"))
        .unwrap();
    let routes = a.routes().unwrap();
    let shown: Vec<String> = routes
        .iter()
        .map(|r| format!("{} {:?} {:?}", r.dest, r.via, r.dev))
        .collect();
    for want in [
        "2001:db8::/64 None Some(\"eth0\")",
        "2001:db8:99::/48 Some(2001:db8::2) Some(\"eth0\")",
    ] {
        assert!(shown.iter().any(|s| s == want), "{want} not in {shown:#?}");
    }
    // An IPv6 address on a node without IPv6 is refused before anything is built.
    let err = Lab::builder("v6bad")
        .node("a")
        .node("b")
        .link(
            Endpoint::new("a", "eth0").addr("2001:db8::1/64"),
            Endpoint::new("b", "eth0"),
        )
        .up()
        .unwrap_err();
    assert!(err.to_string().contains("IPv6 off"), "{err}");
}

/// This module's tests.
pub fn tests() -> Vec<netrig::testing::Test> {
    netrig::testing::tests![
        namespaces_are_isolated,
        veth_carries_udp_and_tcp,
        routed_lab_forwards_between_subnets,
        dropping_a_lab_removes_everything,
        #[plain]
        #[ignore = "helper: run by sigkilled_holder_leaves_nothing"]
        holder_process,
        sigkilled_holder_leaves_nothing,
        concurrent_identical_labs_do_not_interfere,
        bad_inputs_give_clear_errors,
        harness_thread_never_changes_namespace,
        ipv6_off_by_default_and_lo_up,
        processes_and_pins_are_cleaned_up,
        ipv6_nodes_exchange_datagrams,
    ]
}
