//! Growing a running lab: a node, an alias or a veth link added after `up`
//! (a container started on a running Docker host), with the readiness
//! guarantees of a built lab — links operationally up and addresses usable
//! when the call returns. Interface indexes stay unique across the lab, as
//! [`super::build`] chooses them.

use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::sync::Mutex;
use std::time::Duration;

use super::{Interface, Lab, NodeState};
use crate::error::{Error, Result, Subject};
use crate::net::{check_ifname, check_name, parse_cidr};
use crate::netlink::{BringUpEvents, Netlink, VethEnd, event_groups};
use crate::netns::{Netns, NetnsOptions};
use crate::wiring::{Endpoint, NodeSpec, creation_sysctls};

/// How long a new link may take to come up.
const UP_DEADLINE: Duration = Duration::from_secs(10);

impl Lab {
    /// Adds node `spec` to the running lab: its namespace, with `lo` up and
    /// its creation sysctls, nothing linked yet.
    pub(crate) fn add_node(&mut self, spec: &NodeSpec) -> Result<()> {
        let subject = Subject::lab(&self.name).node(&spec.name);
        check_name(&spec.name).map_err(|m| Error::invalid(subject.clone(), "node name", m))?;
        self.check_free(&spec.name)?;
        let options = NetnsOptions {
            ipv6: spec.ipv6,
            sysctls: creation_sysctls(spec),
        };
        let seed = Netns::create_batch(&[(subject.clone(), options)])?.remove(0);
        drop(seed.events);
        let ns = self.group.adopt(&spec.name, seed.netns);
        let netlink = {
            let _guard = self.rt.enter();
            Netlink::from_socket(seed.netlink, subject)
        };
        let lo = Interface {
            name: "lo".into(),
            index: 1,
            mac: [0; 6],
            addrs: Vec::new(),
        };
        self.nodes.push(NodeState {
            name: spec.name.clone(),
            netlink,
            interfaces: Mutex::new(BTreeMap::from([("lo".to_string(), lo)])),
            ns,
        });
        self.names.insert(spec.name.clone(), self.nodes.len() - 1);
        tracing::debug!(lab = %self.name, node = %spec.name, "node added to the running lab");
        Ok(())
    }

    /// Adds `alias`, another name for node `target`.
    pub(crate) fn add_alias(&mut self, alias: &str, target: &str) -> Result<()> {
        let subject = Subject::lab(&self.name).node(alias);
        check_name(alias).map_err(|m| Error::invalid(subject, "node name", m))?;
        self.check_free(alias)?;
        let idx = *self
            .names
            .get(target)
            .ok_or_else(|| self.node(target).expect_err("no such node"))?;
        self.names.insert(alias.to_string(), idx);
        Ok(())
    }

    pub(super) fn check_free(&self, name: &str) -> Result<()> {
        if self.names.contains_key(name) {
            return Err(Error::invalid(
                Subject::lab(&self.name).node(name),
                "node name",
                format!("duplicate node name {name:?}"),
            ));
        }
        Ok(())
    }

    /// Links `a` and `b` (nodes of this lab) with a veth pair: bridge ports
    /// enslaved, addresses added, both ends operationally up and every
    /// address usable when it returns. An end without a MAC gets the kernel's.
    pub(crate) fn add_link(&self, a: &Endpoint, b: &Endpoint) -> Result<()> {
        let (na, nb) = (self.node(&a.node)?, self.node(&b.node)?);
        for (n, e) in [(&na, a), (&nb, b)] {
            let subject = n.subject().clone().link(&e.ifname);
            check_ifname(&e.ifname)
                .map_err(|m| Error::invalid(subject.clone(), "interface name", m))?;
            if n.interface(&e.ifname).is_ok() {
                return Err(Error::invalid(
                    subject,
                    "interface name",
                    format!("{:?} exists in node {}", e.ifname, n.name()),
                ));
            }
            for cidr in &e.addrs {
                parse_cidr(cidr).map_err(|m| Error::invalid(subject.clone(), "address", m))?;
            }
        }
        // The bridge end is created locally, so its controller is set in the
        // same request (as a build does).
        let (local, peer, nl, np) = if a.bridge.is_none() && b.bridge.is_some() {
            (b, a, &nb, &na)
        } else {
            (a, b, &na, &nb)
        };
        let first = self.max_ifindex() + 1;
        let end = |e: &Endpoint, index: u32, controller: Option<u32>| VethEnd {
            name: e.ifname.clone(),
            index,
            mac: e.mac,
            mtu: e.mtu,
            controller,
        };
        let controller = match &local.bridge {
            Some(br) => Some(nl.interface(br)?.index),
            None => None,
        };
        let (l, p) = (end(local, first, controller), end(peer, first + 1, None));
        let subscribe = |n: &super::Node<'_>| {
            n.run(|| crate::netns::netlink_socket(Some(event_groups(false))))?
                .map_err(|source| Error::Namespace {
                    subject: n.subject().clone(),
                    op: "subscribe to link events".into(),
                    source,
                })
        };
        let (el, ep) = (subscribe(nl)?, subscribe(np)?);
        self.block_on(async {
            let (mut el, mut ep) = (
                BringUpEvents::from_socket(el),
                BringUpEvents::from_socket(ep),
            );
            let same = nl.name() == np.name();
            let peer_ns = (!same).then(|| np.ns().netns().as_fd());
            let made = async {
                nl.netlink().add_veth(&l, &p, peer_ns).await?;
                np.netlink().set_index_up(&p.name, p.index).await?;
                if let Some(br) = &peer.bridge {
                    let ctl = np.interface(br)?.index;
                    np.netlink().set_controller(&p.name, p.index, ctl).await?;
                }
                nl.netlink()
                    .wait_oper_up(&mut el, &[l.index], UP_DEADLINE)
                    .await?;
                np.netlink()
                    .wait_oper_up(&mut ep, &[p.index], UP_DEADLINE)
                    .await
            }
            .await;
            drop((el, ep));
            made
        })?;
        for (n, e, index) in [(nl, local, l.index), (np, peer, p.index)] {
            for cidr in &e.addrs {
                n.add_address(&e.ifname, cidr)?;
            }
            let mac = match e.mac {
                Some(m) => m,
                None => self
                    .block_on(n.netlink().link(&e.ifname))?
                    .mac
                    .unwrap_or_default(),
            };
            let addrs = e.addrs.iter().filter_map(|c| parse_cidr(c).ok()).collect();
            n.state().record(Interface {
                name: e.ifname.clone(),
                index,
                mac,
                addrs,
            });
        }
        tracing::debug!(lab = %self.name, a = %format!("{}:{}", a.node, a.ifname), b = %format!("{}:{}", b.node, b.ifname), "link added to the running lab");
        Ok(())
    }

    /// The highest interface index any node of the lab knows.
    fn max_ifindex(&self) -> u32 {
        self.nodes
            .iter()
            .flat_map(|n| {
                let ifaces = n.interfaces.lock().unwrap_or_else(|p| p.into_inner());
                ifaces.values().map(|i| i.index).max()
            })
            .max()
            .unwrap_or(1)
    }
}
