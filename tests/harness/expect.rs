//! Traffic probes, expectations, NAT, conntrack and evidence on failure.

use std::io::{Read, Write};
use std::time::Duration;

use netrig::Backend;
use netrig::TcpFlags;
use netrig::expect::{expect_nat, icmp, icmp6, ip6, tcp, udp};
use netrig::{Error, PingOutcome, Result, Sentinel, TcpOutcome, UdpOutcome};

use crate::common;

const SECOND: Duration = Duration::from_secs(1);

/// TCP probes tell connected, refused (RST), no answer (DROP) and unreachable (no route) apart.
fn tcp_connect_outcomes() -> Result<()> {
    if !netrig::privilege::should_run("tcp_connect_outcomes")? {
        return Ok(());
    }
    let lab = common::labs::pair("tcpout")?;
    let (a, b) = (lab.node("a")?, lab.node("b")?);
    let _server = b.tcp_echo_server("0.0.0.0:8080")?;
    common::labs::iptables_restore(
        &b,
        "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 8082 -j DROP\nCOMMIT\n",
    )?;
    let t = Duration::from_millis(300);
    assert!(a.tcp_connect("10.0.0.2:8080", t)?.is_connected());
    assert_eq!(a.tcp_connect("10.0.0.2:8081", t)?, TcpOutcome::Refused);
    assert_eq!(a.tcp_connect("10.0.0.2:8082", t)?, TcpOutcome::NoAnswer);
    match a.tcp_connect("198.51.100.99:80", t)? {
        TcpOutcome::Unreachable(e) => assert!(e.contains("unreachable"), "{e}"),
        other => panic!("a has no route to 198.51.100.0/24, got {other:?}"),
    }
    Ok(())
}

/// Echo servers listen before returning, echo, and record the source address they saw.
fn echo_servers_record_peers() -> Result<()> {
    if !netrig::privilege::should_run("echo_servers_record_peers")? {
        return Ok(());
    }
    let lab = common::labs::pair("echo")?;
    let (a, b) = (lab.node("a")?, lab.node("b")?);
    let tcp_server = b.tcp_echo_server("10.0.0.2:7000")?;
    let udp_server = b.udp_echo_server("10.0.0.2:7000")?;

    let mut s = common::wire::tcp_stream(&a, "10.0.0.2:7000".parse().unwrap(), SECOND)?;
    s.set_read_timeout(Some(SECOND)).unwrap();
    s.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    let peers = tcp_server.wait_for_peers(1, SECOND)?;
    assert_eq!(peers[0], s.local_addr().unwrap());
    assert_eq!(peers[0].ip().to_string(), "10.0.0.1");

    match a.udp_request("10.0.0.2:7000", b"hello", SECOND)? {
        UdpOutcome::Reply { data, from } => {
            assert_eq!(data, b"hello");
            assert_eq!(from, "10.0.0.2:7000".parse().unwrap());
        }
        other => panic!("expected an echo, got {other:?}"),
    }
    assert_eq!(udp_server.peers()[0].ip().to_string(), "10.0.0.1");
    assert_eq!(
        a.udp_request("10.0.0.2:7001", b"x", SECOND)?,
        UdpOutcome::Refused
    );
    Ok(())
}

/// Ping gets a reply, and both directions of ICMP echo are captured; a silent address gets no answer.
fn icmp_echo() -> Result<()> {
    if !netrig::privilege::should_run("icmp_echo")? {
        return Ok(());
    }
    let lab = common::labs::pair("icmp")?;
    let a = lab.node("a")?;
    let cap = lab.node("b")?.capture("eth0")?;
    match a.ping("10.0.0.2".parse().unwrap(), SECOND)? {
        PingOutcome::Reply { from, ttl, .. } => {
            assert_eq!(from.to_string(), "10.0.0.2");
            assert_eq!(ttl, 64);
        }
        other => panic!("expected a reply, got {other:?}"),
    }
    cap.expect_sequence([
        icmp().icmp_type(8).src("10.0.0.1").inbound(),
        icmp().icmp_type(0).src("10.0.0.2").outbound(),
    ])
    .within(SECOND)?;
    assert_eq!(
        a.ping("10.0.0.77".parse().unwrap(), Duration::from_millis(100))?,
        PingOutcome::NoAnswer
    );
    Ok(())
}

