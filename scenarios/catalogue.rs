//! The catalogue's entries, in the order `--list` shows them: the packet
//! walks of docker-rules §2 and §2.8, then the bug library. Each entry
//! names the outcome its proof asserts per Docker version (the layouts, and
//! for the bug library v29's point releases), which the upgrade view
//! (`netrig run --upgrade-view`) shows side by side.

use netrig::docker::Layout;

use crate::environment::Feature;
use crate::matrix::{self, ALL, POINT_RELEASES, Variant};
use crate::{
    bindings, bugs, crossing, exposure, gateway, icc, ipv6, isolation, local, loopback, modes, nat,
    proxy, user_rules,
};

/// How many Docker versions an entry gives outcomes for: classic, v28,
/// each of v29's [`POINT_RELEASES`], v29 (its newest).
const COLUMNS: usize = 5;
const _: () = assert!(COLUMNS == 3 + POINT_RELEASES.len());

/// The Docker versions outcomes are given for, oldest first, as trial
/// names spell them ([`Variant::key`]): `classic`, `v28`, `v29@29.0`,
/// `v29@29.5.0`, `v29`. The description's `#layouts` header.
pub fn column_keys() -> Vec<String> {
    let any = |l| Variant::new(l, netrig::Backend::IptablesNft);
    let mut keys = vec![any(Layout::Classic).key(), any(Layout::V28).key()];
    keys.extend(POINT_RELEASES.iter().map(|r| any(Layout::V29).at(*r).key()));
    keys.push(any(Layout::V29).key());
    keys
}

/// A scenario: a claim (the function's doc comment), the function proving
/// it, the cells it runs on, what it needs besides their backend, and the
/// outcome it asserts per Docker version.
pub struct Scenario {
    /// The scenario's name (the trial name's first part).
    pub name: &'static str,
    /// The proof.
    pub run: fn(&Variant) -> netrig::Result<()>,
    /// The cells it runs on (the bug library's also at v29's point releases: [`Scenario::cells`]).
    pub variants: &'static [Variant],
    /// Kernel features it needs besides its backend.
    pub needs: &'static [Feature],
    /// The outcome asserted per version, in [`column_keys`] order.
    pub outcomes: [&'static str; COLUMNS],
    /// The userland proxy setting it runs with, where that matters.
    pub proxy: Option<bool>,
    /// True for the bug library (trial names start with `bug::`).
    pub bug: bool,
}

impl Scenario {
    const fn new(
        name: &'static str,
        run: fn(&Variant) -> netrig::Result<()>,
        outcome: &'static str,
    ) -> Scenario {
        Scenario {
            name,
            run,
            variants: ALL,
            needs: &[],
            outcomes: [outcome; COLUMNS],
            proxy: None,
            bug: false,
        }
    }

    const fn bug(mut self) -> Scenario {
        self.bug = true;
        self
    }

    const fn on(mut self, variants: &'static [Variant]) -> Scenario {
        self.variants = variants;
        self
    }

    const fn needs(mut self, needs: &'static [Feature]) -> Scenario {
        self.needs = needs;
        self
    }

    const fn proxy(mut self, on: bool) -> Scenario {
        self.proxy = Some(on);
        self
    }

    /// Different outcomes on classic, v28 and v29 (every 29.x alike).
    const fn per_layout(
        mut self,
        classic: &'static str,
        v28: &'static str,
        v29: &'static str,
    ) -> Scenario {
        self.outcomes = [classic, v28, v29, v29, v29];
        self
    }

    /// Different outcomes at v29's point releases: 29.0, 29.5.0, and the
    /// newest (29.7).
    const fn per_release(
        mut self,
        v29_0: &'static str,
        v29_5_0: &'static str,
        v29_7: &'static str,
    ) -> Scenario {
        self.outcomes[2] = v29_0;
        self.outcomes[3] = v29_5_0;
        self.outcomes[4] = v29_7;
        self
    }

    /// The trial name prefix: `NAME` or `bug::NAME`.
    pub fn trial_prefix(&self) -> String {
        match self.bug {
            true => format!("bug::{}", self.name),
            false => self.name.to_string(),
        }
    }

    /// The cells its trials run on: [`Scenario::variants`], and for the bug
    /// library the v29 cell again at each of v29's point releases.
    pub fn cells(&self) -> Vec<Variant> {
        match self.bug {
            true => Variant::with_releases(self.variants),
            false => self.variants.to_vec(),
        }
    }

