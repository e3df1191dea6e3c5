//! The nftables backend (Docker 29, experimental) next to what users carry
//! over from iptables: no DOCKER-USER (moby#49643), no forwarding turned on
//! by the daemon (moby#50566, 1Panel-dev/1Panel#13814).

use crate::support::{HostLab as _, Up as _};
use netrig::docker::{ContainerSpec, DaemonOptions};
use netrig::expect::{tcp, udp};
use netrig::{Backend, Result, Sentinel, TcpFlags};

use super::{iptables_of, load_rules_file};
use crate::icc::icc_drop_rule;
use crate::matrix::Variant;
use crate::support::{
    INTERNET_CLIENT, Rule, SERVER, WAIT, at, ensure, expect_counted, expect_not_counted, ip_of,
    packets,
};

/// Switching the daemon to the nftables backend on a host whose IPv4 forwarding is off makes dockerd refuse to start (1Panel-dev/1Panel#13814, moby#50566 / PR #50646): the iptables backends had turned `net.ipv4.ip_forward` on silently — there the host forwards and a container's traffic leaves masqueraded — but the nftables backend never turns it on.
pub fn nftables_backend_refuses_to_start_without_forwarding(v: &Variant) -> Result<()> {
    let built = v
        .host("fwd-off")
        .daemon(DaemonOptions {
            ip_forward_was_on: false,
            ..v.daemon()
        })
        .container(ContainerSpec::new("web"))
        .build();
    if v.backend == Backend::Nftables {
        return match built {
            Ok(_) => Err(netrig::Error::Invalid {
                subject: netrig::Subject::lab("fwd-off"),
                field: "ip_forward".into(),
                message:
                    "a v29 nftables host with forwarding off was accepted; Docker refuses to start"
                        .into(),
            }),
            Err(e) if e.to_string().contains("refuses to start") => Ok(()),
            Err(e) => Err(e),
        };
    }
    let lab = built?.up()?;
    let forwarding = lab.host_node()?.sysctl_get("net.ipv4.ip_forward")?;
    ensure(&lab, forwarding.trim() == "1", || {
        format!("Docker left net.ipv4.ip_forward at {forwarding:?}")
    })?;
    let outside = lab.internet()?.capture("eth0")?;
    lab.container("web")?.udp_send(at(SERVER, 53), b"fwd-on")?;
    outside
        .expect(
            udp()
                .src(lab.host_uplink_ip())
                .dst(at(SERVER, 53))
                .payload("fwd-on"),
        )
        .within(WAIT)
        .map(|_| ())
}

