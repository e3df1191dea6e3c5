//! The behaviour a real Docker 28.5.2 showed (`tests/data/real-docker-28/dumps/*.test.txt`),
//! replayed check by check on the emulated V28 host, one check at a time:
//! every check must come out the same (reached / not reached); where the
//! recording's tcpdump shows the source a server saw, the emulated server
//! must see the same one; and every deciding rule whose counter moved during
//! the recorded check (a rule ending in DROP, ACCEPT, DNAT, MASQUERADE or
//! RETURN) must move during the emulated one.
//!
//! The recording is the oracle: checks, outcomes, sources and counters are
//! parsed from it; this file only knows how to *perform* a check.

use crate::common::host_lab::{HostLab as _, first_attachment};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use common::recordings::data;
use common::recordings28::{normalise, normalise_recorded, variant28, variant28_with};
use common::wire::{mac, tcp_stream, tcp_syn_frame};
use netrig::Route;
use netrig::docker::DockerHost;
use netrig::expect::tcp;
use netrig::{Backend, Lab};
use netrig::{PingOutcome, TcpEchoServer};

use crate::common;

/// One recorded check.
#[derive(Debug, Clone)]
struct Case {
    label: String,
    reached: bool,
    /// (source, destination) of the first packet tcpdump showed, if any.
    first_packet: Option<(SocketAddr, SocketAddr)>,
    /// Deciding rules whose counters moved: (table, `-A …` rule), normalised.
    moved: Vec<(String, String)>,
}

fn is_deciding(rule: &str) -> bool {
    ["DROP", "ACCEPT", "DNAT", "MASQUERADE", "RETURN"]
        .iter()
        .any(|t| rule.contains(&format!(" -j {t}")))
}

fn parse_cases(dump: &str) -> Vec<Case> {
    let text = normalise_recorded(
        dump,
        &data(&format!("real-docker-28/dumps/{dump}.test.txt")),
    );
    let mut cases: Vec<Case> = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if line.starts_with(|c: char| c.is_ascii_alphabetic())
            && let Some((label, rest)) = line.rsplit_once(" -> ")
            && (rest.trim_start().starts_with("ok") || rest.trim_start().starts_with("fail"))
        {
            cases.push(Case {
                label: label.trim().to_string(),
                reached: rest.trim_start().starts_with("ok"),
                first_packet: None,
                moved: Vec::new(),
            });
        } else if line.starts_with("## rule counters after") {
            break;
        } else if let Some(ctr) = trimmed.strip_prefix("ctr +")
            && let Some(case) = cases.last_mut()
            && let Some((_, rest)) = ctr.split_once(" *")
            && let Some((table, rule)) = rest.split_once(' ')
            && rule.starts_with("-A ")
            && is_deciding(rule)
        {
            case.moved
                .push((table.to_string(), rule.trim().to_string()));
        } else if let Some(dump) = trimmed.strip_prefix("tcpdump ")
            && let Some(case) = cases.last_mut()
            && case.first_packet.is_none()
            && let Some(ip) = dump.split(" IP ").nth(1)
        {
            let mut parts = ip.split_whitespace();
            if let (Some(src), Some(">"), Some(dst)) = (parts.next(), parts.next(), parts.next()) {
                case.first_packet = tcpdump_addr(src).zip(tcpdump_addr(dst.trim_end_matches(':')));
            }
        }
    }
    cases
}

/// `172.17.0.2.80` → 172.17.0.2:80.
fn tcpdump_addr(s: &str) -> Option<SocketAddr> {
    let (ip, port) = s.rsplit_once('.')?;
    Some(SocketAddr::new(ip.parse().ok()?, port.parse().ok()?))
}

/// What a check does, derived from its label.
#[derive(Debug)]
enum Action {
    Tcp {
        from: String,
        to: SocketAddr,
    },
    Ping {
        from: String,
        to: Ipv4Addr,
    },
    /// A SYN to 127.0.0.1:PORT sent from the internet to the host's uplink MAC.
    Loopback {
        port: u16,
    },
}

