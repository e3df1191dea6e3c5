//! `ip -j -d link show` and `ip -j -d addr show` (iproute2's
//! `print_linkinfo` / `print_addrinfo`).

use super::json::{J, Obj};
use super::rtnl::Msg;
use super::{Gaps, Names, addr, bridge, lladdr, scope};

const IFLA_ADDRESS: u16 = 1;
const IFLA_BROADCAST: u16 = 2;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_LINK: u16 = 5;
const IFLA_QDISC: u16 = 6;
const IFLA_MASTER: u16 = 10;
const IFLA_TXQLEN: u16 = 13;
const IFLA_OPERSTATE: u16 = 16;
const IFLA_LINKMODE: u16 = 17;
const IFLA_LINKINFO: u16 = 18;
const IFLA_IFALIAS: u16 = 20;
const IFLA_VFINFO_LIST: u16 = 22;
const IFLA_AF_SPEC: u16 = 26;
const IFLA_GROUP: u16 = 27;
const IFLA_PROMISCUITY: u16 = 30;
const IFLA_NUM_TX_QUEUES: u16 = 31;
const IFLA_NUM_RX_QUEUES: u16 = 32;
const IFLA_PHYS_PORT_ID: u16 = 34;
const IFLA_PHYS_SWITCH_ID: u16 = 36;
const IFLA_LINK_NETNSID: u16 = 37;
const IFLA_PHYS_PORT_NAME: u16 = 38;
const IFLA_PROTO_DOWN: u16 = 39;
const IFLA_GSO_MAX_SEGS: u16 = 40;
const IFLA_GSO_MAX_SIZE: u16 = 41;
const IFLA_XDP: u16 = 43;
const IFLA_MIN_MTU: u16 = 50;
const IFLA_MAX_MTU: u16 = 51;
const IFLA_PROP_LIST: u16 = 52;
const IFLA_ALT_IFNAME: u16 = 53;
const IFLA_PERM_ADDRESS: u16 = 54;
const IFLA_PARENT_DEV_NAME: u16 = 56;
const IFLA_PARENT_DEV_BUS_NAME: u16 = 57;
const IFLA_GRO_MAX_SIZE: u16 = 58;
const IFLA_TSO_MAX_SIZE: u16 = 59;
const IFLA_TSO_MAX_SEGS: u16 = 60;
const IFLA_ALLMULTI: u16 = 61;

const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const IFLA_INFO_SLAVE_KIND: u16 = 4;
const IFLA_INFO_SLAVE_DATA: u16 = 5;
const IFLA_XDP_ATTACHED: u16 = 2;
const IFLA_INET6_ADDR_GEN_MODE: u16 = 8;

const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_LABEL: u16 = 3;
const IFA_BROADCAST: u16 = 4;
const IFA_ANYCAST: u16 = 5;
const IFA_CACHEINFO: u16 = 6;
const IFA_FLAGS: u16 = 8;
const IFA_RT_PRIORITY: u16 = 9;

/// (index, (name, flags)) of an RTM_NEWLINK message.
pub(super) fn index_name_flags(m: &Msg) -> Option<(i32, (String, u32))> {
    let (index, flags) = ifinfo(m)?;
    Some((index, (m.attrs.str(IFLA_IFNAME)?, flags)))
}

/// ifinfomsg's index and flags.
fn ifinfo(m: &Msg) -> Option<(i32, u32)> {
    let h = &m.header;
    Some((
        i32::from_ne_bytes(h.get(4..8)?.try_into().ok()?),
        u32::from_ne_bytes(h.get(8..12)?.try_into().ok()?),
    ))
}

