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

case "${1:-}" in
  --fresh) fresh; exit ;;
  --force) ;;
  *) fresh && exit 0 ;;
esac
# No stamp while files are being written: a process starting meanwhile runs the sources.
rm -f "$STAMP"
mapfile -t files < <(find "${SOURCES[@]}" -name '*.ts' -not -name '*.d.ts' -not -path 'cluster/bench/*' | sort)
node_modules/.bin/esbuild "${files[@]}" --outdir=build --outbase=. --format=cjs --platform=node --target=node20 --supported:dynamic-import=false --sourcemap --log-level=warning
touch "$STAMP"