    /// The outcome asserted on the Docker version named `key` (a [`column_keys`] entry).
    pub fn outcome(&self, key: &str) -> &'static str {
        column_keys()
            .iter()
            .position(|k| k == key)
            .map_or("", |i| self.outcomes[i])
    }
}

const RAW_DROP: &str = "dropped: raw PREROUTING direct-access drop";
const RAW_DROP6: &str = "dropped: ip6 raw PREROUTING direct-access drop";

/// Every scenario, walks first, then the bug library.
pub fn catalogue() -> Vec<Scenario> {
    let mut all = walks();
    all.extend(bug_library());
    all
}

/// The packet walks of docker-rules §2 and §2.8.
fn walks() -> Vec<Scenario> {
    let mut all = nat_and_local();
    all.extend(isolation_and_modes());
    all.extend(ipv6_walks());
    all
}

/// IPv6 on a dual-stack host (issue 21): NAT out and in, routed, the `[::]`
/// proxy to an IPv4-only container, a LAN router sending the prefix.
fn ipv6_walks() -> Vec<Scenario> {
    use Scenario as S;
    vec![
        S::new(
            "ipv6_outbound_masquerade",
            ipv6::ipv6_outbound_masquerade,
            "masqueraded to 2001:db8:113::2",
        ),
        S::new(
            "ipv6_routed_network_leaves_unnated",
            ipv6::ipv6_routed_network_leaves_unnated,
            "",
        )
        .per_layout(
            "",
            "leaves with its own address",
            "leaves with its own address",
        )
        .on(matrix::MODERN),
        S::new(
            "ipv6_published_port_dnat",
            ipv6::ipv6_published_port_dnat,
            "DNATed to the container's IPv6, client source kept",
        ),
        S::new(
            "ipv6_wildcard_proxied_to_ipv4_container",
            ipv6::ipv6_wildcard_proxied_to_ipv4_container,
            "[::] docker-proxy; container sees its gateway",
        )
        .proxy(true),
        S::new(
            "ipv6_lan_routes_container_prefix",
            ipv6::ipv6_lan_routes_container_prefix,
            "",
        )
        .per_layout("forwarded to published port", RAW_DROP6, RAW_DROP6),
    ]
}

/// NAT in and out, host-local access and hairpin, proxy on and off (§2.1–§2.3, §2.6).
fn nat_and_local() -> Vec<Scenario> {
    use Scenario as S;
    vec![
        S::new(
            "outbound_masquerade",
            nat::outbound_masquerade,
            "masqueraded to 203.0.113.2, answer de-NATed",
        ),
        S::new(
            "outbound_tcp_is_masqueraded",
            bindings::outbound_tcp_is_masqueraded,
            "SYN masqueraded, connected",
        ),
        S::new(
            "published_port_dnat",
            nat::published_port_dnat,
            "DNATed, client source kept",
        ),
        S::new(
            "published_udp_port_keeps_client_source",
            bindings::published_udp_port_keeps_client_source,
            "UDP DNATed, client source kept",
        ),
        S::new(
            "host_loopback_reaches_published_port_through_proxy",
            local::host_loopback_reaches_published_port_through_proxy,
            "docker-proxy; container sees 172.17.0.1",
        )
        .proxy(true),
        S::new(
            "host_loopback_reaches_published_port_without_proxy",
            local::host_loopback_reaches_published_port_without_proxy,
            "DNAT in OUTPUT; container sees 172.17.0.1",
        )
        .proxy(false),
        S::new(
            "host_address_reaches_published_port_by_dnat",
            local::host_address_reaches_published_port_by_dnat,
            "DNAT in OUTPUT; container sees 203.0.113.2",
        )
        .proxy(true),
        S::new(
            "host_reaches_container_address",
            local::host_reaches_container_address,
            "reached; raw drop not hit",
        ),
        S::new(
            "container_reaches_own_published_port_through_proxy",
            local::container_reaches_own_published_port_through_proxy,
            "docker-proxy; sees 172.17.0.1",
        )
        .proxy(true),
        S::new(
            "container_reaches_own_published_port_by_hairpin_nat",
            local::container_reaches_own_published_port_by_hairpin_nat,
            "hairpin DNAT + MASQUERADE; sees 172.17.0.1",
        )
        .proxy(false)
        .needs(&[Feature::BridgeNetfilter]),
        S::new(
            "userland_proxy_hides_client",
            proxy::userland_proxy_hides_client,
            "neighbour seen as 172.17.0.1",
        )
        .proxy(true),
        S::new(
            "hairpin_nat_preserves_client",
            proxy::hairpin_nat_preserves_client,
            "neighbour seen as itself",
        )
        .proxy(false)
        .needs(&[Feature::BridgeNetfilter]),
    ]
}

