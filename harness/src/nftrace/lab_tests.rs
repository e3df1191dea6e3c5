//! nftrace on real kernel events: which rule (or chain policy) decided a
//! probe, with NAT rewrites between hooks, for the nftables and iptables-nft
//! backends; iptables-legacy is refused with a reason, and attributed by rule
//! counters instead. Lab tests (root): each skips visibly without the
//! privileges to build labs (and fails under `CI=true`).

use std::time::Duration;

use super::decode::Family;
use super::flow::read_rules;
use super::{Flow, FlowTrace, ProbeOutcome, Verdict, count_flow, trace_sources_at};
use crate::unique_lab_name;
use crate::{Backend, Lab, Namespace, Node, Result};

/// Sends one probe of each of `flows` from namespace `from` and traces them
/// in namespace `at` (where the rules are; the same namespace for locally
/// generated traffic): one trace table, the probes sent at once.
fn trace_flows(
    from: &Namespace,
    at: &Namespace,
    backend: Backend,
    flows: &[Flow],
    timeout: Duration,
) -> Result<Vec<FlowTrace>> {
    let mut per_at = trace_sources_at(&[(from, flows)], &[(at, backend)], timeout)?;
    Ok(per_at.pop().and_then(|mut s| s.pop()).unwrap_or_default())
}

/// [`trace_flows`] for one flow.
fn trace_flow(
    from: &Namespace,
    at: &Namespace,
    backend: Backend,
    flow: &Flow,
    timeout: Duration,
) -> Result<FlowTrace> {
    let mut traces = trace_flows(from, at, backend, std::slice::from_ref(flow), timeout)?;
    Ok(traces.remove(0))
}

// The integration tests' labs and Docker-host shorthand, one copy for both.
#[path = "../../../tests/common/host_lab.rs"]
#[allow(dead_code)]
mod host_lab;
#[path = "../../../tests/common/labs.rs"]
mod labs;

use host_lab::{HostLab as _, Up as _};
use labs::{pair, routed};

/// A Docker host file of `topologies/`, its lab renamed uniquely for this
/// test, brought up (as its own lab, from its model).
fn topology(file: &str, prefix: &str) -> Lab {
    let path = format!("{}/topologies/{file}", env!("CARGO_MANIFEST_DIR"));
    let mut host = host_lab::model_of(&crate::topology::load(&path).unwrap());
    host.set_name(unique_lab_name(prefix));
    host.up().unwrap()
}

const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// `b` drops udp/7000 by rule, accepts udp/7001 by rule, and accepts the rest by policy.
const B_RULES: &str = "table inet fw {
\tchain input {
\t\ttype filter hook input priority 0; policy accept;
\t\tudp dport 7000 counter drop comment \"block-7000\"
\t\tudp dport 7001 accept
\t}
}
";

