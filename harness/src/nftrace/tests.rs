//! Unit tests on real kernel bytes: `testdata/output-dnat-drop.hex` holds the
//! datagrams a NFNLGRP_NFTRACE socket received (kernel 6.18) while three UDP
//! probes crossed `testdata/trace-output.nft` in a fresh namespace. Then
//! the pure layers on small inputs (they were the module's doc examples).

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::counters::counter_trace;
use super::decode::*;
use super::headers::PacketHeaders;
use super::path::*;
use super::rules::*;
use super::*;

const HEX: &str = include_str!("testdata/output-dnat-drop.hex");
const LISTING: &str = include_str!("testdata/trace-output-nft-a.txt");

fn datagrams() -> Vec<Vec<u8>> {
    HEX.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            (0..l.trim().len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&l[i..i + 2], 16).unwrap())
                .collect()
        })
        .collect()
}

fn events() -> Vec<TraceEvent> {
    datagrams()
        .iter()
        .flat_map(|d| decode_datagram(d))
        .map(|r| r.expect("every captured message decodes"))
        .collect()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The attribute numbers match the installed `linux/netfilter/nf_tables.h`.
#[test]
fn attribute_numbers_match_the_installed_header() {
    let Ok(header) = std::fs::read_to_string("/usr/include/linux/netfilter/nf_tables.h") else {
        eprintln!("SKIPPED: linux-libc-dev is not installed");
        return;
    };
    let enumerators = |name: &str| -> Vec<String> {
        let start = header.find(&format!("enum {name} {{")).expect(name);
        let body = &header[start..start + header[start..].find("};").unwrap()];
        body.lines()
            .skip(1)
            .map(|l| l.trim().trim_end_matches(',').to_string())
            .filter(|l| l.starts_with("NFTA_"))
            .collect()
    };
    let trace = enumerators("nft_trace_attributes");
    for (name, value) in [
        ("NFTA_TRACE_TABLE", NFTA_TRACE_TABLE),
        ("NFTA_TRACE_CHAIN", NFTA_TRACE_CHAIN),
        ("NFTA_TRACE_RULE_HANDLE", NFTA_TRACE_RULE_HANDLE),
        ("NFTA_TRACE_TYPE", NFTA_TRACE_TYPE),
        ("NFTA_TRACE_VERDICT", NFTA_TRACE_VERDICT),
        ("NFTA_TRACE_ID", NFTA_TRACE_ID),
        ("NFTA_TRACE_NETWORK_HEADER", NFTA_TRACE_NETWORK_HEADER),
        ("NFTA_TRACE_TRANSPORT_HEADER", NFTA_TRACE_TRANSPORT_HEADER),
        ("NFTA_TRACE_IIF", NFTA_TRACE_IIF),
        ("NFTA_TRACE_OIF", NFTA_TRACE_OIF),
        ("NFTA_TRACE_MARK", NFTA_TRACE_MARK),
        ("NFTA_TRACE_NFPROTO", NFTA_TRACE_NFPROTO),
        ("NFTA_TRACE_POLICY", NFTA_TRACE_POLICY),
    ] {
        assert_eq!(
            trace.iter().position(|n| n == name),
            Some(value as usize),
            "{name}"
        );
    }
    if let Some(pad) = trace.iter().position(|n| n == "NFTA_TRACE_PAD") {
        // The conntrack attributes follow PAD (Linux 6.16+).
        assert_eq!(NFTA_TRACE_CT_ID as usize, pad + 1);
        assert_eq!(NFTA_TRACE_CT_STATE as usize, pad + 4);
    }
    let verdict = enumerators("nft_verdict_attributes");
    assert_eq!(
        verdict.iter().position(|n| n == "NFTA_VERDICT_CODE"),
        Some(NFTA_VERDICT_CODE as usize)
    );
    assert_eq!(
        verdict.iter().position(|n| n == "NFTA_VERDICT_CHAIN"),
        Some(NFTA_VERDICT_CHAIN as usize)
    );
}

/// The first event: netrig's own trace rule in inet output, with the packet's headers.
#[test]
fn decodes_a_rule_event_with_headers() {
    let ev = &events()[0];
    assert_eq!(ev.id, 0x68d3e32f);
    assert_eq!(ev.kind, TraceKind::Rule);
    assert_eq!((ev.family, ev.nfproto), (Family::Inet, Some(Family::Ip)));
    assert_eq!(
        (ev.table.as_str(), ev.chain.as_str()),
        ("netrig_trace", "out")
    );
    assert_eq!(ev.rule_handle, Some(5));
    assert_eq!(ev.verdict, Some(Verdict::Continue));
    assert_eq!(ev.oif, Some(1));
    let p = ev.packet.unwrap();
    assert_eq!(
        (p.src, p.dst, p.protocol),
        (ip("127.0.0.1"), ip("127.0.0.1"), 17)
    );
    assert_eq!(p.dport, Some(7000));
    assert_eq!(p.to_string(), "udp 127.0.0.1:41604 -> 127.0.0.1:7000");
}

/// The drop rule's event carries its handle, the drop verdict and the conntrack state "new".
#[test]
fn decodes_the_drop_verdict() {
    let evs = events();
    let drop = evs
        .iter()
        .find(|e| e.verdict == Some(Verdict::Drop))
        .unwrap();
    assert_eq!(
        (drop.family, drop.table.as_str(), drop.chain.as_str()),
        (Family::Ip, "t", "filt")
    );
    assert_eq!(drop.rule_handle, Some(5));
    assert_eq!(drop.ct_state, Some(8));
    let policy = evs.iter().find(|e| e.kind == TraceKind::Policy).unwrap();
    assert_eq!(policy.policy, Some(Verdict::Accept));
    assert!(policy.rule_handle.is_none() && policy.verdict.is_none());
}

/// Between nat output and filter output the headers show the DNAT rewrite; a jump names its chain.
#[test]
fn headers_show_nat_between_hooks_and_jumps_name_their_chain() {
    let evs: Vec<_> = events()
        .into_iter()
        .filter(|e| e.id == 0x9f99cc29)
        .collect();
    let at = |chain: &str| {
        evs.iter()
            .find(|e| e.chain == chain && e.packet.is_some())
            .unwrap()
    };
    assert_eq!(at("natout").packet.unwrap().dport, Some(7001));
    assert_eq!(at("filt").packet.unwrap().dport, Some(7002));
    assert_eq!(at("filt").verdict, Some(Verdict::Jump("sub".into())));
    assert!(evs.iter().any(|e| e.chain == "sub" && e.is_chain_end()));
}

/// Events become a path: the drop flow is decided by the drop rule, printed as nft lists it.
#[test]
fn path_names_the_deciding_rule_and_the_nat_rule() {
    let book = RuleBook::parse(LISTING, &[]);
    let ifnames = BTreeMap::from([(1, "lo".to_string())]);
    let packets = packet_traces(&events(), &book, &ifnames, Some("netrig_trace"));
    let dropped = packets.iter().find(|p| p.id == 0x68d3e32f).unwrap();
    let d = decide(std::slice::from_ref(dropped)).unwrap();
    assert_eq!(
        d.to_string(),
        "ip t filt rule 5: udp dport 7000 counter drop comment \"block-7000\" (drop)"
    );
    assert_eq!(dropped.hooks.len(), 2, "{dropped}");
    assert_eq!(dropped.hooks[0].oif.as_deref(), Some("lo"));

    let natted = packets.iter().find(|p| p.id == 0x9f99cc29).unwrap();
    let nat = natted.nat_rules();
    assert_eq!(nat.len(), 1);
    assert_eq!(
        nat[0].1.rule.as_deref(),
        Some("udp dport 7001 dnat to 127.0.0.1:7002")
    );
    let d = decide(std::slice::from_ref(natted)).unwrap();
    assert!(d.by_policy(), "{d}");
    assert_eq!(d.to_string(), "ip t filt policy ACCEPT");
    let text = natted.to_string();
    assert!(text.contains("sub: end of chain, return"), "{text}");
    assert!(
        text.contains(
            "rewritten by NAT since the previous hook: was udp 127.0.0.1:44880 -> 127.0.0.1:7001"
        ),
        "{text}"
    );
}

/// Truncated and malformed bytes give errors, never panics.
#[test]
fn truncated_messages_are_errors() {
    let d = &datagrams()[0];
    for cut in [17, 21, 40, d.len() - 6] {
        let mut m = d[..cut].to_vec();
        m[0..4].copy_from_slice(&(cut as u32).to_ne_bytes());
        let r = decode_datagram(&m);
        assert!(
            r.iter().all(|e| e.is_err()) || r.is_empty(),
            "cut {cut}: {r:?}"
        );
    }
    assert!(matches!(
        decode_datagram(&d[..10]).first(),
        None | Some(Err(_))
    ));
    assert!(decode_datagram(&d[..d.len() - 1])[0].is_err());
}

/// IPv6: addresses and ports decode from the ip6 header; `reject` reaches the trace as drop.
#[test]
fn decodes_ipv6_and_reject_as_drop() {
    let evs: Vec<TraceEvent> = include_str!("testdata/output-ip6-reject.hex")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .flat_map(|l| {
            let bytes: Vec<u8> = (0..l.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&l[i..i + 2], 16).unwrap())
                .collect();
            decode_datagram(&bytes)
        })
        .map(Result::unwrap)
        .collect();
    let first = evs[0].packet.unwrap();
    assert_eq!((first.src, first.dst), (ip("::1"), ip("::1")));
    assert_eq!((first.protocol, first.dport), (17, Some(7000)));
    assert!(first.to_string().ends_with("-> [::1]:7000"), "{first}");
    let reject = evs.iter().find(|e| e.table == "t6").unwrap();
    assert_eq!(
        (reject.family, reject.nfproto),
        (Family::Ip6, Some(Family::Ip6))
    );
    assert_eq!(
        (reject.rule_handle, &reject.verdict),
        (Some(2), &Some(Verdict::Drop))
    );
}

