#!/bin/bash
# =============================================================================================
# record-prestart.sh - real-docker.sh plus a pre-start hook (ORC_PRESTART_*): run a REAL
# Docker daemon (Debian bookworm docker.io 20.10.24, "classic"
# iptables layout) hermetically, inside network/mount/pid namespaces of its own, and record
# what it does to networking. It is the ORACLE that netrig's emulation is compared against.
#
# Nothing here touches the root network namespace: no interface, route, sysctl or firewall
# rule of the root namespace is changed (the `snapshot`/`check-root` commands prove it).
#
# LAYOUT (all names/paths can be overridden by the environment variables below)
#
#   root netns (untouched)
#   netns $ORC_INET_NS ("internet")           netns $ORC_NS ("the docker host")
#     inet0 203.0.113.1/24  <--- veth --->       uplink0 203.0.113.2/24, default via .1
#     lo    198.51.100.10/32 (test server)       docker0, br-*, veths ... created by dockerd
#
#   In $ORC_NS, `nsenter --net` + `unshare --mount --pid --fork --mount-proc` start a tiny
#   init (inner.sh, PID 1 of a new pid namespace) in a PRIVATE mount namespace. It
#     - unmounts its copies of /run/netns/* and mounts a tmpfs on /run (so the hard-coded
#       /run/containerd/s/... shim sockets, /run/xtables.lock, /run/docker/... stay private),
#     - mounts a fresh sysfs for $ORC_NS on /sys (keeping the cgroup mounts), so
#       /sys/class/net shows the daemon's interfaces,
#     - bind-mounts $ORC_DIR/etc over /etc/docker (Debian's package creates that directory),
#     - starts containerd (own config: root/state/sockets/opt under $ORC_DIR; or, with
#       ORC_CONTAINERD=managed, lets dockerd start it, with $ORC_DIR/containerd/opt bound on /opt) and
#       dockerd --containerd=... --data-root/--exec-root/--pidfile/-H unix://$ORC_DIR/docker.sock
#       --config-file (only sets deprecated-key-path, so /etc/docker/key.json is not written)
#       --exec-opt native.cgroupdriver=cgroupfs --cgroup-parent=/orc-docker --dns 198.51.100.53
#   Everything lives under $ORC_DIR. Containers' cgroups go to /sys/fs/cgroup/*/orc-docker
#   (removed by `down`). Killing the init (by PID) kills everything left in its pid namespace.
#
# COMMANDS
#   install              apt-get install docker.io busybox-static iptables tcpdump
#                        (--no-install-recommends: avoids needrestart/apparmor/cgroupfs-mount)
#                        and verify that no dockerd/containerd got started.
#   snapshot NAME        save the root namespace's network state (normalised) to $ORC_STATE/NAME
#   check-root NAME      diff the root namespace's network state against snapshot NAME
#   up [DOCKERD-ARGS..]  create $ORC_INET_NS + $ORC_NS, start containerd+dockerd (extra args go
#                        to dockerd, e.g. --userland-proxy=false, --icc=false, --ip-masq=false).
#                        ORC_IPTABLES=legacy makes dockerd's `iptables` iptables-legacy
#                        (default: Debian's alternative, i.e. iptables-nft).
#   image                build image orc/busybox (docker import of a static-busybox rootfs)
#   scenario [STAGE-PREFIX]  run the standard scenario, in this order: ca -p 8080:80 (docker0),
#                        `network create br`, cb on br, ca2 (docker0), cn --network none,
#                        ch --network host, cc --network container:ca; with STAGE-PREFIX it
#                        dumps PREFIX-0-daemon-start, -1-after-ca, -2-after-network-create-br,
#                        -3-after-cb
#   dump NAME            write everything about the daemon netns + containers to
#                        $ORC_DUMPS/NAME.txt and the bare rule sets to $ORC_DUMPS/NAME.rules
#   test NAME            behaviour tests (published port from the internet ns, masquerade seen
#                        by tcpdump, hairpin, localhost, icc, internal) -> $ORC_DUMPS/NAME.test.txt
#                        (needs the containers of `scenario`; uses busybox wget WITHOUT -T, because
#                        Debian's busybox-static 1.35 wget segfaults with -T; `timeout` bounds it)
#   d ARGS..             run the docker 20.10 CLI (/usr/bin/docker) against the hermetic daemon
#   inns CMD..           run CMD in the daemon's net+mount+pid namespaces
#   restart [DOCKERD-ARGS..]  stop dockerd+containerd (by PID) and start them again in the same
#                        netns with the same data (docker0 and the old rules stay, as on a host)
#   down                 stop dockerd/containerd/init and test servers by PID, delete the
#                        namespaces and cgroups, remove $ORC_DIR
#   variant NAME [DOCKERD-ARGS..]   up + image + scenario + dump NAME + test NAME + down
#   all                  the complete recorded run, checking the root namespace before/after:
#                        default (+ stage dumps, + `network create --internal brint` + ci,
#                        + daemon restart), userland-proxy-false, icc-false, ip-masq-false,
#                        legacy-backend (ORC_IPTABLES=legacy). Takes ~8 minutes.
#
# ENVIRONMENT: ORC_DIR ($TMPDIR/orc-docker) ORC_NS (orc-dock) ORC_INET_NS (orc-inet)
#   ORC_DUMPS (./real-docker-out/dumps) ORC_STATE (./real-docker-out/state) ORC_CGROUP_PARENT (/orc-docker)
#   ORC_IPTABLES (default|legacy|nft) ORC_CONTAINERD (separate|managed)
#   ORC_PRESTART_RULES (FILE: iptables-save text loaded with iptables-nft-restore into $ORC_NS
#   after it is created and before dockerd starts) ORC_PRESTART_FORWARD (e.g. 1: net.ipv4.ip_forward
#   set in $ORC_NS before dockerd starts; unset: left at the new-netns default 0)
#   Container names are ca, ca2, cb, cn, ch, cc, ci: Docker rejects one-letter names like "a".
#
# EXAMPLE
#   ./real-docker.sh install
#   ./real-docker.sh snapshot before
#   ./real-docker.sh up --userland-proxy=false && ./real-docker.sh image
#   ./real-docker.sh d run -d --name ca -p 8080:80 orc/busybox httpd -f -p 80
#   ./real-docker.sh dump mytest; ./real-docker.sh down; ./real-docker.sh check-root before
#
# SAFETY: uses only 203.0.113.0/24 (uplink) and 198.51.100.0/24 (internet servers) outside
# docker's own 172.17/172.18/... (which exist only inside $ORC_NS). No route leaves $ORC_NS
# except to $ORC_INET_NS, which has no route anywhere. Every wait is bounded. Processes are
# stopped by PID, after checking their command name.
# =============================================================================================
set -u -o pipefail

