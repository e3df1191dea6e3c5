//! Adopting namespaces netrig did not build (DESIGN §9): a network
//! namespace opened by path — `/proc/PID/ns/net` of a container's process,
//! a pin under `/run/netns` — becomes a node of a lab, held by its fd like
//! netrig's own, its interfaces and addresses read from the kernel. Every
//! way out of a lab (commands, captures, servers, probes, rules, trace,
//! the matrix) then works on it unchanged; netrig changes nothing there by
//! adopting it, and dropping the lab only closes its fd.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use super::{Interface, Lab, NodeState};
use crate::error::{Error, Result, Subject};
use crate::net::check_name;
use crate::netlink::Netlink;
use crate::netns::Netns;
use crate::wiring::Wiring;

impl Lab {
    /// A lab of namespaces netrig did not build: each `(node, path)` is the
    /// network namespace at `path` (`/proc/PID/ns/net`, `/run/netns/NAME`),
    /// adopted as node `node`. The namespaces are held by fd for as long as
    /// the lab lives, and are never changed by adopting them; what the lab
    /// starts in them (servers, captures, commands) goes when it is dropped.
    ///
    /// ```no_run
    /// use std::path::Path;
    /// let lab = netrig::Lab::adopt("machine", &[("host", Path::new("/proc/1/ns/net"))])?;
    /// print!("{}", lab.node("host")?.rules(netrig::Backend::IptablesNft)?);
    /// # Ok::<_, netrig::Error>(())
    /// ```
    pub fn adopt(name: &str, nodes: &[(&str, &Path)]) -> Result<Lab> {
        let mut lab = Lab::build(&Wiring::new(name))?;
        for (node, path) in nodes {
            lab.adopt_node(node, path)?;
        }
        Ok(lab)
    }

    /// Adds node `name`: the network namespace at `path`, its interfaces
    /// read from the kernel.
    pub(crate) fn adopt_node(&mut self, name: &str, path: &Path) -> Result<()> {
        let subject = Subject::lab(&self.name).node(name);
        check_name(name).map_err(|m| Error::invalid(subject.clone(), "node name", m))?;
        self.check_free(name)?;
        let netns = Netns::open(path, subject.clone())?;
        let socket = netns
            .run(|| crate::netns::netlink_socket(None))?
            .map_err(|source| Error::Namespace {
                subject: subject.clone(),
                op: "open an rtnetlink socket".into(),
                source,
            })?;
        let ns = self.group.adopt(name, netns);
        let netlink = {
            let _guard = self.rt.enter();
            Netlink::from_socket(socket, subject)
        };
        self.nodes.push(NodeState {
            name: name.to_string(),
            netlink,
            interfaces: Mutex::new(BTreeMap::new()),
            ns,
        });
        self.names.insert(name.to_string(), self.nodes.len() - 1);
        self.reread_interfaces(name)
    }

    /// Reads node `name`'s interfaces and addresses from the kernel again
    /// (a node where something other than netrig made links: a real daemon).
    pub(crate) fn reread_interfaces(&self, name: &str) -> Result<()> {
        let node = self.node(name)?;
        let nl = node.netlink();
        let (links, addrs) = self.block_on(async { (nl.links().await, nl.addresses().await) });
        let (links, addrs) = (links?, addrs?);
        let map: BTreeMap<String, Interface> = links
            .into_iter()
            .map(|l| {
                let iface = Interface {
                    addrs: addrs
                        .iter()
                        .filter(|(i, _)| *i == l.index)
                        .map(|(_, a)| *a)
                        .collect(),
                    name: l.name.clone(),
                    index: l.index,
                    mac: l.mac.unwrap_or_default(),
                };
                (l.name, iface)
            })
            .collect();
        tracing::debug!(lab = %self.name, node = name, interfaces = map.len(), "interfaces read from the kernel");
        *node
            .state()
            .interfaces
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = map;
        Ok(())
    }
}
