//! Bytes to meaning: `NFT_MSG_TRACE` netlink messages decoded into
//! [`TraceEvent`] values. Pure: no system calls.
//!
//! A datagram read from a `NETLINK_NETFILTER` socket subscribed to
//! `NFNLGRP_NFTRACE` holds one or more netlink messages. Each trace message
//! is `nlmsghdr` + `nfgenmsg` (the table's family) + a flat list of
//! `NFTA_TRACE_*` attributes, one of them (`NFTA_TRACE_VERDICT`) nested.
//! Multi-byte attribute values are big endian (`nla_put_be32`/`be64`).
//!
//! Numbers come from the `libc` crate where it has them, and otherwise from
//! `linux/netfilter/nf_tables.h` (a unit test checks them against the installed
//! header). The four conntrack attributes after `NFTA_TRACE_PAD` are newer than
//! Debian 12's header (Linux 6.16+); they are decoded when the kernel sends them.

use std::fmt;

use super::headers::PacketHeaders;

// enum nft_trace_attributes (linux/netfilter/nf_tables.h); not in the libc crate.
pub(crate) const NFTA_TRACE_TABLE: u16 = 1;
pub(crate) const NFTA_TRACE_CHAIN: u16 = 2;
pub(crate) const NFTA_TRACE_RULE_HANDLE: u16 = 3;
pub(crate) const NFTA_TRACE_TYPE: u16 = 4;
pub(crate) const NFTA_TRACE_VERDICT: u16 = 5;
pub(crate) const NFTA_TRACE_ID: u16 = 6;
pub(crate) const NFTA_TRACE_NETWORK_HEADER: u16 = 8;
pub(crate) const NFTA_TRACE_TRANSPORT_HEADER: u16 = 9;
pub(crate) const NFTA_TRACE_IIF: u16 = 10;
pub(crate) const NFTA_TRACE_OIF: u16 = 12;
pub(crate) const NFTA_TRACE_MARK: u16 = 14;
pub(crate) const NFTA_TRACE_NFPROTO: u16 = 15;
pub(crate) const NFTA_TRACE_POLICY: u16 = 16;
pub(crate) const NFTA_TRACE_CT_ID: u16 = 18;
pub(crate) const NFTA_TRACE_CT_DIRECTION: u16 = 19;
pub(crate) const NFTA_TRACE_CT_STATUS: u16 = 20;
pub(crate) const NFTA_TRACE_CT_STATE: u16 = 21;
// enum nft_verdict_attributes.
pub(crate) const NFTA_VERDICT_CODE: u16 = 1;
pub(crate) const NFTA_VERDICT_CHAIN: u16 = 2;

/// The netlink message type of a trace event: `(NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_TRACE`.
pub(crate) const TRACE_MSG_TYPE: u16 =
    ((libc::NFNL_SUBSYS_NFTABLES as u16) << 8) | libc::NFT_MSG_TRACE as u16;

const NLMSG_HDRLEN: usize = 16;
const NFGENMSG_LEN: usize = 4;

/// What a trace event reports (`NFTA_TRACE_TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceKind {
    /// A rule matched and gave a verdict or had a side effect. An event of
    /// this kind *without* a rule handle and with verdict `continue` means the
    /// packet fell off the end of the chain.
    Rule,
    /// The end of a non-base chain returned to the calling chain.
    Return,
    /// The base chain's policy decided.
    Policy,
    /// A type this decoder does not know.
    Other(u32),
}

/// The table family of an event (`nfgenmsg.nfgen_family`, an `NFPROTO_*` value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// `ip` (NFPROTO_IPV4).
    Ip,
    /// `ip6` (NFPROTO_IPV6).
    Ip6,
    /// `inet` (NFPROTO_INET).
    Inet,
    /// `arp`.
    Arp,
    /// `bridge`.
    Bridge,
    /// `netdev`.
    Netdev,
    /// Another `NFPROTO_*` value.
    Other(u8),
}

impl Family {
    /// From an `NFPROTO_*` number.
    pub fn from_nfproto(n: u8) -> Family {
        match n as i32 {
            libc::NFPROTO_IPV4 => Family::Ip,
            libc::NFPROTO_IPV6 => Family::Ip6,
            libc::NFPROTO_INET => Family::Inet,
            libc::NFPROTO_ARP => Family::Arp,
            libc::NFPROTO_BRIDGE => Family::Bridge,
            libc::NFPROTO_NETDEV => Family::Netdev,
            _ => Family::Other(n),
        }
    }

