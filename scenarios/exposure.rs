//! Exposure: what reaches a container from outside *without* going through
//! a published port's DNAT — a router next to the host that sends packets
//! for the container's own address to the host (docker-rules §2.7).
//!
//! The layouts differ here, and the scenario proves each one's behaviour on
//! the wire: classic Docker forwards such packets to published container
//! ports (moby#14041, #45610); Docker 28.2+ drops them in raw PREROUTING.

use crate::support::{HostLab as _, Up as _};
use netrig::Backend;
use netrig::TcpFlags;
use netrig::docker::{ContainerSpec, Layout};
use netrig::expect::{tcp, udp};
use netrig::{Result, Route, Sentinel};

use crate::matrix::Variant;
use crate::support::{INTERNET_CLIENT, Rule, WAIT, at, expect_counted, failure, ip_of, packets};

/// Packets routed straight to a container's address (no DNAT): classic forwards them to its published port 80, V28 and V29 drop them in raw PREROUTING.
pub fn direct_routing_to_container(v: &Variant) -> Result<()> {
    let lab = v
        .host("direct")
        .container(
            ContainerSpec::new("web")
                .publish("8080:80")
                .publish("9999:9999/udp"),
        )
        .build()?
        .up()?;
    let web = ip_of(&lab, "web");
    let internet = lab.internet()?;
    // The internet's router knows the container subnet lives behind the host.
    internet.add_route(&Route::to("172.17.0.0/16").via(lab.host_uplink_ip().to_string()))?;
    let _server = lab.container("web")?.tcp_echo_server("0.0.0.0:80")?;
    let inside = lab.container("web")?.capture("eth0")?;
    let direct_syn = tcp()
        .src(INTERNET_CLIENT)
        .dst(at(web, 80))
        .flags(TcpFlags::SYN);

    match v.layout {
        Layout::Classic => {
            // The published port's filter ACCEPT lets it through, unchanged.
            let rule = Rule::new(
                "filter",
                "DOCKER",
                &[
                    &format!("-d {web}/32 ! -i docker0 -o docker0"),
                    "--dport 80 -j ACCEPT",
                ],
            );
            let before = packets(&lab, &rule)?;
            let connected = internet.tcp_connect(at(web, 80), WAIT)?;
            inside.expect(direct_syn).within(WAIT)?;
            expect_counted(&lab, &rule, before)?;
            if !connected.is_connected() {
                return Err(failure(
                    &lab,
                    &format!("direct connection to web:80: {connected:?}"),
                ));
            }
            Ok(())
        }
        Layout::V28 | Layout::V29 => {
            let rule = match v.backend {
                Backend::Nftables => Rule::new(
                    "ip docker-bridges",
                    "raw-PREROUTING",
                    &[&format!("ip daddr {web} iifname != \"docker0\""), "drop"],
                ),
                _ => Rule::new(
                    "raw",
                    "PREROUTING",
                    &[&format!("-d {web}/32 ! -i docker0 -j DROP")],
                ),
            };
            let before = packets(&lab, &rule)?;
            let entering = lab.host_node()?.capture("eth0")?;
            let connected =
                internet.tcp_connect(at(web, 80), std::time::Duration::from_millis(200))?;
            entering.expect(direct_syn.clone()).within(WAIT)?;
            expect_counted(&lab, &rule, before)?;
            // The sentinel goes the allowed way in: a published port, DNATed to web.
            internet.udp_send(at(lab.host_uplink_ip(), 9999), b"direct-sentinel")?;
            inside
                .expect_none(
                    direct_syn,
                    Sentinel::packet(udp().dst(at(web, 9999)).payload("direct-sentinel")),
                )
                .within(WAIT)?;
            if connected.is_connected() {
                return Err(crate::support::failure(
                    &lab,
                    "the direct connection to web:80 succeeded",
                ));
            }
            Ok(())
        }
    }
}