fn source_node(src: &str) -> String {
    let src = src.trim_start_matches("container ");
    match src.split_whitespace().next().unwrap() {
        "LAN" => "internet".into(),
        s => s.to_string(),
    }
}

fn action(model: &DockerHost, label: &str) -> Action {
    let (src, rest) = label
        .split_once(" -> ")
        .unwrap_or_else(|| panic!("unparsable check {label:?}"));
    let from = source_node(src);
    if src.starts_with("LAN peer") && rest.starts_with("127.0.0.1:") {
        let port = rest[10..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        return Action::Loopback { port };
    }
    let ip_of = |c: &str| model.container_ip(c);
    let addr = rest.split_whitespace().find_map(|t| {
        t.parse::<SocketAddr>().ok().or_else(|| {
            t.parse::<Ipv4Addr>()
                .ok()
                .map(|ip| SocketAddr::new(IpAddr::V4(ip), 80))
        })
    });
    if rest.split_whitespace().any(|w| w == "ping") {
        let to = match addr {
            Some(SocketAddr::V4(a)) => *a.ip(),
            _ if rest.starts_with("its gateway") => first_attachment(model, &from).unwrap().gateway,
            _ => ip_of(rest.split_whitespace().next().unwrap()).expect("a container to ping"),
        };
        return Action::Ping { from, to };
    }
    Action::Tcp {
        from,
        to: addr.unwrap_or_else(|| panic!("no address in check {label:?}")),
    }
}

/// Checks that need the internet to route 172.16.0.0/12 via the host (a
/// routed LAN peer): run after the others, with that route added.
fn needs_route(label: &str) -> bool {
    label.starts_with("LAN ")
        || label.contains("needs a route")
        || label.contains("routes 172.16/12 back")
}

/// Servers like the recording's httpd: port 80 in every bridge container,
/// 81 on ca, cr and cu, and the internet's server.
fn servers(lab: &Lab) -> Vec<(SocketAddr, TcpEchoServer)> {
    let mut out = Vec::new();
    for c in lab.model().containers() {
        let Some(ip) = lab.model().container_ip(&c.name) else {
            continue;
        };
        let node = lab.container(&c.name).unwrap();
        let ports: &[u16] = if ["ca", "cr", "cu"].contains(&c.name.as_str()) {
            &[80, 81]
        } else {
            &[80]
        };
        for p in ports {
            let srv = node.tcp_echo_server(format!("0.0.0.0:{p}")).unwrap();
            out.push((SocketAddr::new(IpAddr::V4(ip), *p), srv));
        }
    }
    for s in &lab.internet_servers().unwrap() {
        let addr = SocketAddr::new(IpAddr::V4(*s), 80);
        out.push((addr, lab.internet().unwrap().tcp_echo_server(addr).unwrap()));
    }
    out
}

const TIMEOUT: Duration = Duration::from_millis(1500);

/// Performs a TCP check like wget did: connect, send, and get the answer back.
fn tcp_reaches(lab: &Lab, from: &str, to: SocketAddr) -> bool {
    let Ok(mut s) = tcp_stream(&lab.node(from).unwrap(), to, TIMEOUT) else {
        return false;
    };
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut buf = [0u8; 5];
    s.write_all(b"hello").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"hello"
}

/// moby #45610: a peer on the uplink sends to 127.0.0.1:PORT via the host.
fn loopback_reaches(lab: &Lab, port: u16) -> bool {
    let inet = lab.internet().unwrap();
    let src_mac = mac(&inet, "eth0").unwrap();
    let dst_mac = mac(&lab.host_node().unwrap(), "eth0").unwrap();
    let back = inet.capture("eth0").unwrap();
    let syn = tcp_syn_frame(
        src_mac,
        dst_mac,
        SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 1), 40123),
        SocketAddrV4::new(Ipv4Addr::LOCALHOST, port),
        1,
    );
    inet.inject("eth0", &syn).unwrap();
    back.expect(tcp().src(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)))
        .within(TIMEOUT)
        .is_ok()
}

