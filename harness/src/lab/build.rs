//! Turning a validated [`Plan`] into kernel objects, phase by phase, each
//! phase a batch of concurrent netlink requests.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Mutex;

use futures::future::try_join_all;

use super::{Interface, Lab, NodeState};
use crate::error::{Result, Subject};
use crate::namespace::{Group, Namespace};
use crate::netlink::{BringUpEvents, IfIndexes, Netlink, VethEnd};
use crate::netns::{Netns, NetnsOptions, NetnsSeed};
use crate::runtime::Runtime;
use crate::spec::LabSpec;
use crate::wiring::{IfaceKind, Plan};

/// A lab half built: its namespaces exist (with `lo` up and their creation
/// sysctls), nothing is linked yet. Work that needs only a namespace — a
/// ruleset load — can start now and run while [`Building::finish`] creates
/// the links. Dropping it closes the namespaces, leaving nothing behind.
pub(crate) struct Building {
    // Dropped in this order: sockets and namespaces before the runtime.
    nodes: Vec<NodeState>,
    events: Vec<BringUpEvents>,
    group: std::sync::Arc<Group>,
    plan: Plan,
    /// The highest interface index in any new namespace.
    max_ifindex: u32,
    started: std::time::Instant,
    rt: Runtime,
}

/// Creates the plan's namespaces (the first step of a build).
pub(crate) fn start(plan: Plan) -> Result<Building> {
    start_with(plan, None, |_| ()).map(|(building, _)| building)
}

/// A node's namespace fresh from creation, adopted into the lab's group.
struct Made {
    ns: Namespace,
    netlink: OwnedFd,
    events: OwnedFd,
}

/// Creates the plan's namespaces; with `first` (a node's index in the plan),
/// that node's namespace is made alone before the others and handed to
/// `early` as soon as it exists, so work that needs only it (a ruleset load)
/// starts while the rest are made. `early`'s value comes back with the half
/// built lab (`None` without `first`).
pub(crate) fn start_with<R>(
    plan: Plan,
    first: Option<usize>,
    early: impl FnOnce(&Namespace) -> R,
) -> Result<(Building, Option<R>)> {
    let lab_subject = Subject::lab(&plan.name);
    let started = std::time::Instant::now();
    crate::fdlimit::raise();
    let rt = Runtime::new(&lab_subject)?;
    let group = Group::new(&plan.name)?;

    let specs: Vec<_> = plan
        .nodes
        .iter()
        .map(|n| {
            let options = NetnsOptions {
                ipv6: n.ipv6,
                sysctls: n.sysctls.clone(),
            };
            (lab_subject.clone().node(&n.name), options)
        })
        .collect();
    ensure_fd_room(specs.len());
    let mut made: Vec<Option<Made>> = (0..specs.len()).map(|_| None).collect();
    let mut max_ifindex = 1;
    let mut adopt = |made: &mut Vec<Option<Made>>, i: usize, seed: NetnsSeed| {
        max_ifindex = max_ifindex.max(seed.max_ifindex);
        made[i] = Some(Made {
            ns: group.adopt(&plan.nodes[i].name, seed.netns),
            netlink: seed.netlink,
            events: seed.events,
        });
    };
    let mut early_value = None;
    if let Some(i) = first {
        let seed = Netns::create_batch(&specs[i..=i])?.remove(0);
        adopt(&mut made, i, seed);
        tracing::debug!(
            lab = %plan.name,
            node = %plan.nodes[i].name,
            elapsed_us = started.elapsed().as_micros() as u64,
            "first namespace created, handed over before the others"
        );
        early_value = made[i].as_ref().map(|m| early(&m.ns));
    }
    let rest: Vec<usize> = (0..specs.len()).filter(|&i| Some(i) != first).collect();
    let rest_specs: Vec<_> = rest.iter().map(|&i| specs[i].clone()).collect();
    let seeds = if rest_specs.is_empty() {
        Vec::new()
    } else {
        Netns::create_batch(&rest_specs)?
    };
    for (i, seed) in rest.into_iter().zip(seeds) {
        adopt(&mut made, i, seed);
    }

    let (nodes, events): (Vec<NodeState>, Vec<BringUpEvents>) = {
        let _guard = rt.enter();
        made.into_iter()
            .zip(&plan.nodes)
            .map(|(m, n)| {
                let m = m.expect("every node's namespace was made");
                let node = NodeState {
                    name: n.name.clone(),
                    netlink: Netlink::from_socket(m.netlink, lab_subject.clone().node(&n.name)),
                    interfaces: Mutex::new(BTreeMap::new()),
                    ns: m.ns,
                };
                (node, BringUpEvents::from_socket(m.events))
            })
            .unzip()
    };
    tracing::debug!(
        lab = %plan.name,
        nodes = nodes.len(),
        elapsed_us = started.elapsed().as_micros() as u64,
        "lab namespaces created"
    );
    let building = Building {
        nodes,
        events,
        group,
        plan,
        max_ifindex,
        started,
        rt,
    };
    Ok((building, early_value))
}