/// ICMPv6 echo: ping to an IPv6 address gets a reply with its hop limit,
/// the request and reply are captured as ICMPv6 (not ICMP over IPv4), and
/// an ip6tables REJECT comes back as an error naming its type and code.
fn icmp6_echo() -> Result<()> {
    if !netrig::privilege::should_run("icmp6_echo")? {
        return Ok(());
    }
    let lab = netrig::Lab::builder(netrig::unique_lab_name("icmp6"))
        .node(netrig::NodeSpec {
            ipv6: true,
            ..netrig::NodeSpec::from("a")
        })
        .node(netrig::NodeSpec {
            ipv6: true,
            ..netrig::NodeSpec::from("b")
        })
        .link(
            netrig::Endpoint::new("a", "eth0").addr("2001:db8:60::1/64"),
            netrig::Endpoint::new("b", "eth0").addr("2001:db8:60::2/64"),
        )
        .up()?;
    let (a, b) = (lab.node("a")?, lab.node("b")?);
    let cap = b.capture("eth0")?;
    match a.ping("2001:db8:60::2".parse().unwrap(), SECOND)? {
        PingOutcome::Reply { from, ttl, .. } => {
            assert_eq!(from.to_string(), "2001:db8:60::2");
            assert_eq!(ttl, 64, "the reply's hop limit");
        }
        other => panic!(
            "lab {}: expected an ICMPv6 reply, got {other:?}",
            lab.name()
        ),
    }
    let request = cap
        .expect(
            icmp6()
                .icmp_type(128)
                .src("2001:db8:60::1")
                .dst("2001:db8:60::2")
                .inbound(),
        )
        .within(SECOND)?;
    assert!(
        request
            .summary()
            .starts_with("IP6 2001:db8:60::1 > 2001:db8:60::2: ICMP6 echo request"),
        "{}",
        request.summary()
    );
    cap.expect(icmp6().icmp_type(129).src("2001:db8:60::2").outbound())
        .within(SECOND)?;
    assert!(
        cap.packets()
            .iter()
            .all(|p| !icmp().icmp_type(8).matches(p))
    );
    assert!(
        cap.packets()
            .iter()
            .any(|p| ip6().dst("2001:db8:60::1").matches(p))
    );
    // An nft `ip6` table's reject comes back as ICMPv6 1/1 (administratively prohibited).
    b.load_rules(
        Backend::Nftables,
        "table ip6 t {\n\tchain input {\n\t\ttype filter hook input priority 0; policy accept;\n\
         \t\ticmpv6 type echo-request reject with icmpv6 type admin-prohibited\n\t}\n}\n",
    )?;
    assert_eq!(
        a.ping("2001:db8:60::2".parse().unwrap(), SECOND)?,
        PingOutcome::Error {
            from: "2001:db8:60::2".parse().unwrap(),
            icmp_type: 1,
            code: 1
        },
        "lab {}",
        lab.name()
    );
    Ok(())
}

/// A TCP handshake is seen in order: TcpFlags::SYN, TcpFlags::SYN-TcpFlags::ACK, TcpFlags::ACK.
fn handshake_sequence() -> Result<()> {
    if !netrig::privilege::should_run("handshake_sequence")? {
        return Ok(());
    }
    let lab = common::labs::pair("hs")?;
    let (a, b) = (lab.node("a")?, lab.node("b")?);
    let _server = b.tcp_echo_server("0.0.0.0:80")?;
    let cap = b.capture("eth0")?;
    assert!(a.tcp_connect("10.0.0.2:80", SECOND)?.is_connected());
    let steps = cap
        .expect_sequence([
            tcp().dst("10.0.0.2:80").flags(TcpFlags::SYN),
            tcp()
                .src("10.0.0.2:80")
                .flags(TcpFlags::SYN | TcpFlags::ACK),
            tcp().dst("10.0.0.2:80").flags(TcpFlags::ACK),
        ])
        .within(SECOND)?;
    assert_eq!(
        steps[1].tcp().unwrap().ack,
        steps[0].tcp().unwrap().seq.wrapping_add(1)
    );
    Ok(())
}