ORC_DIR=${ORC_DIR:-${TMPDIR:-/tmp}/orc-docker}          # temp root for everything the daemon writes
ORC_NS=${ORC_NS:-orc-dock}                    # netns of the docker host
ORC_INET_NS=${ORC_INET_NS:-orc-inet}          # netns playing "the internet"
ORC_DUMPS=${ORC_DUMPS:-$PWD/real-docker-out/dumps}
ORC_STATE=${ORC_STATE:-$PWD/real-docker-out/state}
ORC_CGROUP_PARENT=${ORC_CGROUP_PARENT:-/orc-docker}
ORC_IPTABLES=${ORC_IPTABLES:-default}         # default | legacy | nft
ORC_CONTAINERD=${ORC_CONTAINERD:-separate}    # separate (own config) | managed (started by dockerd)
ORC_PRESTART_RULES=${ORC_PRESTART_RULES:-}    # iptables-save file loaded into $ORC_NS before dockerd starts
ORC_PRESTART_FORWARD=${ORC_PRESTART_FORWARD:-} # if set: net.ipv4.ip_forward value set before dockerd starts
DOCKER_BIN=/usr/bin/docker                    # NOT /usr/local/bin/docker (a 28.x CLI)
IMG=orc/busybox
UPLINK_IP=203.0.113.2 INET_IP=203.0.113.1 SERVER_IP=198.51.100.10 DNS_IP=198.51.100.53
SOCK=$ORC_DIR/docker.sock
SELF=$(readlink -f "$0")

