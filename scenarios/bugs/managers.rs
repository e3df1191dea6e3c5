//! The firewall managers users type into, run for real on the Docker host:
//! Debian's ufw and firewalld confined to the host's node
//! (topologies/docker-ufw-real.toml, docker-ufw-docker.toml,
//! docker-firewalld-real.toml), their commands as the owner typed them.

use netrig::docker::Layout;
use netrig::expect::{icmp, tcp};
use netrig::reach::{Cell, Matrix, Outcome};
use netrig::{Backend, Result, Sentinel, TcpFlags};

use crate::matrix::Variant;
use crate::support::{
    HostLab as _, INTERNET_CLIENT, Rule, WAIT, at, dnat_rule, ensure, expect_counted, gateway_of,
    ip_of, packets,
};

/// The cells ufw runs on: an iptables-nft host (ufw's `iptables` is iptables-nft on Debian).
pub const UFW: &[Variant] = &[
    Variant::new(Layout::Classic, Backend::IptablesNft),
    Variant::new(Layout::V28, Backend::IptablesNft),
    Variant::new(Layout::V29, Backend::IptablesNft),
];

fn published() -> Cell {
    Cell::parse("internet", "203.0.113.2:8080/tcp").expect("cell")
}

fn fail(what: String) -> netrig::Error {
    netrig::Error::invalid(netrig::Subject::default(), "scenario", what)
}

/// `ufw deny 8080` does not close a published port (moby#4737): with the real ufw enabled before the daemon (`default deny incoming`, `allow 22/tcp`, `deny 8080`), the internet still reaches the container through 8080 — Docker's DNAT sends it through FORWARD, where Docker's own rules accept it before ufw's chains — while the rule `ufw deny 8080` made does drop the container's connection to the host's own 8080.
pub fn ufw_deny_leaves_published_port_open(v: &Variant) -> Result<()> {
    let lab = topology("docker-ufw-real.toml", v, "ufw-4737")?.up()?;
    let m = Matrix::probe(&lab)?;
    let row = m
        .row(&published())
        .ok_or_else(|| fail("no cell internet -> 8080".into()))?;
    let own = m
        .row(&Cell::parse("web", "172.17.0.1:8080/tcp")?)
        .ok_or_else(|| fail("no cell web -> host:8080".into()))?;
    let by_docker = row
        .why
        .first()
        .is_some_and(|w| w.chain.starts_with("DOCKER"));
    let by_ufw = own.why.first().and_then(|w| w.source.as_deref()) == Some("ufw deny 8080");
    ensure(
        &lab,
        row.outcome == Outcome::Delivered && by_docker && own.outcome == Outcome::Dropped && by_ufw,
        || {
            format!(
                "expected the published port delivered by Docker's rules and host:8080 dropped by `ufw deny 8080`:\n{}",
                m.render(netrig::reach::Format::Text)
            )
        },
    )
}

/// `ufw route deny` on the container's port closes the published port (moby#4737, chaifeng/ufw-docker) — once ufw's after.rules has the recipe's `-A DOCKER-USER -j ufw-user-forward`: the connection is dropped in ufw-user-forward by the rule `ufw route deny proto tcp from any to any port 80` made.
pub fn ufw_route_deny_closes_published_port(v: &Variant) -> Result<()> {
    let route =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/ufw/route-deny-80.txt");
    let lab = topology("docker-ufw-real.toml", v, "ufw-route")?
        .manager_file("host", route)?
        .up()?;
    let m = Matrix::probe_cells(&lab, vec![published()], netrig::reach::DEFAULT_DEADLINE)?;
    let row = m
        .row(&published())
        .ok_or_else(|| fail("no cell internet -> 8080".into()))?;
    let named = row.why.first().is_some_and(|w| {
        w.chain == "ufw-user-forward"
            && w.source.as_deref() == Some("ufw route deny proto tcp from any to any port 80")
    });
    ensure(&lab, row.outcome == Outcome::Dropped && named, || {
        format!(
            "expected internet -> 8080 dropped by ufw's route rule:\n{}",
            m.render(netrig::reach::Format::Text)
        )
    })
}

/// The cells firewalld runs on: Docker's rules go through firewalld's
/// passthrough (`iptables`, iptables-nft on Debian).
pub const FIREWALLD: &[Variant] = UFW;

/// topologies/FILE with its `[daemon]` table (up to the next blank line)
/// written for cell `v`: its layout, backend and point release.
fn topology(file: &str, v: &Variant, name: &str) -> Result<netrig::LabSpec> {
    let path = topology_file(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("topology {}: {e}", path.display()));
    let start = text
        .find("[daemon]\n")
        .unwrap_or_else(|| panic!("{}: no [daemon] table to write the cell in", path.display()));
    let end = text[start..]
        .find("\n\n")
        .map_or(text.len(), |i| start + i + 1);
    let mut cell = format!(
        "[daemon]\nlayout = \"{}\"\nbackend = \"{}\"\n",
        v.layout, v.backend
    );
    if let Some(version) = v.version {
        cell.push_str(&format!("version = \"{version}\"\n"));
    }
    let text = format!("{}{cell}{}", &text[..start], &text[end..]);
    let mut spec = netrig::topology::parse(&text, &path)?;
    spec.set_name(netrig::unique_lab_name(name));
    Ok(spec)
}