/// Two `iptables-save -c` outputs whose INPUT policy counter moved: the
/// policy decided.
#[test]
fn counter_trace_names_the_policy_whose_counter_moved() {
    let before = "*filter\n:INPUT DROP [0:0]\n[0:0] -A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n";
    let after = "*filter\n:INPUT DROP [1:29]\n[0:0] -A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n";
    let trace = counter_trace(super::decode::Family::Ip, before, after);
    assert_eq!(
        decide(&[trace]).unwrap().to_string(),
        "ip filter INPUT policy DROP"
    );
}

/// An empty datagram holds no trace message.
#[test]
fn an_empty_datagram_decodes_to_nothing() {
    assert!(decode_datagram(&[]).is_empty());
}

/// A TCP or UDP flow needs a port, an ICMP echo has none; a source address binds.
#[test]
fn flows_parse_their_destination() -> crate::Result<()> {
    let flow = Flow::tcp("203.0.113.2:8080")?.source("198.51.100.10")?;
    assert_eq!(flow.dst.port(), 8080);
    assert!(Flow::udp("203.0.113.2").is_err()); // no port
    let flow = Flow::icmp("198.51.100.10")?;
    assert_eq!((flow.proto, flow.dst.port()), (FlowProto::Icmp, 0));
    assert!(Flow::icmp("198.51.100.10:80").is_err()); // echo has no port
    Ok(())
}

