#!/usr/bin/env bash
# The privileged test run: installs what is missing, checks formatting, lints
# and docs, then runs every test (unit, tests/, the scenario catalogue, the
# CLI, doc tests) as root and then rootless.
#
# The tests run inside a network namespace of their own (the "suite
# namespace", `unshare --net`), which nothing else on this machine can touch:
# its state before and after is diffed, so a difference there can only be
# netrig's own leak (an interface, address, route, rule, sysctl — or a pin in
# the pins folder the suite is given). The machine's root namespace is
# snapshotted too; a difference there is reported as foreign (another job on
# the machine), since the suite never ran in it.
# Missing privileges fail, never skip.
set -euo pipefail
cd "$(dirname "$0")/.."

bash ci/setup.sh
export NETRIG_REQUIRE_PRIVILEGES=1
export NETRIG_ARTIFACTS="${NETRIG_ARTIFACTS:-$PWD/target/netrig-artifacts}"

status=0
echo "ci/test: cargo fmt --check"
cargo fmt --all --check || status=1
echo "ci/test: cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings || status=1
echo "ci/test: the library without default features (netrig::testing off)"
cargo check -p netrig --no-default-features --quiet || status=1
echo "ci/test: cargo doc --no-deps (warnings denied)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet || status=1
# Build everything now, with the network (the suite namespace has none).
cargo test --workspace --no-run --quiet

root_before=$(mktemp); root_after=$(mktemp)
trap 'rm -f "$root_before" "$root_after"' EXIT
bash ci/root-snapshot.sh >"$root_before"

unshare --net bash ci/suite.sh "$@" || status=$?

bash ci/root-snapshot.sh >"$root_after"
if ! diff -u "$root_before" "$root_after" >/dev/null; then
  echo "ci/test: note: the machine's root network namespace changed during the run (diff below)."
  echo "ci/test: it was not netrig: the suite ran in a namespace of its own, checked above."
  diff -u "$root_before" "$root_after" || true
fi
if [ -d "$NETRIG_ARTIFACTS" ] && [ -n "$(ls -A "$NETRIG_ARTIFACTS" 2>/dev/null)" ]; then
  echo "ci/test: artifacts of failed labs kept in $NETRIG_ARTIFACTS"
fi
exit $status
