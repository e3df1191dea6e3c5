//! `ip -d`'s bridge options (`info_data` of a bridge) and bridge port
//! options (`info_slave_data` of a port), as iproute2 6.1 prints them
//! (`bridge_print_opt`, `bridge_slave_print_opt`). Attributes it does not
//! print are not printed here either; a port's non-zero group forward mask
//! (printed by name) is left to the caller to name as not decoded.

use super::json::{J, Obj};
use super::lladdr;
use super::rtnl::Attrs;

fn u16_of(b: &[u8]) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(..2)?.try_into().ok()?))
}

fn u64_of(b: &[u8]) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(..8)?.try_into().ok()?))
}

/// `%#llx`: `0` for zero, else `0x…`.
fn hex(v: u64) -> String {
    if v == 0 {
        "0".into()
    } else {
        format!("{v:#x}")
    }
}

/// `br_dump_bridge_id`: the priority's two bytes in hex, a dot, the
/// address as `ether_ntoa` writes it (no leading zeros).
fn bridge_id(b: &[u8]) -> Option<String> {
    let b = b.get(..8)?;
    let mac: Vec<String> = b[2..].iter().map(|x| format!("{x:x}")).collect();
    Some(format!("{:02x}{:02x}.{}", b[0], b[1], mac.join(":")))
}

/// `_print_timer`: centiseconds as `S.CC` (a JSON number).
fn timer(b: &[u8]) -> Option<J> {
    let v = u64_of(b)?;
    Some(J::Raw(format!("{}.{:02}", v / 100, v % 100)))
}

/// A bridge's `info_data`.
pub(super) fn bridge(a: &Attrs) -> Obj {
    let mut o = Obj::default();
    let u = |t: u16| -> Option<i64> {
        let b = a.get(t)?;
        Some(match b.len() {
            1 => i64::from(b[0]),
            2 => i64::from(u16_of(b)?),
            4 => i64::from(u32::from_ne_bytes(b.try_into().ok()?)),
            8 => u64_of(b)? as i64,
            _ => return None,
        })
    };
    let num = |o: &mut Obj, t: u16, key: &'static str| {
        if let Some(v) = u(t) {
            o.num(key, v);
        }
    };
    for (t, key) in [
        (1, "forward_delay"),
        (2, "hello_time"),
        (3, "max_age"),
        (4, "ageing_time"),
        (5, "stp_state"),
        (6, "priority"),
        (7, "vlan_filtering"),
    ] {
        num(&mut o, t, key);
    }
    if let Some(p) = a.get(8).and_then(u16_of) {
        let p = u16::from_be(p);
        let name = match p {
            0x8100 => "802.1Q".to_string(),
            0x88a8 => "802.1ad".to_string(),
            n => format!("[{n:04x}]"),
        };
        o.str("vlan_protocol", name);
    }
    for (t, key) in [(11, "bridge_id"), (10, "root_id")] {
        if let Some(id) = a.get(t).and_then(bridge_id) {
            o.str(key, id);
        }
    }
    for (t, key) in [
        (12, "root_port"),
        (13, "root_path_cost"),
        (14, "topology_change"),
        (15, "topology_change_detected"),
    ] {
        num(&mut o, t, key);
    }
    for (t, key) in [
        (16, "hello_timer"),
        (17, "tcn_timer"),
        (18, "topology_change_timer"),
        (19, "gc_timer"),
    ] {
        if let Some(v) = a.get(t).and_then(timer) {
            o.put(key, v);
        }
    }
    for (t, key) in [
        (39, "vlan_default_pvid"),
        (41, "vlan_stats_enabled"),
        (45, "vlan_stats_per_port"),
    ] {
        num(&mut o, t, key);
    }
    if let Some(m) = u(9) {
        o.str("group_fwd_mask", hex(m as u64));
    }
    if let Some(g) = a.get(20) {
        o.str("group_addr", lladdr(g));
    }
    num(&mut o, 23, "mcast_snooping");
    if let Some(b) = a.get(46)
        && b.len() >= 8
    {
        let val = u32::from_ne_bytes(b[0..4].try_into().unwrap());
        let mask = u32::from_ne_bytes(b[4..8].try_into().unwrap());
        for (bit, key) in [(0, "no_linklocal_learn"), (1, "mcast_vlan_snooping")] {
            if mask & (1 << bit) != 0 {
                o.num(key, i64::from(val & (1 << bit) != 0));
            }
        }
    }
    for (t, key) in [
        (22, "mcast_router"),
        (24, "mcast_query_use_ifaddr"),
        (25, "mcast_querier"),
        (26, "mcast_hash_elasticity"),
        (27, "mcast_hash_max"),
        (28, "mcast_last_member_cnt"),
        (29, "mcast_startup_query_cnt"),
        (30, "mcast_last_member_intvl"),
        (31, "mcast_membership_intvl"),
        (32, "mcast_querier_intvl"),
        (33, "mcast_query_intvl"),
        (34, "mcast_query_response_intvl"),
        (35, "mcast_startup_query_intvl"),
        (42, "mcast_stats_enabled"),
        (43, "mcast_igmp_version"),
        (44, "mcast_mld_version"),
        (36, "nf_call_iptables"),
        (37, "nf_call_ip6tables"),
        (38, "nf_call_arptables"),
    ] {
        num(&mut o, t, key);
    }
    o
}