/// Walks between containers, bridges and the LAN (§2.4, §2.5, §2.7), bindings and modes (§2.8).
fn isolation_and_modes() -> Vec<Scenario> {
    use Scenario as S;
    vec![
        S::new(
            "containers_on_one_bridge_connect",
            icc::containers_on_one_bridge_connect,
            "connected, sources kept",
        ),
        S::new(
            "icc_false_drops_traffic_on_one_bridge",
            icc::icc_false_drops_traffic_on_one_bridge,
            "dropped: ICC drop",
        )
        .needs(&[Feature::BridgeNetfilter]),
        S::new("bridges_are_isolated", isolation::bridges_are_isolated, "").per_layout(
            "dropped: ISOLATION-STAGE-2",
            RAW_DROP,
            RAW_DROP,
        ),
        S::new(
            "other_bridge_reaches_published_port",
            crossing::other_bridge_reaches_published_port,
            "",
        )
        .per_layout(
            "docker-proxy (nat RETURN)",
            "docker-proxy (nat RETURN)",
            "DNAT + MASQUERADE",
        )
        .proxy(true),
        S::new(
            "internal_network_has_no_way_out",
            isolation::internal_network_has_no_way_out,
            "",
        )
        .per_layout(
            "dropped: ISOLATION-STAGE-1 (keeps default route)",
            "no default route; dropped: ISOLATION-STAGE-1",
            "no default route; dropped: DOCKER-INTERNAL",
        ),
        S::new(
            "internal_network_containers_connect",
            icc::internal_network_containers_connect,
            "connected",
        ),
        S::new(
            "direct_routing_to_container",
            exposure::direct_routing_to_container,
            "",
        )
        .per_layout("forwarded to published port", RAW_DROP, RAW_DROP),
        S::new(
            "lan_peer_routes_udp_to_container",
            crossing::lan_peer_routes_udp_to_container,
            "",
        )
        .per_layout("forwarded to published UDP port", RAW_DROP, RAW_DROP),
        S::new(
            "loopback_binding_from_the_uplink",
            loopback::loopback_binding_from_the_uplink,
            "",
        )
        .per_layout(
            "DNATed to the container, answered",
            "dropped: raw ! -i lo",
            "dropped: raw ! -i lo",
        ),
        S::new(
            "loopback_binding_serves_only_the_host",
            local::loopback_binding_serves_only_the_host,
            "host reaches it; internet does not",
        ),
        S::new(
            "port_bound_to_one_host_address",
            bindings::port_bound_to_one_host_address,
            "DNATed on that address only",
        ),
        S::new(
            "ip_masq_off_keeps_container_source",
            bindings::ip_masq_off_keeps_container_source,
            "leaves with the container's address",
        ),
        S::new(
            "routed_network_is_reached_by_routing",
            gateway::routed_network_is_reached_by_routing,
            "",
        )
        .per_layout(
            "",
            "reached unNATed; unpublished dropped",
            "reached unNATed; unpublished dropped",
        )
        .on(matrix::GATEWAY_MODES),
        S::new(
            "docker_user_rule_blocks_one_source",
            user_rules::docker_user_rule_blocks_one_source,
            "dropped by the user's rule",
        ),
        S::new(
            "network_none_has_loopback_only",
            modes::network_none_has_loopback_only,
            "lo only, nothing leaves",
        ),
        S::new(
            "network_host_is_reached_through_input",
            modes::network_host_is_reached_through_input,
            "reached through INPUT, no DNAT",
        ),
        S::new(
            "network_container_shares_owner_stack",
            modes::network_container_shares_owner_stack,
            "owner's stack and address",
        ),
        S::new(
            "host_mode_container_is_dnated_to_published_port",
            local::host_mode_container_is_dnated_to_published_port,
            "DNAT in OUTPUT",
        ),
    ]
}