/// `print_link_flags`: the flag names in iproute2's order.
fn flags(mut f: u32, lower_down: bool) -> J {
    let mut out = Vec::new();
    if f & 0x1 != 0 && f & 0x40 == 0 {
        out.push(J::Str("NO-CARRIER".into()));
    }
    f &= !0x40;
    for (bit, name) in [
        (0x8, "LOOPBACK"),
        (0x2, "BROADCAST"),
        (0x10, "POINTOPOINT"),
        (0x1000, "MULTICAST"),
        (0x80, "NOARP"),
        (0x200, "ALLMULTI"),
        (0x100, "PROMISC"),
        (0x400, "MASTER"),
        (0x800, "SLAVE"),
        (0x4, "DEBUG"),
        (0x8000, "DYNAMIC"),
        (0x4000, "AUTOMEDIA"),
        (0x2000, "PORTSEL"),
        (0x20, "NOTRAILERS"),
        (0x1, "UP"),
        (0x10000, "LOWER_UP"),
        (0x20000, "DORMANT"),
        (0x40000, "ECHO"),
    ] {
        if f & bit != 0 {
            f &= !bit;
            out.push(J::Str(name.into()));
        }
    }
    if f != 0 {
        out.push(J::Str(format!("{f:x}")));
    }
    if lower_down {
        out.push(J::Str("M-DOWN".into()));
    }
    J::Arr(out)
}

/// `ll_type_n2a`.
fn link_type(t: u16) -> String {
    let name = match t {
        0 => "netrom",
        1 => "ether",
        2 => "eether",
        3 => "ax25",
        4 => "pronet",
        5 => "chaos",
        6 => "ieee802",
        7 => "arcnet",
        8 => "atalk",
        15 => "dlci",
        19 => "atm",
        23 => "metricom",
        24 => "ieee1394",
        32 => "infiniband",
        256 => "slip",
        257 => "cslip",
        258 => "slip6",
        259 => "cslip6",
        260 => "rsrvd",
        264 => "adapt",
        270 => "rose",
        271 => "x25",
        272 => "hwx25",
        280 => "can",
        512 => "ppp",
        513 => "hdlc",
        516 => "lapb",
        517 => "ddcmp",
        518 => "rawhdlc",
        519 => "rawip",
        768 => "ipip",
        769 => "tunnel6",
        770 => "frad",
        771 => "skip",
        772 => "loopback",
        773 => "ltalk",
        774 => "fddi",
        775 => "bif",
        776 => "sit",
        777 => "ip/ddp",
        778 => "gre",
        779 => "pimreg",
        780 => "hippi",
        781 => "ash",
        782 => "econet",
        783 => "irda",
        800 => "tr",
        801 => "ieee802.11",
        802 => "ieee802.11/prism",
        803 => "ieee802.11/radiotap",
        804 => "ieee802.15.4",
        805 => "ieee802.15.4/monitor",
        820 => "phonet",
        821 => "phonet_pipe",
        822 => "caif",
        823 => "gre6",
        824 => "netlink",
        825 => "6lowpan",
        826 => "vsockmon",
        0xfffe => "none",
        0xffff => "void",
        n => return format!("[{n}]"),
    };
    name.into()
}

/// `ll_addr_n2a`: a tunnel's IPv4/IPv6 "link address" as an address.
fn link_addr(b: &[u8], ty: u16) -> String {
    let inet = nix::libc::AF_INET as u8;
    let inet6 = nix::libc::AF_INET6 as u8;
    match (b.len(), ty) {
        (4, 768 | 776 | 778) => addr(inet, b).unwrap_or_else(|| lladdr(b)),
        (16, 769 | 823) => addr(inet6, b).unwrap_or_else(|| lladdr(b)),
        _ => lladdr(b),
    }
}

const OPERSTATES: [&str; 7] = [
    "UNKNOWN",
    "NOTPRESENT",
    "DOWN",
    "LOWERLAYERDOWN",
    "TESTING",
    "DORMANT",
    "UP",
];

