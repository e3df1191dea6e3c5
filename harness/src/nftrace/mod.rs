//! nftrace: which rule decided a packet, from the kernel's own trace events.
//!
//! This module owns netrig's use of nf_tables tracing. Inside one lab
//! namespace it subscribes to `NFNLGRP_NFTRACE` on `NETLINK_NETFILTER`, adds
//! its own trace table (chains on prerouting and output at priority -350,
//! before every other chain, with `meta nftrace set 1` for the selected flow:
//! a TCP or UDP probe by its source port, an ICMP echo by its identifier,
//! and its answer by the same key as destination port or identifier),
//! decodes every `NFT_MSG_TRACE` event into a [`TraceEvent`](decode::TraceEvent), maps rule handles
//! to the rules as the user wrote them (the nft rule, or the iptables-save line
//! for iptables-nft tables) and returns, per packet, the verdict path hook by
//! hook with the addresses after each NAT step, and the [`Decision`]: the rule
//! or chain policy that settled the packet's fate; the answer's path apart
//! ([`FlowTrace::answers`], [`FlowTrace::answer_drop`]). Guarantees: the socket is
//! opened inside the namespace and subscribed before tracing starts, nothing
//! touches the root namespace, the trace table is removed afterwards, and it
//! works rootless (`unshare -Urn`). iptables-legacy rules are not nf_tables
//! rules and cannot be traced: [`trace_sources_at`] says so instead of guessing, and
//! [`count_flow`] attributes a probe by rule-counter deltas instead, into the
//! same [`FlowTrace`]; in a mixed ruleset only the nf_tables chains appear in a trace.
//!
//! Kernel behaviour this relies on (checked on kernel 6.18 with the captured
//! bytes in `testdata/`): the network and transport headers come with the
//! first event of each base chain a packet enters (so NAT between hooks is
//! visible); a rule event with no handle and verdict `continue` marks the end
//! of a chain (`nft monitor trace` hides it); `reject` reaches the trace as
//! `drop`; the trace id is derived from the skb's address, flow hash and input
//! interface, so a later packet of the same flow may reuse an id (a base chain
//! met twice starts a new [`PacketTrace`](path::PacketTrace)) and a packet looped through `lo`, or
//! bridged in (br_netfilter) and then routed, gets a new one mid-path (use
//! [`FlowTrace::hooks`]); Linux 6.16+ adds conntrack id, direction, status and state.
//! Within a chain, `nft -a list` orders handles as iptables-save orders `-A` lines.
//! A source NAT happens at the last hook, so the trace names the SNAT or
//! MASQUERADE rule but no later hook shows the rewritten source.
//!
//! Layers: `decode_datagram` (bytes to events), [`RuleBook`](rules::RuleBook)
//! (ruleset text to rule text), `packet_traces` / `decide` (events to paths)
//! and `counter_trace` are pure; [`Tracer`](tracer::Tracer),
//! [`trace_sources_at`] (every source's flows under one trace table in each
//! namespace holding rules) and [`count_flow`] are the system side and need
//! only a [`crate::Namespace`] (the source's, and the one holding the rules).
//!
//! The module is netrig's own: users see its work through [`crate::reach`]
//! (a matrix row's `why`, [`crate::reach::trace_cell`] for one cell hook by
//! hook). Its tests on real labs are in `lab_tests`.

mod batch;
mod counters;
mod decode;
mod flow;
mod headers;
mod path;
mod probe;
mod rules;
mod sources;
mod tracer;

pub(crate) use batch::trace_sources_at;
pub(crate) use decode::Verdict;
pub(crate) use flow::{Flow, FlowProto, FlowTrace, Method, count_flow, count_flow_avoiding};
pub(crate) use path::{Decision, Step};
pub(crate) use probe::{Keys, ProbeOutcome, held_keys};
#[cfg(test)]
pub(crate) use {counters::counter_trace, decode::Family, path::decide};

#[cfg(test)]
mod lab_tests;
#[cfg(test)]
mod tests;
