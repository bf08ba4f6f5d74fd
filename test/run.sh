#!/usr/bin/env bash
# Runs every test tier (type check, unit, integration, end-to-end) and ends
# with one line "N passed, N failed". uvu prints Total/Passed/Skipped per run
# and no Failed line: failed = total - passed - skipped. A tier that dies
# without a summary counts as one failure.
# Usage: test/run.sh [TIER…]   (default: typecheck unit integration e2e)
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export NO_COLOR=1
unset FORCE_COLOR
tiers=("$@")
[ ${#tiers[@]} -eq 0 ] && tiers=(typecheck unit integration e2e)
passed=0
failed=0
skipped=0
logdir="$(mktemp -d)"
# Every temp dir a test makes lives under this one (os.tmpdir() follows
# TMPDIR), so even a tier killed mid-run leaves nothing behind.
export TMPDIR="$(mktemp -d /tmp/blockstore-tests.XXXXXX)"
trap 'rm -rf "$logdir" "$TMPDIR"' EXIT

for tier in "${tiers[@]}"; do
  log="$logdir/$tier.log"
  echo "=== $tier" >&2
  if [ "$tier" = typecheck ]; then
    if node_modules/.bin/tsc -p . >"$log" 2>&1; then passed=$((passed + 1)); else failed=$((failed + 1)); cat "$log"; fi
    continue
  fi
  # The tier runs in its own process group: when it ends (or overruns), the
  # whole group is killed by its id, so no test process outlives the run.
  setsid node_modules/.bin/uvu -r tsx -r "$root/test/harness/uvu-visible-errors.cjs" "test/$tier" '\.test\.ts$' >"$log" 2>&1 &
  pgid=$!
  # The watchdog keeps no handle on our output (a caller reading it through
  # a pipe must see EOF when we finish) and is stopped with its sleep.
  ( sleep "${TIER_TIMEOUT:-1800}" && kill -KILL -- "-$pgid" ) </dev/null >/dev/null 2>&1 &
  watchdog=$!
  wait "$pgid"
  rc=$?
  pkill -P "$watchdog" 2>/dev/null
  kill "$watchdog" 2>/dev/null
  kill -KILL -- "-$pgid" 2>/dev/null
  cat "$log"
  total=$(sed -n 's/^ *Total: *\([0-9]*\).*/\1/p' "$log" | tail -1)
  pass=$(sed -n 's/^ *Passed: *\([0-9]*\).*/\1/p' "$log" | tail -1)
  skip=$(sed -n 's/^ *Skipped: *\([0-9]*\).*/\1/p' "$log" | tail -1)
  if [ -z "$total" ] || [ -z "$pass" ]; then
    echo "tier $tier ended without a summary (exit $rc)" >&2
    failed=$((failed + 1))
    continue
  fi
  skip=${skip:-0}
  passed=$((passed + pass))
  skipped=$((skipped + skip))
  failed=$((failed + total - pass - skip))
  if [ "$rc" -ne 0 ] && [ "$total" -eq "$((pass + skip))" ]; then
    echo "tier $tier exited $rc" >&2
    failed=$((failed + 1))
  fi
done

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