/// The bug library: real Docker networking bugs, per version as reported.
fn bug_library() -> Vec<Scenario> {
    use Scenario as S;
    vec![
        S::new(
            "raw_drop_cuts_off_routed_vpn_peer",
            bugs::routing::raw_drop_cuts_off_routed_vpn_peer,
            "",
        )
        .per_layout(
            "reached",
            "BUG: cut off by raw drop",
            "BUG: cut off by raw drop",
        )
        .bug(),
        S::new(
            "unpublished_ports_exposed_when_forwarding_was_on",
            bugs::routing::unpublished_ports_exposed_when_forwarding_was_on,
            "",
        )
        .per_layout(
            "BUG: exposed (FORWARD ACCEPT)",
            "fixed: raw drop",
            "fixed: raw drop",
        )
        .bug(),
        S::new(
            "loopback_published_port_reachable_from_lan_peer",
            bugs::routing::loopback_published_port_reachable_from_lan_peer,
            "",
        )
        .per_layout(
            "BUG: reached",
            "fixed: raw ! -i lo drop",
            "fixed: raw ! -i lo drop",
        )
        .bug(),
        S::new(
            "published_port_bypasses_host_input_rules",
            bugs::firewall::published_port_bypasses_host_input_rules,
            "BUG: INPUT drop bypassed",
        )
        .bug(),
        S::new(
            "forward_drop_policy_breaks_libvirt_nat",
            bugs::firewall::forward_drop_policy_breaks_libvirt_nat,
            "",
        )
        .per_layout(
            "BUG: FORWARD DROP policy",
            "BUG: FORWARD DROP policy",
            "BUG (iptables-nft) / fine (nftables)",
        )
        .bug(),
        S::new(
            "nft_table_drops_what_legacy_docker_accepted",
            bugs::firewall::nft_table_drops_what_legacy_docker_accepted,
            "",
        )
        .per_layout("BUG: nft table drops", "BUG: nft table drops", "")
        .on(matrix::LEGACY)
        .bug(),
        S::new(
            "flush_ruleset_wipes_docker_rules",
            bugs::firewall::flush_ruleset_wipes_docker_rules,
            "BUG: DNAT+MASQ wiped, proxy serves (nft backends) / kept (legacy)",
        )
        .bug(),
        S::new(
            "icc_false_without_proxy_blocks_peer_from_published_port",
            bugs::proxy::icc_false_without_proxy_blocks_peer_from_published_port,
            "BUG: dropped by ICC drop",
        )
        .proxy(false)
        .needs(&[Feature::BridgeNetfilter])
        .bug(),
        S::new(
            "icc_false_with_proxy_lets_peer_reach_published_port",
            bugs::proxy::icc_false_with_proxy_lets_peer_reach_published_port,
            "reached via docker-proxy",
        )
        .proxy(true)
        .needs(&[Feature::BridgeNetfilter])
        .bug(),
        S::new(
            "published_port_unreachable_from_other_bridge_without_proxy",
            bugs::proxy::published_port_unreachable_from_other_bridge_without_proxy,
            "",
        )
        .per_layout(
            "BUG: dropped by isolation",
            "BUG: dropped by isolation",
            "fixed: DNAT + MASQUERADE",
        )
        .proxy(false)
        .bug(),
        S::new(
            "platform_firewall_orphans_docker_forward",
            bugs::owners::platform_firewall_orphans_docker_forward,
            "",
        )
        .per_layout(
            "BUG: Docker's FORWARD rules gone; policy DROP",
            "BUG: DOCKER-FORWARD orphaned; policy DROP",
            "BUG: DOCKER-FORWARD orphaned / iptables policy DROP (nftables)",
        )
        .bug(),
        S::new(
            "second_daemon_rewrites_docker_forward",
            bugs::owners::second_daemon_rewrites_docker_forward,
            "BUG: docker0's egress and answers dropped by policy",
        )
        .on(matrix::MODERN_IPTABLES)
        .bug(),
        S::new(
            "second_daemon_replaces_docker_bridges_table",
            bugs::owners::second_daemon_replaces_docker_bridges_table,
            "",
        )
        .per_layout("", "", "BUG: table replaced; no masquerade, proxy serves")
        .on(matrix::NFTABLES)
        .bug(),
        S::new(
            "firewalld_strict_forward_ports_accept_any_docker_port",
            bugs::owners::firewalld_strict_forward_ports_accept_any_docker_port,
            "BUG: 8080 accepted by port alone; 9090 rejected",
        )
        .bug(),
        S::new(
            "ufw_route_deny_does_not_stop_published_port",
            bugs::owners::ufw_route_deny_does_not_stop_published_port,
            "",
        )
        .per_layout(
            "BUG: ufw's route drop bypassed",
            "BUG: ufw's route drop bypassed",
            "BUG (iptables-nft) / ufw drops (nftables)",
        )
        .bug(),
        S::new(
            "ufw_deny_leaves_published_port_open",
            bugs::managers::ufw_deny_leaves_published_port_open,
            "BUG: published port open despite ufw deny",
        )
        .on(bugs::managers::UFW)
        .needs(&[Feature::Ufw])
        .bug(),
        S::new(
            "ufw_route_deny_closes_published_port",
            bugs::managers::ufw_route_deny_closes_published_port,
            "ufw route deny drops it (DOCKER-USER jump)",
        )
        .on(bugs::managers::UFW)
        .needs(&[Feature::Ufw])
        .bug(),
        S::new(
            "ufw_docker_recipe_route_allow_opens_published_port",
            bugs::managers::ufw_docker_recipe_route_allow_opens_published_port,
            "recipe drops 8080; ufw route allow opens it",
        )
        .on(bugs::managers::UFW)
        .needs(&[Feature::Ufw])
        .bug(),
        S::new(
            "firewalld_zone_does_not_constrain_published_port",
            bugs::managers::firewalld_zone_does_not_constrain_published_port,
            "BUG: 8080 reached past the public zone; own 8081 rejected",
        )
        .on(bugs::managers::FIREWALLD)
        .needs(&[Feature::Firewalld])
        .bug(),
        S::new(
            "firewalld_reload_drops_published_port_until_docker_reapplies",
            bugs::managers::firewalld_reload_drops_published_port_until_docker_reapplies,
            "BUG: reload flushes the DNAT, zone rejects 8080; Docker's handler restores it",
        )
        .on(bugs::managers::FIREWALLD)
        .needs(&[Feature::Firewalld])
        .bug(),
        S::new(
            "mixed_28_29_chains_refuse_network_create",
            bugs::owners::mixed_28_29_chains_refuse_network_create,
            "",
        )
        .per_layout(
            "rule loads; isolation drops",
            "rule loads; isolation drops",
            "BUG: \"Chain 'DOCKER-ISOLATION-STAGE-2' does not exist\"",
        )
        .on(matrix::ROUTED_PEERS)
        .bug(),
        S::new(
            "nftables_backend_refuses_to_start_without_forwarding",
            bugs::nftables::nftables_backend_refuses_to_start_without_forwarding,
            "",
        )
        .per_layout(
            "forwarding turned on; egress masqueraded",
            "forwarding turned on; egress masqueraded",
            "on (iptables-nft) / BUG: refuses to start (nftables)",
        )
        .bug(),
        S::new(
            "user_accept_cannot_override_nftables_backend_drop",
            bugs::nftables::user_accept_cannot_override_nftables_backend_drop,
            "",
        )
        .per_layout(
            "DOCKER-USER accept wins",
            "DOCKER-USER accept wins",
            "wins (iptables-nft) / BUG: ICC drop wins (nftables)",
        )
        .needs(&[Feature::BridgeNetfilter])
        .bug(),
        S::new(
            "docker_user_rules_ignored_by_nftables_backend",
            bugs::nftables::docker_user_rules_ignored_by_nftables_backend,
            "",
        )
        .per_layout(
            "blocked by DOCKER-USER",
            "blocked by DOCKER-USER",
            "blocked (iptables-nft) / BUG: rules unused (nftables)",
        )
        .bug(),
        S::new(
            "raw_drop_cuts_test_lab_off_container_network",
            bugs::routing::raw_drop_cuts_test_lab_off_container_network,
            "",
        )
        .per_layout(
            "reached",
            "BUG: raw drop; fixed by nat-unprotected",
            "BUG: raw drop; fixed by nat-unprotected",
        )
        .on(matrix::ROUTED_PEERS)
        .bug(),
        S::new(
            "nat_unprotected_lets_routed_host_reach_every_port",
            bugs::routing::nat_unprotected_lets_routed_host_reach_every_port,
            "",
        )
        .per_layout(
            "reached (forwarding was on)",
            "BUG: raw drop on nat; nat-unprotected reaches",
            "BUG: raw drop on nat; nat-unprotected reaches",
        )
        .on(matrix::ROUTED_PEERS)
        .bug(),
        S::new(
            "port_bound_to_gateway_address_reachable_from_lan",
            bugs::routing::port_bound_to_gateway_address_reachable_from_lan,
            "BUG: reached from the LAN",
        )
        .bug(),
        S::new(
            "internal_network_reaches_host_services",
            bugs::routing::internal_network_reaches_host_services,
            "",
        )
        .per_layout(
            "BUG: gateway and uplink addresses answer",
            "BUG: gateway answers; no route to the uplink",
            "BUG: gateway answers; no route to the uplink",
        )
        .bug(),
        S::new(
            "routed_network_cannot_reach_published_port_on_nat_network",
            bugs::proxy::routed_network_cannot_reach_published_port_on_nat_network,
            "",
        )
        .per_layout(
            "",
            "BUG: dropped by isolation",
            "fixed: DNATed and connected",
        )
        .proxy(false)
        .on(matrix::GATEWAY_MODES)
        .bug(),
        S::new(
            "user_rule_on_published_port_never_matches",
            bugs::firewall::user_rule_on_published_port_never_matches,
            "BUG: --dport 8080 never matches",
        )
        .bug(),
        S::new(
            "ip_forward_no_drop_keeps_libvirt_nat_working",
            bugs::firewall::ip_forward_no_drop_keeps_libvirt_nat_working,
            "",
        )
        .per_layout(
            "",
            "fixed: policy ACCEPT, VM gets out",
            "fixed: policy ACCEPT, VM gets out",
        )
        .on(matrix::MODERN_IPTABLES)
        .bug(),
        S::new(
            "gateway_address_loses_published_port_without_proxy",
            bugs::proxy::gateway_address_loses_published_port_without_proxy,
            "",
        )
        .per_layout(
            "BUG: dropped by isolation",
            "BUG: dropped by isolation",
            "fixed: DNAT + MASQUERADE",
        )
        .proxy(false)
        .bug(),
        S::new(
            "host_input_deny_blocks_containers_from_published_port",
            bugs::host::host_input_deny_blocks_containers_from_published_port,
            "BUG: neighbour dropped by INPUT deny; internet gets in",
        )
        .proxy(true)
        .bug(),
        S::new(
            "host_output_deny_blocks_host_from_published_port",
            bugs::host::host_output_deny_blocks_host_from_published_port,
            "BUG: docker-proxy's SYN dropped by OUTPUT deny; own address DNATed, passes",
        )
        .proxy(true)
        .bug(),
        S::new(
            "source_routed_host_cannot_reach_own_published_port",
            bugs::host::source_routed_host_cannot_reach_own_published_port,
            "BUG: DNATed SYN leaves by the uplink; fine without the OUTPUT jump",
        )
        .proxy(true)
        .bug(),
        S::new(
            "icc_false_ignored_when_bridge_netfilter_is_reset",
            bugs::host::icc_false_ignored_when_bridge_netfilter_is_reset,
            "BUG: bridge-nf reset to 0, neighbour connects",
        )
        .needs(&[Feature::BridgeNetfilter])
        .bug(),
        S::new(
            "ipv6_bridge_unreachable_from_lan_after_28",
            bugs::ipv6::ipv6_bridge_unreachable_from_lan_after_28,
            "",
        )
        .per_layout(
            "reached (ip6 FORWARD policy ACCEPT)",
            "BUG: dropped by ip6 raw PREROUTING",
            "BUG: dropped by ip6 raw PREROUTING",
        )
        .bug(),
        S::new(
            "ipv6_forward_drop_breaks_unrelated_bridge",
            bugs::ipv6::ipv6_forward_drop_breaks_unrelated_bridge,
            "",
        )
        .per_layout(
            "BUG: ip6tables FORWARD DROP policy",
            "BUG: ip6tables FORWARD DROP policy",
            "BUG (iptables-nft) / fine (nftables)",
        )
        .bug(),
        S::new(
            "ipv6_published_port_bypasses_iptables_docker_user_rule",
            bugs::ipv6::ipv6_published_port_bypasses_iptables_docker_user_rule,
            "BUG: IPv4 dropped by DOCKER-USER; IPv6 DNATed past it",
        )
        .on(bugs::ipv6::IPTABLES)
        .bug(),
        S::new(
            "stale_udp_conntrack_survives_container_restart",
            bugs::conntrack::stale_udp_conntrack_survives_container_restart,
            "flushed by host port; client seen",
        )
        .per_release(
            "flushed by host port; client seen",
            "BUG: 5354:53 and 5355:5355 kept; proxy relays, seen as 172.17.0.1",
            "BUG: 5354:53 kept (5355:5355 flushed); seen as 172.17.0.1",
        )
        .proxy(true)
        .on(bugs::conntrack::CELLS)
        .bug(),
    ]
}
