//! Dumps over rtnetlink (links, addresses, routes, rules, neighbours) by
//! the calling thread, which must be inside the namespace to read: one
//! socket, one dump request per table, no program to start. The messages
//! are kept raw; `ip_json` turns them into `ip -j`'s JSON.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

pub(crate) const RTM_GETLINK: u16 = 18;
pub(crate) const RTM_GETADDR: u16 = 22;
pub(crate) const RTM_GETROUTE: u16 = 26;
pub(crate) const RTM_GETNEIGH: u16 = 30;
pub(crate) const RTM_GETRULE: u16 = 34;

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_DUMP_INTR: u16 = 0x10;
const IFLA_EXT_MASK: u16 = 29;
const RTEXT_FILTER_VF: u32 = 1;

/// One message of a dump: its fixed header (ifinfomsg, rtmsg …) and its
/// attributes.
#[derive(Debug, Clone)]
pub(crate) struct Msg {
    pub(crate) header: Vec<u8>,
    pub(crate) attrs: Attrs,
}

/// Netlink attributes in the order the kernel sent them: (type without
/// the nested/byte-order bits, payload).
#[derive(Debug, Clone, Default)]
pub(crate) struct Attrs(pub(crate) Vec<(u16, Vec<u8>)>);

impl Attrs {
    /// Parses the attributes in `b` (stops at the first malformed one).
    pub(crate) fn parse(mut b: &[u8]) -> Attrs {
        let mut out = Vec::new();
        while b.len() >= 4 {
            let len = usize::from(u16::from_ne_bytes([b[0], b[1]]));
            let ty = u16::from_ne_bytes([b[2], b[3]]) & 0x3fff;
            if len < 4 || len > b.len() {
                break;
            }
            out.push((ty, b[4..len].to_vec()));
            b = &b[align(len).min(b.len())..];
        }
        Attrs(out)
    }

    /// The first attribute of type `ty`.
    pub(crate) fn get(&self, ty: u16) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|(t, _)| *t == ty)
            .map(|(_, v)| v.as_slice())
    }

    pub(crate) fn u8(&self, ty: u16) -> Option<u8> {
        self.get(ty)?.first().copied()
    }

    pub(crate) fn u32(&self, ty: u16) -> Option<u32> {
        Some(u32::from_ne_bytes(self.get(ty)?.get(..4)?.try_into().ok()?))
    }

    /// A NUL-terminated string attribute.
    pub(crate) fn str(&self, ty: u16) -> Option<String> {
        let b = self.get(ty)?;
        let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
        Some(String::from_utf8_lossy(&b[..end]).into_owned())
    }

    /// A nested attribute's attributes.
    pub(crate) fn nested(&self, ty: u16) -> Option<Attrs> {
        self.get(ty).map(Attrs::parse)
    }
}

fn align(n: usize) -> usize {
    (n + 3) & !3
}

/// A NETLINK_ROUTE socket of the calling thread's namespace.
pub(crate) struct Socket {
    fd: OwnedFd,
    seq: u32,
}

impl Socket {
    pub(crate) fn open() -> std::io::Result<Socket> {
        // SAFETY: plain socket(2); the fd is owned at once.
        let raw = unsafe {
            nix::libc::socket(
                nix::libc::AF_NETLINK,
                nix::libc::SOCK_RAW | nix::libc::SOCK_CLOEXEC,
                nix::libc::NETLINK_ROUTE,
            )
        };
        if raw < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh fd nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(Socket { fd, seq: 0 })
    }

    /// Dumps `ty` with `header` (the request's family struct); a dump the
    /// kernel marks interrupted (the table changed under it) is retried.
    pub(crate) fn dump(&mut self, ty: u16, header: &[u8]) -> std::io::Result<Vec<Msg>> {
        let mut tries = 0;
        loop {
            let (msgs, interrupted) = self.dump_once(ty, header)?;
            tries += 1;
            if !interrupted || tries == 3 {
                return Ok(msgs);
            }
        }
    }

    fn dump_once(&mut self, ty: u16, header: &[u8]) -> std::io::Result<(Vec<Msg>, bool)> {
        self.seq += 1;
        let mut body = header.to_vec();
        if ty == RTM_GETLINK {
            // As `ip link` asks: with SR-IOV VF info.
            body.extend_from_slice(&8u16.to_ne_bytes());
            body.extend_from_slice(&IFLA_EXT_MASK.to_ne_bytes());
            body.extend_from_slice(&RTEXT_FILTER_VF.to_ne_bytes());
        }
        let len = 16 + body.len();
        let mut req = Vec::with_capacity(len);
        req.extend_from_slice(&(len as u32).to_ne_bytes());
        req.extend_from_slice(&ty.to_ne_bytes());
        req.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
        req.extend_from_slice(&self.seq.to_ne_bytes());
        req.extend_from_slice(&0u32.to_ne_bytes());
        req.extend_from_slice(&body);
        // SAFETY: send(2) of a buffer we own on a socket we own.
        let sent =
            unsafe { nix::libc::send(self.fd.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) };
        if sent < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let hlen = header.len();
        let mut buf = vec![0u8; 1 << 17];
        let (mut out, mut interrupted) = (Vec::new(), false);
        loop {
            // SAFETY: recv(2) into a buffer we own, of its length.
            let n = unsafe {
                nix::libc::recv(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    nix::libc::MSG_TRUNC,
                )
            };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let n = n as usize;
            if n > buf.len() {
                return Err(std::io::Error::other(format!(
                    "a netlink reply of {n} bytes did not fit in {}",
                    buf.len()
                )));
            }
            let mut b = &buf[..n];
            while b.len() >= 16 {
                let mlen = u32::from_ne_bytes(b[0..4].try_into().unwrap()) as usize;
                let mty = u16::from_ne_bytes([b[4], b[5]]);
                let flags = u16::from_ne_bytes([b[6], b[7]]);
                let seq = u32::from_ne_bytes(b[8..12].try_into().unwrap());
                if mlen < 16 || mlen > b.len() {
                    return Err(std::io::Error::other("a truncated netlink message"));
                }
                let payload = &b[16..mlen];
                b = &b[align(mlen).min(b.len())..];
                if seq != self.seq {
                    continue;
                }
                interrupted |= flags & NLM_F_DUMP_INTR != 0;
                match mty {
                    NLMSG_DONE => return Ok((out, interrupted)),
                    NLMSG_ERROR => {
                        let code = payload
                            .get(..4)
                            .map_or(0, |c| i32::from_ne_bytes(c.try_into().unwrap()));
                        if code == 0 {
                            return Ok((out, interrupted));
                        }
                        return Err(std::io::Error::from_raw_os_error(-code));
                    }
                    _ if payload.len() >= hlen => out.push(Msg {
                        header: payload[..hlen].to_vec(),
                        attrs: Attrs::parse(&payload[align(hlen).min(payload.len())..]),
                    }),
                    _ => {}
                }
            }
        }
    }
}
