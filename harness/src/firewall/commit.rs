//! Knowing when a restore tool's rules are in the kernel, before the tool
//! exits: nf_tables announces every committed transaction of a namespace
//! with an `NFT_MSG_NEWGEN` message on the `NFNLGRP_NFTABLES` multicast
//! group, carrying the committing process's pid (`NFTA_GEN_PROC_PID`). An
//! `iptables-nft-restore` commits one transaction per table (`COMMIT` line)
//! and then spends 5–35 ms in `close()` of its nfnetlink socket waiting for
//! an RCU grace period (`nft -f` commits its whole file at once, then
//! waits the same way); once its last commit is announced, the rules are
//! active and the tool is reaped in the background
//! ([`crate::namespace::Namespace::defer_load`]).
//!
//! The watch is a netlink socket made inside the namespace (sockets hear
//! only the namespace they were created in) and subscribed before the tool
//! starts; the tool's exit is watched with a pidfd, so a tool that fails
//! before its last commit is waited for and reported as before. Every wait
//! is `poll(2)` on those two descriptors with a deadline.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::namespace::Namespace;

const NETLINK_NETFILTER: i32 = 12;
const NFNLGRP_NFTABLES: u32 = 7;
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFT_MSG_NEWGEN: u16 = 15;
const NFTA_GEN_PROC_PID: u16 = 2;
const SOL_NETLINK: i32 = 270;
const NETLINK_ADD_MEMBERSHIP: i32 = 1;

/// How long to wait for the commits before waiting for the tool's exit
/// instead (which is what happens without a watch).
const DEADLINE: Duration = Duration::from_secs(30);

/// How a watched load ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The kernel announced as many commits by the tool as were expected:
    /// its rules are active; it may still be exiting.
    Committed,
    /// The tool exited first (or the watch lost events, or the deadline
    /// passed): only its exit status tells.
    Exited,
}

/// A subscription to a namespace's nf_tables generation announcements.
#[derive(Debug)]
pub(crate) struct GenWatch {
    sock: OwnedFd,
}

impl GenWatch {
    /// Subscribes inside `ns`.
    pub(crate) fn open(ns: &Namespace) -> Result<GenWatch> {
        ns.run(open_socket)?
            .map(|sock| GenWatch { sock })
            .map_err(|e| {
                Error::io(
                    ns.subject().clone(),
                    "subscribe to nf_tables generations",
                    e,
                )
            })
    }

    /// Waits until process `pid` has committed `commits` transactions, or
    /// has exited, whichever comes first; `on_commit` is told how many it
    /// has committed each time that number grows.
    pub(crate) fn wait(
        &self,
        pid: u32,
        commits: usize,
        on_commit: &mut dyn FnMut(usize),
    ) -> Outcome {
        if commits == 0 {
            return Outcome::Exited;
        }
        // SAFETY: pidfd_open(2) of a child we have not reaped yet (its
        // reaper waits for it to exit, so the pid is still this child's).
        let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::c_int, 0) };
        if raw < 0 {
            return Outcome::Exited;
        }
        // SAFETY: a fresh fd nobody else owns.
        let pidfd = unsafe { OwnedFd::from_raw_fd(raw as i32) };
        let deadline = Instant::now() + DEADLINE;
        let mut seen = 0;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Outcome::Exited;
            }
            let mut fds = [
                nix::poll::PollFd::new(self.sock.as_fd(), nix::poll::PollFlags::POLLIN),
                nix::poll::PollFd::new(pidfd.as_fd(), nix::poll::PollFlags::POLLIN),
            ];
            let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
            match nix::poll::poll(&mut fds, ms) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return Outcome::Exited,
            }
            let readable = |f: &nix::poll::PollFd| f.revents().is_some_and(|r| !r.is_empty());
            let exited = readable(&fds[1]);
            // The announcements of a commit are queued before the tool can
            // exit: read them all, then decide.
            if readable(&fds[0]) || exited {
                match self.drain(pid, &mut buf) {
                    Some(0) => {}
                    Some(n) => {
                        seen += n;
                        tracing::debug!(pid, seen, of = commits, "transaction committed");
                        on_commit(seen);
                    }
                    None => return Outcome::Exited,
                }
            }
            if seen >= commits {
                return Outcome::Committed;
            }
            if exited {
                return Outcome::Exited;
            }
        }
    }

    /// Reads every queued message; the number of NEWGENs by `pid`, or
    /// `None` when events were lost (ENOBUFS) or the socket failed.
    fn drain(&self, pid: u32, buf: &mut [u8]) -> Option<usize> {
        use nix::errno::Errno;
        use nix::sys::socket::{MsgFlags, recv};
        let mut seen = 0;
        loop {
            match recv(self.sock.as_raw_fd(), buf, MsgFlags::MSG_DONTWAIT) {
                Ok(n) => seen += newgens_by(&buf[..n], pid),
                Err(Errno::EAGAIN) => return Some(seen),
                Err(Errno::EINTR) => continue,
                Err(_) => return None,
            }
        }
    }
}

