//! netrig — a network-emulation test framework for Linux.
//!
//! A test builds a small, real network out of anonymous network namespaces,
//! loads real firewall rules into it, sends real traffic and asserts on what
//! the kernel did. Nothing touches the machine's own (root) namespace.
//!
//! # Module map
//!
//! Pure layer (no system calls):
//! - [`error`] — the crate's [`Error`], each variant naming its subject.
//! - [`packet`] — [`Packet`]: captured frames decoded into validated values, with tcpdump-style summaries.
//! - [`conntrack`] (parsing) — [`ConntrackTable`]: conntrack entries as values.
//! - [`lab`] spec and plan — [`LabSpec`], [`Endpoint`], [`Route`]: labs as data, validated before anything is built.
//! - [`docker`] — [`docker::DockerHost`]: Docker hosts as data; renders Docker's rules (iptables/nft text), sysctls, proxies and the lab.
//! - [`topology`] — TOML topology files into a [`docker::DockerHost`]; errors give file, line, column and key.
//!
//! System layer:
//! - [`netns`] — [`Netns`]: anonymous namespaces held by fds; [`Netns::run`] enters one on a fresh thread.
//! - [`netlink`] — rtnetlink plumbing for one namespace (links, bridges, veths, addresses, routes, neighbours).
//! - [`sysctl`] — per-namespace sysctls.
//! - [`process`] — commands and long-lived processes inside nodes, killed with their lab.
//! - [`firewall`] — backends (iptables-nft, iptables-legacy, nftables): apply rendered rules in a node, read back counters, flush.
//! - [`kept`] — labs kept up by the CLI: state files and pins, removable after a crash.
//! - [`proxy`] — a TCP/UDP port forwarder inside a node (netrig's docker-proxy).
//! - [`privilege`] — can we build labs here, and should a test skip or fail if not.
//! - [`nftrace`] — which rule decided a packet: kernel trace events (nftables, iptables-nft) decoded into verdict paths.
//! - [`witness`] — [`Witness`]: a namespace that hears, through the kernel, when a lab's links vanish.
//! - [`capture`] — [`Capture`]: pcap on a node's interface, active before return, recorded to `.pcap`.
//! - [`traffic`] — probes and servers from inside nodes: TCP connect outcomes, UDP/TCP echo, ping, raw frame injection.
//!
//! Lab layer:
//! - [`lab`] — [`Lab`] and [`Node`]: build a lab from a spec, work inside its nodes, keep artifacts.
//! - [`expect`] — matchers over packets and expectations on captures (within a deadline, counts,
//!   sequences, none-before-a-sentinel, NAT translation).
//! - [`docker::DockerLab`] — a Docker host brought up: lab, Docker's sysctls and rules loaded with the real tools, userland proxies, user rule files.
//! - [`evidence`] — on failure: the lab's rulesets, addresses, routes, neighbours, conntrack and pcaps, kept on disk.
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
//! let cap = lab.capture("b", "eth0")?;                            // active before return
//! lab.node("a")?.udp_send("10.0.0.2:7000", b"hi")?;
//! cap.expect(udp().src("10.0.0.1").dst("10.0.0.2:7000").payload("hi"))
//!     .within(Duration::from_secs(1))?;                            // on failure: evidence
//! assert_eq!(server.wait_for_datagrams(1, Duration::from_secs(1))?[0].0.ip().to_string(), "10.0.0.1");
//! # Ok::<_, netrig::Error>(())
//! ```

#![deny(missing_docs)]

pub mod capture;
pub mod conntrack;
pub mod docker;
pub mod error;
pub mod evidence;
pub mod expect;
pub mod firewall;
pub mod kept;
pub mod lab;
pub mod netlink;
pub mod netns;
pub mod nftrace;
pub mod packet;
pub mod privilege;
pub mod process;
pub mod proxy;
pub mod sysctl;
pub mod topology;
pub mod traffic;
pub mod witness;

pub use capture::{Capture, CaptureOptions, CaptureStats};
pub use conntrack::{ConntrackEntry, ConntrackTable};
pub use error::{Error, Result, Subject};
pub use evidence::Evidence;
pub use expect::{Matcher, Sentinel};
pub use lab::{Endpoint, Interface, Lab, LabSpec, Node, NodeSpec, Route};
pub use netns::Netns;
pub use packet::{Direction, Packet, TcpFlags};
pub use process::{NodeCommand, NodeProcess};
pub use traffic::{PingOutcome, TcpEchoServer, TcpOutcome, UdpEchoServer, UdpOutcome};
pub use witness::Witness;