/// A user's accept cannot override Docker's drop under the nftables backend (moby#49643): with icc=false, an iptables DOCKER-USER ACCEPT lets one neighbour reach `web` (DOCKER-USER runs first and its accept ends FORWARD), but the nftables backend has no DOCKER-USER, and the documented replacement — the user's own table at priority filter - 1 — accepts in its own base chain only: Docker's ICC drop still counts the packet and the connection fails (only a mark and `--bridge-accept-fwmark` would do it).
pub fn user_accept_cannot_override_nftables_backend_drop(v: &Variant) -> Result<()> {
    let lab = v
        .host("override")
        .daemon(DaemonOptions {
            icc: false,
            ..v.daemon()
        })
        .container(ContainerSpec::new("web"))
        .container(ContainerSpec::new("client"))
        .build()?
        .up()?;
    let (web, client) = (ip_of(&lab, "web"), ip_of(&lab, "client"));
    let _server = lab.container("web")?.tcp_echo_server("0.0.0.0:80")?;
    let ns = lab.host_node()?;
    let accept = match v.backend {
        Backend::Nftables => {
            ns.load_rules(
                v.backend,
                &format!(
                    "table ip user-override {{\n chain forward {{\n  type filter hook forward priority filter - 1; policy accept;\n  ip saddr {client} ip daddr {web} counter accept\n }}\n}}\n"
                ),
            )?;
            Rule::new(
                "ip user-override",
                "forward",
                &[&format!("ip saddr {client} ip daddr {web}"), "accept"],
            )
        }
        _ => {
            ns.load_rules(
                v.backend,
                &format!("*filter\n-I DOCKER-USER -s {client}/32 -d {web}/32 -j ACCEPT\nCOMMIT\n"),
            )?;
            Rule::new(
                "filter",
                "DOCKER-USER",
                &[&format!("-s {client}/32 -d {web}/32 -j ACCEPT")],
            )
        }
    };
    let icc = icc_drop_rule(v, "docker0");
    let (accepted, dropped) = (packets(&lab, &accept)?, packets(&lab, &icc)?);
    let inside = lab.container("web")?.capture("eth0")?;
    let syn = tcp().src(client).dst(at(web, 80)).flags(TcpFlags::SYN);
    if v.backend != Backend::Nftables {
        let ok = lab.container("client")?.tcp_connect(at(web, 80), WAIT)?;
        inside.expect(syn).within(WAIT)?;
        expect_counted(&lab, &accept, accepted)?;
        expect_not_counted(&lab, &icc, dropped)?;
        return ensure(&lab, ok.is_connected(), || {
            format!("client -> web:80 despite DOCKER-USER's accept: {ok}")
        });
    }
    let cut = lab
        .container("client")?
        .tcp_connect(at(web, 80), std::time::Duration::from_millis(300))?;
    expect_counted(&lab, &accept, accepted)?;
    expect_counted(&lab, &icc, dropped)?;
    inside
        .expect_none(syn, Sentinel::udp(&ns, format!("{web}:9")))
        .within(WAIT)?;
    ensure(&lab, !cut.is_connected(), || {
        format!("client -> web:80 connected past Docker's ICC drop: {cut}")
    })
}

/// A user's DOCKER-USER rules stop applying when the daemon moves to the nftables backend (moby#49643; docs: firewall-nftables "no DOCKER-USER"): the same iptables fragment that blocks one internet client on every iptables cell loads without complaint next to Docker's nft table, but nothing jumps to DOCKER-USER any more — its drop counts nothing and the client reaches the published port.
pub fn docker_user_rules_ignored_by_nftables_backend(v: &Variant) -> Result<()> {
    let lab = v
        .host("user-nft")
        .container(
            ContainerSpec::new("web")
                .publish("8080:80")
                .publish("9999:9999/udp"),
        )
        .build()?
        .up()?;
    let web = ip_of(&lab, "web");
    let server = lab.container("web")?.tcp_echo_server("0.0.0.0:80")?;
    let tool = iptables_of(v);
    load_rules_file(&lab.host_node()?, tool, "block-client.rules")?;
    let drop =
        Rule::new("filter", "DOCKER-USER", &["--ctorigdstport 8080 -j DROP"]).listed_by(tool);
    let before = packets(&lab, &drop)?;
    let inside = lab.container("web")?.capture("eth0")?;
    let uplink = lab.host_uplink_ip();
    let syn = tcp()
        .src(INTERNET_CLIENT)
        .dst(at(web, 80))
        .flags(TcpFlags::SYN);
    if v.backend == Backend::Nftables {
        let ok = lab.internet()?.tcp_connect(at(uplink, 8080), WAIT)?;
        inside.expect(syn).within(WAIT)?;
        ensure(
            &lab,
            ok.is_connected() && server.wait_for_peer_from(INTERNET_CLIENT.into(), WAIT),
            || format!("internet -> host:8080: {ok}"),
        )?;
        return expect_not_counted(&lab, &drop, before);
    }
    let cut = lab
        .internet()?
        .tcp_connect(at(uplink, 8080), std::time::Duration::from_millis(300))?;
    expect_counted(&lab, &drop, before)?;
    lab.internet()?.udp_send(at(uplink, 9999), b"user-nft")?;
    inside
        .expect_none(
            syn,
            Sentinel::packet(udp().dst(at(web, 9999)).payload("user-nft")),
        )
        .within(WAIT)?;
    ensure(&lab, !cut.is_connected(), || {
        format!("internet -> host:8080 connected despite DOCKER-USER: {cut}")
    })
}
