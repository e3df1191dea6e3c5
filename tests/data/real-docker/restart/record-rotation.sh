#!/bin/bash
# record-rotation.sh - does a REAL Docker 20.10.24 restore its networks in the same order at
# every restart? Five user networks n1..n5, then ten restarts; after each, the order of the
# DOCKER-ISOLATION-STAGE-1 jumps (top to bottom: the reverse of the restore order) and the
# default bridge's new id. Uses /work/shared/tools/real-docker.sh (hermetic, root, one daemon
# at a time; ~3 minutes).   sudo ./record-rotation.sh > rotation.txt
set -euo pipefail
RD=${REAL_DOCKER:-/work/shared/tools/real-docker.sh}
OUT=${OUT:-/tmp/rs20-rot}
export ORC_DUMPS="$OUT/dumps" ORC_STATE="$OUT/state"
export ORC_DIR=${ORC_DIR:-/tmp/rs20-orc} ORC_NS=${ORC_NS:-rs20-dock} ORC_INET_NS=${ORC_INET_NS:-rs20-inet}
export ORC_CGROUP_PARENT=${ORC_CGROUP_PARENT:-/rs20-docker}
trap '"$RD" down' EXIT
"$RD" snapshot rot-before
"$RD" up
for n in n1 n2 n3 n4 n5; do "$RD" d network create $n >/dev/null; done
"$RD" d network ls --no-trunc --filter driver=bridge --format '{{.Name}} {{.ID}}'
for i in 1 2 3 4 5 6 7 8 9 10; do
  "$RD" restart >/dev/null 2>&1
  echo "restart $i: $("$RD" inns iptables-save -t filter | grep '^-A DOCKER-ISOLATION-STAGE-1 -i' | awk '{print $4}' | tr '\n' ' ')"
  "$RD" d network ls --no-trunc --filter name=bridge --format 'bridge {{.ID}}'
done
"$RD" down; trap - EXIT
"$RD" check-root rot-before
