//! reach: reachability matrices of a running lab, before/after diffs, and
//! why each cell is what it is.
//!
//! A [`Cell`] is (source node, destination address:port/protocol). Probing a
//! lab ([`Matrix::probe`], [`Matrix::probe_cells`]) starts netrig's servers
//! on every destination first (bound before any probe; each answers with the
//! source and destination address it saw, so NAT is visible in every cell),
//! asks the kernel which rule decided each cell (nftrace for the nftables
//! and iptables-nft backends, whose traced drops settle a cell at once;
//! rule-counter deltas on iptables-legacy; an ICMP cell's echo request is
//! told apart by its identifier, as TCP and UDP probes are by their source
//! port), then probes every cell in
//! parallel from inside its source node. Each [`Row`] has an [`Outcome`]
//! (`delivered`, `refused`, `dropped`, `unreachable`), the seen addresses and
//! the [`Why`]s: the deciding rule or policy, then the NAT rules that rewrote
//! the flow, with `file:line` for rules from the topology's rule files.
//! Rows are sorted by cell, so the same lab gives the same matrix.
//!
//! A lab ([`crate::Lab`]) is a Docker host file's or a generic lab. In a generic lab
//! every node with rules (each Docker part's host, each node with rule
//! files) is traced for the same probes at once, and each [`Why`] names its
//! node: a cell's why is the first drop on its path alone, else every
//! node's accept, then every NAT rule that rewrote it. Its default cells are
//! every node to each Docker part's destinations (as below, on the part
//! host's addresses) and to each echo server the topology starts (which
//! answers a probe with what it saw, as netrig's servers do).
//!
//! [`Matrix::default_cells`] derives a Docker host's cells from its model:
//! sources are the internet, every LAN peer, the host and every bridge-mode
//! container; destinations are every published port on each host address
//! (127.0.0.1 from the host only), every container address × its published
//! container ports and one TCP port it does not publish (the first from
//! 9000), and each internet server (TCP 80 and ICMP echo). A topology's
//! `[matrix] cells` are added to them (or replace them, `replace_defaults`).
//!
//! [`MatrixDiff::probe`] probes two labs at once and keeps the cells whose
//! outcome or seen addresses changed; [`Matrix::assert_golden`] pins a
//! matrix in a text file (`NETRIG_BLESS=1` rewrites it).
//!
//! [`trace_cell`] traces one cell hook by hook in every deciding node, with
//! the addresses after each NAT step (a [`CellTrace`], and its [`Why`]s as a
//! matrix row gives them): for reproducing one cell without a matrix.
//!
//! A matrix, a diff and a cell trace print as text (`Display`; a matrix's
//! text is the golden-file format), and `render` each in any [`Format`]
//! (text, Markdown, JSON, grid, HTML): what `netrig matrix|diff|trace`
//! print. Probed ones carry their lab's picture, which the HTML page
//! draws beside the grid.
//!
//! ```no_run
//! use netrig::reach::{Matrix, MatrixDiff};
//! let before = netrig::topology::load("topologies/docker-bridge.toml")?.up()?;
//! let after = netrig::topology::load("topologies/docker-user-rules.toml")?.up()?;
//! print!("{}", Matrix::probe(&before)?);
//! let diff = MatrixDiff::probe(&before, &after)?;
//! for (b, a) in &diff.changed {
//!     println!("{}: {} -> {} because {}", b.cell, b.reach(), a.reach(), a.why[0]);
//! }
//! # Ok::<_, netrig::Error>(())
//! ```

mod cell;
mod defaults;
mod diff;
mod format;
mod golden;
mod grid;
mod html;
mod matrix;
mod probe;
mod server;
mod target;

pub use cell::{Cell, Outcome, Row, Service, Why};
pub use diff::MatrixDiff;
pub use format::Format;
pub use matrix::{CellTrace, DEFAULT_DEADLINE, Matrix, trace_cell};