    /// The keyword nft uses (`ip`, `ip6`, `inet`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Ip => "ip",
            Family::Ip6 => "ip6",
            Family::Inet => "inet",
            Family::Arp => "arp",
            Family::Bridge => "bridge",
            Family::Netdev => "netdev",
            Family::Other(_) => "?",
        }
    }

    /// Parses nft's keyword.
    pub fn parse(s: &str) -> Option<Family> {
        Some(match s {
            "ip" => Family::Ip,
            "ip6" => Family::Ip6,
            "inet" => Family::Inet,
            "arp" => Family::Arp,
            "bridge" => Family::Bridge,
            "netdev" => Family::Netdev,
            _ => return None,
        })
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Family::Other(n) => write!(f, "family{n}"),
            _ => f.write_str(self.as_str()),
        }
    }
}

/// A verdict as nf_tables reports it (netfilter verdicts and nf_tables' own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// `accept` (NF_ACCEPT).
    Accept,
    /// `drop` (NF_DROP; `reject` also ends as drop after sending its answer).
    Drop,
    /// `queue` to userspace, with the queue number.
    Queue(u16),
    /// The packet was taken over (NF_STOLEN).
    Stolen,
    /// NF_REPEAT.
    Repeat,
    /// `continue` (NFT_CONTINUE): go on with the next rule.
    Continue,
    /// NFT_BREAK.
    Break,
    /// `jump CHAIN`.
    Jump(String),
    /// `goto CHAIN`.
    Goto(String),
    /// `return`.
    Return,
    /// A code this decoder does not know.
    Other(i32),
}

impl Verdict {
    /// From a verdict code and, for jump/goto, the target chain.
    pub fn from_code(code: i32, chain: Option<String>) -> Verdict {
        match code {
            libc::NFT_CONTINUE => Verdict::Continue,
            libc::NFT_BREAK => Verdict::Break,
            libc::NFT_JUMP => Verdict::Jump(chain.unwrap_or_default()),
            libc::NFT_GOTO => Verdict::Goto(chain.unwrap_or_default()),
            libc::NFT_RETURN => Verdict::Return,
            c if c >= 0 => match c & libc::NF_VERDICT_MASK {
                libc::NF_DROP => Verdict::Drop,
                libc::NF_ACCEPT => Verdict::Accept,
                libc::NF_STOLEN => Verdict::Stolen,
                libc::NF_QUEUE => Verdict::Queue((c as u32 >> 16) as u16),
                libc::NF_REPEAT => Verdict::Repeat,
                _ => Verdict::Other(c),
            },
            c => Verdict::Other(c),
        }
    }

    /// Whether the packet's fate at this hook is settled (accept, drop, queue, stolen).
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Verdict::Accept | Verdict::Drop | Verdict::Queue(_) | Verdict::Stolen
        )
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Accept => f.write_str("accept"),
            Verdict::Drop => f.write_str("drop"),
            Verdict::Queue(n) => write!(f, "queue {n}"),
            Verdict::Stolen => f.write_str("stolen"),
            Verdict::Repeat => f.write_str("repeat"),
            Verdict::Continue => f.write_str("continue"),
            Verdict::Break => f.write_str("break"),
            Verdict::Jump(c) => write!(f, "jump {c}"),
            Verdict::Goto(c) => write!(f, "goto {c}"),
            Verdict::Return => f.write_str("return"),
            Verdict::Other(c) => write!(f, "verdict {c}"),
        }
    }
}

