#!/usr/bin/env bash
# Fails when proto/gen is not what proto/gen.sh makes from the .proto files.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$root/proto/gen.sh" "$tmp"
if ! diff -r "$root/proto/gen" "$tmp" >/dev/null; then
  echo "proto/gen is stale: run proto/gen.sh and commit the result" >&2
  diff -r "$root/proto/gen" "$tmp" | head -20 >&2
  exit 1
fi
echo "proto/gen is up to date"

# Lint and breaking changes against the last release's protos
# (proto/buf-baseline.binpb; rebuilt when releasing: make proto-baseline).
buf="$root/node_modules/.bin/buf"
if [ -x "$buf" ]; then
  (cd "$root/proto" && "$buf" lint && "$buf" breaking --against buf-baseline.binpb)
  echo "buf: lint clean, nothing breaks the last release's protos"
else
  echo "buf: not installed (npm install), lint and breaking checks skipped"
fi