fn perform(lab: &Lab, label: &str) -> bool {
    match action(lab.model(), label) {
        Action::Tcp { from, to } => tcp_reaches(lab, &from, to),
        Action::Ping { from, to } => matches!(
            lab.node(&from).unwrap().ping(to.into(), TIMEOUT).unwrap(),
            PingOutcome::Reply { .. }
        ),
        Action::Loopback { port } => loopback_reaches(lab, port),
    }
}

/// Counters of the host's rules, normalised to the recording's names.
fn counters(lab: &Lab) -> Vec<((String, String), u64)> {
    lab.counters()
        .unwrap()
        .rules
        .into_iter()
        .map(|c| ((c.table, normalise(lab.model(), &c.rule)), c.packets))
        .collect()
}

/// What differs between one check as recorded and as replayed.
fn compare(lab: &Lab, case: &Case, servers: &[(SocketAddr, TcpEchoServer)]) -> Vec<String> {
    let before = counters(lab);
    let reached = perform(lab, &case.label);
    let after = counters(lab);
    let word = |r: bool| if r { "reached" } else { "not reached" };
    let mut out = Vec::new();
    if reached != case.reached {
        out.push(format!(
            "{:<70} real Docker: {:<12} netrig: {}",
            case.label,
            word(case.reached),
            word(reached)
        ));
    }
    for key in &case.moved {
        let get = |v: &[((String, String), u64)]| v.iter().find(|(k, _)| k == key).map(|(_, n)| *n);
        match (get(&before), get(&after)) {
            (Some(b), Some(a)) if a > b => {}
            (None, _) | (_, None) => out.push(format!(
                "{:<70} rule missing: *{} {}",
                case.label, key.0, key.1
            )),
            _ => out.push(format!(
                "{:<70} counter did not move: *{} {}",
                case.label, key.0, key.1
            )),
        }
    }
    if let Some((src, dst)) = case.first_packet
        && reached
        && case.reached
        && src.ip() != dst.ip()
        && let Some((_, server)) = servers.iter().find(|(a, _)| *a == dst)
        && !server.wait_for_peer_from(src.ip(), std::time::Duration::from_secs(1))
    {
        out.push(format!(
            "{:<70} real Docker: server saw {}; netrig: {:?}",
            case.label,
            src.ip(),
            server.peers().iter().map(|p| p.ip()).collect::<Vec<_>>()
        ));
    }
    out
}

/// Replays the recording `dump` on the emulated `variant` (with its
/// recorded backend, or `backend`); the differences, if any.
fn replay(variant: &str, dump: &str, backend: Option<Backend>) -> Result<(), String> {
    let model = match backend {
        Some(b) => variant28_with(variant, |x| x.backend(b)),
        None => variant28(variant),
    };
    let mut spec = netrig::LabSpec::from(model);
    spec.set_name(netrig::unique_lab_name("b28"));
    let lab = spec.up().unwrap();
    let servers = servers(&lab);
    let cases = parse_cases(dump);
    assert!(
        cases.len() >= 30,
        "{dump}: only {} checks parsed",
        cases.len()
    );
    let (routed, plain): (Vec<&Case>, Vec<&Case>) =
        cases.iter().partition(|c| needs_route(&c.label));
    let mut report: Vec<String> = plain
        .iter()
        .flat_map(|c| compare(&lab, c, &servers))
        .collect();
    lab.internet()
        .unwrap()
        .add_route(&Route::to("172.16.0.0/12").via("203.0.113.2"))
        .unwrap();
    report.extend(routed.iter().flat_map(|c| compare(&lab, c, &servers)));
    if report.is_empty() {
        return Ok(());
    }
    let _ = lab.collect_evidence("cases differ from real Docker 28.5.2");
    Err(format!(
        "lab {}: variant {variant} ({}) replaying {dump}: {} difference(s) from real Docker 28.5.2:\n  {}\nrules with counters:\n{}",
        lab.name(),
        lab.model().backend(),
        report.len(),
        report.join("\n  "),
        lab.rules().unwrap_or_default()
    ))
}

