#!/usr/bin/env bash
# Prints the calling thread's network namespace's state (links, addresses, routes, rules,
# every firewall ruleset, pinned namespaces, forwarding sysctls) in a stable
# form, so two snapshots can be diffed. SNAPSHOT_PINS_DIR names the pins
# folder to list (default /run/netns).
set -u
section() { echo "===== $1"; }
section links;      ip -o link show 2>&1 | sed -E 's/ qlen [0-9]+//'
section addresses;  ip -o addr show 2>&1 | sed -E 's/valid_lft.*//'
section routes;     ip route show table all 2>&1
section rules;      ip rule show 2>&1
section neigh-perm; ip neigh show nud permanent 2>&1
for tool in iptables-nft-save iptables-legacy-save ip6tables-nft-save ip6tables-legacy-save; do
  section "$tool"
  if command -v "$tool" >/dev/null; then "$tool" 2>&1 | grep -v -E '^#|^\[' | sed -E 's/\[[0-9]+:[0-9]+\]//'; else echo "(not installed)"; fi
done
section nft;        if command -v nft >/dev/null; then nft list ruleset 2>&1; else echo "(not installed)"; fi
section netns;      ls -1 "${SNAPSHOT_PINS_DIR:-/run/netns}" 2>/dev/null
section sysctls;    sysctl -a 2>/dev/null | grep -E '^net\.(ipv4\.(ip_forward|conf\.[^.]+\.(forwarding|route_localnet|rp_filter))|bridge\.|ipv6\.conf\.(all|default)\.(disable_ipv6|forwarding)) ' | sort
