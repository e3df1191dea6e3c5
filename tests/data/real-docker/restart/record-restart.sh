#!/bin/bash
# record-restart.sh - record what a REAL Docker 20.10.24 daemon does to its iptables rules
# when it is restarted, with three user networks (one --internal) created in an order
# their random ids do not sort in, then `docker start` of the stopped containers, then a
# second and a third restart. Uses /work/shared/tools/real-docker.sh (hermetic: namespaces
# of its own, nothing in the root namespace; root; one daemon at a time).
#
#   sudo ./record-restart.sh OUTDIR     (~2 minutes; writes OUTDIR/dumps/*.rules, *.txt and
#                                        OUTDIR/networks.txt: "NAME ID" per bridge network)
#
# Steps and dump names (OUTDIR/dumps):
#   restart3-before          ca -p 8080:80 on docker0; networks nb, ni (--internal), na, each
#                            created in that order with a container (cb -p 8081:80, ci, cx)
#   restart3-after-restart-1 dockerd+containerd stopped and started again (containers stop)
#   restart3-after-start-1   `docker start ca cb ci cx`
#   restart3-after-restart-2 a second restart (from the state the first restart left)
#   restart3-after-restart-3 a third restart with every container still stopped
set -euo pipefail
OUT=$(realpath "${1:?usage: record-restart.sh OUTDIR}")
RD=${REAL_DOCKER:-/work/shared/tools/real-docker.sh}
export ORC_DUMPS="$OUT/dumps" ORC_STATE="$OUT/state"
export ORC_DIR=${ORC_DIR:-/tmp/rs20-orc} ORC_NS=${ORC_NS:-rs20-dock} ORC_INET_NS=${ORC_INET_NS:-rs20-inet}
export ORC_CGROUP_PARENT=${ORC_CGROUP_PARENT:-/rs20-docker}
mkdir -p "$ORC_DUMPS"
trap '"$RD" down' EXIT
"$RD" snapshot restart-before
"$RD" up
"$RD" image
run() { "$RD" d run -d --name "$1" "${@:2}" orc/busybox httpd -f -p 80 >/dev/null; }
run ca -p 8080:80
"$RD" d network create nb >/dev/null
run cb --network nb -p 8081:80
"$RD" d network create --internal ni >/dev/null
run ci --network ni
"$RD" d network create na >/dev/null
run cx --network na
"$RD" d network ls --no-trunc --filter driver=bridge --format '{{.Name}} {{.ID}}' >"$OUT/networks.txt"
"$RD" dump restart3-before
"$RD" restart
"$RD" dump restart3-after-restart-1
"$RD" d start ca cb ci cx >/dev/null
"$RD" dump restart3-after-start-1
"$RD" restart
"$RD" dump restart3-after-restart-2
"$RD" restart
"$RD" dump restart3-after-restart-3
"$RD" d network ls --no-trunc --filter driver=bridge --format '{{.Name}} {{.ID}}' >"$OUT/networks-after.txt"
"$RD" down
trap - EXIT
"$RD" check-root restart-before