macro_rules! behaves {
    ($($test:ident, $legacy:ident => $variant:literal),* $(,)?) => {$(
        /// Every check recorded for this 28.5.2 variant: same outcome, same
        /// observed source, the same deciding counters moved.
        fn $test() {
            let _labs = common::shared();
            if let Err(e) = replay($variant, $variant, None) {
                panic!("{e}");
            }
        }
        /// The same checks with the rules loaded by the other iptables flavour.
        fn $legacy() {
            let _labs = common::shared();
            let other = match variant28($variant).backend() {
                Backend::IptablesLegacy => Backend::IptablesNft,
                _ => Backend::IptablesLegacy,
            };
            if let Err(e) = replay($variant, $variant, Some(other)) {
                panic!("{e}");
            }
        }
    )*};
}

behaves! {
    default_behaves_like_28, default_other_backend_behaves_like_28 => "default",
    internal_network_behaves_like_28, internal_network_other_backend_behaves_like_28 => "default-plus-internal",
    legacy_backend_behaves_like_28, legacy_backend_other_backend_behaves_like_28 => "legacy-backend",
    userland_proxy_false_behaves_like_28, userland_proxy_false_other_backend_behaves_like_28 => "userland-proxy-false",
    icc_false_behaves_like_28, icc_false_other_backend_behaves_like_28 => "icc-false",
    ip_masq_false_behaves_like_28, ip_masq_false_other_backend_behaves_like_28 => "ip-masq-false",
    ip_forward_no_drop_behaves_like_28, ip_forward_no_drop_other_backend_behaves_like_28 => "ip-forward-no-drop",
    allow_direct_routing_behaves_like_28, allow_direct_routing_other_backend_behaves_like_28 => "allow-direct-routing",
    forward_preset_behaves_like_28, forward_preset_other_backend_behaves_like_28 => "forward-preset",
    loopback_publish_behaves_like_28, loopback_publish_other_backend_behaves_like_28 => "lo-publish",
    routed_behaves_like_28, routed_other_backend_behaves_like_28 => "routed",
    nat_unprotected_behaves_like_28, nat_unprotected_other_backend_behaves_like_28 => "nat-unprotected",
}

/// A replay fed another variant's recording fails: the default host does not
/// behave like `--allow-direct-routing` (its raw drops stop the LAN peer).
fn replay_of_another_variants_recording_fails() {
    let _labs = common::shared();
    let err = replay("default", "allow-direct-routing", None).expect_err("must differ");
    assert!(err.contains("LAN -> ca 172.17.0.2:80"), "{err}");
}

/// This module's tests.
pub fn tests() -> Vec<netrig::testing::Test> {
    netrig::testing::tests![
        default_behaves_like_28,
        default_other_backend_behaves_like_28,
        internal_network_behaves_like_28,
        internal_network_other_backend_behaves_like_28,
        legacy_backend_behaves_like_28,
        legacy_backend_other_backend_behaves_like_28,
        userland_proxy_false_behaves_like_28,
        userland_proxy_false_other_backend_behaves_like_28,
        icc_false_behaves_like_28,
        icc_false_other_backend_behaves_like_28,
        ip_masq_false_behaves_like_28,
        ip_masq_false_other_backend_behaves_like_28,
        ip_forward_no_drop_behaves_like_28,
        ip_forward_no_drop_other_backend_behaves_like_28,
        allow_direct_routing_behaves_like_28,
        allow_direct_routing_other_backend_behaves_like_28,
        forward_preset_behaves_like_28,
        forward_preset_other_backend_behaves_like_28,
        loopback_publish_behaves_like_28,
        loopback_publish_other_backend_behaves_like_28,
        routed_behaves_like_28,
        routed_other_backend_behaves_like_28,
        nat_unprotected_behaves_like_28,
        nat_unprotected_other_backend_behaves_like_28,
        replay_of_another_variants_recording_fails,
    ]
}
