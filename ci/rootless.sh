#!/usr/bin/env bash
# Runs the already-built test binaries again without root: as user `nobody`,
# inside fresh user, network and mount namespaces (`unshare -Urnm`), the way a
# developer without sudo runs netrig. Skips, saying why, where that cannot
# work here (no user namespaces, or `nobody` cannot reach the build).
set -uo pipefail
cd "$(dirname "$0")/.."

skip() { echo "ci/rootless: SKIPPED: $*"; exit 0; }
command -v runuser >/dev/null && command -v unshare >/dev/null || skip "runuser/unshare missing (util-linux)"
id nobody >/dev/null 2>&1 || skip "no user 'nobody'"
runuser -u nobody -- unshare -Urnm true 2>/dev/null || skip "unprivileged user namespaces are disabled on this kernel"

bins=$(cargo test --workspace --no-run 2>&1 | sed -n 's/.*Executable .* (\(.*\))$/\1/p')
[ -n "$bins" ] || { echo "ci/rootless: no test binaries found" >&2; exit 1; }
first=$(echo "$bins" | head -1)
runuser -u nobody -- test -x "$first" || skip "user nobody cannot run $first (the checkout is not readable by others)"

lock=$(mktemp); chmod 666 "$lock"
trap 'rm -f "$lock"' EXIT
status=0
for bin in $bins; do
  echo "ci/rootless: $bin"
  # iptables-legacy wants /run/xtables.lock, which nobody cannot create.
  runuser -u nobody -- env -i PATH="$PATH" HOME=/tmp CI=true XTABLES_LOCKFILE="$lock" \
    unshare -Urnm "$bin" -q || status=1
done
exit $status