/// The trace names the nft rule that dropped a UDP flow (text, handle, verdict); a
/// sentinel flow shows its accept rule, another the chain policy; removing the rule changes the answer.
#[test]
fn nft_drop_rule_is_named_by_the_trace() {
    if !crate::privilege::should_run("nft_drop_rule_is_named_by_the_trace").unwrap() {
        return;
    }
    let lab = pair("nftrace").unwrap();
    let (a, b) = (lab.node("a").unwrap(), lab.node("b").unwrap());
    Backend::Nftables.append(b.ns(), B_RULES).unwrap();
    let book = read_rules(b.ns(), Backend::Nftables).unwrap();
    let drop_rule = book.chain(Family::Inet, "fw", "input").unwrap().rules[0].clone();

    let trace = |port: u16| {
        let flow = Flow::udp(&format!("10.0.0.2:{port}")).unwrap();
        trace_flow(a.ns(), b.ns(), Backend::Nftables, &flow, PROBE_TIMEOUT).unwrap()
    };
    let dropped = trace(7000);
    let d = dropped
        .decision
        .as_ref()
        .unwrap_or_else(|| panic!("lab {}: no decision\n{dropped}", lab.name()));
    assert_eq!(d.verdict, Verdict::Drop, "{dropped}");
    assert_eq!(d.handle, Some(drop_rule.handle), "{dropped}");
    assert_eq!(
        d.rule.as_deref(),
        Some("udp dport 7000 counter drop comment \"block-7000\""),
        "{dropped}"
    );
    assert_eq!((d.table.as_str(), d.chain.as_str()), ("fw", "input"));
    assert_eq!(dropped.probe, ProbeOutcome::NoAnswer);
    let hook = &dropped.packets[0].hooks[0];
    assert_eq!(hook.iif.as_deref(), Some("eth0"), "{dropped}");
    assert_eq!(hook.packet.unwrap().dport, Some(7000));

    let sentinel = trace(7001);
    let d = sentinel.decision.as_ref().unwrap();
    assert_eq!(
        (d.verdict.clone(), d.rule.as_deref()),
        (Verdict::Accept, Some("udp dport 7001 accept")),
        "{sentinel}"
    );
    assert_eq!(
        sentinel.probe,
        ProbeOutcome::Refused,
        "no server: ICMP port unreachable"
    );
    let flow = Flow::udp("10.0.0.2:7002")
        .unwrap()
        .source("10.0.0.1")
        .unwrap();
    let by_policy = trace_flow(a.ns(), b.ns(), Backend::Nftables, &flow, PROBE_TIMEOUT).unwrap();
    assert_eq!(
        by_policy.decision.as_ref().unwrap().to_string(),
        "inet fw input policy ACCEPT",
        "{by_policy}"
    );

    // Without the drop rule, the trace no longer names it.
    b.command("nft")
        .args([
            "delete",
            "rule",
            "inet",
            "fw",
            "input",
            "handle",
            &drop_rule.handle.to_string(),
        ])
        .checked_output()
        .unwrap();
    let after = trace(7000);
    assert_eq!(
        after.decision.as_ref().unwrap().to_string(),
        "inet fw input policy ACCEPT",
        "{after}"
    );
    // netrig's trace tables are gone.
    let left = b
        .command("nft")
        .args(["list", "tables"])
        .checked_output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&left.stdout).contains("netrig_trace"));
}

/// A chain policy drop is reported as the policy, not as a rule.
#[test]
fn policy_drop_is_reported_as_the_chain_policy() {
    if !crate::privilege::should_run("policy_drop_is_reported_as_the_chain_policy").unwrap() {
        return;
    }
    let lab = pair("nftracepol").unwrap();
    let (a, b) = (lab.node("a").unwrap(), lab.node("b").unwrap());
    let rules = "table ip fw {\n\tchain input {\n\t\ttype filter hook input priority 0; policy drop;\n\t\ttcp dport 22 accept\n\t}\n}\n";
    Backend::Nftables.append(b.ns(), rules).unwrap();
    let t = trace_flow(
        a.ns(),
        b.ns(),
        Backend::Nftables,
        &Flow::udp("10.0.0.2:53").unwrap(),
        PROBE_TIMEOUT,
    )
    .unwrap();
    let d = t.decision.as_ref().unwrap();
    assert!(d.by_policy(), "{t}");
    assert_eq!(d.to_string(), "ip fw input policy DROP", "{t}");
}