/// A file of the repository's `topologies/`.
fn topology_file(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("topologies")
        .join(name)
}

/// The SYN of a connection from `src` to `web`'s port 80.
fn syn_to_web(src: std::net::Ipv4Addr, web: std::net::Ipv4Addr) -> netrig::Matcher {
    tcp().src(src).dst(at(web, 80)).flags(TcpFlags::SYN)
}

/// The deciding rules of cell `cell` (`FROM -> ADDR:PORT/tcp`), traced.
fn traced(lab: &netrig::Lab, from: &str, to: &str) -> Result<Vec<netrig::reach::Why>> {
    let cell = Cell::parse(from, to)?;
    Ok(netrig::reach::trace_cell(lab, &cell, netrig::reach::DEFAULT_DEADLINE)?.why())
}

/// firewalld's zones do not constrain a published port (firewalld/firewalld#1536): with the real firewalld (Debian's 1.3.3) and the uplink in the `public` zone, which allows ssh only, the internet reaches the published 8080 — Docker DNATs it in PREROUTING and firewalld's `filter_FORWARD` accepts every DNATed packet (`ct status dnat accept`; StrictForwardPorts, added in 2.3, is the fix) — while the host's own 8081, listening too, is rejected by the zone's `filter_IN_public`.
pub fn firewalld_zone_does_not_constrain_published_port(v: &Variant) -> Result<()> {
    let lab = topology("docker-firewalld-real.toml", v, "fwd-1536")?.up()?;
    let (web, uplink) = (ip_of(&lab, "web"), lab.host_uplink_ip());
    let server = lab.container("web")?.tcp_echo_server("0.0.0.0:80")?;
    let own = lab.host_node()?.tcp_echo_server("0.0.0.0:8081")?;
    let dnat = dnat_rule(Backend::IptablesNft, 8080);
    let dnated = packets(&lab, &dnat)?;
    let inside = lab.container("web")?.capture("eth0")?;
    let outside = lab.internet()?.capture("eth0")?;
    let rejected = lab.internet()?.tcp_connect(at(uplink, 8081), WAIT)?;
    // firewalld rejects with icmpx admin-prohibited: ICMP 3/13 in IPv4.
    outside
        .expect(
            icmp()
                .src(uplink)
                .dst(INTERNET_CLIENT)
                .icmp_type(3)
                .icmp_code(13),
        )
        .within(WAIT)?;
    let ok = lab.internet()?.tcp_connect(at(uplink, 8080), WAIT)?;
    inside
        .expect(syn_to_web(INTERNET_CLIENT, web))
        .within(WAIT)?;
    expect_counted(&lab, &dnat, dnated)?;
    let zone = traced(&lab, "internet", "203.0.113.2:8081/tcp")?;
    let by_zone = zone
        .first()
        .is_some_and(|w| w.table == "inet firewalld" && w.chain == "filter_IN_public");
    ensure(
        &lab,
        ok.is_connected()
            && server.wait_for_peer_from(INTERNET_CLIENT.into(), WAIT)
            && !rejected.is_connected()
            && own.peers().is_empty()
            && by_zone,
        || {
            format!(
                "expected 8080 reached past the public zone and 8081 rejected by filter_IN_public: \
                 8080 {ok}, 8081 {rejected}, 8081's why {zone:?}"
            )
        },
    )
}

