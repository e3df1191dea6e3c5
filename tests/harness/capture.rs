//! Captures: active before return, immediate, never stuck, recorded to pcap,
//! seeing injected frames.
//!
//! A `netrig::testing` binary (`harness = false` in Cargo.toml): the tests
//! are plain functions named in `main!` at the bottom; each builds labs, so
//! without privileges each is listed as ignored with the reason (or fails,
//! under `CI=true` / `NETRIG_REQUIRE_PRIVILEGES=1`).

use std::time::{Duration, Instant};

use crate::common::wire::{mac, udp_frame};
use netrig::expect::{icmp, udp};
use netrig::{Direction, Result};

use crate::common;

const SECOND: Duration = Duration::from_secs(1);

/// A capture started before sending sees the very first packet, 100 times in a row.
fn capture_sees_the_first_packet_100_times() -> Result<()> {
    let lab = common::labs::pair("first")?;
    let (a, b) = (lab.node("a")?, lab.node("b")?);
    for i in 0..100 {
        let cap = b.capture("eth0")?;
        let payload = format!("first-{i}");
        a.udp_send("10.0.0.2:7000", payload.as_bytes())?;
        let p = cap.expect(udp().payload(&payload)).within(SECOND)?;
        assert_eq!(
            p.index, 0,
            "iteration {i}: the datagram must be the first frame captured"
        );
        assert_eq!(p.direction, Some(Direction::In));
    }
    Ok(())
}

/// Frames land in a `.pcap` file that libpcap reads back, flushed while the capture runs.
fn capture_writes_a_readable_pcap() -> Result<()> {
    let lab = common::labs::pair("pcapfile")?;
    let cap = lab.node("a")?.capture("eth0")?;
    let a = lab.node("a")?;
    for i in 0..3 {
        a.udp_send("10.0.0.2:7000", format!("n{i}").as_bytes())?;
    }
    let seen = cap
        .expect_count(udp().dst("10.0.0.2:7000").outbound(), 3)
        .within(SECOND)?;
    assert_eq!(seen.len(), 3);
    // Readable while the capture is still running (flushed per batch).
    let mut file = pcap::Capture::from_file(cap.pcap_path()).expect("pcap file opens");
    let mut udp_in_file = 0;
    while let Ok(p) = file.next_packet() {
        udp_in_file += usize::from(common::wire::udp_payload(p.data).is_some());
    }
    assert_eq!(udp_in_file, 3, "{}", cap.pcap_path().display());
    assert!(cap.pcap_path().starts_with(lab.artifacts_dir()));
    // b answers each datagram with ICMP port unreachable: 6 frames in all.
    cap.expect_count(icmp().icmp_type(3).icmp_code(3).inbound(), 3)
        .within(SECOND)?;
    let path = cap.pcap_path().to_path_buf();
    let all = cap.stop()?;
    assert_eq!(all.len(), 6, "{all:#?}");
    assert!(
        all[0].summary().starts_with("IP 10.0.0.1."),
        "{}",
        all[0].summary()
    );
    let mut file = pcap::Capture::from_file(&path).expect("pcap file opens");
    let mut frames = 0;
    while file.next_packet().is_ok() {
        frames += 1;
    }
    assert_eq!(
        frames,
        all.len(),
        "after stop, the file holds every captured frame"
    );
    Ok(())
}

/// With no traffic at all, an expectation fails at its deadline and the capture stops promptly.
fn capture_without_traffic_never_blocks() -> Result<()> {
    let lab = common::labs::pair("quiet")?;
    let cap = lab.node("b")?.capture("eth0")?;
    let t = Instant::now();
    let r = cap.expect(udp()).within(Duration::from_millis(150));
    let waited = t.elapsed();
    assert!(r.is_err(), "nothing was sent, yet: {r:?}");
    assert!(
        waited >= Duration::from_millis(150),
        "returned early: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(5),
        "deadline overshot: {waited:?}"
    );
    let t = Instant::now();
    let packets = cap.stop()?;
    assert!(packets.is_empty());
    assert!(t.elapsed() < SECOND, "stopping took {:?}", t.elapsed());
    // The failed expectation kept the artifacts: clean up ourselves.
    let dir = lab.artifacts_dir().to_path_buf();
    drop(lab);
    common::labs::discard_artifacts(&dir);
    Ok(())
}