/// On an emulated Docker host (iptables-nft), internet -> published 8080: the trace shows
/// nat PREROUTING's DNAT (addresses after it: web's 172.17.0.2:80) and filter FORWARD
/// ending in the DOCKER chain's ACCEPT rule, printed as the iptables-save line.
#[test]
fn docker_published_port_trace_shows_dnat_and_docker_accept() {
    if !crate::privilege::should_run("docker_published_port_trace_shows_dnat_and_docker_accept")
        .unwrap()
    {
        return;
    }
    let docker = topology("docker-bridge.toml", "nftracedk");
    let _server = docker
        .container("web")
        .unwrap()
        .tcp_echo_server("0.0.0.0:80")
        .unwrap();
    let (internet, host) = (docker.internet().unwrap(), docker.host_node().unwrap());
    let t = trace_flow(
        internet.ns(),
        host.ns(),
        Backend::IptablesNft,
        &Flow::tcp("203.0.113.2:8080").unwrap(),
        Duration::from_secs(2),
    )
    .unwrap();
    assert_eq!(t.probe, ProbeOutcome::Answered, "{t}");
    let hooks: Vec<_> = t.hooks().collect();
    let nat = hooks
        .iter()
        .position(|h| h.table == "nat" && h.chain == "PREROUTING")
        .expect("nat PREROUTING traced");
    let dnat = hooks[nat]
        .steps
        .iter()
        .find(|s| s.verdict == Verdict::Accept)
        .unwrap();
    assert_eq!(
        dnat.rule.as_deref(),
        Some(
            "-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80"
        ),
        "{t}"
    );
    assert_eq!(hooks[nat].packet.unwrap().dst.to_string(), "203.0.113.2");
    let fwd = hooks
        .iter()
        .find(|h| h.table == "filter" && h.chain == "FORWARD")
        .expect("filter FORWARD traced");
    let after = fwd.packet.unwrap();
    assert_eq!(
        (after.dst.to_string(), after.dport),
        ("172.17.0.2".into(), Some(80)),
        "{t}"
    );
    let d = t.decision.as_ref().unwrap();
    assert_eq!(
        (d.table.as_str(), d.chain.as_str(), &d.verdict),
        ("filter", "DOCKER", &Verdict::Accept),
        "{t}"
    );
    assert_eq!(
        d.rule.as_deref(),
        Some(
            "-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT"
        ),
        "{t}"
    );
    assert_eq!(t.nat_rules().len(), 1, "{t}");

    // A port Docker did not publish, routed straight at the container: FORWARD's policy drops it.
    internet
        .command("ip")
        .args(["route", "replace", "172.17.0.0/16", "via", "203.0.113.2"])
        .checked_output()
        .unwrap();
    let t = trace_flow(
        internet.ns(),
        host.ns(),
        Backend::IptablesNft,
        &Flow::tcp("172.17.0.2:81").unwrap(),
        PROBE_TIMEOUT,
    )
    .unwrap();
    assert_eq!(
        t.decision.as_ref().map(|d| d.to_string()).as_deref(),
        Some("ip filter FORWARD policy DROP"),
        "{t}"
    );
}

/// iptables-legacy rules cannot be traced: the error says why instead of guessing.
#[test]
fn iptables_legacy_is_refused_with_a_reason() {
    if !crate::privilege::should_run("iptables_legacy_is_refused_with_a_reason").unwrap() {
        return;
    }
    let lab = pair("nftraceleg").unwrap();
    let (a, b) = (lab.node("a").unwrap(), lab.node("b").unwrap());
    let err = trace_flow(
        a.ns(),
        b.ns(),
        Backend::IptablesLegacy,
        &Flow::udp("10.0.0.2:53").unwrap(),
        PROBE_TIMEOUT,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("iptables-legacy") && err.contains("no trace"),
        "{err}"
    );
}

/// iptables-legacy, attributed by rule counters: the published-port probe moved the DNAT rule
/// and the DOCKER chain's ACCEPT rule; an unpublished port ends at FORWARD's policy DROP.
#[test]
fn iptables_legacy_is_attributed_by_rule_counters() {
    if !crate::privilege::should_run("iptables_legacy_is_attributed_by_rule_counters").unwrap() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let topo = dir.path().join("legacy.toml");
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/topologies/docker-bridge.toml"
    ))
    .unwrap()
    .replace(
        "backend = \"iptables-nft\"",
        "backend = \"iptables-legacy\"",
    );
    assert!(text.contains("iptables-legacy"));
    std::fs::write(&topo, text).unwrap();
    let mut host = crate::topology::load(&topo).unwrap();
    host.set_name(crate::unique_lab_name("nftraceleg"));
    let docker = host.up().unwrap();
    let (internet, host) = (docker.internet().unwrap(), docker.host_node().unwrap());
    // No server in web: its RST is the answer (a second packet the counters see).
    let t = count_flow(
        internet.ns(),
        host.ns(),
        Backend::IptablesLegacy,
        &Flow::tcp("203.0.113.2:8080").unwrap(),
        Duration::from_secs(2),
    )
    .unwrap();
    assert_eq!(t.probe, ProbeOutcome::Refused, "{t}");
    let nat = t.nat_rules();
    assert_eq!(nat.len(), 1, "{t}");
    assert!(
        nat[0]
            .1
            .rule
            .as_deref()
            .unwrap()
            .ends_with("-j DNAT --to-destination 172.17.0.2:80"),
        "{t}"
    );
    let d = t.decision.as_ref().unwrap();
    assert_eq!(
        d.rule.as_deref(),
        Some(
            "-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT"
        ),
        "{t}"
    );

    internet
        .command("ip")
        .args(["route", "replace", "172.17.0.0/16", "via", "203.0.113.2"])
        .checked_output()
        .unwrap();
    let t = count_flow(
        internet.ns(),
        host.ns(),
        Backend::IptablesLegacy,
        &Flow::tcp("172.17.0.2:81").unwrap(),
        PROBE_TIMEOUT,
    )
    .unwrap();
    assert_eq!(
        t.decision.as_ref().map(|d| d.to_string()).as_deref(),
        Some("ip filter FORWARD policy DROP"),
        "{t}"
    );
}