/// The number of `NFT_MSG_NEWGEN` messages in `msgs` whose
/// `NFTA_GEN_PROC_PID` is `pid`.
fn newgens_by(msgs: &[u8], pid: u32) -> usize {
    let u16_at = |i: usize| u16::from_ne_bytes([msgs[i], msgs[i + 1]]);
    let mut seen = 0;
    let mut at = 0;
    while at + 16 <= msgs.len() {
        let len = u32::from_ne_bytes(msgs[at..at + 4].try_into().unwrap()) as usize;
        if len < 16 || at + len > msgs.len() {
            break;
        }
        if u16_at(at + 4) == (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWGEN {
            // Attributes after nlmsghdr (16) and nfgenmsg (4), 4-aligned.
            let mut a = at + 20;
            while a + 4 <= at + len {
                let alen = u16_at(a) as usize;
                if alen < 4 || a + alen > at + len {
                    break;
                }
                if u16_at(a + 2) & 0x3fff == NFTA_GEN_PROC_PID && alen == 8 {
                    let v = u32::from_be_bytes(msgs[a + 4..a + 8].try_into().unwrap());
                    if v == pid {
                        seen += 1;
                    }
                }
                a += alen.div_ceil(4) * 4;
            }
        }
        at += len.div_ceil(4) * 4;
    }
    seen
}

/// A NETLINK_NETFILTER socket in the calling thread's namespace, joined to
/// `NFNLGRP_NFTABLES`, with a receive buffer large enough for a big
/// ruleset's announcements (each table, chain and rule is announced too).
fn open_socket() -> std::io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the fd is owned at once.
    let raw = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            NETLINK_NETFILTER,
        )
    };
    if raw < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh fd nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let set = |level: i32, name: i32, value: i32| {
        // SAFETY: setsockopt(2) with a pointer to a live int of its size.
        let r = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                level,
                name,
                (&value as *const i32).cast(),
                std::mem::size_of::<i32>() as libc::socklen_t,
            )
        };
        if r < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(())
        }
    };
    // Bound (the kernel picks the port id): a multicast skips sockets whose
    // port id equals the excluded one, which is 0 for these events — so an
    // unbound socket (port id 0) would hear nothing.
    // SAFETY: an all-zero sockaddr_nl is valid; bind(2) reads its size.
    let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    // SAFETY: bind(2) with a pointer to a live sockaddr_nl of its size.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // Best effort: without CAP_NET_ADMIN the default size stays, and lost
    // events only mean waiting for the tool's exit.
    let _ = set(libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, 4 << 20);
    set(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, NFNLGRP_NFTABLES as i32)?;
    Ok(fd)
}

/// The number of transactions `iptables-nft-restore` commits for `text`:
/// one per table, at its `COMMIT` line — or 0 (wait for the exit) when
/// anything but blank lines and comments follows the last `COMMIT`: the
/// tool could still fail there after the kernel committed every table.
pub(crate) fn iptables_commits(text: &str) -> usize {
    let mut commits = 0;
    let mut after_last = false;
    for line in text.lines().map(str::trim) {
        if line == "COMMIT" {
            commits += 1;
            after_last = false;
        } else if !line.is_empty() && !line.starts_with('#') {
            after_last = true;
        }
    }
    if after_last { 0 } else { commits }
}

