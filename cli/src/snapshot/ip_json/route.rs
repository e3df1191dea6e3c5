//! `ip -j route show table all`, `ip -j rule show` and `ip -j -d neigh
//! show` (iproute2's `print_route`, `print_rule`, `print_neigh`).

use super::json::{J, Obj};
use super::rtnl::Msg;
use super::{Gaps, Names, addr, lladdr, protocol, rtn_type, scope, table};

const RTA_DST: u16 = 1;
const RTA_SRC: u16 = 2;
const RTA_IIF: u16 = 3;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RTA_PREFSRC: u16 = 7;
const RTA_CACHEINFO: u16 = 12;
const RTA_TABLE: u16 = 15;
const RTA_MARK: u16 = 16;
const RTA_PREF: u16 = 20;
/// Attributes `ip` prints that this does not decode: (type, field).
const RTA_NOT_DECODED: &[(u16, &str)] = &[
    (8, "metrics (`metrics`)"),
    (9, "multipath next hops (`nexthops`)"),
    (11, "realms (`flow`)"),
    (18, "`via` of another family"),
    (19, "MPLS `as`"),
    (22, "encapsulation (`encap`)"),
    (25, "`uid`"),
    (26, "`ttl-propagate`"),
    (30, "next-hop objects (`nhid`)"),
];

const RTM_F_CLONED: u32 = 0x200;

fn u32_at(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |x| u32::from_ne_bytes(x.try_into().unwrap()))
}

fn ifname(names: &Names, index: u32) -> String {
    names
        .get(&(index as i32))
        .map_or_else(|| format!("if{index}"), |(n, _)| n.clone())
}

/// A prefix as `ip` prints it: the address alone when it is a host.
fn prefix(family: u8, b: &[u8], len: u8) -> Option<String> {
    let host = if i32::from(family) == nix::libc::AF_INET {
        32
    } else {
        128
    };
    let a = addr(family, b)?;
    Some(if len == host { a } else { format!("{a}/{len}") })
}

/// `ip -j -4|-6 route show table all`: every route but cached clones.
pub(super) fn routes(
    msgs: &[Msg],
    family: u8,
    names: &Names,
    gaps: &mut Gaps,
    file: &'static str,
) -> Vec<Obj> {
    let mut out = Vec::new();
    for m in msgs {
        let h = &m.header;
        let (fam, dst_len, src_len, tos, htable, proto, hscope, ty) =
            (h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]);
        let flags = u32_at(h, 8);
        if fam != family || flags & RTM_F_CLONED != 0 {
            continue;
        }
        let a = &m.attrs;
        let mut o = Obj::default();
        if ty != 1 {
            o.str("type", rtn_type(ty));
        }
        let dst = match a.get(RTA_DST) {
            Some(b) => prefix(family, b, dst_len).unwrap_or_default(),
            None if dst_len > 0 => format!("0/{dst_len}"),
            None => "default".into(),
        };
        o.str("dst", &dst);
        match a.get(RTA_SRC) {
            Some(b) => o.str("from", prefix(family, b, src_len).unwrap_or_default()),
            None if src_len > 0 => o.str("from", format!("0/{src_len}")),
            None => {}
        }
        for (t, what) in RTA_NOT_DECODED {
            if a.get(*t).is_some() {
                gaps.add(file, format!("routes' {what}"), dst.clone());
            }
        }
        if tos != 0 {
            gaps.add(file, "routes' `tos`", dst.clone());
        }
        if let Some(g) = a.get(RTA_GATEWAY).and_then(|b| addr(family, b)) {
            o.str("gateway", g);
        }
        if let Some(oif) = a.u32(RTA_OIF) {
            o.str("dev", ifname(names, oif));
        }
        let t = a.u32(RTA_TABLE).unwrap_or(u32::from(htable));
        if t != 254 {
            o.str("table", table(t));
        }
        if proto != 3 {
            o.str("protocol", protocol(proto));
        }
        if hscope != 0 {
            o.str("scope", scope(hscope));
        }
        if let Some(p) = a.get(RTA_PREFSRC).and_then(|b| addr(family, b)) {
            o.str("prefsrc", p);
        }
        if let Some(p) = a.u32(RTA_PRIORITY) {
            o.num("metric", p);
        }
        let mut fl = Vec::new();
        for (bit, name) in [
            (1, "dead"),
            (4, "onlink"),
            (2, "pervasive"),
            (8, "offload"),
            (64, "trap"),
            (0x100, "notify"),
            (16, "linkdown"),
            (32, "unresolved"),
            (0x4000, "rt_offload"),
            (0x8000, "rt_trap"),
            (0x2000_0000, "rt_offload_failed"),
        ] {
            if flags & bit != 0 {
                fl.push(J::Str(name.into()));
            }
        }
        o.put("flags", J::Arr(fl));
        if let Some(mark) = a.u32(RTA_MARK)
            && mark != 0
        {
            o.num("mark", mark);
        }
        if i32::from(family) == nix::libc::AF_INET6
            && let Some(ci) = a.get(RTA_CACHEINFO)
        {
            let expires = u32_at(ci, 8) as i32;
            if expires != 0 {
                o.num("expires", expires / 100);
            }
            let error = u32_at(ci, 12);
            if error != 0 {
                o.num("error", error);
            }
        }
        if let Some(iif) = a.u32(RTA_IIF) {
            o.str("iif", ifname(names, iif));
        }
        if let Some(p) = a.u8(RTA_PREF) {
            let p = match p {
                0 => "medium".to_string(),
                1 => "high".to_string(),
                3 => "low".to_string(),
                n => n.to_string(),
            };
            o.str("pref", p);
        }
        out.push(o);
    }
    out
}