log() { echo "[real-docker] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
need_root() { [ "$(id -u)" = 0 ] || die "must run as root"; }

# ---------------------------------------------------------------------------- helpers ------
# wait_until TIMEOUT_S CMD... : poll CMD every 0.2 s, at most TIMEOUT_S seconds
wait_until() {
  local t=$1; shift; local n=$((t * 5))
  while [ $n -gt 0 ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; n=$((n - 1)); done
  return 1
}
alive() { kill -0 "$1" 2>/dev/null; }
comm_of() { cat "/proc/$1/comm" 2>/dev/null; }
# kill_pid PID EXPECTED_COMM SIGNAL : signal PID only if its comm is EXPECTED_COMM
kill_pid() {
  local pid=$1 want=$2 sig=${3:-TERM} c
  [ -n "$pid" ] || return 0
  c=$(comm_of "$pid") || return 0
  if [ "$c" = "$want" ]; then kill "-$sig" "$pid" 2>/dev/null && log "sent SIG$sig to $pid ($c)"
  else log "not killing $pid: comm '$c' != '$want'"; fi
}
children_of() { cat /proc/"$1"/task/*/children 2>/dev/null; }
unshare_pid() { cat "$ORC_DIR/unshare.pid" 2>/dev/null; }
init_pid() {   # outer PID of PID 1 of the daemon's pid namespace
  local u; u=$(unshare_pid) || return 1; [ -n "$u" ] || return 1
  local c; c=$(children_of "$u" | awk '{print $1}'); [ -n "$c" ] || return 1; echo "$c"
}
child_pid_named() {   # outer PID of the init's child with comm $1
  local i p; i=$(init_pid) || return 1
  for p in $(children_of "$i"); do [ "$(comm_of "$p")" = "$1" ] && { echo "$p"; return 0; }; done
  return 1
}
# run a command in the daemon's network + mount + pid namespaces (its view of /proc, /sys, /run)
inns() { local i; i=$(init_pid) || die "daemon not running"; nsenter -t "$i" -m -p -n -- "$@"; }
d() { "$DOCKER_BIN" -H "unix://$SOCK" "$@"; }
in_inet() { ip netns exec "$ORC_INET_NS" "$@"; }

# ---------------------------------------------------------------------------- install ------
docker_procs() { ps -eo pid=,comm= | awk '$2 ~ /^(dockerd|containerd|containerd-shim.*|docker-proxy|runc)$/ {printf "%s ", $1}'; }
cmd_install() {
  need_root
  local before after
  before=$(docker_procs)
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    docker.io busybox-static iptables tcpdump || die "apt-get install failed"
  after=$(docker_procs)
  log "dockerd/containerd before install: [${before}] after: [${after}]"
  local p
  for p in $after; do
    case " $before " in *" $p "*) continue ;; esac
    log "WARNING: install started $(comm_of "$p") pid $p ($(tr '\0' ' ' </proc/$p/cmdline)); stopping it"
    kill_pid "$p" "$(comm_of "$p")" TERM
  done
  dpkg-query -W docker.io containerd runc busybox-static iptables tcpdump
}

# --------------------------------------------------------------------------- snapshot ------
norm_ipt() { grep -v '^#' | sed -E 's/\[[0-9]+:[0-9]+\]/[0:0]/g'; }
norm_nft() { sed -E 's/counter packets [0-9]+ bytes [0-9]+/counter packets 0 bytes 0/g'; }
root_state() {
  echo "## ip -o link";        ip -o link
  echo "## ip -o addr";        ip -o addr
  echo "## ip route";          ip route
  echo "## ip -6 route";       ip -6 route
  echo "## ip rule";           ip rule
  echo "## iptables-legacy-save";  iptables-legacy-save 2>&1 | norm_ipt
  echo "## ip6tables-legacy-save"; ip6tables-legacy-save 2>&1 | norm_ipt
  echo "## iptables-nft-save";     iptables-nft-save 2>&1 | norm_ipt
  echo "## ip6tables-nft-save";    ip6tables-nft-save 2>&1 | norm_ipt
  echo "## nft list ruleset";      nft list ruleset 2>&1 | norm_nft
  echo "## sysctls"
  sysctl net.ipv4.ip_forward net.ipv4.conf.all.forwarding net.ipv6.conf.all.forwarding 2>&1
  ls /proc/sys/net/bridge/ >/dev/null 2>&1 && sysctl net.bridge 2>&1
  echo "## paths docker/containerd might write by default (must not exist)"
  local f; for f in /var/lib/docker /run/docker /run/docker.sock /etc/docker /var/lib/containerd \
      /run/containerd /opt/containerd /run/netns/$ORC_NS /run/netns/$ORC_INET_NS; do
    [ -e "$f" ] && echo "EXISTS $f: $(ls -A "$f" 2>/dev/null | tr '\n' ' ')" || echo "absent $f"; done
  echo "## mounts mentioning orc / docker / containerd"
  grep -E 'orc|docker|containerd' /proc/self/mountinfo | awk '{print $5, $9}' || true
  echo "## cgroups $ORC_CGROUP_PARENT"; ls -d /sys/fs/cgroup/*"$ORC_CGROUP_PARENT" 2>/dev/null || true
}
cmd_snapshot() { need_root; mkdir -p "$ORC_STATE"; root_state >"$ORC_STATE/${1:?name}"; log "root snapshot -> $ORC_STATE/$1"; }
cmd_check_root() {
  need_root; local name=${1:?name}; root_state >"$ORC_STATE/$name.now"
  if diff -u "$ORC_STATE/$name" "$ORC_STATE/$name.now"; then log "root namespace UNCHANGED vs '$name'"; return 0
  else log "root namespace DIFFERS from '$name' (see diff above)"; return 1; fi
}

# ------------------------------------------------------------------------------- up ------
write_inner() {
cat >"$ORC_DIR/inner.sh" <<'EOF'
#!/bin/sh
# PID 1 of the daemon's private pid namespace (in netns $ORC_NS, private mount namespace).
D=$1; shift
set -eu
# 1. drop our copies of other namespaces' nsfs mounts (they would keep those netns alive),
#    and give this mount namespace a private /run
for m in $(awk '$5 ~ "^/run/netns/" {print $5}' /proc/self/mountinfo | sort -r); do umount -l "$m" || true; done
mount -t tmpfs -o mode=755,size=64m orc-run /run
[ -d /etc/docker ] && mount --bind "$D/etc" /etc/docker   # key.json etc. can never land in /etc/docker
# 2. a sysfs that belongs to this netns (what `ip netns exec` does), keeping the cgroup mounts
mkdir -p "$D/mnt/cgroup"
mount --rbind /sys/fs/cgroup "$D/mnt/cgroup"
mount -t sysfs -o nosuid,nodev,noexec orc-sysfs /sys
mount --rbind "$D/mnt/cgroup" /sys/fs/cgroup
umount -l "$D/mnt/cgroup"
export TMPDIR="$D/tmp"
export PATH="$D/bin:/usr/sbin:/usr/bin:/sbin:/bin"
if [ "$ORC_CONTAINERD" = managed ]; then
  # dockerd starts containerd itself (state in --exec-root/containerd, data in --data-root/containerd);
  # containerd's "opt" plugin would create /opt/containerd, so /opt is private here
  mount --bind "$D/containerd/opt" /opt
  CPID=""; CARG=""
else
  containerd --config "$D/containerd.toml" >"$D/log/containerd.log" 2>&1 &
  CPID=$!
  i=0; while [ ! -S "$D/containerd/containerd.sock" ] && [ $i -lt 150 ]; do sleep 0.2; i=$((i+1)); done
  CARG="--containerd=$D/containerd/containerd.sock"
fi
dockerd $CARG \
  --data-root "$D/data" --exec-root "$D/exec" --pidfile "$D/exec/dockerd.pid" \
  -H "unix://$D/docker.sock" --config-file "$D/daemon.json" \
  --exec-opt native.cgroupdriver=cgroupfs --cgroup-parent "$ORC_CGROUP_PARENT" \
  --dns "$DNS_IP" "$@" >"$D/log/dockerd.log" 2>&1 &
DPID=$!
echo "containerd=$CPID dockerd=$DPID args=$*" >"$D/log/inner.pids"
trap 'kill -TERM $DPID 2>/dev/null || true' TERM INT HUP
while kill -0 $DPID 2>/dev/null; do wait $DPID || true; done
if [ -n "$CPID" ]; then
  kill -TERM $CPID 2>/dev/null || true
  i=0; while kill -0 $CPID 2>/dev/null && [ $i -lt 50 ]; do sleep 0.2; i=$((i+1)); done
fi
exit 0
EOF
}

setup_net() {
  ip netns add "$ORC_NS" || die "ip netns add $ORC_NS"
  ip netns add "$ORC_INET_NS" || die "ip netns add $ORC_INET_NS"
  ip -n "$ORC_NS" link set lo up
  ip -n "$ORC_INET_NS" link set lo up
  # the veth is created inside $ORC_INET_NS and its peer placed directly into $ORC_NS
  ip -n "$ORC_INET_NS" link add inet0 type veth peer name uplink0 netns "$ORC_NS" || die "veth"
  ip -n "$ORC_INET_NS" addr add "$INET_IP/24" dev inet0
  ip -n "$ORC_INET_NS" addr add "$SERVER_IP/32" dev lo
  ip -n "$ORC_INET_NS" link set inet0 up
  ip -n "$ORC_NS" addr add "$UPLINK_IP/24" dev uplink0
  ip -n "$ORC_NS" link set uplink0 up
  ip -n "$ORC_NS" route add default via "$INET_IP" dev uplink0
}

cmd_up() {
  need_root
  [ -e "/run/netns/$ORC_NS" ] && die "netns $ORC_NS exists - run '$0 down' first"
  [ -e "$ORC_DIR" ] && die "$ORC_DIR exists - run '$0 down' first"
  command -v dockerd >/dev/null || die "dockerd missing - run '$0 install'"
  mkdir -p "$ORC_DIR"/{data,exec,tmp,log,etc,bin,mnt,containerd/root,containerd/state,containerd/opt,www}
  chmod 711 "$ORC_DIR"
  case "$ORC_IPTABLES" in
    legacy|nft) local t; for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
                  ln -s "/usr/sbin/xtables-$ORC_IPTABLES-multi" "$ORC_DIR/bin/$t"; done ;;
    default) ;;
    *) die "ORC_IPTABLES must be default|legacy|nft" ;;
  esac
  cat >"$ORC_DIR/daemon.json" <<EOF
{ "deprecated-key-path": "$ORC_DIR/etc/key.json" }
EOF
  cat >"$ORC_DIR/containerd.toml" <<EOF
version = 2
root = "$ORC_DIR/containerd/root"
state = "$ORC_DIR/containerd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "$ORC_DIR/containerd/containerd.sock"
[ttrpc]
  address = "$ORC_DIR/containerd/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$ORC_DIR/containerd/opt"
EOF
  write_inner
  setup_net
  prestart_state
  # the netns as dockerd will find it (a fresh netns, plus the ORC_PRESTART_* state if set)
  ip netns exec "$ORC_NS" sh -c 'sysctl net.ipv4.ip_forward net.ipv4.conf.all.forwarding \
    net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables net.ipv4.conf.all.route_localnet;
    echo "iptables-nft-save lines: $(iptables-nft-save | wc -l), iptables-legacy-save lines: $(iptables-legacy-save | wc -l)"' \
    >"$ORC_DIR/log/netns-before-dockerd.txt" 2>&1
  start_daemon "$@"
}

# prestart_state: make $ORC_NS look like a host that already has a firewall before dockerd starts
# (ORC_PRESTART_RULES=FILE: iptables-save text loaded with iptables-nft-restore; ORC_PRESTART_FORWARD=1:
# net.ipv4.ip_forward=1). Records what was loaded in $ORC_DIR/log/prestart.txt (shown by `dump`).
prestart_state() {
  local f=$ORC_DIR/log/prestart.txt
  : >"$f"
  if [ -n "$ORC_PRESTART_RULES" ]; then
    [ -r "$ORC_PRESTART_RULES" ] || die "ORC_PRESTART_RULES=$ORC_PRESTART_RULES: file not readable"
    ip netns exec "$ORC_NS" iptables-nft-restore <"$ORC_PRESTART_RULES" \
      || die "iptables-nft-restore of $ORC_PRESTART_RULES into netns $ORC_NS failed"
    log "pre-start rules $ORC_PRESTART_RULES loaded into netns $ORC_NS (iptables-nft)"
    echo "pre-start rules: $ORC_PRESTART_RULES (sha256 $(sha256sum <"$ORC_PRESTART_RULES" | cut -d' ' -f1)), loaded with iptables-nft-restore" >>"$f"
  else
    echo "pre-start rules: none" >>"$f"
  fi
  if [ -n "$ORC_PRESTART_FORWARD" ]; then
    ip netns exec "$ORC_NS" sysctl -q -w "net.ipv4.ip_forward=$ORC_PRESTART_FORWARD" \
      || die "sysctl net.ipv4.ip_forward=$ORC_PRESTART_FORWARD in netns $ORC_NS failed"
    log "pre-start net.ipv4.ip_forward=$ORC_PRESTART_FORWARD in netns $ORC_NS"
    echo "pre-start net.ipv4.ip_forward: set to $ORC_PRESTART_FORWARD" >>"$f"
  else
    echo "pre-start net.ipv4.ip_forward: left as the kernel gives a new netns" >>"$f"
  fi
  { echo "--- iptables-nft-save of netns $ORC_NS right before dockerd starts"
    ip netns exec "$ORC_NS" iptables-nft-save | norm_ipt; } >>"$f" 2>&1
}

# start_daemon [DOCKERD-ARGS..]: start init -> containerd + dockerd in $ORC_NS (dirs/netns exist)
start_daemon() {
  echo "$*" >"$ORC_DIR/dockerd.args"
  log "starting containerd + dockerd in netns $ORC_NS (args: $*; iptables: $ORC_IPTABLES; containerd: $ORC_CONTAINERD)"
  ORC_CGROUP_PARENT=$ORC_CGROUP_PARENT DNS_IP=$DNS_IP ORC_CONTAINERD=$ORC_CONTAINERD \
    setsid nsenter --net="/run/netns/$ORC_NS" -- \
    unshare --mount --pid --fork --mount-proc --propagation private -- \
    /bin/sh "$ORC_DIR/inner.sh" "$ORC_DIR" "$@" </dev/null >"$ORC_DIR/log/unshare.log" 2>&1 &
  echo $! >"$ORC_DIR/unshare.pid"
  wait_until 10 init_pid || die "init did not start (see $ORC_DIR/log/unshare.log)"
  if ! wait_until 90 d version; then
    tail -30 "$ORC_DIR/log/dockerd.log" >&2; die "dockerd did not answer on $SOCK within 90 s"
  fi
  log "up: unshare=$(unshare_pid) init=$(init_pid) dockerd=$(child_pid_named dockerd) containerd=$(child_pid_named containerd)"
  d version --format 'server {{.Server.Version}} (API {{.Server.APIVersion}}), client {{.Client.Version}}' >&2
}

# ---------------------------------------------------------------------------- image ------
cmd_image() {
  local r="$ORC_DIR/rootfs" a
  rm -rf "$r"; mkdir -p "$r"/{bin,etc,proc,sys,dev,tmp,www,root}
  cp /bin/busybox "$r/bin/busybox"
  for a in sh ash httpd nc ip ping wget cat ls sleep echo ps netstat route ifconfig hostname \
           env grep sed id kill ln mkdir rm true false uname head tail wc nslookup arp timeout; do
    ln -s busybox "$r/bin/$a"; done
  echo "hello from container" >"$r/index.html"
  echo "root:x:0:0:root:/root:/bin/sh" >"$r/etc/passwd"; echo "root:x:0:" >"$r/etc/group"
  tar -C "$r" --numeric-owner -cf - . | d import -c 'CMD ["/bin/sh"]' -c 'ENV PATH=/bin' - "$IMG" >/dev/null \
    || die "docker import failed"
  d image ls "$IMG" >&2
}

# ------------------------------------------------------------------------- scenario ------
cmd_scenario() {
  local stage=${1:-}
  [ -n "$stage" ] && cmd_dump "$stage-0-daemon-start"
  d run -d --name ca -p 8080:80 "$IMG" httpd -f -p 80 >/dev/null || die "run ca"
  [ -n "$stage" ] && cmd_dump "$stage-1-after-ca"
  d network create br >/dev/null || die "network create br"
  [ -n "$stage" ] && cmd_dump "$stage-2-after-network-create-br"
  d run -d --name cb --network br "$IMG" httpd -f -p 80 >/dev/null || die "run cb"
  [ -n "$stage" ] && cmd_dump "$stage-3-after-cb"
  d run -d --name ca2 "$IMG" httpd -f -p 80 >/dev/null || die "run ca2"
  d run -d --name cn --network none "$IMG" sleep 100000 >/dev/null || die "run cn"
  d run -d --name ch --network host "$IMG" sleep 100000 >/dev/null || die "run ch"
  d run -d --name cc --network container:ca "$IMG" sleep 100000 >/dev/null || die "run cc"
  d ps -a --format '{{.Names}}\t{{.Status}}\t{{.Ports}}' >&2
}

# ----------------------------------------------------------------------------- dump ------
sec() { printf '\n===== %s =====\n' "$*"; }
cmd_dump() {
  local name=${1:?name}; mkdir -p "$ORC_DUMPS"
  local out="$ORC_DUMPS/$name.txt" rules="$ORC_DUMPS/$name.rules" c pid
  {
    sec "meta"
    echo "date: $(date -u +%FT%TZ)"; echo "dockerd args: $(cat "$ORC_DIR/dockerd.args")"
    echo "dockerd command line: $(tr '\0' ' ' </proc/"$(child_pid_named dockerd)"/cmdline)"
    echo "containerd: $ORC_CONTAINERD"
    echo "iptables used by dockerd: $ORC_IPTABLES ($(inns sh -c 'readlink -f $(PATH='"$ORC_DIR"'/bin:/usr/sbin:/usr/bin command -v iptables)'))"
    d version --format 'docker server {{.Server.Version}} API {{.Server.APIVersion}}'
    inns sh -c 'containerd --version; runc --version | head -1; iptables --version' 2>&1
    sec "state of netns $ORC_NS before dockerd started"; cat "$ORC_DIR/log/netns-before-dockerd.txt"
    [ -f "$ORC_DIR/log/prestart.txt" ] && { sec "pre-start state (loaded before dockerd started)"; cat "$ORC_DIR/log/prestart.txt"; }
    sec "iptables-nft-save";     inns iptables-nft-save 2>&1
    sec "iptables-legacy-save";  inns iptables-legacy-save 2>&1
    sec "ip6tables-nft-save";    inns ip6tables-nft-save 2>&1
    sec "ip6tables-legacy-save"; inns ip6tables-legacy-save 2>&1
    sec "nft list ruleset";      inns nft list ruleset 2>&1
    sec "ip -d link";            inns ip -d link
    sec "ip addr";               inns ip addr
    sec "ip route";              inns ip route
    sec "ip -6 route";           inns ip -6 route
    sec "ip rule";               inns ip rule
    sec "bridge -d link";        inns bridge -d link
    sec "sysctls"
    inns sh -c 'sysctl net.ipv4.ip_forward net.ipv4.conf.all.forwarding net.ipv6.conf.all.forwarding \
      net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables net.bridge.bridge-nf-call-arptables 2>&1
      for i in /proc/sys/net/ipv4/conf/*; do n=${i##*/}; case $n in all|default|lo) continue;; esac
        for k in forwarding route_localnet rp_filter proxy_arp; do echo "net.ipv4.conf.$n.$k = $(cat $i/$k)"; done; done
      for i in /proc/sys/net/ipv6/conf/docker0 /proc/sys/net/ipv6/conf/br-*; do [ -e "$i" ] || continue
        echo "net.ipv6.conf.${i##*/}.disable_ipv6 = $(cat $i/disable_ipv6)"; done'
    sec "hairpin_mode (/sys/class/net/*/brport/hairpin_mode)"
    inns sh -c 'for f in /sys/class/net/*/brport/hairpin_mode; do [ -e "$f" ] || continue
      b=$(basename $(readlink -f ${f%/brport/hairpin_mode}/master)); echo "$f = $(cat $f) (master $b)"; done'
    sec "listening sockets (ss -ltnup)"; inns ss -ltnup 2>&1
    sec "docker-proxy processes";        inns sh -c 'ps -eo pid,args | grep "[d]ocker-proxy" || echo none'
    sec "docker ps -a"; d ps -a --no-trunc --format '{{.Names}}\t{{.ID}}\t{{.Status}}\t{{.Ports}}\t{{.Networks}}'
    sec "docker network ls"; d network ls --no-trunc
    for c in $(d network ls -q); do
      sec "docker network inspect $c"
      d network inspect --format '{{.Name}} driver={{.Driver}} internal={{.Internal}} subnet={{range .IPAM.Config}}{{.Subnet}} gw={{.Gateway}}{{end}} options={{json .Options}} containers={{range $k,$v := .Containers}}{{$v.Name}}={{$v.IPv4Address}},{{end}}' "$c"
    done
    for c in $(d ps --format '{{.Names}}' | sort); do
      pid=$(d inspect -f '{{.State.Pid}}' "$c")
      sec "container $c (pid $pid in daemon pidns) network mode $(d inspect -f '{{.HostConfig.NetworkMode}}' "$c")"
      echo "--- ip addr";  inns nsenter -t "$pid" -n ip addr
      echo "--- ip route"; inns nsenter -t "$pid" -n ip route
      echo "--- iptables-nft-save (container netns)";    inns nsenter -t "$pid" -n iptables-nft-save 2>&1
      echo "--- iptables-legacy-save (container netns)"; inns nsenter -t "$pid" -n iptables-legacy-save 2>&1
      echo "--- /etc/resolv.conf"; inns cat "/proc/$pid/root/etc/resolv.conf" 2>&1
      echo "--- /etc/hosts";       inns cat "/proc/$pid/root/etc/hosts" 2>&1
    done
  } >"$out" 2>&1
  { echo "### iptables-nft-save (comments stripped, chain counters zeroed)"; inns iptables-nft-save | norm_ipt
    echo "### iptables-legacy-save (comments stripped, chain counters zeroed)"; inns iptables-legacy-save | norm_ipt
  } >"$rules" 2>&1
  log "dump -> $out, $rules"
}

