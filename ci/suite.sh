#!/usr/bin/env bash
# Runs inside the suite namespace (see ci/test.sh): snapshots it, runs every
# test as root and rootless, and fails if the namespace changed — only
# netrig's own code ran here, so any difference is a leak of netrig's.
set -uo pipefail
cd "$(dirname "$0")/.."
export CARGO_NET_OFFLINE=true
# Pins go to a folder of the suite's own, checked to be empty afterwards.
pins=$(mktemp -d)
export NETRIG_NETNS_DIR="$pins" NETRIG_RUN_DIR="$pins/run"

before=$(mktemp); after=$(mktemp)
SNAPSHOT_PINS_DIR="$pins" bash ci/root-snapshot.sh >"$before"

status=0
# Unit tests, tests/, the scenario catalogue, the CLI and doc tests (benches
# are run by `cargo bench`, not here).
cargo test --workspace "$@" || status=1
# The same test binaries once more, rootless (unshare -Urnm as nobody).
bash ci/rootless.sh || status=1

SNAPSHOT_PINS_DIR="$pins" bash ci/root-snapshot.sh >"$after"
if ! diff -u "$before" "$after"; then
  echo "ci/test: FAIL: the tests' own network namespace changed (diff above): netrig leaked state out of its labs." >&2
  status=1
else
  echo "ci/test: the suite's network namespace is unchanged: nothing leaked out of the labs."
fi
if [ -n "$(find "$pins" -mindepth 1 -not -path "$pins/run" 2>/dev/null)" ]; then
  echo "ci/test: FAIL: pins or lab state left behind in $pins:" >&2
  find "$pins" -mindepth 1 >&2
  status=1
fi
rm -rf "$before" "$after" "$pins"
exit $status