/// A Docker host on the nftables backend (v29 layout): the trace names Docker's own nft
/// rules — the DNAT and the accept into the container — as `nft -a list ruleset` prints them.
#[test]
fn docker_nftables_backend_trace_names_nft_rules() {
    if !crate::privilege::should_run("docker_nftables_backend_trace_names_nft_rules").unwrap() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let topo = dir.path().join("nft.toml");
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/topologies/docker-bridge.toml"
    ))
    .unwrap()
    .replace("layout = \"classic\"", "layout = \"v29\"")
    .replace(
        "backend = \"iptables-nft\"",
        "backend = \"nftables\"\nip_forward_was_on = true",
    );
    std::fs::write(&topo, text).unwrap();
    let mut host = crate::topology::load(&topo).unwrap();
    host.set_name(crate::unique_lab_name("nftracenft"));
    let docker = host.up().unwrap();
    let _server = docker
        .container("web")
        .unwrap()
        .tcp_echo_server("0.0.0.0:80")
        .unwrap();
    let (internet, host) = (docker.internet().unwrap(), docker.host_node().unwrap());
    let t = trace_flow(
        internet.ns(),
        host.ns(),
        Backend::Nftables,
        &Flow::tcp("203.0.113.2:8080").unwrap(),
        Duration::from_secs(2),
    )
    .unwrap();
    assert_eq!(t.probe, ProbeOutcome::Answered, "{t}");
    let nat = t.nat_rules();
    assert_eq!(nat.len(), 1, "{t}");
    assert!(
        nat[0]
            .1
            .rule
            .as_deref()
            .unwrap()
            .contains("dnat to 172.17.0.2:80"),
        "{t}"
    );
    let d = t.decision.as_ref().unwrap();
    assert_eq!(
        (d.table.as_str(), d.chain.as_str()),
        ("docker-bridges", "filter-forward-in__docker0"),
        "{t}"
    );
    assert_eq!(
        d.rule.as_deref(),
        Some("ip daddr 172.17.0.2 tcp dport 80 counter accept"),
        "{t}"
    );
}

/// Beside nft rules, iptables-legacy rules (the "split brain" state) are named as unseen, not guessed.
#[test]
fn legacy_rules_beside_a_trace_are_noted() {
    if !crate::privilege::should_run("legacy_rules_beside_a_trace_are_noted").unwrap() {
        return;
    }
    let lab = pair("nftracemix").unwrap();
    let (a, b) = (lab.node("a").unwrap(), lab.node("b").unwrap());
    Backend::Nftables.append(b.ns(), B_RULES).unwrap();
    let flow = Flow::udp("10.0.0.2:7001").unwrap();
    let clean = trace_flow(a.ns(), b.ns(), Backend::Nftables, &flow, PROBE_TIMEOUT).unwrap();
    assert!(clean.notes.is_empty(), "{clean}");
    Backend::IptablesLegacy
        .replace_tables(
            b.ns(),
            "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p udp --dport 7001 -j DROP\nCOMMIT\n",
        )
        .unwrap();
    let mixed = trace_flow(a.ns(), b.ns(), Backend::Nftables, &flow, PROBE_TIMEOUT).unwrap();
    assert!(
        mixed
            .to_string()
            .contains("note: iptables-legacy rules are loaded here too"),
        "{mixed}"
    );
}