impl Building {
    /// Creates every link, address, route and neighbour, and returns the lab
    /// once every veth is operationally up and every IPv6 address accepts
    /// packets.
    pub(crate) fn finish(self) -> Result<Lab> {
        let Building {
            nodes,
            mut events,
            group,
            plan,
            max_ifindex,
            started,
            rt,
        } = self;
        let _span = tracing::debug_span!("lab_links", lab = %plan.name).entered();
        // Interface indexes, chosen up front so one batch can reference
        // another's links. They are unique across the whole lab, not just per
        // namespace: the kernel treats a device whose index equals its peer's
        // (iflink) as non-stacked and delays its carrier event by up to a second.
        let lab_indexes = IfIndexes::after(max_ifindex);
        let indexes: Vec<u32> = plan
            .ifaces
            .iter()
            .map(|i| match i.kind {
                IfaceKind::Loopback => 1,
                _ => lab_indexes.next(),
            })
            .collect();

        rt.block_on(create_objects(&plan, &nodes, &mut events, &indexes))
            .map_err(|e| with_evidence(&group, e))?;
        // Bring-up is over: close the event sockets (deregistered from the
        // runtime they were read on).
        {
            let _guard = rt.enter();
            drop(events);
        }

        for (id, i) in plan.ifaces.iter().enumerate() {
            nodes[i.node].record(Interface {
                name: i.name.clone(),
                index: indexes[id],
                mac: i.mac,
                addrs: i.addrs.clone(),
            });
        }

        tracing::debug!(
            lab = %plan.name,
            nodes = nodes.len(),
            links = plan.links.len(),
            elapsed_us = started.elapsed().as_micros() as u64,
            "lab up"
        );
        Ok(Lab {
            running: crate::lab::Running::default(),
            spec: LabSpec::new(&plan.name),
            name: plan.name.clone(),
            group,
            pins: Mutex::new(Vec::new()),
            nodes,
            names: plan.names.clone(),
            rt,
        })
    }
}

/// A node holds two fds (its namespace and its netlink socket): raise the
/// soft open-files limit towards the hard one when a big lab needs it.
fn ensure_fd_room(nodes: usize) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let needed = (nodes as u64) * 2 + 256;
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
        && soft < needed
    {
        let new = needed.max(soft.saturating_mul(2)).min(hard);
        tracing::debug!(soft, new, "raising the open-files limit for a large lab");
        let _ = setrlimit(Resource::RLIMIT_NOFILE, new, hard);
    }
}