/// A frame injected on one end is seen by captures on both ends and delivered to a socket.
fn injected_frame_is_seen_by_other_captures() -> Result<()> {
    let lab = common::labs::pair("inject")?;
    let (a, b) = (lab.node("a")?, lab.node("b")?);
    let server = b.udp_echo_server("10.0.0.2:7000")?;
    let cap_a = a.capture("eth0")?;
    let cap_b = b.capture("eth0")?;
    let frame = udp_frame(
        mac(&a, "eth0")?,
        mac(&b, "eth0")?,
        "10.0.0.1:5555".parse().unwrap(),
        "10.0.0.2:7000".parse().unwrap(),
        b"injected",
    );
    // Ethernet, IPv4 and UDP headers and the payload: a well-formed frame.
    assert_eq!(frame.len(), 14 + 20 + 8 + b"injected".len());
    a.inject("eth0", &frame)?;
    let m = udp()
        .src("10.0.0.1:5555")
        .dst("10.0.0.2:7000")
        .payload("injected");
    let on_a = cap_a.expect(m.clone().outbound()).within(SECOND)?;
    let on_b = cap_b.expect(m.inbound()).within(SECOND)?;
    assert_eq!(&on_a.frame[..], &frame[..]);
    assert_eq!(&on_b.frame[..], &frame[..]);
    let got = server.wait_for_datagrams(1, SECOND)?;
    assert_eq!(got[0].from, "10.0.0.1:5555".parse().unwrap());
    assert_eq!(got[0].payload, b"injected");
    Ok(())
}

/// A BPF filter keeps other traffic out of the capture.
fn capture_filter_applies() -> Result<()> {
    let lab = common::labs::pair("filter")?;
    let a = lab.node("a")?;
    let cap = lab.node("b")?.capture_with(
        "eth0",
        netrig::CaptureOptions::filter("udp and dst port 7000"),
    )?;
    a.udp_send("10.0.0.2:7001", b"filtered out")?;
    a.udp_send("10.0.0.2:7000", b"kept")?;
    cap.expect(udp().payload("kept")).within(SECOND)?;
    let packets = cap.packets();
    assert_eq!(packets.len(), 1, "{packets:?}");
    let stats = cap.stats()?;
    assert_eq!(stats.dropped, 0);
    Ok(())
}

/// A capture whose interface disappears reports an error instead of hanging or spinning.
fn capture_reports_a_vanished_interface() -> Result<()> {
    let lab = common::labs::pair("vanish")?;
    let cap = lab.node("a")?.capture("eth0")?;
    lab.node("b")?.delete_link("eth0")?; // takes a's end of the veth with it
    let t = Instant::now();
    let r = cap.expect(udp()).within(Duration::from_secs(2));
    match r {
        Err(netrig::Error::Capture { message, .. }) => {
            assert!(
                message.contains("disappeared") || message.contains("went away"),
                "{message}"
            )
        }
        other => panic!("expected a capture error, got {other:?}"),
    }
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t.elapsed()
    );
    Ok(())
}

/// This module's tests, each holding `common::shared()` (see `shared_labs!`).
pub fn tests() -> Vec<netrig::testing::Test> {
    shared_labs![
        capture_sees_the_first_packet_100_times,
        capture_writes_a_readable_pcap,
        capture_without_traffic_never_blocks,
        injected_frame_is_seen_by_other_captures,
        capture_filter_applies,
        capture_reports_a_vanished_interface,
    ]
}