/// A user's DOCKER-USER rule that drops a published-port flow is named with its file and line.
#[test]
fn user_rule_file_line_is_named_in_the_decision() {
    if !crate::privilege::should_run("user_rule_file_line_is_named_in_the_decision").unwrap() {
        return;
    }
    let docker = topology("docker-user-rules.toml", "nftraceusr");
    let (internet, host) = (docker.internet().unwrap(), docker.host_node().unwrap());
    let mut t = trace_flow(
        internet.ns(),
        host.ns(),
        Backend::IptablesNft,
        &Flow::tcp("203.0.113.2:8080").unwrap(),
        PROBE_TIMEOUT,
    )
    .unwrap();
    t.attach_rule_files(docker.model().rule_files()).unwrap();
    let d = t.decision.as_ref().unwrap();
    assert_eq!(
        d.rule.as_deref(),
        Some("-A DOCKER-USER ! -s 198.51.100.0/24 -i eth0 -j DROP"),
        "{t}"
    );
    assert!(
        d.source
            .as_deref()
            .is_some_and(|s| s.ends_with("rules/docker-user.rules:6")),
        "{t}"
    );
    let source = d.source.clone().unwrap();
    assert!(
        d.to_string().ends_with(&format!("(drop) from {source}")),
        "{d}"
    );
    assert!(t.to_string().contains(&format!("({source})")), "{t}");
}

/// Locally generated traffic is traced from the output hook when source and firewall are one node.
#[test]
fn locally_generated_traffic_is_traced_from_output() {
    if !crate::privilege::should_run("locally_generated_traffic_is_traced_from_output").unwrap() {
        return;
    }
    let lab = pair("nftraceout").unwrap();
    let b = lab.node("b").unwrap();
    let rules = "table ip out {\n\tchain output {\n\t\ttype filter hook output priority 0; policy accept;\n\t\tip daddr 10.0.0.1 udp dport 9 counter reject\n\t}\n}\n";
    Backend::Nftables.append(b.ns(), rules).unwrap();
    let flow = Flow::udp("10.0.0.1:9").unwrap();
    let t = trace_flow(b.ns(), b.ns(), Backend::Nftables, &flow, PROBE_TIMEOUT).unwrap();
    assert_eq!(t.probe, ProbeOutcome::Blocked, "{t}");
    let hook = &t.packets[0].hooks[0];
    assert_eq!(
        (hook.chain.as_str(), hook.oif.as_deref()),
        ("output", Some("eth0")),
        "{t}"
    );
    assert_eq!(
        t.decision.as_ref().unwrap().to_string(),
        "ip out output rule 2: ip daddr 10.0.0.1 udp dport 9 counter reject (drop)",
        "{t}"
    );
}

/// A batch of flows under one trace table: each flow gets its own packets and decision.
#[test]
fn a_batch_of_flows_gets_one_decision_each() {
    if !crate::privilege::should_run("a_batch_of_flows_gets_one_decision_each").unwrap() {
        return;
    }
    let lab = pair("nftracebatch").unwrap();
    let (a, b) = (lab.node("a").unwrap(), lab.node("b").unwrap());
    Backend::Nftables.append(b.ns(), B_RULES).unwrap();
    let flows: Vec<Flow> = [
        "udp 10.0.0.2:7000",
        "udp 10.0.0.2:7001",
        "tcp 10.0.0.2:7000",
        "udp 10.0.0.2:7002",
    ]
    .iter()
    .map(|f| match f.split_once(' ').unwrap() {
        ("udp", dst) => Flow::udp(dst).unwrap(),
        (_, dst) => Flow::tcp(dst).unwrap(),
    })
    .collect();
    let traces = trace_flows(a.ns(), b.ns(), Backend::Nftables, &flows, PROBE_TIMEOUT).unwrap();
    let decisions: Vec<String> = traces
        .iter()
        .map(|t| t.decision.as_ref().unwrap().to_string())
        .collect();
    assert_eq!(
        decisions,
        [
            "inet fw input rule 2: udp dport 7000 counter drop comment \"block-7000\" (drop)",
            "inet fw input rule 3: udp dport 7001 accept (accept)",
            "inet fw input policy ACCEPT",
            "inet fw input policy ACCEPT",
        ],
        "{traces:#?}"
    );
    for t in &traces {
        let first = t.packets[0].first_packet().unwrap();
        assert_eq!(
            (first.sport, first.dport),
            (Some(t.sport), Some(t.flow.dst.port())),
            "{t}"
        );
    }
}

