//! The behaviour real Docker 20.10 showed (`tests/data/real-docker/dumps/*.test.txt`),
//! replayed case by case in the emulated host: every case must come out the
//! same (reached / not reached), and where the recording's tcpdump shows the
//! source address the server saw, the emulated server must see the same one.
//!
//! The recording is the oracle: cases, expected outcomes and sources are
//! parsed from it; this file only knows how to *perform* a case.

use crate::common::host_lab::{HostLab as _, first_attachment};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use common::recordings::data;
use common::wire::tcp_stream;
use netrig::Lab;
use netrig::Route;
use netrig::docker::DockerHost;
use netrig::{PingOutcome, TcpEchoServer};

use crate::common;

/// One recorded case.
#[derive(Debug, Clone)]
struct Case {
    label: String,
    reached: bool,
    /// (source, destination) of the first packet tcpdump showed, if any.
    first_packet: Option<(SocketAddr, SocketAddr)>,
}

fn parse_cases(text: &str) -> Vec<Case> {
    let mut cases: Vec<Case> = Vec::new();
    for line in text.lines() {
        if line.starts_with(|c: char| c.is_ascii_lowercase())
            && let Some((label, rest)) = line.rsplit_once(" -> ")
        {
            let reached = rest.trim_start().starts_with("ok");
            cases.push(Case {
                label: label.trim().to_string(),
                reached,
                first_packet: None,
            });
        } else if let Some(dump) = line.trim_start().strip_prefix("tcpdump ")
            && let Some(case) = cases.last_mut()
            && case.first_packet.is_none()
            && let Some(ip) = dump.split(" IP ").nth(1)
        {
            let mut parts = ip.split_whitespace();
            let (Some(src), Some(">"), Some(dst)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            case.first_packet = tcpdump_addr(src).zip(tcpdump_addr(dst.trim_end_matches(':')));
        }
    }
    cases
}

/// `172.17.0.2.80` → 172.17.0.2:80.
fn tcpdump_addr(s: &str) -> Option<SocketAddr> {
    let (ip, port) = s.rsplit_once('.')?;
    Some(SocketAddr::new(ip.parse().ok()?, port.parse().ok()?))
}

/// What a case does, derived from its label.
#[derive(Debug)]
enum Action {
    Tcp {
        from: String,
        to: SocketAddr,
        via_route: bool,
    },
    Ping {
        from: String,
        to: Ipv4Addr,
    },
}

fn action(model: &DockerHost, label: &str) -> Action {
    let (src, rest) = label
        .split_once(" -> ")
        .unwrap_or_else(|| panic!("unparsable case {label:?}"));
    let src = src.trim_start_matches("container ");
    let from = src.split_whitespace().next().unwrap().to_string();
    let ip_of = |c: &str| model.container_ip(c).unwrap();
    let addr = rest.split_whitespace().find_map(|t| {
        t.parse::<SocketAddr>().ok().or_else(|| {
            t.parse::<Ipv4Addr>()
                .ok()
                .map(|ip| SocketAddr::new(IpAddr::V4(ip), 80))
        })
    });
    if rest.ends_with("ping") {
        let to = match addr {
            Some(SocketAddr::V4(a)) => *a.ip(),
            _ if rest.starts_with("its gateway") => first_attachment(model, &from).unwrap().gateway,
            _ => ip_of(rest.split_whitespace().next().unwrap()),
        };
        return Action::Ping { from, to };
    }
    Action::Tcp {
        from,
        to: addr.unwrap_or_else(|| panic!("no address in case {label:?}")),
        via_route: label.contains("needs a route"),
    }
}

/// Servers like the recording's: port 80 in every bridge container, and the internet's server.
fn servers(lab: &Lab) -> Vec<(IpAddr, TcpEchoServer)> {
    let mut out = Vec::new();
    for c in lab.model().containers() {
        if let Some(ip) = lab.model().container_ip(&c.name) {
            let node = lab.container(&c.name).unwrap();
            out.push((IpAddr::V4(ip), node.tcp_echo_server("0.0.0.0:80").unwrap()));
        }
    }
    for s in &lab.internet_servers().unwrap() {
        let node = lab.internet().unwrap();
        out.push((
            IpAddr::V4(*s),
            node.tcp_echo_server(SocketAddr::new(IpAddr::V4(*s), 80))
                .unwrap(),
        ));
    }
    out
}

const TIMEOUT: Duration = Duration::from_secs(2);

/// Performs a TCP case like wget did: connect, send, and get the answer back.
fn tcp_reaches(lab: &Lab, from: &str, to: SocketAddr) -> bool {
    let Ok(mut s) = tcp_stream(&lab.node(from).unwrap(), to, TIMEOUT) else {
        return false;
    };
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut buf = [0u8; 5];
    s.write_all(b"hello").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"hello"
}

fn replay(variant: &str) {
    let mut spec = netrig::LabSpec::from(common::recordings::variant(variant));
    spec.set_name(netrig::unique_lab_name(variant));
    let lab = spec.up().unwrap();
    let model = lab.model();
    let servers = servers(&lab);
    let cases = parse_cases(&data(&format!("real-docker/dumps/{variant}.test.txt")));
    assert!(
        cases.len() >= 26,
        "{variant}: only {} cases parsed",
        cases.len()
    );

    // Cases run in parallel, except the one that needs an extra route on the
    // internet node, which would change the others: it runs last.
    let (direct, normal): (Vec<&Case>, Vec<&Case>) = cases.iter().partition(|c| {
        matches!(
            action(model, &c.label),
            Action::Tcp {
                via_route: true,
                ..
            }
        )
    });
    let mut results: Vec<(Case, bool)> = std::thread::scope(|s| {
        let handles: Vec<_> = normal
            .iter()
            .map(|c| {
                let lab = &lab;
                s.spawn(move || ((*c).clone(), perform(lab, &c.label)))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    if !direct.is_empty() {
        let subnet = lab.model().networks()[0].subnet.to_string();
        lab.internet()
            .unwrap()
            .add_route(&Route::to(subnet).via("203.0.113.2"))
            .unwrap();
        for c in direct {
            results.push((c.clone(), perform(&lab, &c.label)));
        }
    }

    let mut report = Vec::new();
    for (case, reached) in &results {
        if *reached != case.reached {
            report.push(format!(
                "{:<70} real Docker: {:<12} netrig: {}",
                case.label,
                if case.reached {
                    "reached"
                } else {
                    "not reached"
                },
                if *reached { "reached" } else { "not reached" }
            ));
        }
    }
    // Sources: where the recording shows the packet arriving at a server.
    for (case, reached) in &results {
        let Some((src, dst)) = case.first_packet else {
            continue;
        };
        if !reached || src.ip() == dst.ip() || dst.port() != 80 {
            continue;
        }
        let Some((_, server)) = servers.iter().find(|(ip, _)| *ip == dst.ip()) else {
            continue;
        };
        if !server.wait_for_peer_from(src.ip(), Duration::from_secs(1)) {
            let peers = server.peers();
            report.push(format!(
                "{:<70} real Docker: server saw {}; netrig: server saw {:?}",
                case.label,
                src.ip(),
                peers.iter().map(|p| p.ip()).collect::<Vec<_>>()
            ));
        }
    }
    if !report.is_empty() {
        let _ = lab.collect_evidence("cases differ from real Docker");
        let rules = lab.rules().unwrap_or_default();
        panic!(
            "lab {}: variant {variant}: {} case(s) differ from real Docker:\n  {}\nrules with counters:\n{rules}",
            lab.name(),
            report.len(),
            report.join("\n  ")
        );
    }
}

fn perform(lab: &Lab, label: &str) -> bool {
    match action(lab.model(), label) {
        Action::Tcp { from, to, .. } => tcp_reaches(lab, &from, to),
        Action::Ping { from, to } => {
            matches!(
                lab.node(&from).unwrap().ping(to.into(), TIMEOUT).unwrap(),
                PingOutcome::Reply { .. }
            )
        }
    }
}

/// Default daemon: every recorded case behaves the same.
fn default_behaves_like_real_docker() {
    let _labs = common::shared();
    replay("default");
}

/// Legacy backend: every recorded case behaves the same.
fn legacy_backend_behaves_like_real_docker() {
    let _labs = common::shared();
    replay("legacy-backend");
}

/// `--userland-proxy=false`: hairpin NAT instead of the proxy, case by case.
fn userland_proxy_false_behaves_like_real_docker() {
    let _labs = common::shared();
    replay("userland-proxy-false");
}

/// `--icc=false`: containers on docker0 cannot talk, case by case.
fn icc_false_behaves_like_real_docker() {
    let _labs = common::shared();
    replay("icc-false");
}

/// `--ip-masq=false`: outbound leaves unmasqueraded and gets no answer, case by case.
fn ip_masq_false_behaves_like_real_docker() {
    let _labs = common::shared();
    replay("ip-masq-false");
}

/// An `--internal` network: no way out, no way across, case by case.
fn internal_network_behaves_like_real_docker() {
    let _labs = common::shared();
    replay("default-plus-internal");
}

/// This module's tests.
pub fn tests() -> Vec<netrig::testing::Test> {
    netrig::testing::tests![
        default_behaves_like_real_docker,
        legacy_backend_behaves_like_real_docker,
        userland_proxy_false_behaves_like_real_docker,
        icc_false_behaves_like_real_docker,
        ip_masq_false_behaves_like_real_docker,
        internal_network_behaves_like_real_docker,
    ]
}
