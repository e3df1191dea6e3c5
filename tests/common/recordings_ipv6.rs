//! The recorded Docker IPv6 variants (`tests/data/real-docker-ipv6`) and
//! the topology text each was recorded with (`topologies/docker-ipv6.toml`
//! plus the variant's additions), shared by the behaviour test and (included
//! by path) the crate's rule tests in `docker::fidelity::ipv6`.
#![allow(dead_code)]

/// A recorded variant: its dump prefix and what it adds to the topology
/// file.
pub struct Ipv6Variant {
    /// The dump prefix (and behaviour.txt's column).
    pub name: &'static str,
    /// Recorded with the iptables-legacy backend.
    pub legacy: bool,
    /// Docker 20.10.24 (the classic layout), not 28.5.2.
    pub classic: bool,
    /// `[daemon]` keys.
    pub daemon: &'static str,
    /// Network n6's keys.
    pub n6: &'static str,
    /// A `[before]` table.
    pub before: &'static str,
}

const fn v(
    name: &'static str,
    daemon: &'static str,
    n6: &'static str,
    before: &'static str,
) -> Ipv6Variant {
    Ipv6Variant {
        name,
        legacy: false,
        classic: false,
        daemon,
        n6,
        before,
    }
}

/// Every recorded 28.5.2 variant.
pub const IPV6_VARIANTS: [Ipv6Variant; 8] = [
    v("default", "", "", ""),
    Ipv6Variant {
        legacy: true,
        ..v("legacy-backend", "", "", "")
    },
    v("n6-routed", "", "gateway_mode_ipv6 = \"routed\"\n", ""),
    v(
        "n6-nat-unprotected",
        "",
        "gateway_mode_ipv6 = \"nat-unprotected\"\n",
        "",
    ),
    v("userland-proxy-false", "userland_proxy = false\n", "", ""),
    v("ip6tables-false", "ip6tables = false\n", "", ""),
    v(
        "ip6-forward-off",
        "",
        "",
        "[before]\nsysctls = [\"net.ipv6.conf.all.forwarding=0\"]\n",
    ),
    v(
        "ip6-forward-preset",
        "",
        "",
        "[before]\nsysctls = [\"net.ipv6.conf.all.forwarding=1\"]\n",
    ),
];

/// Docker 20.10.24 with `--experimental --ip6tables` (`20.10.24/`).
pub const IPV6_20_10: Ipv6Variant = Ipv6Variant {
    classic: true,
    ..v("20.10-default", "ip6tables = true\n", "", "")
};

/// `topologies/docker-ipv6.toml`'s text with `x`'s additions.
pub fn ipv6_variant_text(file_text: &str, x: &Ipv6Variant) -> String {
    let n6 = "subnet_v6 = \"fd00:18::/64\"\n";
    let daemon = "ipv6 = true\nfixed_cidr_v6";
    let (layout, backend) = ("layout = \"v28\"", "backend = \"iptables-nft\"");
    assert!(
        [n6, daemon, layout, backend]
            .iter()
            .all(|s| file_text.contains(s)),
        "docker-ipv6.toml changed: the variants splice into it"
    );
    let mut text = file_text
        .replace(n6, &format!("{n6}{}", x.n6))
        .replace(daemon, &format!("{}{daemon}", x.daemon));
    if x.classic {
        text = text.replace(layout, "layout = \"classic\"");
    }
    if x.legacy {
        text = text.replace(backend, "backend = \"iptables-legacy\"");
    }
    text + "\n" + x.before
}
