//! Docker and the kernel's connection tracking: the entries Docker deletes
//! when a container starts (`clearConntrackEntries`), per release, against
//! a client that keeps sending while the container is down.
//!
//! netrig has no "stop" for a running container, so a restart is modelled
//! by its second half, as tests/docker/docker_after_start.rs does: the
//! host is up without the container (its ports are neither DNATed nor held
//! by docker-proxy: the stopped window), a client's datagrams to the
//! published ports are tracked to the host itself, then the container
//! starts on the running host (`Lab::start_container`), publishing the
//! ports, with the release's conntrack flush run by the real `conntrack`
//! tool against the real kernel table.

use std::net::Ipv4Addr;

use netrig::docker::{ContainerSpec, Layout, Version};
use netrig::expect::udp;
use netrig::{Backend, Lab, Result};

use crate::local::GATEWAY;
use crate::matrix::{V29_5_0, Variant};
use crate::support::{HostLab as _, INTERNET_CLIENT, Up as _, WAIT, at, ensure, failure, ip_of};

/// The cells it runs on (the flush is the same whatever holds the rules):
/// classic and v28 (flush by host port), v29 on both of its backends; the
/// bug library adds 29.0 and 29.5.0.
pub const CELLS: &[Variant] = &[
    Variant::new(Layout::Classic, Backend::IptablesNft),
    Variant::new(Layout::V28, Backend::IptablesNft),
    Variant::new(Layout::V29, Backend::IptablesNft),
    Variant::new(Layout::V29, Backend::Nftables),
];

/// The client's fixed source port (a DNS forwarder's, a syslog sender's).
const CLIENT_PORT: u16 = 40000;

/// `5354:53/udp` (host port ≠ container port) and `5355:5355/udp` (equal).
const BINDINGS: [(u16, u16); 2] = [(5354, 53), (5355, 5355)];

/// The release cell `v` emulates: its version, or its layout's newest.
fn release(v: &Variant) -> Version {
    let newest = match v.layout {
        Layout::Classic => "27.5",
        Layout::V28 => "28.5",
        Layout::V29 => "29.7",
    };
    v.version
        .unwrap_or_else(|| newest.parse().expect("a release netrig knows"))
}

/// Whether the client's entry to host port `host_port` (to container port
/// `container_port`) survives the start, as the release flushes: by host
/// port before 29.5 (gone); by container port and address `0.0.0.0` in
/// 29.5.0 (no entry has it: kept); by container port from 29.5.1 (kept when
/// the two ports differ).
fn survives(release: Version, host_port: u16, container_port: u16) -> bool {
    if release < V29_5_0 {
        false
    } else if release == V29_5_0 {
        true
    } else {
        host_port != container_port
    }
}

/// The host's conntrack entry of the client's datagrams to host port `port`.
fn client_entry(lab: &Lab, port: u16) -> Result<Option<netrig::ConntrackEntry>> {
    let table = lab.host_node()?.conntrack()?;
    Ok(table
        .expect(
            "udp",
            &at(INTERNET_CLIENT, CLIENT_PORT).to_string(),
            &at(lab.host_uplink_ip(), port).to_string(),
        )
        .ok()
        .cloned())
}

/// A client's stale UDP conntrack entry outlives a container's restart on Docker 29.5 (moby#53384, open; research-2026-12 §2): a client that keeps sending from one source port while the container is down is tracked to the host itself; when the container starts, Docker deletes the UDP entries of its published ports — by host port before 29.5 (fixed: the next datagram is DNATed and the container sees the client), by container port and address since 29.5.0 (moby#52423), `0.0.0.0` in 29.5.0 so nothing matches, without the address from 29.5.1 so only `5354:53`'s entry survives. A surviving entry is never NATed: the client's datagrams go to docker-proxy on the host, and the container sees 172.17.0.1 instead of the client. Proof per port: the conntrack entry before and after the start (kept or deleted, NATed or not) and the datagram captured in the container.
pub fn stale_udp_conntrack_survives_container_restart(v: &Variant) -> Result<()> {
    let mut lab = v
        .host("ct-stale")
        .container(ContainerSpec::new("web"))
        .build()?
        .up()?;
    let uplink = lab.host_uplink_ip();
    // One socket for the whole run, as a client that keeps sending has (and
    // no re-bind of its port while another trial's fork may hold a copy).
    let client = crate::wire::udp_socket(&lab.internet()?, at(INTERNET_CLIENT, CLIENT_PORT))?;
    let send = |lab: &Lab, host_port: u16, payload: &[u8]| -> Result<()> {
        client
            .send_to(payload, at(uplink, host_port))
            .map(drop)
            .map_err(|e| failure(lab, &format!("the client's send to {host_port}: {e}")))
    };
    for (host_port, _) in BINDINGS {
        send(&lab, host_port, b"while-down")?;
    }
    for (host_port, _) in BINDINGS {
        let entry = client_entry(&lab, host_port)?;
        ensure(&lab, entry.as_ref().is_some_and(|e| !e.is_dnat()), || {
            format!("while down, host port {host_port}: want an un-NATed entry, got {entry:?}")
        })?;
    }

    let mut dns = ContainerSpec::new("dns");
    for (host_port, container_port) in BINDINGS {
        dns = dns.publish(format!("{host_port}:{container_port}/udp"));
    }
    lab.start_container("host", dns)?;
    let dns_ip: Ipv4Addr = ip_of(&lab, "dns");
    let release = release(v);
    for (host_port, container_port) in BINDINGS {
        let kept = client_entry(&lab, host_port)?;
        let want = survives(release, host_port, container_port);
        ensure(&lab, kept.is_some() == want, || {
            format!(
                "Docker {release}, {host_port}:{container_port}/udp after the start: want the \
                 client's entry {}, got {kept:?}",
                if want { "kept" } else { "deleted" }
            )
        })?;
    }

    let inside = lab.container("dns")?.capture("eth0")?;
    for (host_port, container_port) in BINDINGS {
        let payload = format!("after-{host_port}");
        send(&lab, host_port, payload.as_bytes())?;
        let stale = survives(release, host_port, container_port);
        // docker-proxy relays from the bridge's address; the DNAT keeps the client's.
        let seen = match stale {
            true => udp().src(GATEWAY),
            false => udp().src(at(INTERNET_CLIENT, CLIENT_PORT)),
        };
        inside
            .expect(seen.dst(at(dns_ip, container_port)).payload(&payload))
            .within(WAIT)?;
        let entry = client_entry(&lab, host_port)?;
        let nated = entry.as_ref().is_some_and(|e| e.is_dnat());
        if nated == stale {
            return Err(failure(
                &lab,
                &format!(
                    "Docker {release}, {host_port}:{container_port}/udp: the client's entry \
                     should {}be DNATed to {dns_ip}, got {entry:?}",
                    if stale { "not " } else { "" }
                ),
            ));
        }
    }
    Ok(())
}