/// One object per link of `links` (`ip -j -d link show`), or, with
/// `addrs`, each with its `addr_info` (`ip -j -d addr show`).
pub(super) fn links(
    links: &[Msg],
    addrs: Option<&[Msg]>,
    names: &Names,
    gaps: &mut Gaps,
) -> Vec<Obj> {
    let file = if addrs.is_some() {
        "ip-addr.json"
    } else {
        "ip-link.json"
    };
    let mut out = Vec::new();
    for m in links {
        let Some((index, ifflags)) = ifinfo(m) else {
            continue;
        };
        let a = &m.attrs;
        let Some(name) = a.str(IFLA_IFNAME) else {
            continue;
        };
        let ty = u16::from_ne_bytes([m.header[2], m.header[3]]);
        let mut o = Obj::default();
        o.num("ifindex", index);
        let mut lower_down = false;
        if let Some(link) = a.u32(IFLA_LINK) {
            let link = link as i32;
            if link == 0 {
                o.put("link", J::Null);
            } else {
                if a.get(IFLA_LINK_NETNSID).is_some() {
                    o.num("link_index", link);
                } else {
                    let lname = names
                        .get(&link)
                        .map_or_else(|| format!("if{link}"), |(n, _)| n.clone());
                    o.str("link", lname);
                    // M-DOWN: the lower device (here) is down.
                    lower_down = names.get(&link).map_or(0, |(_, f)| *f) & 0x1 == 0;
                }
            }
        }
        o.str("ifname", &name);
        o.put("flags", flags(ifflags, lower_down));
        if let Some(mtu) = a.u32(IFLA_MTU) {
            o.num("mtu", mtu);
        }
        if let Some(x) = a.nested(IFLA_XDP)
            && x.u8(IFLA_XDP_ATTACHED).is_some_and(|v| v != 0)
        {
            gaps.add(file, "XDP program (`xdp`)", name.clone());
        }
        if let Some(q) = a.str(IFLA_QDISC) {
            o.str("qdisc", q);
        }
        if let Some(master) = a.u32(IFLA_MASTER) {
            let master = master as i32;
            let mname = names
                .get(&master)
                .map_or_else(|| format!("if{master}"), |(n, _)| n.clone());
            o.str("master", mname);
        }
        if let Some(s) = a.u8(IFLA_OPERSTATE) {
            let s = OPERSTATES
                .get(usize::from(s))
                .map_or_else(|| s.to_string(), |n| (*n).to_string());
            o.str("operstate", s);
        }
        if addrs.is_none()
            && let Some(mode) = a.u8(IFLA_LINKMODE)
        {
            let mode = match mode {
                0 => "DEFAULT".to_string(),
                1 => "DORMANT".to_string(),
                2 => "TESTING".to_string(),
                n => n.to_string(),
            };
            o.str("linkmode", mode);
        }
        if let Some(g) = a.u32(IFLA_GROUP) {
            o.str(
                "group",
                if g == 0 {
                    "default".to_string()
                } else {
                    g.to_string()
                },
            );
        }
        // print_queuelen: a zero length is not printed.
        if let Some(q) = a.u32(IFLA_TXQLEN)
            && q != 0
        {
            o.num("txqlen", q);
        }
        o.str("link_type", link_type(ty));
        if let Some(b) = a.get(IFLA_ADDRESS) {
            o.str("address", link_addr(b, ty));
        }
        if let Some(b) = a.get(IFLA_BROADCAST) {
            if ifflags & 0x10 != 0 {
                o.put("link_pointtopoint", J::Bool(true));
            }
            o.str("broadcast", link_addr(b, ty));
        }
        if let Some(p) = a.get(IFLA_PERM_ADDRESS)
            && a.get(IFLA_ADDRESS) != Some(p)
        {
            o.str("permaddr", link_addr(p, ty));
        }
        if let Some(id) = a.u32(IFLA_LINK_NETNSID) {
            o.num("link_netnsid", id as i32);
        }
        if a.u8(IFLA_PROTO_DOWN).is_some_and(|d| d != 0) {
            o.put("proto_down", J::Bool(true));
        }
        details(a, &name, addrs.is_none(), file, &mut o, gaps);
        if let Some(alias) = a.str(IFLA_IFALIAS) {
            o.str("ifalias", alias);
        }
        if let Some(props) = a.nested(IFLA_PROP_LIST) {
            let alt: Vec<J> = props
                .0
                .iter()
                .filter(|(t, _)| *t == IFLA_ALT_IFNAME)
                .map(|(_, v)| {
                    let end = v.iter().position(|&c| c == 0).unwrap_or(v.len());
                    J::Str(String::from_utf8_lossy(&v[..end]).into_owned())
                })
                .collect();
            if !alt.is_empty() {
                o.put("altnames", J::Arr(alt));
            }
        }
        if a.get(IFLA_VFINFO_LIST).is_some() {
            gaps.add(file, "SR-IOV VF list (`vfinfo_list`)", name.clone());
        }
        if let Some(addrs) = addrs {
            let info: Vec<J> = addrs
                .iter()
                .filter(|m| {
                    m.header.len() >= 8
                        && u32::from_ne_bytes(m.header[4..8].try_into().unwrap()) as i32 == index
                })
                .filter_map(address)
                .map(J::Obj)
                .collect();
            o.put("addr_info", J::Arr(info));
        }
        out.push(o);
    }
    out
}

