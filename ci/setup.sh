#!/usr/bin/env bash
# Installs the system packages netrig's labs and tests need, when missing.
# Idempotent; needs root (apt-get). Safe to run on every CI run.
set -euo pipefail

packages=(
  libpcap-dev   # pcap crate (links libpcap)
  pkg-config    # finds libpcap at build time
  iptables      # iptables-nft-* and iptables-legacy-* (Docker's rules)
  nftables      # nft
  conntrack     # conntrack -L (evidence, assertions)
  iproute2      # ip (evidence dumps, shell baselines of the bench)
  util-linux    # nsenter, unshare
  tcpdump       # reading .pcap artifacts by hand
  procps        # sysctl (root-namespace guard)
  netcat-openbsd  # nc: the shell baseline of the matrix bench
  iputils-ping  # ping: the shell baseline of the matrix bench
  ufw           # the real ufw, run confined to a node ([before]/[after] ufw; its service
                # is not started: no systemd here, and netrig runs it with the lab's /etc/ufw)
  chromium      # headless browser: the HTML report's test (cli/tests/cli/report.rs)
  firewalld     # the real firewalld 1.3.3, run confined to a node ([before]/[after] firewalld).
                # Installing it starts nothing: Debian's policy-rc.d / no systemd in CI
                # containers; netrig runs it on a private bus with the lab's /etc/firewalld.
  dbus-daemon   # dbus-daemon: the node's own D-Bus system bus for firewalld
  docker.io     # dockerd 20.10.24 + containerd + runc + CLI: `netrig verify` runs it confined
                # to a lab node. Its service is never started: no systemd here, and the
                # policy-rc.d below refuses invoke-rc.d while apt installs it (checked after).
  busybox-static  # the containers' image of `netrig verify` (docker import, no registry)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "ci/setup: all system packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "ci/setup: missing packages: ${missing[*]}; run as root (sudo ci/setup.sh)" >&2
  exit 1
fi
echo "ci/setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
daemons() { pgrep -x 'dockerd|containerd' | tr '\n' ' ' || true; }
before=$(daemons)
# Installing docker.io must not start a daemon of the machine's: refuse
# service starts for the install (exit 101: "action forbidden by policy").
own_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  own_policy=1
fi
apt-get install -y -qq --no-install-recommends "${missing[@]}"
[ "$own_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
after=$(daemons)
if [ "$before" != "$after" ]; then
  echo "ci/setup: installing started a daemon (before: [$before] after: [$after]); netrig never runs the machine's" >&2
  exit 1
fi
