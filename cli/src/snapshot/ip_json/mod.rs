//! `ip -j`'s JSON, made in-process from rtnetlink dumps: `ip -j -d link
//! show`, `ip -j -d addr show`, `ip -j -d neigh show`, and `ip -j -4|-6
//! route show table all` / `rule show`, field for field as iproute2 prints
//! them (`netrig import` reads users' real `ip -j` files the same way),
//! `ip -d`'s bridge and bridge port options included. What this does not
//! decode (other kinds' `info_data` / `info_slave_data`, multipath routes,
//! encapsulation, …) is left out and named in [`IpFiles::not_decoded`],
//! never guessed.

mod bridge;
mod json;
mod link;
mod route;

use std::collections::BTreeMap;

use super::rtnl::{self, Socket};
use json::document;

/// One file: its name, the `ip` command it stands for, and its JSON or why
/// it could not be read.
pub(crate) type IpFile = (&'static str, &'static str, Result<Vec<u8>, String>);

/// The files and what was left out of them: (file and field, why).
pub(crate) struct IpFiles {
    pub(crate) files: Vec<IpFile>,
    pub(crate) not_decoded: Vec<(String, String)>,
    /// The link dump, if it worked.
    pub(crate) links: Option<Vec<rtnl::Msg>>,
}

/// What the formatters left out: (file, thing) → the names it concerns.
#[derive(Default)]
pub(crate) struct Gaps(BTreeMap<(&'static str, String), Vec<String>>);

impl Gaps {
    pub(crate) fn add(&mut self, file: &'static str, what: impl Into<String>, who: String) {
        let v = self.0.entry((file, what.into())).or_default();
        if !v.contains(&who) {
            v.push(who);
        }
    }
}

/// The interfaces by index: name and flags (`ip` resolves both).
pub(crate) type Names = BTreeMap<i32, (String, u32)>;

/// Every file of [`COMMANDS`]: the host's.
pub(crate) const HOST_FILES: &[&str] = &[
    "ip-link.json",
    "ip-addr.json",
    "ip-neigh.json",
    "ip-route4.json",
    "ip-rule4.json",
    "ip-route6.json",
    "ip-rule6.json",
];

/// The files of a container's namespace: its addresses and routes.
pub(crate) const CONTAINER_FILES: &[&str] = &["ip-addr.json", "ip-route4.json", "ip-route6.json"];

/// Reads the files `want` names (all of [`COMMANDS`], or [`CONTAINER_FILES`])
/// with one rtnetlink socket of the calling thread's namespace.
pub(crate) fn read(want: &[&str]) -> IpFiles {
    let wanted = |name: &str| want.contains(&name);
    let mut gaps = Gaps::default();
    let mut files = Vec::new();
    let sock = Socket::open();
    let mut sock = match sock {
        Ok(s) => s,
        Err(e) => {
            let why = format!("cannot open an rtnetlink socket: {e}");
            for (name, cmd) in COMMANDS.iter().filter(|(n, _)| wanted(n)) {
                files.push((*name, *cmd, Err(why.clone())));
            }
            return IpFiles {
                files,
                not_decoded: Vec::new(),
                links: None,
            };
        }
    };
    let links = sock.dump(rtnl::RTM_GETLINK, &[0u8; 16]);
    let names: Names = links
        .as_ref()
        .map(|l| l.iter().filter_map(link::index_name_flags).collect())
        .unwrap_or_default();
    let fail = |what: &str, e: &std::io::Error| format!("the rtnetlink {what} dump failed: {e}");
    let links = links.map_err(|e| fail("link", &e));
    let addrs = sock
        .dump(rtnl::RTM_GETADDR, &[0u8; 8])
        .map_err(|e| fail("address", &e));
    if wanted(COMMANDS[0].0) {
        files.push((
            COMMANDS[0].0,
            COMMANDS[0].1,
            links
                .as_ref()
                .map(|l| document(link::links(l, None, &names, &mut gaps)))
                .map_err(Clone::clone),
        ));
    }
    files.push((
        COMMANDS[1].0,
        COMMANDS[1].1,
        match (&links, &addrs) {
            (Ok(l), Ok(a)) => Ok(document(link::links(l, Some(a), &names, &mut gaps))),
            (Err(e), _) | (_, Err(e)) => Err(e.clone()),
        },
    ));
    if wanted(COMMANDS[2].0) {
        let neigh = sock
            .dump(rtnl::RTM_GETNEIGH, &[0u8; 12])
            .map_err(|e| fail("neighbour", &e));
        files.push((
            COMMANDS[2].0,
            COMMANDS[2].1,
            neigh.map(|n| document(route::neighbours(&n, &names))),
        ));
    }
    for (i, family) in [
        (3, nix::libc::AF_INET as u8),
        (5, nix::libc::AF_INET6 as u8),
    ] {
        let mut hdr = [0u8; 12];
        hdr[0] = family;
        let routes = sock
            .dump(rtnl::RTM_GETROUTE, &hdr)
            .map_err(|e| fail("route", &e));
        files.push((
            COMMANDS[i].0,
            COMMANDS[i].1,
            routes.map(|r| document(route::routes(&r, family, &names, &mut gaps, COMMANDS[i].0))),
        ));
        if wanted(COMMANDS[i + 1].0) {
            let rules = sock
                .dump(rtnl::RTM_GETRULE, &hdr)
                .map_err(|e| fail("rule", &e));
            files.push((
                COMMANDS[i + 1].0,
                COMMANDS[i + 1].1,
                rules.map(|r| document(route::rules(&r, family, &mut gaps, COMMANDS[i + 1].0))),
            ));
        }
    }
    let not_decoded = gaps
        .0
        .into_iter()
        .map(|((file, what), who)| {
            let n = who.len();
            let shown: Vec<String> = who.into_iter().take(5).collect();
            let more = if n > 5 {
                format!(" and {} more", n - 5)
            } else {
                String::new()
            };
            (
                format!("{file}: {what}"),
                format!(
                    "of {}{more}: netrig reads this over rtnetlink itself and does not decode it (run the `ip` command in MANIFEST for it)",
                    shown.join(", ")
                ),
            )
        })
        .collect();
    IpFiles {
        files,
        not_decoded,
        links: links.ok(),
    }
}

/// A link's devconf arrays (the values of its `net.ipv4.conf.IF.*` and
/// `net.ipv6.conf.IF.*` sysctls): (name, "ipv4"/"ipv6", values).
pub(crate) fn devconf(m: &rtnl::Msg) -> Option<Vec<(String, &'static str, Vec<i32>)>> {
    let name = m.attrs.str(3)?;
    let spec = m.attrs.nested(26)?;
    let mut out = Vec::new();
    for (family, conf, f) in [
        (nix::libc::AF_INET as u16, 1, "ipv4"),
        (nix::libc::AF_INET6 as u16, 2, "ipv6"),
    ] {
        if let Some(b) = spec
            .nested(family)
            .and_then(|a| a.get(conf).map(<[u8]>::to_vec))
        {
            let values = b
                .chunks_exact(4)
                .map(|c| i32::from_ne_bytes(c.try_into().unwrap()))
                .collect();
            out.push((name.clone(), f, values));
        }
    }
    Some(out)
}

/// The files and the `ip` command each stands for, in [`read`]'s order.
pub(crate) const COMMANDS: &[(&str, &str)] = &[
    ("ip-link.json", "ip -j -d link show"),
    ("ip-addr.json", "ip -j -d addr show"),
    ("ip-neigh.json", "ip -j -d neigh show"),
    ("ip-route4.json", "ip -j -4 route show table all"),
    ("ip-rule4.json", "ip -j -4 rule show"),
    ("ip-route6.json", "ip -j -6 route show table all"),
    ("ip-rule6.json", "ip -j -6 rule show"),
];

/// An address of `family` as `ip` prints it.
pub(crate) fn addr(family: u8, b: &[u8]) -> Option<String> {
    match (i32::from(family), b.len()) {
        (nix::libc::AF_INET, 4) => {
            Some(std::net::Ipv4Addr::from(<[u8; 4]>::try_from(b).ok()?).to_string())
        }
        (nix::libc::AF_INET6, 16) => {
            Some(std::net::Ipv6Addr::from(<[u8; 16]>::try_from(b).ok()?).to_string())
        }
        _ => None,
    }
}

/// A link-layer address as `ip` prints it: lowercase hex, colons.
pub(crate) fn lladdr(b: &[u8]) -> String {
    let hex: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
    hex.join(":")
}

/// `rtnl_rtscope_n2a`.
pub(crate) fn scope(s: u8) -> String {
    match s {
        0 => "global".into(),
        200 => "site".into(),
        253 => "link".into(),
        254 => "host".into(),
        255 => "nowhere".into(),
        n => n.to_string(),
    }
}

/// `rtnl_rttable_n2a`.
pub(crate) fn table(t: u32) -> String {
    match t {
        0 => "unspec".into(),
        253 => "default".into(),
        254 => "main".into(),
        255 => "local".into(),
        n => n.to_string(),
    }
}

/// `rtnl_rtprot_n2a`.
pub(crate) fn protocol(p: u8) -> String {
    let name = match p {
        0 => "unspec",
        1 => "redirect",
        2 => "kernel",
        3 => "boot",
        4 => "static",
        8 => "gated",
        9 => "ra",
        10 => "mrt",
        11 => "zebra",
        12 => "bird",
        13 => "dnrouted",
        14 => "xorp",
        15 => "ntk",
        16 => "dhcp",
        18 => "keepalived",
        42 => "babel",
        99 => "openr",
        186 => "bgp",
        187 => "isis",
        188 => "ospf",
        189 => "rip",
        192 => "eigrp",
        n => return n.to_string(),
    };
    name.into()
}

/// `rtnl_rtntype_n2a`.
pub(crate) fn rtn_type(t: u8) -> String {
    let name = match t {
        0 => "none",
        1 => "unicast",
        2 => "local",
        3 => "broadcast",
        4 => "anycast",
        5 => "multicast",
        6 => "blackhole",
        7 => "unreachable",
        8 => "prohibit",
        9 => "throw",
        10 => "nat",
        11 => "xresolve",
        n => return n.to_string(),
    };
    name.into()
}
