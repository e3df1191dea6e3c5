//! Kernel state Docker sets besides firewall rules (docker-rules §3) and the
//! docker-proxy processes it runs, as plain data for an applier: which sysctl
//! in which node, which bridge port gets `hairpin_mode`, which proxy listens
//! where. Nothing here touches the system.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::container::Networking;
use super::host::{DockerHost, HOST_NODE, Happening};
use super::iptables::{binds_in, mappings_in};
use super::network::{Family, GatewayMode};
use crate::net::Proto;

/// One piece of kernel state Docker sets.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum KernelSetting {
    /// Write `value` to sysctl `key` (dotted, e.g. `net.ipv4.ip_forward`) in `node`.
    Sysctl {
        /// The lab node.
        node: String,
        /// The sysctl key.
        key: String,
        /// The value.
        value: String,
    },
    /// Set `hairpin_mode=1` on bridge port `port` (a host-side veth) in `node`.
    Hairpin {
        /// The lab node (always `host`).
        node: String,
        /// The bridge port.
        port: String,
    },
}

impl KernelSetting {
    fn sysctl(node: &str, key: impl Into<String>, value: &str) -> Self {
        KernelSetting::Sysctl {
            node: node.into(),
            key: key.into(),
            value: value.into(),
        }
    }
}

impl fmt::Display for KernelSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelSetting::Sysctl { node, key, value } => write!(f, "{node}: sysctl {key}={value}"),
            KernelSetting::Hairpin { node, port } => {
                write!(f, "{node}: hairpin_mode=1 on bridge port {port}")
            }
        }
    }
}

/// A docker-proxy process: one per published binding while the userland
/// proxy is on (for an unaddressed binding, one on 0.0.0.0 and one on `::`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct DockerProxy {
    /// Protocol.
    pub proto: Proto,
    /// Listening address on the host.
    pub host_ip: IpAddr,
    /// Listening port on the host.
    pub host_port: u16,
    /// The container's address (IPv4 for an IPv6 host binding when the
    /// container has no IPv6 address: Docker's 6-to-4 proxying).
    pub container_ip: IpAddr,
    /// The container's port.
    pub container_port: u16,
    /// Docker 28+: the daemon binds the socket and passes it (`-use-listen-fd`).
    pub use_listen_fd: bool,
}

impl DockerProxy {
    /// docker-proxy's arguments, as Docker passes them.
    #[cfg(test)]
    pub fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = [
            "-proto",
            self.proto.as_str(),
            "-host-ip",
            &self.host_ip.to_string(),
            "-host-port",
            &self.host_port.to_string(),
            "-container-ip",
            &self.container_ip.to_string(),
            "-container-port",
            &self.container_port.to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if self.use_listen_fd {
            a.push("-use-listen-fd".into());
        }
        a
    }
}

/// Docker's kernel settings at `step`, in the order Docker makes them.
pub(crate) fn settings(host: &DockerHost, step: usize) -> Vec<KernelSetting> {
    let d = host.daemon();
    let proxy = d.userland_proxy;
    let mut out = Vec::new();
    if d.docker_enables_forwarding() {
        out.push(KernelSetting::sysctl(HOST_NODE, "net.ipv4.ip_forward", "1"));
    }
    let mut brnf = false;
    let mut forwarding6 = false;
    for h in host.timeline(step) {
        match h {
            Happening::Network(n) => {
                // `setupBridgeIPv6`, then `setupIPv6Forwarding` (default, then all).
                if n.subnet_v6.is_some() {
                    out.push(KernelSetting::sysctl(
                        HOST_NODE,
                        format!("net.ipv6.conf.{}.disable_ipv6", n.bridge),
                        "0",
                    ));
                    if host.docker_enables_forwarding6() && !forwarding6 {
                        forwarding6 = true;
                        for key in ["default", "all"] {
                            out.push(KernelSetting::sysctl(
                                HOST_NODE,
                                format!("net.ipv6.conf.{key}.forwarding"),
                                "1",
                            ));
                        }
                    }
                }
                // Where br_netfilter is built in (this project's machines, the
                // 28.5.2 recording) every netns already has it on, so
                // same-bridge traffic always crosses FORWARD, whatever Docker asks.
                let wants_brnf = !n.icc || (d.layout.is_modern() && !proxy);
                if wants_brnf && d.ip_forward && !brnf {
                    brnf = true;
                    out.push(KernelSetting::sysctl(
                        HOST_NODE,
                        "net.bridge.bridge-nf-call-iptables",
                        "1",
                    ));
                }
                if !proxy {
                    out.push(KernelSetting::sysctl(
                        HOST_NODE,
                        format!("net.ipv4.conf.{}.route_localnet", n.bridge),
                        "1",
                    ));
                }
                if d.layout.is_modern() {
                    // Recorded for 28.5.2: bridges never take router advertisements.
                    out.push(KernelSetting::sysctl(
                        HOST_NODE,
                        format!("net.ipv6.conf.{}.accept_ra", n.bridge),
                        "0",
                    ));
                }
            }
            Happening::Container(c) => {
                if matches!(c.networking, Networking::Bridge(_) | Networking::None) {
                    out.push(KernelSetting::sysctl(
                        &c.name,
                        "net.ipv4.ip_unprivileged_port_start",
                        "0",
                    ));
                    out.push(KernelSetting::sysctl(
                        &c.name,
                        "net.ipv4.ping_group_range",
                        "0 2147483647",
                    ));
                }
                if !proxy {
                    for a in c.attachments() {
                        out.push(KernelSetting::Hairpin {
                            node: HOST_NODE.into(),
                            port: a.host_veth.clone(),
                        });
                    }
                }
            }
        }
    }
    out
}

