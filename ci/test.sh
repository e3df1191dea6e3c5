#!/usr/bin/env bash
# The privileged test run: installs what is missing, snapshots the root
# network namespace, runs every test (unit, tests/, scenario catalogue, doc
# tests) as root and then rootless, and fails if the root namespace changed.
# Missing privileges fail, never skip.
set -euo pipefail
cd "$(dirname "$0")/.."

bash ci/setup.sh
export NETRIG_REQUIRE_PRIVILEGES=1
export NETRIG_ARTIFACTS="${NETRIG_ARTIFACTS:-$PWD/target/netrig-artifacts}"

before=$(mktemp); after=$(mktemp)
trap 'rm -f "$before" "$after"' EXIT
bash ci/root-snapshot.sh >"$before"

status=0
# Unit tests, tests/, the scenario catalogue and doc tests (benches are run by
# `cargo bench`, not here).
cargo test "$@" || status=$?
# The same test binaries once more, rootless (unshare -Urnm as nobody).
bash ci/rootless.sh || status=$?

bash ci/root-snapshot.sh >"$after"
if ! diff -u "$before" "$after"; then
  echo "ci/test: FAIL: the root network namespace changed during the tests (diff above)." >&2
  status=1
else
  echo "ci/test: root network namespace unchanged."
fi
if [ -d "$NETRIG_ARTIFACTS" ] && [ -n "$(ls -A "$NETRIG_ARTIFACTS" 2>/dev/null)" ]; then
  echo "ci/test: artifacts of failed labs kept in $NETRIG_ARTIFACTS"
fi
exit $status
