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