async fn create_objects(
    plan: &Plan,
    nodes: &[NodeState],
    events: &mut [BringUpEvents],
    idx: &[u32],
) -> Result<()> {
    let started = std::time::Instant::now();
    let phase = |name: &str| {
        tracing::debug!(
            lab = %plan.name,
            phase = name,
            elapsed_us = started.elapsed().as_micros() as u64,
            "lab phase done"
        )
    };
    let bridges = plan
        .ifaces
        .iter()
        .enumerate()
        .filter(|(_, i)| i.kind == IfaceKind::Bridge);
    try_join_all(bridges.map(|(id, i)| {
        nodes[i.node]
            .netlink
            .add_bridge(&i.name, idx[id], Some(i.mac))
    }))
    .await?;
    phase("bridges");

    let mut second_ports = Vec::new();
    let mut peers = Vec::new();
    let veths = plan.links.iter().map(|&(a, b)| {
        // The end that is a bridge port is created locally so its controller
        // can be set in the same request; a second bridge port is attached after.
        let (local, peer) = if plan.ifaces[a].bridge.is_none() && plan.ifaces[b].bridge.is_some() {
            (b, a)
        } else {
            (a, b)
        };
        if plan.ifaces[peer].bridge.is_some() {
            second_ports.push(peer);
        } else {
            peers.push(peer);
        }
        let end = |id: usize| VethEnd {
            name: plan.ifaces[id].name.clone(),
            index: idx[id],
            mac: Some(plan.ifaces[id].mac),
            mtu: plan.ifaces[id].mtu,
            controller: plan.ifaces[id].bridge.map(|b| idx[b]),
        };
        let (l, p) = (end(local), end(peer));
        let local_node = &nodes[plan.ifaces[local].node];
        let peer_node = &nodes[plan.ifaces[peer].node];
        let peer_ns = (plan.ifaces[local].node != plan.ifaces[peer].node)
            .then(|| peer_node.ns.netns().as_fd());
        async move { local_node.netlink.add_veth(&l, &p, peer_ns).await }
    });
    try_join_all(veths).await?;
    phase("veths");
    // Peers up, second bridge ports and every address at once: an address
    // needs its link to exist, not to be up (an IPv6 one stays tentative
    // until its link has carrier; the wait below covers that).
    let peers_up = try_join_all(peers.iter().map(|&id| {
        let i = &plan.ifaces[id];
        nodes[i.node].netlink.set_index_up(&i.name, idx[id])
    }));
    let second = try_join_all(second_ports.iter().map(|&id| {
        let i = &plan.ifaces[id];
        nodes[i.node].netlink.set_controller(
            &i.name,
            idx[id],
            idx[i.bridge.expect("second port has a bridge")],
        )
    }));
    let addrs = try_join_all(plan.ifaces.iter().enumerate().flat_map(|(id, i)| {
        i.addrs
            .iter()
            .map(move |a| nodes[i.node].netlink.add_address(&i.name, idx[id], *a))
    }));
    futures::future::try_join3(peers_up, second, addrs).await?;
    phase("peers up, second bridge ports, addresses");

    // Traffic can only flow once the kernel has activated every veth end.
    let mut veth_ends: BTreeMap<usize, Vec<u32>> = BTreeMap::new();
    for (id, i) in plan.ifaces.iter().enumerate() {
        if i.kind == IfaceKind::Veth {
            veth_ends.entry(i.node).or_default().push(idx[id]);
        }
    }
    try_join_all(events.iter_mut().enumerate().filter_map(|(node, ev)| {
        let ends = veth_ends.get(&node)?;
        Some(
            nodes[node]
                .netlink
                .wait_oper_up(ev, ends, std::time::Duration::from_secs(10)),
        )
    }))
    .await?;
    phase("operationally up");
    // An IPv6 address accepts packets only once the kernel's work queue has
    // installed its local route; IPv4 ones do at once.
    let mut v6: BTreeMap<usize, Vec<std::net::Ipv6Addr>> = BTreeMap::new();
    for i in &plan.ifaces {
        for a in &i.addrs {
            if let std::net::IpAddr::V6(ip) = a.addr() {
                v6.entry(i.node).or_default().push(ip);
            }
        }
    }
    try_join_all(events.iter_mut().enumerate().filter_map(|(node, ev)| {
        let addrs = v6.get(&node)?;
        Some(nodes[node].netlink.wait_addresses_usable(
            ev,
            addrs,
            std::time::Duration::from_secs(10),
        ))
    }))
    .await?;

    phase("IPv6 addresses usable");
    try_join_all(plan.routes.iter().map(|r| {
        let dev = r.dev.map(|d| (plan.ifaces[d].name.as_str(), idx[d]));
        nodes[r.node].netlink.add_route(r.dest, r.via, dev)
    }))
    .await?;

    phase("routes");
    try_join_all(plan.neighbours.iter().map(|&(holder, ip, mac)| {
        let i = &plan.ifaces[holder];
        nodes[i.node]
            .netlink
            .add_permanent_neighbour(&i.name, idx[holder], ip, mac)
    }))
    .await?;
    phase("neighbours");
    Ok(())
}

/// A bring-up step that waited for something and gave up (links that never
/// came up) keeps evidence like a failed expectation: the artifacts folder,
/// with every namespace's links, addresses and rules at that moment, named
/// in the error.
fn with_evidence(group: &std::sync::Arc<Group>, e: crate::Error) -> crate::Error {
    match e {
        crate::Error::Netlink {
            subject,
            op,
            source,
            hint,
        } if source.kind() == std::io::ErrorKind::TimedOut => {
            let reason = format!("{subject}: {op} failed: {source}{hint}");
            let op = match crate::evidence::collect(group, &reason) {
                Ok(ev) => format!("{op} (evidence kept in {})", ev.dir.display()),
                Err(err) => format!("{op} (evidence could not be collected: {err})"),
            };
            crate::Error::Netlink {
                subject,
                op,
                source,
                hint,
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A wait that timed out keeps the artifacts folder and names the evidence in the error.
    #[test]
    fn a_timed_out_wait_keeps_evidence() {
        let group = Group::new("waits").unwrap();
        let err = with_evidence(
            &group,
            crate::Error::Netlink {
                subject: Subject::lab("waits").node("a"),
                op: "wait for links [3] to come up".into(),
                source: std::io::Error::new(std::io::ErrorKind::TimedOut, "still down"),
                hint: "",
            },
        );
        let text = err.to_string();
        let dir = group.artifacts().path().to_path_buf();
        assert!(
            text.contains(&format!("evidence kept in {}", dir.display())),
            "{text}"
        );
        let summary = std::fs::read_to_string(dir.join("failure-0").join("summary.txt"))
            .or_else(|_| {
                // Failure numbers are process-wide: find the one written.
                let f = std::fs::read_dir(&dir).unwrap().flatten().next().unwrap();
                std::fs::read_to_string(f.path().join("summary.txt"))
            })
            .unwrap();
        assert!(summary.contains("still down"), "{summary}");
        assert!(group.artifacts().is_kept());
        // Other errors pass through untouched.
        let other = with_evidence(
            &group,
            crate::Error::invalid(Subject::lab("waits"), "x", "y"),
        );
        assert!(matches!(other, crate::Error::Invalid { .. }));
        drop(group);
        assert!(dir.exists(), "a kept folder outlives the group");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