/// An ICMP echo is selected by its identifier (the bound "port" of an ICMP
/// datagram socket in the source, allowed there by widening its
/// `ping_group_range`, the root namespace's left as it was): the drop rule
/// is named, a UDP flow in the same batch keeps its own decision, and
/// without the rule the same echo is answered and accepted by policy.
#[test]
fn icmp_echo_is_traced_by_its_identifier() {
    if !crate::privilege::should_run("icmp_echo_is_traced_by_its_identifier").unwrap() {
        return;
    }
    let lab = pair("nftraceicmp").unwrap();
    let (a, b) = (lab.node("a").unwrap(), lab.node("b").unwrap());
    let range = |node: &Node<'_>| {
        let out = node
            .command("cat")
            .arg("/proc/sys/net/ipv4/ping_group_range")
            .checked_output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let root_before = std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range").unwrap();
    let rules = "table inet fw {\n\tchain input {\n\t\ttype filter hook input priority 0; policy accept;\n\t\t\
                 icmp type echo-request counter drop comment \"no-ping\"\n\t}\n}\n";
    Backend::Nftables.append(b.ns(), rules).unwrap();
    let flows = [
        Flow::icmp("10.0.0.2").unwrap(),
        Flow::udp("10.0.0.2:7001").unwrap(),
    ];
    let traces = trace_flows(a.ns(), b.ns(), Backend::Nftables, &flows, PROBE_TIMEOUT).unwrap();
    let echo = &traces[0];
    assert_eq!(echo.probe, ProbeOutcome::NoAnswer, "{echo}");
    assert_eq!(
        echo.decision.as_ref().unwrap().to_string(),
        "inet fw input rule 2: icmp type echo-request counter drop comment \"no-ping\" (drop)",
        "{echo}"
    );
    let first = echo.packets[0].first_packet().unwrap();
    assert_eq!(
        (first.icmp, first.echo.map(|e| e.0)),
        (Some((8, 0)), Some(echo.sport)),
        "{echo}"
    );
    assert!(
        echo.to_string().starts_with(&format!(
            "flow icmp echo 10.0.0.1 -> 10.0.0.2 id {}",
            echo.sport
        )),
        "{echo}"
    );
    assert_eq!(
        traces[1].decision.as_ref().unwrap().to_string(),
        "inet fw input policy ACCEPT",
        "{}",
        traces[1]
    );
    let widened = range(&a);
    let gid = nix::unistd::getegid().as_raw();
    let bounds: Vec<u32> = widened
        .split_whitespace()
        .map(|w| w.parse().unwrap())
        .collect();
    assert!(bounds[0] <= gid && gid <= bounds[1], "{widened}");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range").unwrap(),
        root_before,
        "the root namespace's range is untouched"
    );

    b.command("nft")
        .args(["flush", "chain", "inet", "fw", "input"])
        .checked_output()
        .unwrap();
    let answered = trace_flow(a.ns(), b.ns(), Backend::Nftables, &flows[0], PROBE_TIMEOUT).unwrap();
    assert_eq!(answered.probe, ProbeOutcome::Answered, "{answered}");
    assert_eq!(
        answered.decision.as_ref().unwrap().to_string(),
        "inet fw input policy ACCEPT",
        "{answered}"
    );
}

/// Outbound from a container: the trace names the MASQUERADE rule that rewrote the source.
#[test]
fn outbound_trace_names_the_masquerade_rule() {
    if !crate::privilege::should_run("outbound_trace_names_the_masquerade_rule").unwrap() {
        return;
    }
    let docker = topology("docker-bridge.toml", "nftracemasq");
    let _server = docker
        .internet()
        .unwrap()
        .udp_echo_server("198.51.100.10:53")
        .unwrap();
    let (web, host) = (
        docker.container("web").unwrap(),
        docker.host_node().unwrap(),
    );
    let flow = Flow::udp("198.51.100.10:53").unwrap();
    let t = trace_flow(
        web.ns(),
        host.ns(),
        Backend::IptablesNft,
        &flow,
        Duration::from_secs(2),
    )
    .unwrap();
    assert_eq!(t.probe, ProbeOutcome::Answered, "{t}");
    let nat: Vec<String> = t
        .nat_rules()
        .iter()
        .filter_map(|(_, s)| s.rule.clone())
        .collect();
    assert_eq!(
        nat,
        ["-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE"],
        "{t}"
    );
    let d = t.decision.as_ref().unwrap();
    assert_eq!(
        d.rule.as_deref(),
        Some("-A FORWARD -i docker0 ! -o docker0 -j ACCEPT"),
        "{t}"
    );
}