/// One trace event: what one base or regular chain did with one traced packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceEvent {
    /// The trace id, the same for every event of one packet (`NFTA_TRACE_ID`).
    pub id: u32,
    /// Rule, return or policy.
    pub kind: TraceKind,
    /// The table's family.
    pub family: Family,
    /// The protocol processed (`NFTA_TRACE_NFPROTO`; `ip` inside an `inet` table).
    pub nfproto: Option<Family>,
    /// Table name.
    pub table: String,
    /// Chain name.
    pub chain: String,
    /// The rule's handle (absent for policy events and at a chain's end).
    pub rule_handle: Option<u64>,
    /// The verdict of the rule (rule and return events).
    pub verdict: Option<Verdict>,
    /// The policy that decided (policy events).
    pub policy: Option<Verdict>,
    /// Input interface index.
    pub iif: Option<u32>,
    /// Output interface index.
    pub oif: Option<u32>,
    /// The packet mark, when non-zero.
    pub mark: Option<u32>,
    /// Network and transport headers as the packet is at this hook (sent with
    /// the first event of each base chain the packet enters).
    pub packet: Option<PacketHeaders>,
    /// Conntrack state bits (`NF_CT_STATE_*`: 1 invalid, 2 established,
    /// 4 related, 8 new, 64 untracked), when the kernel sends them.
    pub ct_state: Option<u32>,
    /// Conntrack status bits (`IPS_*`), when the kernel sends them.
    pub ct_status: Option<u32>,
    /// Conntrack direction (0 original, 1 reply), when the kernel sends it.
    pub ct_direction: Option<u8>,
    /// Conntrack id, when the kernel sends it.
    pub ct_id: Option<u32>,
}

impl TraceEvent {
    /// The verdict this event reports, whichever attribute carries it.
    pub fn outcome(&self) -> Option<&Verdict> {
        self.verdict.as_ref().or(self.policy.as_ref())
    }

    /// Whether this is the implicit end of a chain (a rule event with no rule).
    pub fn is_chain_end(&self) -> bool {
        self.rule_handle.is_none()
            && matches!(self.kind, TraceKind::Rule | TraceKind::Return)
            && matches!(
                self.verdict,
                Some(Verdict::Continue) | Some(Verdict::Return) | None
            )
    }
}