const FRA_DST: u16 = 1;
const FRA_SRC: u16 = 2;
const FRA_IIFNAME: u16 = 3;
const FRA_GOTO: u16 = 4;
const FRA_PRIORITY: u16 = 6;
const FRA_FWMARK: u16 = 10;
const FRA_SUPPRESS_IFGROUP: u16 = 13;
const FRA_SUPPRESS_PREFIXLEN: u16 = 14;
const FRA_TABLE: u16 = 15;
const FRA_FWMASK: u16 = 16;
const FRA_OIFNAME: u16 = 17;
const FRA_PROTOCOL: u16 = 21;
const FRA_NOT_DECODED: &[(u16, &str)] = &[
    (11, "realms"),
    (12, "`tun_id`"),
    (19, "`l3mdev`"),
    (20, "`uidrange`"),
    (22, "`ipproto`"),
    (23, "`sport`"),
    (24, "`dport`"),
];

/// `ip -j -4|-6 rule show`.
pub(super) fn rules(msgs: &[Msg], family: u8, gaps: &mut Gaps, file: &'static str) -> Vec<Obj> {
    let mut out = Vec::new();
    for m in msgs {
        let h = &m.header;
        let (fam, dst_len, src_len, tos, htable, action) = (h[0], h[1], h[2], h[3], h[4], h[7]);
        let flags = u32_at(h, 8);
        if fam != family {
            continue;
        }
        let a = &m.attrs;
        let mut o = Obj::default();
        let prio = a.u32(FRA_PRIORITY).unwrap_or(0);
        o.num("priority", prio);
        let who = format!("priority {prio}");
        if flags & 2 != 0 {
            o.put("not", J::Null);
        }
        let host = if i32::from(family) == nix::libc::AF_INET {
            32
        } else {
            128
        };
        for (ty, len, key, lenkey, all) in [
            (FRA_SRC, src_len, "src", "srclen", true),
            (FRA_DST, dst_len, "dst", "dstlen", false),
        ] {
            match a.get(ty) {
                Some(b) => {
                    o.str(key, addr(family, b).unwrap_or_default());
                    if len != host {
                        o.num(lenkey, len);
                    }
                }
                None if len > 0 => {
                    o.str(key, "0");
                    o.num(lenkey, len);
                }
                None if all => o.str(key, "all"),
                None => {}
            }
        }
        if tos != 0 {
            gaps.add(file, "rules' `tos`", who.clone());
        }
        for (t, what) in FRA_NOT_DECODED {
            if a.get(*t).is_some() {
                gaps.add(file, format!("rules' {what}"), who.clone());
            }
        }
        let (mark, mask) = (a.u32(FRA_FWMARK), a.u32(FRA_FWMASK));
        if mark.unwrap_or(0) != 0 || mask.unwrap_or(0) != 0 {
            o.str("fwmark", format!("{:#x}", mark.unwrap_or(0)));
            if let Some(mask) = mask
                && mask != u32::MAX
            {
                o.str("fwmask", format!("{mask:#x}"));
            }
        }
        if let Some(i) = a.str(FRA_IIFNAME) {
            o.str("iif", i);
            if flags & 8 != 0 {
                o.put("iif_detached", J::Null);
            }
        }
        if let Some(i) = a.str(FRA_OIFNAME) {
            o.str("oif", i);
            if flags & 16 != 0 {
                o.put("oif_detached", J::Null);
            }
        }
        let t = a.u32(FRA_TABLE).unwrap_or(u32::from(htable));
        if t != 0 {
            o.str("table", table(t));
            if let Some(p) = a.u32(FRA_SUPPRESS_PREFIXLEN)
                && p != u32::MAX
            {
                o.num("suppress_prefixlen", p as i32);
            }
            if let Some(g) = a.u32(FRA_SUPPRESS_IFGROUP)
                && g != u32::MAX
            {
                gaps.add(file, "rules' `suppress_ifgroup`", who.clone());
            }
        }
        match action {
            1 => {}
            2 => {
                o.num("goto", a.u32(FRA_GOTO).unwrap_or(0));
                if flags & 4 != 0 {
                    o.put("unresolved", J::Null);
                }
            }
            3 => o.put("nop", J::Null),
            n => o.str("action", rtn_type(n)),
        }
        if let Some(p) = a.u8(FRA_PROTOCOL)
            && p != 0
            && p != 2
        {
            o.str("protocol", protocol(p));
        }
        out.push(o);
    }
    out
}

