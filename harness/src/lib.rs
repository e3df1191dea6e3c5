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
//!
//! Lab layer:
//! - [`lab`] — [`Lab`] and [`Node`]: build a lab from a spec, work inside its nodes, keep artifacts.
//!
//! # Example
//!
//! ```no_run
//! use netrig::{Endpoint, Lab};
//! let lab = Lab::builder("two-hosts")
//!     .node("a")
//!     .node("b")
//!     .link(Endpoint::new("a", "eth0").addr("10.0.0.1/24"), Endpoint::new("b", "eth0").addr("10.0.0.2/24"))
//!     .up()?;
//! let sock = lab.node("b")?.run(|| std::net::UdpSocket::bind("10.0.0.2:7000"))??;
//! lab.node("a")?.run(|| std::net::UdpSocket::bind("0.0.0.0:0")?.send_to(b"hi", "10.0.0.2:7000"))??;
//! let mut buf = [0u8; 16];
//! let (n, from) = sock.recv_from(&mut buf).unwrap();
//! assert_eq!((&buf[..n], from.ip().to_string().as_str()), (&b"hi"[..], "10.0.0.1"));
//! # Ok::<_, netrig::Error>(())
//! ```

pub mod docker;
pub mod error;
pub mod firewall;
pub mod kept;
pub mod lab;
pub mod netlink;
pub mod netns;
pub mod privilege;
pub mod process;
pub mod proxy;
pub mod sysctl;
pub mod topology;

pub use error::{Error, Result, Subject};
pub use lab::{Endpoint, Interface, Lab, LabSpec, Node, NodeSpec, Route};
pub use netns::Netns;
pub use process::{NodeCommand, NodeProcess};