/// A UDP header and an ICMP echo header decode into ports, and type, code,
/// identifier and sequence.
#[test]
fn packet_headers_decode_udp_and_echo() {
    let ip = [
        0x45, 0, 0, 29, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    let udp = [0x9c, 0x40, 0x1b, 0x58, 0, 9, 0, 0];
    let p = PacketHeaders::decode(&ip, Some(&udp)).unwrap();
    assert_eq!(p.to_string(), "udp 10.0.0.1:40000 -> 10.0.0.2:7000");
    let ip = [
        0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    let echo = [8, 0, 0, 0, 0x1f, 0x90, 0, 1];
    let p = PacketHeaders::decode(&ip, Some(&echo)).unwrap();
    assert_eq!(p.echo, Some((8080, 1)));
    assert_eq!(
        p.to_string(),
        "icmp 10.0.0.1 -> 10.0.0.2 type 8 code 0 id 8080 seq 1"
    );
}

/// An iptables-nft rule is named by its iptables-save line, found by its handle.
#[test]
fn a_rule_book_names_a_handle_by_its_iptables_save_line() {
    let nft = "table ip filter { # handle 1\n\tchain FORWARD { # handle 2\n\
        \t\ttype filter hook forward priority filter; policy drop;\n\
        \t\tip saddr 10.0.0.0/8 counter packets 0 bytes 0 drop # handle 9\n\t}\n}\n";
    let save = "*filter\n:FORWARD DROP [0:0]\n-A FORWARD -s 10.0.0.0/8 -j DROP\nCOMMIT\n";
    let book = RuleBook::parse(nft, &[(Family::Ip, save)]);
    let rule = book.rule(Family::Ip, "filter", "FORWARD", 9).unwrap();
    assert_eq!(rule.text(), "-A FORWARD -s 10.0.0.0/8 -j DROP");
    assert_eq!(rule.nft, "ip saddr 10.0.0.0/8 counter drop");
}
