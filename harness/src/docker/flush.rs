//! The conntrack entries Docker deletes when it programs a container's
//! endpoint (`clearConntrackEntries`, `drivers/bridge/bridge_linux.go`,
//! called from `ProgramExternalConnectivity`), as `conntrack -D` argument
//! lists, per release:
//!
//! - every entry with the endpoint's address anywhere in it
//!   (`purgeConntrackState`, netlink `ConntrackNatAnyIP`: original or reply,
//!   source or destination — four deletes with the `conntrack` tool);
//! - per published UDP binding, before 29.5: entries to its **host** port
//!   (`DeleteConntrackEntriesByPort`, `pb.HostPort`);
//! - 29.5.0 (moby #52423): entries to its **container** port and host
//!   address — `0.0.0.0` for a binding on every address, which no entry
//!   has, so nothing is deleted (moby #53384);
//! - from 29.5.1 (moby df58acf56e): the container port, with the address
//!   only when the binding names one — still the container port, so an
//!   entry to a host port that differs from it survives (#53384, open).

use super::container::Container;
use super::host::DockerHost;
use super::iptables::rule_mappings;
use super::version::Version;
use crate::net::Proto;

/// The `conntrack -D …` argument lists (without the program name) Docker
/// runs in the host's namespace when container `c` starts, in order.
pub(crate) fn conntrack_flushes(host: &DockerHost, c: &Container) -> Vec<Vec<String>> {
    let release = host.daemon().release();
    let mut out = Vec::new();
    for a in c.attachments() {
        for flag in ["--orig-src", "--orig-dst", "--reply-src", "--reply-dst"] {
            out.push(vec!["-D".into(), flag.into(), a.ip.to_string()]);
        }
    }
    for m in rule_mappings(host, c) {
        if m.port.proto != Proto::Udp {
            continue;
        }
        let mut argv: Vec<String> = vec!["-D".into(), "-p".into(), "udp".into()];
        if release < Version::new(29, 5, 0) {
            argv.extend(["--orig-port-dst".into(), m.port.host_port.to_string()]);
        } else {
            argv.extend(["--orig-port-dst".into(), m.port.container_port.to_string()]);
            match m.host_ip {
                Some(ip) => argv.extend(["--orig-dst".into(), ip.to_string()]),
                None if release < Version::new(29, 5, 1) => {
                    argv.extend(["--orig-dst".into(), "0.0.0.0".into()]);
                }
                None => {}
            }
        }
        out.push(argv);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::{ContainerSpec, DaemonOptions};

    fn flushes(version: &str) -> Vec<String> {
        let host = DockerHost::builder()
            .daemon(DaemonOptions {
                version: Some(version.parse().unwrap()),
                ..Default::default()
            })
            .container(
                ContainerSpec::new("dns")
                    .publish("5353:53/udp")
                    .publish("127.0.0.1:5354:54/udp")
                    .publish("8080:80"),
            )
            .build()
            .unwrap();
        let c = host.container("dns").unwrap();
        conntrack_flushes(&host, c)
            .into_iter()
            .map(|a| a.join(" "))
            .filter(|a| a.contains("udp"))
            .collect()
    }

    #[test]
    fn the_udp_flush_follows_the_release() {
        assert_eq!(
            flushes("29.4"),
            [
                "-D -p udp --orig-port-dst 5353",
                "-D -p udp --orig-port-dst 5354"
            ]
        );
        assert_eq!(
            flushes("29.5.0"),
            [
                "-D -p udp --orig-port-dst 53 --orig-dst 0.0.0.0",
                "-D -p udp --orig-port-dst 54 --orig-dst 127.0.0.1"
            ]
        );
        assert_eq!(
            flushes("29.5.1"),
            [
                "-D -p udp --orig-port-dst 53",
                "-D -p udp --orig-port-dst 54 --orig-dst 127.0.0.1"
            ]
        );
        assert_eq!(flushes("29.7"), flushes("29.5.1"));
        assert_eq!(flushes("28.5"), flushes("29.4"));
    }

    #[test]
    fn the_endpoint_address_is_flushed_in_every_direction() {
        let host = DockerHost::builder()
            .container(ContainerSpec::new("a"))
            .build()
            .unwrap();
        let all: Vec<String> = conntrack_flushes(&host, host.container("a").unwrap())
            .into_iter()
            .map(|a| a.join(" "))
            .collect();
        assert_eq!(
            all,
            [
                "-D --orig-src 172.17.0.2",
                "-D --orig-dst 172.17.0.2",
                "-D --reply-src 172.17.0.2",
                "-D --reply-dst 172.17.0.2"
            ]
        );
    }
}
