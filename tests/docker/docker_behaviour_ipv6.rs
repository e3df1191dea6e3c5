//! The IPv6 behaviour a real Docker 28.5.2 showed for
//! `topologies/docker-ipv6.toml` (`tests/data/real-docker-ipv6/behaviour.txt`,
//! one column per recorded variant), replayed check by check on the
//! emulated host: every check must come out the same (reached / not
//! reached). The recording is the oracle — checks and outcomes are parsed
//! from it; this file only knows how to perform a check (a TCP connect or an
//! ICMPv6 echo with `ping -6`, from the internet, the host or a container).
//! The last column is Docker 20.10.24 with `--experimental --ip6tables`,
//! replayed on the classic layout with `ip6tables = true`. Not replayed: the
//! checks from a LAN peer (netrig's LAN peers are IPv4 only).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use netrig::docker::{DockerHost, Networking};
use netrig::testing::Test;
use netrig::{Lab, Node, Result, Route, TcpEchoServer, unique_lab_name};

use crate::common;
use crate::common::recordings::data;
use crate::common::recordings_ipv6::{IPV6_20_10, IPV6_VARIANTS, Ipv6Variant, ipv6_variant_text};

const FILE: &str = "topologies/docker-ipv6.toml";

/// One recorded check: its label and whether it succeeded.
struct Case {
    label: String,
    ok: bool,
}

/// The checks of `variant`'s column.
fn cases(variant: &str) -> Vec<Case> {
    let text = data("real-docker-ipv6/behaviour.txt");
    let columns: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("#   column "))
        .filter_map(|l| l.split_once(": ").map(|(_, v)| v.trim().to_string()))
        .collect();
    let col = columns
        .iter()
        .position(|c| c == variant)
        .unwrap_or_else(|| panic!("behaviour.txt has no column {variant}: {columns:?}"));
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let mut rest = l.trim_end();
            let mut outcomes = Vec::new();
            for _ in 0..columns.len() {
                let (label, out) = rest
                    .rsplit_once(char::is_whitespace)
                    .expect("outcome columns");
                outcomes.push(out);
                rest = label.trim_end();
            }
            outcomes.reverse();
            Case {
                label: rest.to_string(),
                ok: outcomes[col] == "ok",
            }
        })
        .collect()
}

/// The topology with the variant's additions, brought up.
fn up(x: &Ipv6Variant) -> Result<Lab> {
    let text = std::fs::read_to_string(FILE).expect("the topology file");
    let mut spec = netrig::topology::parse(&ipv6_variant_text(&text, x), FILE)?;
    spec.set_name(unique_lab_name("b6"));
    spec.up()
}

/// web's IPv6 address on docker0, from the model.
fn web_ipv6(model: &DockerHost) -> String {
    model
        .containers()
        .iter()
        .find(|c| c.name == "web")
        .and_then(|c| match &c.networking {
            Networking::Bridge(a) => a[0].ip6.map(|(ip, _, _)| ip.to_string()),
            _ => None,
        })
        .expect("web has IPv6")
}

/// What a check does: from which node, TCP to an address or a ping.
enum Action {
    Tcp(String, SocketAddr),
    Ping(String, IpAddr),
}

/// Reads a label: `FROM -> [ADDR]:PORT (…)`, `FROM -> NAME [ADDR]:PORT`,
/// `FROM -> ping [NAME] ADDR (…)`; `None` for what is not replayed.
fn action(label: &str, web6: &str) -> Option<Action> {
    let (from, rest) = label.split_once(" -> ")?;
    let from = from.split_whitespace().next()?.to_string();
    if from == "LAN" {
        return None;
    }
    let rest = rest.split(" (").next()?.replace("fd00:17::2", web6);
    let last = rest.split_whitespace().last()?;
    if rest.starts_with("ping ") {
        return Some(Action::Ping(from, last.parse().ok()?));
    }
    Some(Action::Tcp(from, last.parse().ok()?))
}

fn node<'l>(lab: &'l Lab, name: &str) -> Result<Node<'l>> {
    match name {
        "internet" | "host" => lab.node(name),
        c => lab.docker("host")?.container(c),
    }
}

/// Performs one check; true if it succeeded.
fn perform(lab: &Lab, a: &Action) -> Result<bool> {
    match a {
        Action::Tcp(from, to) => {
            let out = node(lab, from)?.tcp_connect(*to, Duration::from_millis(700))?;
            Ok(out.is_connected())
        }
        Action::Ping(from, to) => {
            let out = node(lab, from)?
                .command("ping")
                .args(["-6", "-n", "-c", "1", "-W", "1", &to.to_string()])
                .output()?;
            Ok(out.status.success())
        }
    }
}

/// Every replayable check of variant `x` comes out as recorded.
fn replay(x: &Ipv6Variant) -> Result<()> {
    let variant = x.name;
    let _labs = common::shared();
    let lab = up(x)?;
    let docker = lab.docker("host")?;
    let web6 = web_ipv6(docker.model());
    // The recording's servers: each container on its port and on :81, the
    // internet server on :80.
    let mut servers: Vec<TcpEchoServer> = Vec::new();
    for (c, port) in [("web", 80), ("c6", 443), ("gc", 80)] {
        let n = docker.container(c)?;
        servers.push(n.tcp_echo_server(format!("[::]:{port}").as_str())?);
        servers.push(n.tcp_echo_server("[::]:81")?);
    }
    servers.push(
        lab.node("internet")?
            .tcp_echo_server("[2001:db8:100::10]:80")?,
    );
    let mut mismatches = Vec::new();
    let mut replayed = 0;
    let mut routed_back = false;
    for case in cases(variant) {
        let Some(a) = action(&case.label, &web6) else {
            continue;
        };
        if case.label.contains("with the route back") && !routed_back {
            // The recording's internet learns the container prefixes.
            let internet = lab.node("internet")?;
            for p in ["fd00:17::/64", "fd00:18::/64", "2001:db8:19::/64"] {
                internet.add_route(&Route::to(p).via("2001:db8:113::2"))?;
            }
            routed_back = true;
        }
        let got = perform(&lab, &a)?;
        replayed += 1;
        if got != case.ok {
            mismatches.push(format!(
                "  {}: recorded {}, emulated {}",
                case.label,
                if case.ok { "ok" } else { "fail" },
                if got { "ok" } else { "fail" }
            ));
        }
    }
    assert!(replayed > 30, "{variant}: only {replayed} checks replayed");
    assert!(
        mismatches.is_empty(),
        "lab {} ({variant}): {} of {replayed} checks differ from the 28.5.2 recording:\n{}",
        lab.name(),
        mismatches.len(),
        mismatches.join("\n")
    );
    Ok(())
}

/// This module's tests: one per recorded variant.
pub fn tests() -> Vec<Test> {
    IPV6_VARIANTS
        .iter()
        .chain([&IPV6_20_10])
        .map(|x| Test::lab(format!("ipv6_behaviour::{}", x.name), move || replay(x)))
        .collect()
}