/// `ip -d`'s fields (`show_details` in `print_linkinfo`).
fn details(
    a: &super::rtnl::Attrs,
    name: &str,
    do_link: bool,
    file: &'static str,
    o: &mut Obj,
    gaps: &mut Gaps,
) {
    for (ty, key) in [
        (IFLA_PROMISCUITY, "promiscuity"),
        (IFLA_ALLMULTI, "allmulti"),
        (IFLA_MIN_MTU, "min_mtu"),
        (IFLA_MAX_MTU, "max_mtu"),
    ] {
        if let Some(v) = a.u32(ty) {
            o.num(key, v);
        }
    }
    if let Some(info) = a.nested(IFLA_LINKINFO) {
        let mut li = Obj::default();
        if let Some(kind) = info.str(IFLA_INFO_KIND) {
            li.str("info_kind", &kind);
            match info.nested(IFLA_INFO_DATA) {
                Some(data) if kind == "bridge" => {
                    li.put("info_data", J::Obj(bridge::bridge(&data)))
                }
                Some(_) => gaps.add(
                    file,
                    format!("`ip -d`'s {kind} options (linkinfo.info_data)"),
                    name.to_string(),
                ),
                None => {}
            }
        }
        if let Some(kind) = info.str(IFLA_INFO_SLAVE_KIND) {
            li.str("info_slave_kind", &kind);
            match info.nested(IFLA_INFO_SLAVE_DATA) {
                Some(data) if kind == "bridge" => {
                    let (port, whole) = bridge::port(&data);
                    li.put("info_slave_data", J::Obj(port));
                    if !whole {
                        gaps.add(
                            file,
                            "`ip -d`'s bridge port group_fwd_mask (non-zero, printed by name)",
                            name.to_string(),
                        );
                    }
                }
                Some(_) => gaps.add(
                    file,
                    format!("`ip -d`'s {kind} port options (linkinfo.info_slave_data)"),
                    name.to_string(),
                ),
                None => {}
            }
        }
        o.put("linkinfo", J::Obj(li));
    }
    if do_link
        && let Some(spec) = a.nested(IFLA_AF_SPEC)
        && let Some(inet6) = spec.nested(nix::libc::AF_INET6 as u16)
        && let Some(mode) = inet6.u8(IFLA_INET6_ADDR_GEN_MODE)
    {
        let mode = match mode {
            0 => "eui64".to_string(),
            1 => "none".to_string(),
            2 => "stable_secret".to_string(),
            3 => "random".to_string(),
            n => format!("{n:#04x}"),
        };
        o.str("inet6_addr_gen_mode", mode);
    }
    for (ty, key) in [
        (IFLA_NUM_TX_QUEUES, "num_tx_queues"),
        (IFLA_NUM_RX_QUEUES, "num_rx_queues"),
        (IFLA_GSO_MAX_SIZE, "gso_max_size"),
        (IFLA_GSO_MAX_SEGS, "gso_max_segs"),
        (IFLA_TSO_MAX_SIZE, "tso_max_size"),
        (IFLA_TSO_MAX_SEGS, "tso_max_segs"),
        (IFLA_GRO_MAX_SIZE, "gro_max_size"),
    ] {
        if let Some(v) = a.u32(ty) {
            o.num(key, v);
        }
    }
    if let Some(p) = a.str(IFLA_PHYS_PORT_NAME) {
        o.str("phys_port_name", p);
    }
    for (ty, key) in [
        (IFLA_PHYS_PORT_ID, "phys_port_id"),
        (IFLA_PHYS_SWITCH_ID, "phys_switch_id"),
    ] {
        if let Some(b) = a.get(ty) {
            o.str(
                key,
                b.iter().map(|x| format!("{x:02x}")).collect::<String>(),
            );
        }
    }
    if let Some(p) = a.str(IFLA_PARENT_DEV_BUS_NAME) {
        o.str("parentbus", p);
    }
    if let Some(p) = a.str(IFLA_PARENT_DEV_NAME) {
        o.str("parentdev", p);
    }
}

