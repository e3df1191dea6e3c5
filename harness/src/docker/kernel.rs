//! Kernel state Docker sets besides firewall rules (docker-rules §3) and the
//! docker-proxy processes it runs, as plain data for an applier: which sysctl
//! in which node, which bridge port gets `hairpin_mode`, which proxy listens
//! where. Nothing here touches the system.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use super::container::Networking;
use super::host::{DockerHost, HOST_NODE, Happening};
use super::iptables::mappings;
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
    /// The container's address.
    pub container_ip: Ipv4Addr,
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
    for h in host.timeline(step) {
        match h {
            Happening::Network(n) => {
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
        for m in mappings(host, c) {
            if host.network(&m.att.network).is_some_and(|n| n.routed()) {
                continue;
            }
            let ip = m.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
            out.push(PortReservation {
                proto: m.port.proto,
                addr: std::net::SocketAddr::new(IpAddr::V4(ip), m.port.host_port),
            });
        }
    }
    out
}

/// The docker-proxy processes running at `step`.
pub(crate) fn proxies(host: &DockerHost, step: usize) -> Vec<DockerProxy> {
    if !host.daemon().userland_proxy {
        return Vec::new();
    }
    let modern = host.layout().is_modern();
    let mut out = Vec::new();
    for h in host.timeline(step) {
        let Happening::Container(c) = h else { continue };
        for m in mappings(host, c) {
            // A routed network maps no IPv4 host port, but Docker 28.5.2
            // still proxies the IPv6 host binding to the container.
            let routed = host.network(&m.att.network).is_some_and(|n| n.routed());
            let ips: Vec<IpAddr> = match m.host_ip {
                Some(ip) => vec![IpAddr::V4(ip)],
                None if routed => vec![IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)],
                None => vec![
                    IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
                ],
            };
            for ip in ips {
                out.push(DockerProxy {
                    proto: m.port.proto,
                    host_ip: ip,
                    host_port: m.port.host_port,
                    container_ip: m.att.ip,
                    container_port: m.port.container_port,
                    use_listen_fd: modern,
                });
            }
        }
    }
    out
}