/// Why bytes did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A length field points past the end of the buffer.
    #[error("truncated {what}: need {need} bytes, have {have}")]
    Truncated {
        /// The structure being read.
        what: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// A required attribute is missing.
    #[error("trace event without {0}")]
    Missing(&'static str),
    /// The kernel sent an error message on the trace socket.
    #[error("netlink error {0}")]
    Netlink(i32),
}

/// Decodes every trace message in one datagram. Messages of other types
/// (noop, done) are skipped; each trace message yields an event or an error.
pub fn decode_datagram(buf: &[u8]) -> Vec<Result<TraceEvent, DecodeError>> {
    let mut out = Vec::new();
    let mut off = 0;
    while off + NLMSG_HDRLEN <= buf.len() {
        let len = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
        let ty = u16::from_ne_bytes(buf[off + 4..off + 6].try_into().unwrap());
        if len < NLMSG_HDRLEN || off + len > buf.len() {
            out.push(Err(DecodeError::Truncated {
                what: "netlink message",
                need: len.max(NLMSG_HDRLEN),
                have: buf.len() - off,
            }));
            break;
        }
        let msg = &buf[off..off + len];
        if ty == TRACE_MSG_TYPE {
            out.push(decode_message(msg));
        } else if ty == libc::NLMSG_ERROR as u16 && msg.len() >= NLMSG_HDRLEN + 4 {
            let code = i32::from_ne_bytes(msg[16..20].try_into().unwrap());
            if code != 0 {
                out.push(Err(DecodeError::Netlink(code)));
            }
        }
        off += align4(len);
    }
    out
}

/// Decodes one netlink message (header included) of type [`TRACE_MSG_TYPE`].
pub(crate) fn decode_message(msg: &[u8]) -> Result<TraceEvent, DecodeError> {
    need(msg, NLMSG_HDRLEN + NFGENMSG_LEN, "trace message header")?;
    let family = Family::from_nfproto(msg[NLMSG_HDRLEN]);
    let mut ev = TraceEvent {
        id: 0,
        kind: TraceKind::Other(0),
        family,
        nfproto: None,
        table: String::new(),
        chain: String::new(),
        rule_handle: None,
        verdict: None,
        policy: None,
        iif: None,
        oif: None,
        mark: None,
        packet: None,
        ct_state: None,
        ct_status: None,
        ct_direction: None,
        ct_id: None,
    };
    let (mut id, mut kind, mut network, mut transport) = (None, None, None, None);
    for (ty, v) in attributes(&msg[NLMSG_HDRLEN + NFGENMSG_LEN..])? {
        match ty {
            NFTA_TRACE_TABLE => ev.table = string(v),
            NFTA_TRACE_CHAIN => ev.chain = string(v),
            NFTA_TRACE_RULE_HANDLE => ev.rule_handle = Some(be64(v)?),
            NFTA_TRACE_TYPE => kind = Some(be32(v)?),
            NFTA_TRACE_VERDICT => ev.verdict = Some(verdict(v)?),
            NFTA_TRACE_ID => id = Some(be32(v)?),
            NFTA_TRACE_NETWORK_HEADER => network = Some(v),
            NFTA_TRACE_TRANSPORT_HEADER => transport = Some(v),
            NFTA_TRACE_IIF => ev.iif = Some(be32(v)?),
            NFTA_TRACE_OIF => ev.oif = Some(be32(v)?),
            NFTA_TRACE_MARK => ev.mark = Some(be32(v)?).filter(|m| *m != 0),
            NFTA_TRACE_NFPROTO => ev.nfproto = Some(Family::from_nfproto(be32(v)? as u8)),
            NFTA_TRACE_POLICY => ev.policy = Some(Verdict::from_code(be32(v)? as i32, None)),
            NFTA_TRACE_CT_ID => ev.ct_id = Some(be32(v)?),
            NFTA_TRACE_CT_DIRECTION => ev.ct_direction = v.first().copied(),
            NFTA_TRACE_CT_STATUS => ev.ct_status = Some(be32(v)?),
            NFTA_TRACE_CT_STATE => ev.ct_state = Some(be32(v)?),
            _ => {} // LL header, interface types, padding, future attributes
        }
    }
    ev.id = id.ok_or(DecodeError::Missing("NFTA_TRACE_ID"))?;
    ev.kind = match kind.ok_or(DecodeError::Missing("NFTA_TRACE_TYPE"))? as i32 {
        libc::NFT_TRACETYPE_RULE => TraceKind::Rule,
        libc::NFT_TRACETYPE_RETURN => TraceKind::Return,
        libc::NFT_TRACETYPE_POLICY => TraceKind::Policy,
        k => TraceKind::Other(k as u32),
    };
    if ev.table.is_empty() {
        return Err(DecodeError::Missing("NFTA_TRACE_TABLE"));
    }
    ev.packet = network.and_then(|n| PacketHeaders::decode(n, transport));
    Ok(ev)
}

/// The nested `NFTA_TRACE_VERDICT`: a code and, for jump/goto, a chain.
fn verdict(v: &[u8]) -> Result<Verdict, DecodeError> {
    let (mut code, mut chain) = (None, None);
    for (ty, a) in attributes(v)? {
        match ty {
            NFTA_VERDICT_CODE => code = Some(be32(a)? as i32),
            NFTA_VERDICT_CHAIN => chain = Some(string(a)),
            _ => {}
        }
    }
    Ok(Verdict::from_code(
        code.ok_or(DecodeError::Missing("NFTA_VERDICT_CODE"))?,
        chain,
    ))
}

/// Splits a run of netlink attributes into (type without flags, value).
fn attributes(mut buf: &[u8]) -> Result<Vec<(u16, &[u8])>, DecodeError> {
    let mut out = Vec::new();
    while buf.len() >= 4 {
        let len = u16::from_ne_bytes([buf[0], buf[1]]) as usize;
        let ty = u16::from_ne_bytes([buf[2], buf[3]]) & libc::NLA_TYPE_MASK as u16;
        if len < 4 || len > buf.len() {
            return Err(DecodeError::Truncated {
                what: "netlink attribute",
                need: len.max(4),
                have: buf.len(),
            });
        }
        out.push((ty, &buf[4..len]));
        buf = &buf[align4(len).min(buf.len())..];
    }
    Ok(out)
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn need(buf: &[u8], n: usize, what: &'static str) -> Result<(), DecodeError> {
    if buf.len() < n {
        return Err(DecodeError::Truncated {
            what,
            need: n,
            have: buf.len(),
        });
    }
    Ok(())
}

fn be32(v: &[u8]) -> Result<u32, DecodeError> {
    need(v, 4, "u32 attribute")?;
    Ok(u32::from_be_bytes(v[..4].try_into().unwrap()))
}

fn be64(v: &[u8]) -> Result<u64, DecodeError> {
    need(v, 8, "u64 attribute")?;
    Ok(u64::from_be_bytes(v[..8].try_into().unwrap()))
}

fn string(v: &[u8]) -> String {
    let end = v.iter().position(|b| *b == 0).unwrap_or(v.len());
    String::from_utf8_lossy(&v[..end]).into_owned()
}
