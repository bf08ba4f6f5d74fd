#!/usr/bin/env bash
# Compiles the TypeScript sources into build/ as JavaScript (esbuild:
# transpile only, one output per source file, CommonJS with import() as
# require(), source maps), so
# servers and the CLI start without a TypeScript loader. bin/blockstore runs
# build/ while it is newer than every source and falls back to the sources
# (through tsx) otherwise: an edited tree is never run stale. Types are
# checked by `make typecheck` (tsc), not here. Takes well under a second.
#
#   scripts/build.sh           build when a source is newer than the build
#   scripts/build.sh --force   build regardless
#   scripts/build.sh --fresh   exit 0 if the build is current, 1 if not (builds nothing)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd -P)"
cd "$root"
SOURCES=()
for d in bin lib coordination daemon gateway meta sdk cluster proto/gen/ts; do [ -d "$d" ] && SOURCES+=("$d"); done
STAMP=build/.built

fresh() {
  [ -f "$STAMP" ] && [ -z "$(find "${SOURCES[@]}" -name '*.ts' -newer "$STAMP" -print -quit 2>/dev/null)" ]
}

# The block daemon's page-cache addon (daemon/store/page-cache.ts): one C
# file against Node's own headers, built when the C compiler is there and
# the source is newer than the addon. Without it the daemon runs and says so.
native() {
  local src=daemon/store/native/page-cache.c out=build/native/page_cache.node
  [ -f "$src" ] || return 0
  [ -f "$out" ] && [ ! "$src" -nt "$out" ] && return 0
  local cc="${CC:-cc}" inc
  command -v "$cc" >/dev/null || { echo "build.sh: no C compiler ($cc): the block daemon runs without page-cache advice" >&2; return 0; }
  inc="$(node -p "require('path').resolve(process.execPath, '../../include/node')")"
  [ -f "$inc/node_api.h" ] || { echo "build.sh: no Node headers in $inc: the block daemon runs without page-cache advice" >&2; return 0; }
  mkdir -p build/native
  "$cc" -O2 -Wall -shared -fPIC -DNODE_GYP_MODULE_NAME=page_cache -I"$inc" -o "$out.tmp" "$src" && mv "$out.tmp" "$out"
}

case "${1:-}" in
  --fresh) fresh; exit ;;
  --force) ;;
  *) native; fresh && exit 0 ;;
esac
[ "${1:-}" = --force ] && rm -f build/native/page_cache.node && native
# No stamp while files are being written: a process starting meanwhile runs the sources.
rm -f "$STAMP"
mapfile -t files < <(find "${SOURCES[@]}" -name '*.ts' -not -name '*.d.ts' -not -path 'cluster/bench/*' | sort)
node_modules/.bin/esbuild "${files[@]}" --outdir=build --outbase=. --format=cjs --platform=node --target=node20 --supported:dynamic-import=false --sourcemap --log-level=warning
touch "$STAMP"