# ----------------------------------------------------------------------------- test ------
# bounded background tcpdump (timeout 20 s, 6 packets); prints the PID of `timeout`, which
# forwards SIGINT to tcpdump. where: dock|inet
start_tcpdump() {
  local ns=$ORC_NS; [ "$1" = inet ] && ns=$ORC_INET_NS
  ip netns exec "$ns" timeout 20 tcpdump -n -l -i "$2" -c 6 "$3" >"$4" 2>"$4.err" &
  local p=$!; wait_until 5 grep -q 'listening on' "$4.err"; echo "$p"
}
stop_tcpdump() {
  local p=$1 n=0; sleep 0.5
  [ "$(comm_of "$p")" = timeout ] && kill -INT "$p" 2>/dev/null
  while alive "$p" && [ $n -lt 25 ]; do sleep 0.2; n=$((n+1)); done
}
# check DESCRIPTION EXPECT(ok|fail|any) SUBCOMMAND ARGS... (a subcommand of this script: d, inns,
# inet, raw); each attempt is bounded by `timeout 20`. A failure that looks like an ARP failure
# ("No route to host", ping packet loss) of a check not expected to fail is retried up to 2 more
# times: the kernel's neighbour
# table limit (gc_thresh3) is global to all namespaces, and other workloads on this VM fill it.
check() {
  local desc=$1 exp=$2; shift 2; local out rc res=fail flag= att=1
  while :; do
    out=$(timeout 20 "$SELF" "$@" 2>&1); rc=$?
    [ $rc = 0 ] || [ $att -ge 3 ] || [ "$exp" = fail ] && break
    case "$out" in *"No route to host"*|*"packet loss"*) ;; *) break ;; esac
    att=$((att + 1)); sleep 1
  done
  [ $rc = 0 ] && res=ok
  [ "$exp" != any ] && [ "$exp" != "$res" ] && flag='  <-- UNEXPECTED'
  [ $att -gt 1 ] && flag="$flag  [attempt $att: earlier attempts looked like ARP failures]"
  printf '%-78s -> %-4s (expected %s)%s\n' "$desc" "$res" "$exp" "$flag"
  printf '      output: %s\n' "$(echo "$out" | tr '\n' ' ' | cut -c1-160)"
}
# checkcap WHERE(dock|inet) IFACE DESCRIPTION EXPECT SUBCOMMAND ARGS...: check with a tcpdump of
# 'tcp port 80' on IFACE during the check; prints the first 3 captured packets (who talks to whom).
# NB on docker0 (a bridge with br_netfilter), packets coming up from a container are shown after
# the bridge-level PREROUTING, i.e. already DNAT-ed / de-NAT-ed.
checkcap() {
  local where=$1 ifc=$2 desc=$3 exp=$4; shift 4
  local f="$ORC_DIR/tcpdump/cap.$RANDOM" p
  p=$(start_tcpdump "$where" "$ifc" 'tcp port 80' "$f")
  check "$desc" "$exp" "$@"
  stop_tcpdump "$p"; sed "s/^/      tcpdump $ifc: /" "$f" | head -3 | cut -c1-140
}
neigh_overflows_since() {  # kernel log lines "neighbor table overflow" with timestamp >= $1 (uptime s)
  dmesg 2>/dev/null | awk -v t="$1" -F'[][]' '/neighbor table overflow/ { if ($2 + 0 >= t) n++ } END { print n + 0 }'
}
cmd_test() {
  local name=${1:?name} out="$ORC_DUMPS/$1.test.txt" tmp="$ORC_DIR/tcpdump" p args
  mkdir -p "$tmp"; args=$(cat "$ORC_DIR/dockerd.args")
  local exp_icc=ok exp_masq=ok
  case " $args " in *" --icc=false "*) exp_icc=fail ;; esac
  case " $args " in *" --ip-masq=false "*) exp_masq=fail ;; esac
  # internet-side server: busybox httpd on 198.51.100.10:80, -v logs client addresses
  echo "hello from the internet" >"$ORC_DIR/www/index.html"
  ip netns exec "$ORC_INET_NS" busybox httpd -f -v -p "$SERVER_IP:80" -h "$ORC_DIR/www" >"$ORC_DIR/log/inet-httpd.log" 2>&1 &
  local srv=$!; echo "$srv" >"$ORC_DIR/inet-httpd.pid"
  wait_until 5 in_inet timeout 2 busybox wget -q -O /dev/null "http://$SERVER_IP/"
  local ipa ipb ipa2
  ipa=$(d inspect -f '{{.NetworkSettings.Networks.bridge.IPAddress}}' ca)
  ipa2=$(d inspect -f '{{.NetworkSettings.Networks.bridge.IPAddress}}' ca2)
  ipb=$(d inspect -f '{{.NetworkSettings.Networks.br.IPAddress}}' cb)
  local up0; up0=$(cut -d' ' -f1 /proc/uptime)
  {
    echo "# behaviour tests, variant $name, dockerd args: $args"
    echo "# ca=$ipa (docker0, -p 8080:80)  ca2=$ipa2 (docker0)  cb=$ipb (br)  uplink=$UPLINK_IP  internet=$INET_IP  server=$SERVER_IP"
    echo "# result ok = wget/ping exited 0 within its timeout; 'expected any' = recorded, no expectation"
    echo
    echo "## 1. inbound: internet ns -> $UPLINK_IP:8080 (published port of ca); tcpdump on docker0 shows the source seen by ca"
    checkcap dock docker0 "internet -> $UPLINK_IP:8080" ok inet timeout 5 busybox wget -q -O- "http://$UPLINK_IP:8080/"
    check "internet -> $UPLINK_IP:80 (unpublished)" fail inet timeout 3 busybox wget -q -O- "http://$UPLINK_IP:80/"
    checkcap dock docker0 "internet -> $ipa:80 (container IP directly; needs a route, added for this check only)" any \
      raw sh -c "ip -n $ORC_INET_NS route add 172.17.0.0/16 via $UPLINK_IP; ip netns exec $ORC_INET_NS timeout 3 busybox wget -q -O- http://$ipa:80/; r=\$?; ip -n $ORC_INET_NS route del 172.17.0.0/16 via $UPLINK_IP; exit \$r"
    echo
    echo "## 2. outbound: containers -> $SERVER_IP:80; tcpdump on inet0 (internet side) shows the source address"
    local c e
    for c in ca cb ch cn cc; do
      case $c in ca|cc) e=$exp_masq ;; cb|ch) e=ok ;; cn) e=fail ;; esac   # --ip-masq only affects docker0
      checkcap inet inet0 "container $c -> $SERVER_IP:80" "$e" d exec "$c" timeout 4 wget -q -O- "http://$SERVER_IP/"
    done
    echo "      internet httpd log (client address:port: response):"; sed 's/^/      | /' "$ORC_DIR/log/inet-httpd.log" | tail -8
    echo
    echo "## 3. access to the published port from the docker host itself (daemon netns)"
    checkcap dock docker0 "host -> 127.0.0.1:8080" ok inns timeout 4 busybox wget -q -O- http://127.0.0.1:8080/
    checkcap dock docker0 "host -> $UPLINK_IP:8080" ok inns timeout 4 busybox wget -q -O- "http://$UPLINK_IP:8080/"
    checkcap dock docker0 "host -> 172.17.0.1:8080 (docker0 address)" ok inns timeout 4 busybox wget -q -O- "http://172.17.0.1:8080/"
    check "host -> $ipa:80 (direct)" ok inns timeout 4 busybox wget -q -O- "http://$ipa:80/"
    check "ch (--network host) -> 127.0.0.1:8080" ok d exec ch timeout 4 wget -q -O- http://127.0.0.1:8080/
    check "cc (container:ca) -> 127.0.0.1:80" ok d exec cc timeout 4 wget -q -O- http://127.0.0.1:80/
    echo
    echo "## 4. hairpin / same-bridge / cross-bridge access to the published port"
    checkcap dock docker0 "ca -> $UPLINK_IP:8080 (its own published port via host IP)" any d exec ca timeout 4 wget -q -O- "http://$UPLINK_IP:8080/"
    checkcap dock docker0 "ca2 -> $UPLINK_IP:8080 (same bridge, via host IP)" any d exec ca2 timeout 4 wget -q -O- "http://$UPLINK_IP:8080/"
    checkcap dock docker0 "ca2 -> 172.17.0.1:8080 (same bridge, via gateway IP)" any d exec ca2 timeout 4 wget -q -O- "http://172.17.0.1:8080/"
    checkcap dock docker0 "cb -> $UPLINK_IP:8080 (other bridge, via host IP)" any d exec cb timeout 4 wget -q -O- "http://$UPLINK_IP:8080/"
    checkcap dock docker0 "cb -> 172.17.0.1:8080 (other bridge, via docker0's address)" any d exec cb timeout 4 wget -q -O- "http://172.17.0.1:8080/"
    echo
    echo "## 5. inter-container"
    checkcap dock docker0 "ca2 -> ca $ipa:80 (same bridge docker0: icc)" "$exp_icc" d exec ca2 timeout 4 wget -q -O- "http://$ipa:80/"
    check "ca2 -> ca ping" "$exp_icc" d exec ca2 ping -c 1 -W 2 "$ipa"
    check "cb -> ca $ipa:80 (other bridge: isolation)" fail d exec cb timeout 4 wget -q -O- "http://$ipa:80/"
    check "ca -> cb $ipb:80 (other bridge: isolation)" fail d exec ca timeout 4 wget -q -O- "http://$ipb:80/"
    check "ca -> 172.17.0.1 (own gateway) ping" ok d exec ca ping -c 1 -W 2 172.17.0.1
    check "ca -> 172.18.0.1 (other bridge's gateway) ping" any d exec ca ping -c 1 -W 2 172.18.0.1
    check "host -> cb $ipb:80 (direct)" ok inns timeout 4 busybox wget -q -O- "http://$ipb:80/"
    if d inspect ci >/dev/null 2>&1; then
      local ipi; ipi=$(d inspect -f '{{.NetworkSettings.Networks.brint.IPAddress}}' ci)
      echo
      echo "## 6. internal network brint, container ci=$ipi"
      check "ci (internal net) -> $SERVER_IP:80" fail d exec ci timeout 4 wget -q -O- "http://$SERVER_IP/"
      check "ci -> its gateway ping" any d exec ci ping -c 1 -W 2 "$(d network inspect -f '{{range .IPAM.Config}}{{.Gateway}}{{end}}' brint)"
      check "host -> ci $ipi:80" any inns timeout 4 busybox wget -q -O- "http://$ipi:80/"
      check "ca -> ci $ipi:80" fail d exec ca timeout 4 wget -q -O- "http://$ipi:80/"
      check "ci -> ca $ipa:80" fail d exec ci timeout 4 wget -q -O- "http://$ipa:80/"
    fi
    echo
    echo "## kernel 'neighbor table overflow' messages during these tests: $(neigh_overflows_since "$up0") (other workloads on this VM)"
    echo
    echo "## rule counters after the tests (iptables-save -c of the backend dockerd used)"
    inns env PATH="$ORC_DIR/bin:/usr/sbin:/usr/bin" iptables-save -c 2>&1 | grep -v '^#'
  } >"$out" 2>&1
  kill_pid "$srv" busybox TERM; rm -f "$ORC_DIR/inet-httpd.pid"
  log "tests -> $out"
}