/// Expect-none passes when a firewall drops the traffic, and fails when it does not.
fn expect_none_with_sentinel() -> Result<()> {
    if !netrig::privilege::should_run("expect_none_with_sentinel")? {
        return Ok(());
    }
    let lab = common::labs::routed("none")?;
    let (a, r) = (lab.node("a")?, lab.node("r")?);
    common::labs::iptables_restore(
        &r,
        "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -p udp --dport 9999 -j DROP\nCOMMIT\n",
    )?;
    let cap = lab.node("b")?.capture("eth0")?;
    a.udp_send("10.0.1.2:9999", b"blocked")?;
    cap.expect_none(udp().dst_port(9999), Sentinel::udp(&a, "10.0.1.2:9"))
        .within(SECOND)?;
    // The rule counters agree: the DROP rule matched exactly the one datagram.
    let counters = r.counters(Backend::IptablesNft)?;
    let drop_rule = counters
        .rule("filter", "FORWARD", "--dport 9999")
        .expect("the DROP rule");
    assert_eq!(drop_rule.packets, 1, "{drop_rule:?}");

    // The same check on allowed traffic must fail: the expectation can fail
    // (on a new capture, which sees only what follows).
    drop(cap);
    let cap = lab.node("b")?.capture("eth0")?;
    a.udp_send("10.0.1.2:9998", b"allowed")?;
    let err = cap
        .expect_none(udp().dst_port(9998), Sentinel::udp(&a, "10.0.1.2:9"))
        .within(SECOND)
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("1 matching packet(s) arrived"), "{msg}");
    assert!(msg.contains("10.0.1.2.9998: UDP"), "{msg}");
    let dir = lab.artifacts_dir().to_path_buf();
    drop(cap);
    drop(lab);
    common::labs::discard_artifacts(&dir);
    Ok(())
}

/// A deliberately wrong expectation fails with what was expected, what was seen, and evidence on disk.
fn failed_expectation_keeps_evidence() -> Result<()> {
    if !netrig::privilege::should_run("failed_expectation_keeps_evidence")? {
        return Ok(());
    }
    let lab = common::labs::pair("evidence")?;
    common::labs::iptables_restore(
        &lab.node("b")?,
        "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p udp --dport 7000 -j ACCEPT\nCOMMIT\n",
    )?;
    let _silent = common::wire::udp_socket(&lab.node("b")?, "10.0.0.2:7000".parse().unwrap())?; // bound, never answers
    let cap = lab.node("b")?.capture("eth0")?;
    lab.node("a")?.udp_send("10.0.0.2:7000", b"actual")?;
    cap.expect(udp().payload("actual")).within(SECOND)?;
    let err = cap
        .expect(udp().dst("10.0.0.2:1234"))
        .within(Duration::from_millis(100))
        .unwrap_err();
    let Error::Expectation(failure) = &err else {
        panic!("expected Error::Expectation, got {err:?}")
    };
    let msg = failure.to_string();
    assert!(
        msg.contains("node b, link eth0: expected within 100ms: udp dst 10.0.0.2:1234"),
        "{msg}"
    );
    assert!(msg.contains("seen instead: 1 packet(s)"), "{msg}");
    assert!(
        msg.contains("IP 10.0.0.1.") && msg.contains("> 10.0.0.2.7000: UDP, length 6"),
        "{msg}"
    );
    let dir = lab.artifacts_dir().to_path_buf();
    let evidence = failure
        .evidence
        .as_ref()
        .expect("the failure names its evidence");
    assert!(
        evidence.starts_with(&dir) && evidence.is_dir(),
        "{evidence:?}"
    );
    assert_eq!(failure.expected, "within 100ms: udp dst 10.0.0.2:1234");
    assert_eq!(failure.seen.len(), 1, "{:?}", failure.seen);
    assert!(msg.contains(&dir.display().to_string()), "{msg}");

    let failure = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("failure-"))
        })
        .expect("a failure-N directory");
    assert!(failure.join("summary.txt").is_file());
    for node in ["a", "b"] {
        for f in [
            "ruleset.txt",
            "addresses.txt",
            "routes.txt",
            "neighbours.txt",
            "conntrack.txt",
        ] {
            assert!(failure.join(node).join(f).is_file(), "missing {node}/{f}");
        }
    }
    let ruleset = std::fs::read_to_string(failure.join("b/ruleset.txt")).unwrap();
    assert!(ruleset.contains("--dport 7000 -j ACCEPT"), "{ruleset}");
    assert!(
        ruleset.contains("-c") && ruleset.contains("[1:"),
        "counters expected: {ruleset}"
    );
    let addrs = std::fs::read_to_string(failure.join("b/addresses.txt")).unwrap();
    assert!(addrs.contains("10.0.0.2/24"), "{addrs}");
    let routes = std::fs::read_to_string(failure.join("a/routes.txt")).unwrap();
    assert!(routes.contains("10.0.0.0/24 dev eth0"), "{routes}");
    let neigh = std::fs::read_to_string(failure.join("a/neighbours.txt")).unwrap();
    assert!(neigh.contains("10.0.0.2 dev eth0"), "{neigh}");
    // report.html links every file above and the capture, each link
    // relative and resolving from the failure directory.
    let report = std::fs::read_to_string(failure.join("report.html")).unwrap();
    let hrefs: Vec<&str> = report
        .split("href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .collect();
    assert_eq!(hrefs.len(), 2 + 2 * 5 + 1, "{report}");
    for h in &hrefs {
        assert!(
            failure.join(h).is_file(),
            "report.html links {h}, which is not there"
        );
    }
    assert!(!report.contains("http"), "{report}");

    let mut file = pcap::Capture::from_file(cap.pcap_path()).expect("the pcap opens");
    let first = file.next_packet().expect("the pcap holds the datagram");
    assert!(common::wire::udp_payload(first.data) == Some(&b"actual"[..]));

    drop(cap);
    drop(lab);
    assert!(dir.exists(), "kept after the lab is dropped");
    common::labs::discard_artifacts(&dir);
    Ok(())
}

