//! netrig — a network-emulation test framework for Linux.
//!
//! A test builds a small, real network out of anonymous network namespaces,
//! loads real firewall rules into it, sends real traffic and asserts on what
//! the kernel did. Nothing touches the machine's own (root) namespace.
//!
//! # Module map
//!
//! Each layer imports only itself and the layers above it in this list; in
//! the system layer each line imports only itself and the lines above it
//! (`tests/docs/module_map.rs` checks both against the source).
//!
//! Pure layer (no system calls):
//! - `error` — the crate's [`Error`], each variant naming its subject; structured failures.
//! - `net` — MAC addresses, [`Proto`], CIDR parsing, name rules.
//! - `backend` — [`Backend`]: which firewall, and the one table of its tools' command lines.
//! - [`packet`] — [`Packet`]: captured frames decoded into validated values, tcpdump-style summaries.
//! - `wiring` — [`NodeSpec`], [`Endpoint`], [`Route`]: a lab's nodes, bridges, links, addresses and
//!   routes as data, validated into a plan before anything is built.
//! - [`docker`] — [`docker::DockerHost`]: Docker hosts as data; renders Docker's rules, sysctls, proxies and their wiring.
//! - `manager` — the firewall managers users type into (ufw) as data: a host's commands and
//!   files, ufw's command lines, the sysctls it may write, `user.rules` tied back to commands.
//! - `spec` — [`LabSpec`]: a whole lab as data — its wiring, its Docker hosts as parts, rule
//!   files, servers, programs, link shaping; every way in (file, code, a Docker model) ends here.
//! - `graph` — a [`LabSpec`]'s picture ([`LabSpec::graph`]): nodes, bridges, links, addresses,
//!   Docker networks and published ports as SVG (laid out here), Graphviz dot or Mermaid.
//! - [`topology`] — TOML topology files of either kind into a [`LabSpec`]; errors give file,
//!   line, column and key.
//!
//! System layer:
//! - `netlink`, `runtime` — rtnetlink plumbing, driven by a private runtime usable from any context.
//! - `sysctl`, `netns` — anonymous namespaces held by fds, entered only by threads made for it.
//! - `fdlimit` — the process's open-file limit, raised once from soft to hard (labs and matrices hold many fds).
//! - `process` — commands and long-lived processes inside a namespace, killed with their lab.
//! - `artifacts` — a lab's artifacts directory, kept on failure.
//! - `namespace` — `Namespace`: the handle everything below takes (namespace + processes + artifacts).
//! - `confined` — real programs confined to a node: its network namespace and a private mount
//!   namespace where the lab's directories stand in for the program's `/etc` and state (ufw).
//! - `firewall` — load rules with the real tools (replace tables / append), read back counters, flush.
//! - `conntrack` — [`ConntrackTable`]: a namespace's conntrack entries as values.
//! - `capture` — [`Capture`]: pcap on an interface, active before return, recorded to `.pcap`.
//! - `traffic` — probes and servers from inside a namespace: TCP connect outcomes, UDP/TCP echo, ping, raw frames.
//! - `proxy` — a TCP/UDP port forwarder inside a namespace (netrig's docker-proxy).
//! - `fingerprint` — [`Fingerprint`]: kernel, relied-on modules, tool versions, usable backends.
//! - `evidence` — on failure: every namespace's rulesets, addresses, routes, neighbours, conntrack, and the pcaps.
//! - [`privilege`] — can labs be built here, and should a test skip or fail if not.
//! - `logging` — netrig's `tracing` events under `RUST_LOG`, without a subscriber of the user's.
//! - `nftrace` — which rule decided a packet: kernel trace events (nftables, iptables-nft)
//!   decoded into verdict paths, rule-counter attribution for iptables-legacy (users see it
//!   through [`reach`]).
//!
//! Lab layer:
//! - `lab` — [`Lab`], [`Node`] and [`DockerPart`]: a [`LabSpec`] brought up (wiring, Docker
//!   parts' rules, settings and proxies, rule files, servers, programs), work inside its nodes,
//!   containers started on a running Docker host.
//! - [`expect`] — matchers over packets and expectations on captures (within a deadline, counts,
//!   sequences, none-before-a-sentinel, NAT translation).
//! - [`reach`] — reachability matrices of a running lab: every cell
//!   probed in parallel against netrig's servers, outcome, the addresses the server saw, the
//!   deciding rule (and its node); before/after diffs and golden matrices; one cell traced
//!   hook by hook.
//!
//! Tests:
//! - [`testing`] — the harness for `harness = false` test binaries (feature `testing`, on by
//!   default): privilege and feature skips decided when listing, every libtest argument, readable
//!   failures; and a check through the kernel that a lab's program died with it.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use netrig::expect::udp;
//! use netrig::{Endpoint, Lab};
//! let lab = Lab::builder("two-hosts")
//!     .node("a")
//!     .node("b")
//!     .link(Endpoint::new("a", "eth0").addr("10.0.0.1/24"), Endpoint::new("b", "eth0").addr("10.0.0.2/24"))
//!     .up()?;
//! let server = lab.node("b")?.udp_echo_server("10.0.0.2:7000")?; // bound before return
//! let cap = lab.node("b")?.capture("eth0")?;                      // active before return
//! lab.node("a")?.udp_send("10.0.0.2:7000", b"hi")?;
//! cap.expect(udp().src("10.0.0.1").dst("10.0.0.2:7000").payload("hi"))
//!     .within(Duration::from_secs(1))?;                            // on failure: evidence
//! assert_eq!(server.wait_for_datagrams(1, Duration::from_secs(1))?[0].from.ip().to_string(), "10.0.0.1");
//! # Ok::<_, netrig::Error>(())
//! ```

#![deny(missing_docs)]

// The unit tests share helpers with the integration tests by path
// (tests/common), which name this crate `netrig`.
#[cfg(test)]
extern crate self as netrig;

mod artifacts;
mod backend;
mod capture;
mod confined;
mod conntrack;
pub mod docker;
mod error;
mod evidence;
pub mod expect;
mod fdlimit;
mod fingerprint;
mod firewall;
mod graph;
mod lab;
mod logging;
mod manager;
mod namespace;
mod net;
mod netlink;
mod netns;
mod nftrace;
pub mod packet;
pub mod privilege;
mod process;
mod proxy;
pub mod reach;
mod runtime;
mod spec;
mod sysctl;
pub mod testing;
pub mod topology;
mod traffic;
mod wiring;

pub use backend::Backend;
pub use capture::{Capture, CaptureOptions, CaptureStats};
pub use conntrack::{ConntrackEntry, ConntrackTable};
pub use error::{Error, ExpectationFailure, Result, RulesError, Subject};
pub use evidence::Evidence;
pub use expect::{Matcher, Sentinel};
pub use fingerprint::Fingerprint;
pub use firewall::{Counters, PolicyCounter, RuleCounter};
pub use graph::GraphFormat;
pub use lab::{DockerPart, Lab, Node, unique_lab_name};
pub(crate) use namespace::Namespace;
pub use net::{Mac, Proto};
pub use netlink::{LinkInfo, RouteInfo};
pub use packet::{Direction, Packet, TcpFlags};
pub use process::{NodeCommand, NodeProcess};
pub use spec::LabSpec;
pub use traffic::{Datagram, PingOutcome, TcpEchoServer, TcpOutcome, UdpEchoServer, UdpOutcome};
pub use wiring::{Endpoint, NodeSpec, Route};