/// The number of transactions `nft -f` commits for `text`: the whole file
/// is one, when it holds anything but blank lines and comments (a batch
/// that changes nothing commits nothing: then the exit is waited for).
pub(crate) fn nft_commits(text: &str) -> usize {
    let any = (text.lines().map(str::trim)).any(|l| !l.is_empty() && !l.starts_with('#'));
    usize::from(any)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn newgen(pid: u32) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&36u32.to_ne_bytes());
        m.extend_from_slice(&((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWGEN).to_ne_bytes());
        m.extend_from_slice(&[0; 10]);
        m.extend_from_slice(&[0, 0, 0, 1]); // nfgenmsg
        m.extend_from_slice(&8u16.to_ne_bytes());
        m.extend_from_slice(&1u16.to_ne_bytes()); // NFTA_GEN_ID
        m.extend_from_slice(&7u32.to_be_bytes());
        m.extend_from_slice(&8u16.to_ne_bytes());
        m.extend_from_slice(&NFTA_GEN_PROC_PID.to_ne_bytes());
        m.extend_from_slice(&pid.to_be_bytes());
        m
    }

    #[test]
    fn counts_the_newgens_of_one_pid() {
        let mut msgs = newgen(41);
        msgs.extend(newgen(42));
        msgs.extend(newgen(41));
        assert_eq!(newgens_by(&msgs, 41), 2);
        assert_eq!(newgens_by(&msgs, 42), 1);
        assert_eq!(newgens_by(&msgs, 43), 0);
        assert_eq!(
            newgens_by(&msgs[..30], 41),
            0,
            "a truncated message counts nothing"
        );
    }

    #[test]
    fn one_commit_per_table() {
        let text = "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n*nat\n-A X -j Y\nCOMMIT\n";
        assert_eq!(iptables_commits(text), 2);
        assert_eq!(iptables_commits(""), 0);
        assert_eq!(iptables_commits("*filter\nCOMMIT\n# done\n\n"), 1);
        assert_eq!(
            iptables_commits("*filter\nCOMMIT\nbogus\n"),
            0,
            "a line after the last COMMIT can fail after the kernel committed"
        );
    }

    #[test]
    fn one_commit_per_nft_file() {
        assert_eq!(nft_commits("table inet t {\n}\ntable ip u {\n}\n"), 1);
        assert_eq!(nft_commits("# nothing\n\n"), 0);
    }

    const TWO_TABLES: &str = "*filter\n:INPUT ACCEPT [0:0]\n:DOCKER - [0:0]\n\
        -A INPUT -j DOCKER\n-A DOCKER -p tcp -m tcp --dport 80 -j ACCEPT\nCOMMIT\n\
        *nat\n:PREROUTING ACCEPT [0:0]\n:DOCKER - [0:0]\n-A PREROUTING -j DOCKER\n\
        -A DOCKER -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80\nCOMMIT\n";

    /// The ruleset as the kernel has it, read without settling the
    /// namespace's pending loads (a plain command, not a firewall operation).
    fn kernel_rules(ns: &Namespace) -> String {
        let out = ns.command("iptables-nft-save").checked_output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The namespace's tables of `family` (`AF_INET`, `AF_INET6`), read at once over nfnetlink by a thread
    /// inside it (one dump, no program to start: `iptables-nft-save` first
    /// waits a grace period of its own, long enough to hide a late commit).
    fn kernel_tables(ns: &Namespace, family: i32) -> Vec<String> {
        ns.run(|| {
            // SAFETY: plain socket(2); the fd is owned at once.
            let raw = unsafe {
                libc::socket(
                    libc::AF_NETLINK,
                    libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                    NETLINK_NETFILTER,
                )
            };
            assert!(raw >= 0, "{}", std::io::Error::last_os_error());
            // SAFETY: a fresh fd nobody else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(raw) };
            let mut req = Vec::new();
            req.extend_from_slice(&20u32.to_ne_bytes());
            req.extend_from_slice(&((NFNL_SUBSYS_NFTABLES << 8) | 1).to_ne_bytes()); // GETTABLE
            req.extend_from_slice(&(1u16 | 0x300).to_ne_bytes()); // REQUEST | DUMP
            req.extend_from_slice(&[0; 8]);
            req.extend_from_slice(&[family as u8, 0, 0, 0]);
            // SAFETY: send(2) of a buffer we own.
            let sent = unsafe { libc::send(fd.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) };
            assert_eq!(sent, 20);
            let mut tables = Vec::new();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                // SAFETY: recv(2) into a buffer we own.
                let n =
                    unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
                assert!(n > 0);
                let msgs = &buf[..n as usize];
                let mut at = 0;
                while at + 16 <= msgs.len() {
                    let len = u32::from_ne_bytes(msgs[at..at + 4].try_into().unwrap()) as usize;
                    let kind = u16::from_ne_bytes([msgs[at + 4], msgs[at + 5]]);
                    if kind == 3 || kind == 2 {
                        return tables; // DONE (or an error: what was read)
                    }
                    assert!(len >= 24 && at + len <= msgs.len(), "a truncated message");
                    // NFTA_TABLE_NAME is the first attribute.
                    let alen = u16::from_ne_bytes([msgs[at + 20], msgs[at + 21]]) as usize;
                    let name = &msgs[at + 24..at + 20 + alen];
                    let name = name.split(|b| *b == 0).next().unwrap_or_default();
                    tables.push(String::from_utf8_lossy(name).into_owned());
                    at += len.div_ceil(4) * 4;
                }
            }
        })
        .unwrap()
    }

    #[test]
    fn every_table_is_active_when_the_load_returns() {
        if !crate::privilege::should_run("every_table_is_active_when_the_load_returns").unwrap() {
            return;
        }
        let ns = Namespace::new("nr-commit-ok").unwrap();
        crate::backend::Backend::IptablesNft
            .replace_tables_committed(&ns, TWO_TABLES)
            .unwrap();
        // Both tables, the last one too (committed ~10 ms after the first,
        // behind a grace period), before the tool was reaped.
        let mut tables = kernel_tables(&ns, libc::AF_INET);
        tables.sort();
        assert_eq!(tables, ["filter", "nat"]);
        let rules = kernel_rules(&ns);
        assert!(
            rules.contains("-A DOCKER -p tcp -m tcp --dport 80 -j ACCEPT"),
            "{rules}"
        );
        assert!(rules.contains("--to-destination 172.17.0.2:80"), "{rules}");
        ns.settle_loads().unwrap();
    }

    #[test]
    fn an_nft_file_is_active_when_the_load_returns() {
        if !crate::privilege::should_run("an_nft_file_is_active_when_the_load_returns").unwrap() {
            return;
        }
        let ns = Namespace::new("nr-commit-nft").unwrap();
        let file = "table ip a {\n chain c { type filter hook input priority 0; policy accept; tcp dport 80 accept; }\n}\n\
            table ip b {\n chain c { type filter hook forward priority 0; policy accept; }\n}\n";
        crate::backend::Backend::Nftables
            .replace_tables_committed(&ns, file)
            .unwrap();
        let mut tables = kernel_tables(&ns, libc::AF_INET);
        tables.sort();
        assert_eq!(tables, ["a", "b"]);
        ns.settle_loads().unwrap();
    }

    #[test]
    fn a_restore_failing_after_a_commit_fails_the_load() {
        if !crate::privilege::should_run("a_restore_failing_after_a_commit_fails_the_load").unwrap()
        {
            return;
        }
        let ns = Namespace::new("nr-commit-bad").unwrap();
        // The filter table commits; nat fails (an unknown chain, line 6):
        // one NEWGEN of two, then a non-zero exit. (filter uses more
        // extensions, so iptables-nft is fed it first either way.)
        let bad = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp -m conntrack --ctstate ESTABLISHED -j ACCEPT\nCOMMIT\n\
            *nat\n-A PREROUTING -j NOPE\nCOMMIT\n";
        let err = crate::backend::Backend::IptablesNft
            .replace_tables_committed(&ns, bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("-A PREROUTING -j NOPE"), "{err}");
        assert!(err.contains(":6: -A PREROUTING"), "{err}");
        assert!(kernel_rules(&ns).contains("--ctstate ESTABLISHED -j ACCEPT"));
        ns.settle_loads().unwrap();
    }

    const SKELETON6: &str = "*nat\n:PREROUTING ACCEPT [0:0]\n:DOCKER - [0:0]\n\
        -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER\nCOMMIT\n\
        *filter\n:FORWARD ACCEPT [0:0]\n:DOCKER-USER - [0:0]\n-A FORWARD -j DOCKER-USER\nCOMMIT\n";

    #[test]
    fn both_families_are_active_when_the_loads_return() {
        if !crate::privilege::should_run("both_families_are_active_when_the_loads_return").unwrap()
        {
            return;
        }
        let ns = Namespace::new("nr-commit-both").unwrap();
        crate::backend::Backend::IptablesNft
            .load_both(
                &ns,
                crate::backend::LoadMode::ReplaceTables,
                TWO_TABLES,
                SKELETON6,
            )
            .unwrap();
        // Every table of both families, read at once, before either tool
        // was reaped (their stdin was held open until both had committed).
        let (mut four, mut six) = (
            kernel_tables(&ns, libc::AF_INET),
            kernel_tables(&ns, libc::AF_INET6),
        );
        four.sort();
        six.sort();
        assert_eq!(four, ["filter", "nat"]);
        assert_eq!(six, ["filter", "nat"]);
        ns.settle_loads().unwrap();
        let six = ns.command("ip6tables-nft-save").checked_output().unwrap();
        let six = String::from_utf8_lossy(&six.stdout);
        assert!(six.contains("-A FORWARD -j DOCKER-USER"), "{six}");
        assert!(
            six.contains("-m addrtype --dst-type LOCAL -j DOCKER"),
            "{six}"
        );
    }

    #[test]
    fn a_failing_or_empty_ip6tables_load_ends_and_is_reported() {
        if !crate::privilege::should_run("a_failing_or_empty_ip6tables_load_ends_and_is_reported")
            .unwrap()
        {
            return;
        }
        let backend = crate::backend::Backend::IptablesNft;
        let ns = Namespace::new("nr-commit-bad6").unwrap();
        let bad6 = SKELETON6.replace("-j DOCKER-USER", "-j NOPE");
        let err = backend
            .load_both(
                &ns,
                crate::backend::LoadMode::ReplaceTables,
                TWO_TABLES,
                &bad6,
            )
            .unwrap_err()
            .to_string();
        assert!(err.contains("-A FORWARD -j NOPE"), "{err}");
        assert!(kernel_rules(&ns).contains("--to-destination 172.17.0.2:80"));
        // Nothing to commit (no COMMIT line): it returns all the same.
        let ns = Namespace::new("nr-commit-empty6").unwrap();
        backend
            .load_both(&ns, crate::backend::LoadMode::ReplaceTables, TWO_TABLES, "")
            .unwrap();
        // A failing IPv4 ruleset: its error, the IPv6 one loaded anyway.
        let ns = Namespace::new("nr-commit-bad4").unwrap();
        let err = backend
            .load_both(
                &ns,
                crate::backend::LoadMode::ReplaceTables,
                &TWO_TABLES.replace("-j DOCKER\n", "-j NOPE\n"),
                SKELETON6,
            )
            .unwrap_err()
            .to_string();
        assert!(err.contains("NOPE"), "{err}");
        ns.settle_loads().unwrap();
        assert_eq!(kernel_tables(&ns, libc::AF_INET6).len(), 2);
    }
}
