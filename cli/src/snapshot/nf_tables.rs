//! The namespace's nf_tables tables, listed over nfnetlink by the calling
//! thread (which must be inside the namespace): one dump request, no
//! program to start. `netrig snapshot` uses the list to tell whether
//! `nft -j list ruleset` would add anything to the iptables-nft saves.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// One table: its family (`ip`, `ip6`, `inet`, `arp`, `bridge`, `netdev`)
/// and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Table {
    pub(crate) family: &'static str,
    pub(crate) name: String,
}

impl Table {
    /// Whether iptables-nft / ip6tables-nft could own it (and their save
    /// would list its rules): one of xtables' table names in `ip`/`ip6`.
    pub(crate) fn is_xtables(&self) -> bool {
        matches!(self.family, "ip" | "ip6")
            && matches!(
                self.name.as_str(),
                "filter" | "nat" | "mangle" | "raw" | "security"
            )
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.family, self.name)
    }
}

const NETLINK_NETFILTER: i32 = 12;
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_GETTABLE: u16 = 1;
const NFTA_TABLE_NAME: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_DUMP: u16 = 0x300;

fn family(f: u8) -> &'static str {
    match i32::from(f) {
        nix::libc::AF_INET => "ip",
        nix::libc::AF_INET6 => "ip6",
        1 => "inet",
        3 => "arp",
        7 => "bridge",
        5 => "netdev",
        _ => "unknown",
    }
}

/// The tables of the calling thread's network namespace.
pub(crate) fn list() -> std::io::Result<Vec<Table>> {
    // SAFETY: plain socket(2); the fd is owned at once.
    let raw = unsafe {
        nix::libc::socket(
            nix::libc::AF_NETLINK,
            nix::libc::SOCK_RAW | nix::libc::SOCK_CLOEXEC,
            NETLINK_NETFILTER,
        )
    };
    if raw < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh fd nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // nlmsghdr (16 bytes) + nfgenmsg (family AF_UNSPEC, version 0, res_id 0).
    let mut req = Vec::with_capacity(20);
    req.extend_from_slice(&20u32.to_ne_bytes());
    req.extend_from_slice(&((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE).to_ne_bytes());
    req.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    req.extend_from_slice(&1u32.to_ne_bytes()); // sequence
    req.extend_from_slice(&0u32.to_ne_bytes()); // port: the kernel's
    req.extend_from_slice(&[0, 0, 0, 0]);
    // SAFETY: send(2) of a buffer we own on a socket we own.
    let sent = unsafe { nix::libc::send(fd.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) };
    if sent < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut tables = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // SAFETY: recv(2) into a buffer we own, at most its length.
        let n = unsafe { nix::libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let msgs = &buf[..n as usize];
        let mut at = 0;
        while at + 16 <= msgs.len() {
            let u32_at = |i: usize| u32::from_ne_bytes(msgs[i..i + 4].try_into().unwrap());
            let u16_at = |i: usize| u16::from_ne_bytes(msgs[i..i + 2].try_into().unwrap());
            let len = u32_at(at) as usize;
            let kind = u16_at(at + 4);
            if len < 16 || at + len > msgs.len() {
                return Err(std::io::Error::other("a truncated nfnetlink message"));
            }
            match kind {
                NLMSG_DONE => return Ok(tables),
                NLMSG_ERROR => {
                    let code = i32::from_ne_bytes(msgs[at + 16..at + 20].try_into().unwrap());
                    return Err(std::io::Error::from_raw_os_error(-code));
                }
                k if k == (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE => {
                    let fam = family(msgs[at + 16]);
                    // Attributes after nlmsghdr and nfgenmsg, 4-aligned.
                    let mut a = at + 20;
                    while a + 4 <= at + len {
                        let alen = u16_at(a) as usize;
                        let atype = u16_at(a + 2) & 0x3fff;
                        if alen < 4 || a + alen > at + len {
                            break;
                        }
                        if atype == NFTA_TABLE_NAME {
                            let v = &msgs[a + 4..a + alen];
                            let v = v.split(|b| *b == 0).next().unwrap_or_default();
                            tables.push(Table {
                                family: fam,
                                name: String::from_utf8_lossy(v).into_owned(),
                            });
                        }
                        a += alen.div_ceil(4) * 4;
                    }
                }
                _ => {}
            }
            at += len.div_ceil(4) * 4;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xtables_names_in_ip_families_only() {
        let t = |family, name: &str| Table {
            family,
            name: name.into(),
        };
        assert!(t("ip", "filter").is_xtables());
        assert!(t("ip6", "nat").is_xtables());
        assert!(!t("inet", "filter").is_xtables());
        assert!(!t("ip", "docker-bridges").is_xtables());
        assert!(!t("bridge", "filter").is_xtables());
    }
}