/// One `addr_info` entry (`print_addrinfo`).
fn address(m: &Msg) -> Option<Obj> {
    let h = &m.header;
    let (family, prefixlen, hflags, hscope) = (h[0], h[1], h[2], h[3]);
    let a = &m.attrs;
    let fam = match i32::from(family) {
        nix::libc::AF_INET => "inet",
        nix::libc::AF_INET6 => "inet6",
        _ => return None,
    };
    let mut o = Obj::default();
    o.str("family", fam);
    match (a.get(IFA_LOCAL), a.get(IFA_ADDRESS)) {
        (Some(local), peer) => {
            o.str("local", addr(family, local)?);
            if let Some(peer) = peer
                && peer != local
            {
                o.str("address", addr(family, peer)?);
            }
        }
        (None, Some(address)) => o.str("local", addr(family, address)?),
        (None, None) => return None,
    }
    o.num("prefixlen", prefixlen);
    if let Some(b) = a.get(IFA_BROADCAST) {
        o.str("broadcast", addr(family, b)?);
    }
    if let Some(b) = a.get(IFA_ANYCAST) {
        o.str("anycast", addr(family, b)?);
    }
    o.str("scope", scope(hscope));
    let mut f = a.u32(IFA_FLAGS).unwrap_or(u32::from(hflags));
    for (bit, name) in [
        (0x01, "secondary"),
        (0x02, "nodad"),
        (0x04, "optimistic"),
        (0x08, "dadfailed"),
        (0x10, "home"),
        (0x20, "deprecated"),
        (0x40, "tentative"),
        (0x80, "permanent"),
        (0x100, "mngtmpaddr"),
        (0x200, "noprefixroute"),
        (0x400, "autojoin"),
        (0x800, "stable-privacy"),
    ] {
        if bit == 0x80 {
            if f & bit == 0 {
                o.put("dynamic", J::Bool(true));
            }
        } else if f & bit != 0 {
            let name = if bit == 0x01 && fam == "inet6" {
                "temporary"
            } else {
                name
            };
            o.put(name, J::Bool(true));
        }
        f &= !bit;
    }
    if f != 0 {
        o.str("flags", format!("{f:02x}"));
    }
    if let Some(label) = a.str(IFA_LABEL) {
        o.str("label", label);
    }
    if let Some(p) = a.u32(IFA_RT_PRIORITY) {
        o.num("metric", p);
    }
    if let Some(ci) = a.get(IFA_CACHEINFO)
        && ci.len() >= 8
    {
        let preferred = u32::from_ne_bytes(ci[0..4].try_into().unwrap());
        let valid = u32::from_ne_bytes(ci[4..8].try_into().unwrap());
        o.num("valid_life_time", valid);
        o.num("preferred_life_time", preferred);
    }
    Some(o)
}
