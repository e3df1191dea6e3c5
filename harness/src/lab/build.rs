//! Turning a validated [`Plan`] into kernel objects, phase by phase, each
//! phase a batch of concurrent netlink requests.

use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::sync::Mutex;

use futures::future::try_join_all;

use super::{Interface, Lab, NodeState};
use crate::error::{Result, Subject};
use crate::namespace::Group;
use crate::netlink::{IfIndexes, LinkEvents, Netlink, VethEnd};
use crate::netns::{Netns, NetnsOptions};
use crate::runtime::Runtime;
use crate::spec::{IfaceKind, Plan};

pub(crate) fn build(plan: Plan) -> Result<Lab> {
    let lab_subject = Subject::lab(&plan.name);
    let started = std::time::Instant::now();
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
    let seeds = Netns::create_batch(&specs)?;

    // Interface indexes, chosen up front so one batch can reference another's
    // links. They are unique across the whole lab, not just per namespace: the
    // kernel treats a device whose index equals its peer's (iflink) as
    // non-stacked and delays its carrier event by up to a second.
    let lab_indexes = IfIndexes::after(seeds.iter().map(|s| s.max_ifindex).max().unwrap_or(1));
    let (nodes, mut events): (Vec<NodeState>, Vec<LinkEvents>) = {
        let _guard = rt.enter();
        seeds
            .into_iter()
            .zip(&plan.nodes)
            .map(|(seed, n)| {
                let node = NodeState {
                    name: n.name.clone(),
                    netlink: Netlink::from_socket(seed.netlink, lab_subject.clone().node(&n.name)),
                    interfaces: Mutex::new(BTreeMap::new()),
                    ns: group.adopt(&n.name, seed.netns),
                };
                (node, LinkEvents::from_socket(seed.link_events))
            })
            .unzip()
    };

    let indexes: Vec<u32> = plan
        .ifaces
        .iter()
        .map(|i| match i.kind {
            IfaceKind::Loopback => 1,
            _ => lab_indexes.next(),
        })
        .collect();

    rt.block_on(create_objects(&plan, &nodes, &mut events, &indexes))?;
    // Bring-up is over: close the event sockets.
    rt.block_on(futures::future::join_all(
        events.into_iter().map(LinkEvents::close),
    ));

    for (id, i) in plan.ifaces.iter().enumerate() {
        nodes[i.node]
            .interfaces
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                i.name.clone(),
                Interface {
                    name: i.name.clone(),
                    index: indexes[id],
                    mac: i.mac,
                    addrs: i.addrs.clone(),
                },
            );
    }

    tracing::debug!(
        lab = %plan.name,
        nodes = nodes.len(),
        links = plan.links.len(),
        elapsed_us = started.elapsed().as_micros() as u64,
        artifacts = %group.artifacts().path().display(),
        "lab up"
    );
    Ok(Lab {
        name: plan.name.clone(),
        group,
        pins: Mutex::new(Vec::new()),
        nodes,
        names: plan.names.clone(),
        rt,
    })
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
    events: &mut [LinkEvents],
    idx: &[u32],
) -> Result<()> {
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
    try_join_all(peers.iter().map(|&id| {
        let i = &plan.ifaces[id];
        nodes[i.node].netlink.set_index_up(&i.name, idx[id])
    }))
    .await?;
    try_join_all(second_ports.iter().map(|&id| {
        let i = &plan.ifaces[id];
        nodes[i.node].netlink.set_controller(
            &i.name,
            idx[id],
            idx[i.bridge.expect("second port has a bridge")],
        )
    }))
    .await?;

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

    let addrs = plan.ifaces.iter().enumerate().flat_map(|(id, i)| {
        i.addrs
            .iter()
            .map(move |a| nodes[i.node].netlink.add_address(&i.name, idx[id], *a))
    });
    try_join_all(addrs).await?;

    try_join_all(plan.routes.iter().map(|r| {
        let dev = r.dev.map(|d| (plan.ifaces[d].name.as_str(), idx[d]));
        nodes[r.node].netlink.add_route(r.dest, r.via, dev)
    }))
    .await?;

    try_join_all(plan.neighbours.iter().map(|&(holder, ip, mac)| {
        let i = &plan.ifaces[holder];
        nodes[i.node]
            .netlink
            .add_permanent_neighbour(&i.name, idx[holder], ip, mac)
    }))
    .await?;
    Ok(())
}