const NDA_DST: u16 = 1;
const NDA_LLADDR: u16 = 2;
const NDA_PROTOCOL: u16 = 12;
const NDA_FLAGS_EXT: u16 = 15;

/// `ip -j -d neigh show`: entries in a state `ip` shows by default (not
/// NOARP, not NONE), proxy and externally learned ones too.
pub(super) fn neighbours(msgs: &[Msg], names: &Names) -> Vec<Obj> {
    let mut out = Vec::new();
    for m in msgs {
        let h = &m.header;
        let family = h[0];
        let ifindex = u32_at(h, 4);
        let state = u16::from_ne_bytes([h[8], h[9]]);
        let flags = h[10];
        if state & 0xbf == 0 && flags & (0x08 | 0x10) == 0 {
            continue;
        }
        let a = &m.attrs;
        let mut o = Obj::default();
        if let Some(d) = a.get(NDA_DST).and_then(|b| addr(family, b)) {
            o.str("dst", d);
        }
        if ifindex != 0 {
            o.str("dev", ifname(names, ifindex));
        }
        if let Some(l) = a.get(NDA_LLADDR) {
            o.str("lladdr", lladdr(l));
        }
        for (bit, key) in [
            (0x80, "router"),
            (0x08, "proxy"),
            (0x10, "extern_learn"),
            (0x20, "offload"),
        ] {
            if flags & bit != 0 {
                o.put(key, J::Null);
            }
        }
        if a.u32(NDA_FLAGS_EXT).is_some_and(|f| f & 1 != 0) {
            o.put("managed", J::Null);
        }
        if state != 0 {
            let mut s = Vec::new();
            for (bit, name) in [
                (0x01, "INCOMPLETE"),
                (0x02, "REACHABLE"),
                (0x04, "STALE"),
                (0x08, "DELAY"),
                (0x10, "PROBE"),
                (0x20, "FAILED"),
                (0x40, "NOARP"),
                (0x80, "PERMANENT"),
            ] {
                if state & bit != 0 {
                    s.push(J::Str(name.into()));
                }
            }
            o.put("state", J::Arr(s));
        }
        if let Some(p) = a.u8(NDA_PROTOCOL) {
            o.str("protocol", protocol(p));
        }
        out.push(o);
    }
    out
}