/// A masqueraded flow is matched on both sides of the router, and conntrack records the translation.
fn nat_helper_sees_masquerade() -> Result<()> {
    if !netrig::privilege::should_run("nat_helper_sees_masquerade")? {
        return Ok(());
    }
    let lab = common::labs::nat("nat")?;
    let (c, r, s) = (lab.node("c")?, lab.node("r")?, lab.node("s")?);
    common::labs::iptables_restore(
        &r,
        "*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -o wan0 -j MASQUERADE\nCOMMIT\n",
    )?;
    let udp_server = s.udp_echo_server("0.0.0.0:53")?;
    let tcp_server = s.tcp_echo_server("0.0.0.0:80")?;
    let inside = r.capture("eth0")?;
    let outside = r.capture("wan0")?;

    let reply = c.udp_request("203.0.113.10:53", b"query", SECOND)?;
    assert!(matches!(reply, UdpOutcome::Reply { .. }), "{reply:?}");
    let flow = expect_nat(
        &inside,
        &outside,
        udp().src("10.1.0.2").dst("203.0.113.10:53"),
    )
    .snat_to("203.0.113.1")
    .within(SECOND)?;
    assert_eq!(flow.after.payload(), b"query");
    assert_eq!(flow.before.src_ip().unwrap().to_string(), "10.1.0.2");
    assert_eq!(udp_server.peers()[0].ip().to_string(), "203.0.113.1");

    assert!(c.tcp_connect("203.0.113.10:80", SECOND)?.is_connected());
    expect_nat(
        &inside,
        &outside,
        tcp().dst("203.0.113.10:80").flags(TcpFlags::SYN),
    )
    .snat_to("203.0.113.1")
    .within(SECOND)?;
    assert_eq!(
        tcp_server.wait_for_peers(1, SECOND)?[0].ip().to_string(),
        "203.0.113.1"
    );

    let table = r.conntrack()?;
    let e = table.expect("udp", "10.1.0.2", "203.0.113.10:53")?;
    assert!(e.is_snat() && !e.is_dnat(), "{e}");
    assert_eq!(e.reply.dst.to_string(), "203.0.113.1");
    let t = table.expect("tcp", "10.1.0.2", "203.0.113.10:80")?;
    assert!(t.is_snat(), "{t}");

    // Port forward: s -> 203.0.113.1:5353 is DNATed to c's 10.1.0.2:53.
    common::labs::iptables_restore(
        &r,
        "*nat\n:PREROUTING ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n\
         -A PREROUTING -i wan0 -p udp --dport 5353 -j DNAT --to-destination 10.1.0.2:53\n\
         -A POSTROUTING -o wan0 -j MASQUERADE\nCOMMIT\n",
    )?;
    let forwarded = c.udp_echo_server("0.0.0.0:53")?;
    match s.udp_request("203.0.113.1:5353", b"fwd", SECOND)? {
        UdpOutcome::Reply { from, .. } => assert_eq!(from.to_string(), "203.0.113.1:5353"),
        other => panic!("the port forward did not answer: {other:?}"),
    }
    let flow = expect_nat(&outside, &inside, udp().dst("203.0.113.1:5353"))
        .dnat_to("10.1.0.2:53")
        .within(SECOND)?;
    assert_eq!(flow.after.src_ip().unwrap().to_string(), "203.0.113.10");
    assert_eq!(forwarded.peers()[0].ip().to_string(), "203.0.113.10");
    let e = r
        .conntrack()?
        .expect("udp", "203.0.113.10", "203.0.113.1:5353")?
        .clone();
    assert!(e.is_dnat() && !e.is_snat(), "{e}");

    // A wrong translation is reported: the helper can fail.
    let err = expect_nat(&inside, &outside, udp().dst("203.0.113.10:53"))
        .snat_to("203.0.113.77")
        .within(Duration::from_millis(200))
        .unwrap_err()
        .to_string();
    assert!(err.contains("src 203.0.113.77"), "{err}");
    assert!(
        err.contains("IP 203.0.113.1."),
        "the real translation is listed: {err}"
    );
    let dir = lab.artifacts_dir().to_path_buf();
    drop((inside, outside));
    drop(lab);
    common::labs::discard_artifacts(&dir);
    Ok(())
}