/// A bridge port's `info_slave_data`; `false` in the second place if it
/// has a non-zero group forward mask (which `ip` prints by name).
pub(super) fn port(a: &Attrs) -> (Obj, bool) {
    let mut o = Obj::default();
    let mut whole = true;
    let u = |t: u16| -> Option<i64> {
        let b = a.get(t)?;
        Some(match b.len() {
            1 => i64::from(b[0]),
            2 => i64::from(u16_of(b)?),
            4 => i64::from(u32::from_ne_bytes(b.try_into().ok()?)),
            _ => return None,
        })
    };
    if let Some(s) = a.u8(1) {
        let name = match s {
            0 => "disabled".to_string(),
            1 => "listening".to_string(),
            2 => "learning".to_string(),
            3 => "forwarding".to_string(),
            4 => "blocking".to_string(),
            n => n.to_string(),
        };
        o.str("state", name);
    }
    let flag = |o: &mut Obj, t: u16, key: &'static str| {
        if let Some(v) = a.u8(t) {
            o.put(key, J::Bool(v != 0));
        }
    };
    for (t, key) in [(2, "priority"), (3, "cost")] {
        if let Some(v) = u(t) {
            o.num(key, v);
        }
    }
    for (t, key) in [
        (4, "hairpin"),
        (5, "guard"),
        (6, "root_block"),
        (7, "fastleave"),
        (8, "learning"),
        (9, "flood"),
    ] {
        flag(&mut o, t, key);
    }
    for (t, key) in [(17, "id"), (18, "no")] {
        if let Some(v) = u(t) {
            o.str(key, hex(v as u64));
        }
    }
    for (t, key) in [(15, "designated_port"), (16, "designated_cost")] {
        if let Some(v) = u(t) {
            o.num(key, v);
        }
    }
    for (t, key) in [(14, "bridge_id"), (13, "root_id")] {
        if let Some(id) = a.get(t).and_then(bridge_id) {
            o.str(key, id);
        }
    }
    for (t, key) in [
        (23, "hold_timer"),
        (21, "message_age_timer"),
        (22, "forward_delay_timer"),
    ] {
        if let Some(v) = a.get(t).and_then(timer) {
            o.put(key, v);
        }
    }
    for (t, key) in [(19, "topology_change_ack"), (20, "config_pending")] {
        if let Some(v) = u(t) {
            o.num(key, v);
        }
    }
    flag(&mut o, 10, "proxy_arp");
    flag(&mut o, 12, "proxy_arp_wifi");
    if let Some(v) = u(25) {
        o.num("multicast_router", v);
    }
    for (t, key) in [
        (27, "mcast_flood"),
        (30, "bcast_flood"),
        (28, "mcast_to_unicast"),
        (32, "neigh_suppress"),
    ] {
        flag(&mut o, t, key);
    }
    if let Some(m) = u(31) {
        if m == 0 {
            o.str("group_fwd_mask", "0");
            o.str("group_fwd_mask_str", "0x0");
        } else {
            whole = false;
        }
    }
    for (t, key) in [(29, "vlan_tunnel"), (33, "isolated"), (39, "locked")] {
        flag(&mut o, t, key);
    }
    (o, whole)
}