/// A host port the daemon itself holds while the userland proxy is off: the
/// published binding's listening socket, owned by dockerd (recorded for 20.10
/// and 28.5.2: `ss` shows `dockerd` on `0.0.0.0:8080`, no `[::]` socket), so
/// no host process can bind it. DNAT takes the traffic before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct PortReservation {
    /// Protocol.
    pub proto: Proto,
    /// The host address and port held.
    pub addr: std::net::SocketAddr,
}

/// The host ports dockerd holds at `step` (none while the proxy is on: then
/// docker-proxy holds them, `-use-listen-fd` from Docker 28).
pub(crate) fn reservations(host: &DockerHost, step: usize) -> Vec<PortReservation> {
    if host.daemon().userland_proxy {
        return Vec::new();
    }
    let mut out = Vec::new();
    for h in host.timeline(step) {
        let Happening::Container(c) = h else { continue };
        for fam in [Family::V4, Family::V6] {
            for m in mappings_in(host, c, fam) {
                let routed = host
                    .network(&m.att.network)
                    .and_then(|n| n.in_family(fam))
                    .is_some_and(|(_, n)| n.routed());
                if routed {
                    continue;
                }
                let any = match fam {
                    Family::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                };
                out.push(PortReservation {
                    proto: m.port.proto,
                    addr: std::net::SocketAddr::new(m.host_ip.unwrap_or(any), m.port.host_port),
                });
            }
        }
    }
    out
}

/// The docker-proxy processes running at `step`: per published port one on
/// its IPv4 side and one on its IPv6 side (moby `addPortMappings`), the
/// IPv6 one forwarding to the container's IPv6 address, or to its IPv4
/// address when it has none.
pub(crate) fn proxies(host: &DockerHost, step: usize) -> Vec<DockerProxy> {
    if !host.daemon().userland_proxy {
        return Vec::new();
    }
    let modern = host.layout().is_modern();
    let mut out = Vec::new();
    for h in host.timeline(step) {
        let Happening::Container(c) = h else { continue };
        let Some(att) = c.gateway_attachment(host.layout()).filter(|a| !a.internal) else {
            continue;
        };
        let Some(net) = host.network(&att.network) else {
            continue;
        };
        let binding = net.host_binding;
        for p in &c.ports {
            // A routed network maps no IPv4 host port, but Docker 28.5.2
            // still proxies the IPv6 host binding to the container.
            let v4 = match p.host_ip {
                Some(ip) if ip.is_ipv4() => Some(ip),
                Some(_) => None,
                None if net.routed() => None,
                None => Some(IpAddr::V4(binding.unwrap_or(Ipv4Addr::UNSPECIFIED))),
            };
            let routed6 = att.ip6.is_some() && net.gateway_mode_v6 == GatewayMode::Routed;
            let v6 = (binds_in(p.host_ip, binding, Family::V6) && !routed6)
                .then(|| p.host_ip.unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED)));
            for (ip, fam) in [(v4, Family::V4), (v6, Family::V6)] {
                let Some(ip) = ip else { continue };
                out.push(DockerProxy {
                    proto: p.proto,
                    host_ip: ip,
                    host_port: p.host_port,
                    container_ip: att.ip_in(fam).unwrap_or(IpAddr::V4(att.ip)),
                    container_port: p.container_port,
                    use_listen_fd: modern,
                });
            }
        }
    }
    out
}