/// ICMP errors about a ping are reported with their type and code (REJECT admin-prohibited).
fn ping_reports_icmp_errors() -> Result<()> {
    if !netrig::privilege::should_run("ping_reports_icmp_errors")? {
        return Ok(());
    }
    let lab = common::labs::routed("pingerr")?;
    let (a, r) = (lab.node("a")?, lab.node("r")?);
    assert!(matches!(
        a.ping("10.0.1.2".parse().unwrap(), SECOND)?,
        PingOutcome::Reply { ttl: 63, .. }
    ));
    common::labs::iptables_restore(
        &r,
        "*filter\n:FORWARD ACCEPT [0:0]\n\
         -A FORWARD -p icmp -j REJECT --reject-with icmp-admin-prohibited\nCOMMIT\n",
    )?;
    assert_eq!(
        a.ping("10.0.1.2".parse().unwrap(), SECOND)?,
        PingOutcome::Error {
            from: "10.0.0.254".parse().unwrap(),
            icmp_type: 3,
            code: 13
        }
    );
    Ok(())
}

/// Count and sequence failures say how far matching got.
fn count_and_sequence_failures_say_what_matched() -> Result<()> {
    if !netrig::privilege::should_run("count_and_sequence_failures_say_what_matched")? {
        return Ok(());
    }
    let lab = common::labs::pair("counts")?;
    let a = lab.node("a")?;
    let _bound = common::wire::udp_socket(&lab.node("b")?, "10.0.0.2:7000".parse().unwrap())?;
    let cap = lab.node("b")?.capture("eth0")?;
    for i in 0..3 {
        a.udp_send("10.0.0.2:7000", format!("m{i}").as_bytes())?;
    }
    assert_eq!(
        cap.expect_count(udp().dst_port(7000), 3)
            .within(SECOND)?
            .len(),
        3
    );
    let short = Duration::from_millis(50);
    let err = cap
        .expect_count(udp().dst_port(7000), 4)
        .within(short)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("at least 4 packets") && err.contains("only 3 matched"),
        "{err}"
    );
    let err = cap
        .expect_sequence([udp().payload("m2"), udp().payload("m0")])
        .within(short)
        .unwrap_err()
        .to_string();
    assert!(err.contains("step 2 never matched"), "{err}");
    cap.expect_sequence([udp().payload("m0"), udp().payload("m2")])
        .within(SECOND)?;
    let err = cap
        .expect(udp().dst("not an address"))
        .within(short)
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
    let dir = lab.artifacts_dir().to_path_buf();
    drop(cap);
    drop(lab);
    common::labs::discard_artifacts(&dir);
    Ok(())
}

/// This module's tests, each holding `common::shared()` (see `shared_labs!`).
pub fn tests() -> Vec<netrig::testing::Test> {
    shared_labs![
        tcp_connect_outcomes,
        echo_servers_record_peers,
        icmp_echo,
        icmp6_echo,
        handshake_sequence,
        expect_none_with_sentinel,
        failed_expectation_keeps_evidence,
        nat_helper_sees_masquerade,
        ping_reports_icmp_errors,
        count_and_sequence_failures_say_what_matched,
    ]
}