/// Without rules, the trace says that nothing filtered the probe; to an unrouted namespace, that it never arrived.
#[test]
fn empty_rulesets_and_unreached_namespaces_are_said_so() {
    if !crate::privilege::should_run("empty_rulesets_and_unreached_namespaces_are_said_so").unwrap()
    {
        return;
    }
    let lab = routed("nftraceempty").unwrap();
    let (a, r, b) = (
        lab.node("a").unwrap(),
        lab.node("r").unwrap(),
        lab.node("b").unwrap(),
    );
    let flow = Flow::udp("10.0.1.2:9").unwrap();
    let t = trace_flow(a.ns(), r.ns(), Backend::Nftables, &flow, PROBE_TIMEOUT).unwrap();
    assert!(t.decision.is_none(), "{t}");
    assert!(t.to_string().contains("no rule here filtered it"), "{t}");
    // 10.9.9.9 is routed nowhere (r has no route for it): nothing reaches b's namespace.
    let t = trace_flow(
        a.ns(),
        b.ns(),
        Backend::Nftables,
        &Flow::udp("10.9.9.9:9").unwrap(),
        PROBE_TIMEOUT,
    )
    .unwrap();
    assert!(
        t.to_string().contains("never reached a netfilter hook"),
        "{t}"
    );
}

/// IPv6: an ip6 flow is selected, traced and decided like an IPv4 one, by
/// a rule of an nft `inet` table and of an `ip6` table alike.
#[test]
fn ipv6_flow_is_traced() {
    if !crate::privilege::should_run("ipv6_flow_is_traced").unwrap() {
        return;
    }
    let lab = crate::Lab::builder(crate::unique_lab_name("nftrace6"))
        .node(crate::NodeSpec::new("a").ipv6(true))
        .node(crate::NodeSpec::new("b").ipv6(true))
        .link(
            crate::Endpoint::new("a", "eth0").addr("2001:db8::1/64"),
            crate::Endpoint::new("b", "eth0").addr("2001:db8::2/64"),
        )
        .up()
        .unwrap();
    let (a, b) = (lab.node("a").unwrap(), lab.node("b").unwrap());
    for family in ["inet", "ip6"] {
        let rules = format!(
            "table {family} fw {{\n\tchain input {{\n\t\ttype filter hook input priority 0; policy accept;\n\t\tip6 saddr 2001:db8::1 udp dport 7000 drop\n\t}}\n}}\n"
        );
        Backend::Nftables.append(b.ns(), &rules).unwrap();
        traced_by(&a, &b, family);
        Backend::Nftables
            .append(b.ns(), &format!("delete table {family} fw\n"))
            .unwrap();
    }
}

/// Traces a UDP flow from a to b's 7000 and checks the drop of table `family fw`.
fn traced_by(a: &crate::Node<'_>, b: &crate::Node<'_>, family: &str) {
    let flow = Flow::udp("[2001:db8::2]:7000")
        .unwrap()
        .source("2001:db8::1")
        .unwrap();
    let t = trace_flow(a.ns(), b.ns(), Backend::Nftables, &flow, PROBE_TIMEOUT).unwrap();
    let first = t
        .hooks()
        .next()
        .and_then(|h| h.packet)
        .unwrap_or_else(|| panic!("{t}"));
    assert_eq!(
        first.to_string(),
        format!("udp [2001:db8::1]:{} -> [2001:db8::2]:7000", t.sport)
    );
    let d = t.decision.as_ref().unwrap();
    assert_eq!(
        (d.verdict.clone(), d.rule.as_deref()),
        (
            Verdict::Drop,
            Some("ip6 saddr 2001:db8::1 udp dport 7000 drop")
        ),
        "{t}"
    );
    assert_eq!(
        (d.family.to_string(), d.table.as_str()),
        (family.to_string(), "fw"),
        "{t}"
    );
}
