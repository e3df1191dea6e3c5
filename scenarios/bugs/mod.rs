//! The bug library: real Docker networking bugs users hit, each a scenario
//! named after what goes wrong, its doc comment citing the moby issue, and
//! its outcome per Docker version as reported. A scenario passes when netrig
//! reproduces the bug where that Docker version has it, and its absence
//! where Docker fixed it (see `main.rs` for the outcome each cell asserts).
//!
//! - [`routing`] — routed peers and the 28+ raw-table drops;
//! - [`firewall`] — Docker next to other firewall owners (INPUT rules, a
//!   libvirt-style NAT, a user's nft table, `flush ruleset`);
//! - [`proxy`] — icc=false and the userland proxy deciding who reaches a
//!   published port, cross-network access without the proxy.

pub mod firewall;
pub mod proxy;
pub mod routing;

use std::net::Ipv4Addr;

/// The host's address on the LAN (where LAN peers reach it).
pub const LAN_HOST: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 129);