/// A firewalld reload empties Docker's iptables rules (moby#15254, #16137): `firewall-cmd --reload` flushes the tables Docker's rules are in and forgets docker0's zone, so the published port is no longer DNATed — the SYN never reaches the container and the public zone rejects it in `filter_IN_public` — until Docker's reload handler (every version registers one on firewalld's `Reloaded` signal) re-applies its rules and zone: then the port is reached again.
pub fn firewalld_reload_drops_published_port_until_docker_reapplies(v: &Variant) -> Result<()> {
    // Without Docker's handler: the reload run by hand.
    let lab = topology("docker-firewalld-real.toml", v, "fwd-reload")?.up()?;
    let (web, uplink) = (ip_of(&lab, "web"), lab.host_uplink_ip());
    let _server = lab.container("web")?.tcp_echo_server("0.0.0.0:80")?;
    let host = lab.host_node()?;
    host.command("firewall-cmd")
        .arg("--reload")
        .checked_output()?;
    let rules = host.rules(Backend::IptablesNft)?;
    let inside = lab.container("web")?.capture("eth0")?;
    let lost = lab.internet()?.tcp_connect(at(uplink, 8080), WAIT)?;
    let gateway = gateway_of(&lab, "bridge");
    // The host's own connection to the container: the sentinel.
    let direct = host.tcp_connect(at(web, 80), WAIT)?;
    inside
        .expect_none(
            syn_to_web(INTERNET_CLIENT, web),
            Sentinel::packet(syn_to_web(gateway, web)),
        )
        .within(WAIT)?;
    let why = traced(&lab, "internet", "203.0.113.2:8080/tcp")?;
    let by_zone = why.first().is_some_and(|w| w.chain == "filter_IN_public");
    ensure(
        &lab,
        !rules.contains("-j DNAT") && !lost.is_connected() && direct.is_connected() && by_zone,
        || {
            format!(
                "expected the reload to flush Docker's DNAT and 8080 rejected by the public zone: \
                 8080 {lost}, host -> web {direct}, why {why:?}, rules:\n{rules}"
            )
        },
    )?;
    drop(lab);
    // With it: the reload as a list netrig runs, Docker's handler after.
    let lab = topology("docker-firewalld-real.toml", v, "fwd-reload-h")?
        .manager_file("host", topology_file("firewalld/reload.txt"))?
        .up()?;
    let server = lab.container("web")?.tcp_echo_server("0.0.0.0:80")?;
    let dnat = dnat_rule(Backend::IptablesNft, 8080);
    let dnated = packets(&lab, &dnat)?;
    let inside = lab.container("web")?.capture("eth0")?;
    let back = lab.internet()?.tcp_connect(at(uplink, 8080), WAIT)?;
    inside
        .expect(syn_to_web(INTERNET_CLIENT, web))
        .within(WAIT)?;
    expect_counted(&lab, &dnat, dnated)?;
    let zones = lab
        .host_node()?
        .command("firewall-cmd")
        .arg("--get-active-zones")
        .checked_output()?;
    let zones = String::from_utf8_lossy(&zones.stdout).into_owned();
    ensure(
        &lab,
        back.is_connected()
            && server.wait_for_peer_from(INTERNET_CLIENT.into(), WAIT)
            && zones.contains("docker\n  interfaces: docker0"),
        || format!("expected 8080 back after Docker's reload handler: {back}; zones:\n{zones}"),
    )
}

/// The ufw-docker recipe closes published ports until `ufw route allow` opens them (chaifeng/ufw-docker, moby#4737): with the recipe's block in ufw's after.rules and `default deny incoming`, the internet's connection to the published 8080 is dropped in `ufw-docker-logging-deny` (a public source, a private container address) and never reaches the container; `ufw route allow proto tcp from any to any port 80` — the container's port, after DNAT — is accepted first in `ufw-user-forward`, which DOCKER-USER jumps to, and opens it.
pub fn ufw_docker_recipe_route_allow_opens_published_port(v: &Variant) -> Result<()> {
    let tool = Backend::IptablesNft;
    // The recipe alone: closed.
    let lab = topology("docker-ufw-docker.toml", v, "ufw-docker")?.up()?;
    let (web, uplink) = (ip_of(&lab, "web"), lab.host_uplink_ip());
    let _server = lab.container("web")?.tcp_echo_server("0.0.0.0:80")?;
    let deny = Rule::new("filter", "ufw-docker-logging-deny", &["-j DROP"]).listed_by(tool);
    let denied = packets(&lab, &deny)?;
    let inside = lab.container("web")?.capture("eth0")?;
    let closed = lab
        .internet()?
        .tcp_connect(at(uplink, 8080), std::time::Duration::from_millis(300))?;
    expect_counted(&lab, &deny, denied)?;
    let gateway = gateway_of(&lab, "bridge");
    let direct = lab.host_node()?.tcp_connect(at(web, 80), WAIT)?;
    inside
        .expect_none(
            syn_to_web(INTERNET_CLIENT, web),
            Sentinel::packet(syn_to_web(gateway, web)),
        )
        .within(WAIT)?;
    ensure(
        &lab,
        !closed.is_connected() && direct.is_connected(),
        || format!("expected 8080 closed by the recipe: {closed}; host -> web {direct}"),
    )?;
    drop(lab);
    // With `ufw route allow … port 80`: open, by that rule.
    let lab = topology("docker-ufw-docker.toml", v, "ufw-docker-a")?
        .manager_file("host", topology_file("ufw/route-allow-80.txt"))?
        .up()?;
    let server = lab.container("web")?.tcp_echo_server("0.0.0.0:80")?;
    let allow =
        Rule::new("filter", "ufw-user-forward", &["--dport 80", "-j ACCEPT"]).listed_by(tool);
    let allowed = packets(&lab, &allow)?;
    let inside = lab.container("web")?.capture("eth0")?;
    let open = lab.internet()?.tcp_connect(at(uplink, 8080), WAIT)?;
    inside
        .expect(syn_to_web(INTERNET_CLIENT, web))
        .within(WAIT)?;
    expect_counted(&lab, &allow, allowed)?;
    let why = traced(&lab, "internet", "203.0.113.2:8080/tcp")?;
    let named = why.first().is_some_and(|w| {
        w.chain == "ufw-user-forward"
            && w.source.as_deref() == Some("ufw route allow proto tcp from any to any port 80")
    });
    ensure(
        &lab,
        open.is_connected() && server.wait_for_peer_from(INTERNET_CLIENT.into(), WAIT) && named,
        || format!("expected 8080 opened by `ufw route allow … port 80`: {open}; why {why:?}"),
    )
}