# ----------------------------------------------------------------------------- down ------
# stop_daemon: stop the test server, dockerd (SIGTERM: it stops the containers), then the init
# (which stops containerd; SIGKILL of the init, if needed, kills its whole pid namespace)
stop_daemon() {
  local u i dk ct
  u=$(unshare_pid); i=$(init_pid)
  dk=$(child_pid_named dockerd); ct=$(child_pid_named containerd)
  log "stopping: unshare=${u:-none} init=${i:-none} dockerd=${dk:-none} containerd=${ct:-none}"
  if [ -f "$ORC_DIR/inet-httpd.pid" ]; then kill_pid "$(cat "$ORC_DIR/inet-httpd.pid")" busybox TERM; fi
  if [ -n "$dk" ]; then
    kill_pid "$dk" dockerd TERM
    wait_until 45 sh -c "! kill -0 $dk" || { log "dockerd did not stop in 45 s"; kill_pid "$dk" dockerd KILL; }
  fi
  if [ -n "$i" ] && alive "$i"; then
    kill_pid "$i" sh TERM                        # inner.sh then stops containerd
    wait_until 15 sh -c "! kill -0 $i" || kill_pid "$i" sh KILL   # SIGKILL of pidns init kills the rest
  fi
  if [ -n "$u" ]; then wait_until 10 sh -c "! kill -0 $u" || kill_pid "$u" unshare KILL; fi
}
cmd_restart() { need_root; stop_daemon; start_daemon "$@"; }
cmd_down() {
  need_root
  local n p
  stop_daemon
  for n in "$ORC_INET_NS" "$ORC_NS"; do
    if [ -e "/run/netns/$n" ]; then
      p=$(ip netns pids "$n" 2>/dev/null | tr '\n' ' ')
      [ -n "$p" ] && log "WARNING: processes still in netns $n: $p"
      ip netns del "$n" && log "deleted netns $n"
    fi
  done
  # container cgroups (cgroupfs driver, --cgroup-parent $ORC_CGROUP_PARENT)
  local cg
  for cg in /sys/fs/cgroup/*"$ORC_CGROUP_PARENT"; do
    [ -d "$cg" ] || continue
    find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null
    [ -d "$cg" ] && log "WARNING: could not remove $cg" || log "removed cgroup $cg"
  done
  if grep -q " $ORC_DIR" /proc/self/mountinfo; then
    log "mounts under $ORC_DIR still present in the root mount namespace - unmounting"
    grep " $ORC_DIR" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l
  fi
  if [ -d "$ORC_DIR" ] && ! grep -q " $ORC_DIR" /proc/self/mountinfo; then rm -rf --one-file-system "$ORC_DIR" && log "removed $ORC_DIR"; fi
}

# ------------------------------------------------------------------------ variants ------
cmd_variant() {
  local name=$1; shift
  cmd_up "$@" && cmd_image && cmd_scenario "$name" && cmd_dump "$name" && cmd_test "$name"
  local rc=$?; cmd_down; return $rc
}
cmd_all() {
  need_root
  trap 'log "exit trap: cleaning up"; cmd_down' EXIT
  cmd_snapshot all-before
  # default daemon: stage dumps, the full scenario, an --internal network, a daemon restart
  cmd_up && cmd_image && cmd_scenario default && cmd_dump default && cmd_test default
  d network create --internal brint >/dev/null && cmd_dump default-plus-internal-network-created
  d run -d --name ci --network brint "$IMG" httpd -f -p 80 >/dev/null && cmd_dump default-plus-internal
  cmd_test default-plus-internal
  cmd_restart && cmd_dump default-after-daemon-restart
  d start ca ca2 cb ci cn ch cc >/dev/null && cmd_dump default-after-daemon-restart-and-container-start
  cmd_down
  cmd_variant userland-proxy-false --userland-proxy=false
  cmd_variant icc-false --icc=false
  cmd_variant ip-masq-false --ip-masq=false
  ORC_IPTABLES=legacy cmd_variant legacy-backend
  cmd_check_root all-before
}

main() {
  local c=${1:-help}; shift || true
  case "$c" in
    install) cmd_install "$@" ;; snapshot) cmd_snapshot "$@" ;; check-root) cmd_check_root "$@" ;;
    up) cmd_up "$@" ;; image) cmd_image ;; scenario) cmd_scenario "$@" ;; dump) cmd_dump "$@" ;;
    variant) trap 'log "exit trap: cleaning up"; cmd_down' EXIT; cmd_variant "$@" ;;
    test) cmd_test "$@" ;; down) cmd_down ;; restart) cmd_restart "$@" ;; all) cmd_all ;;
    d) d "$@" ;; inns) inns "$@" ;; inet) in_inet "$@" ;; raw) "$@" ;;
    help|-h|--help) sed -n '2,/^# =====/p' "$0" | sed '$d' ;;
    *) die "unknown command '$c' (try: $0 help)" ;;
  esac
}
main "$@"
