#!/usr/bin/env bash
# Installs what blockstore needs and is missing: npm packages, and from
# Debian etcd-server, haproxy, protobuf-compiler (proto checks) and
# python3-grpcio/python3-grpc-tools (the independent client in tests),
# chromium (the web console's browser tests, driven headless by puppeteer-core)
# and Go with grpc-go, protoc-gen-go and protoc-gen-go-grpc (the Go example,
# built offline from the sources Debian keeps under /usr/share/gocode).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

if [ ! -d node_modules/@grpc/grpc-js ] || [ ! -d node_modules/level ] || [ ! -x node_modules/.bin/tsx ] \
   || [ package.json -nt node_modules/.package-lock.json ]; then
  echo "deps: installing npm packages" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
fi

missing=()
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
command -v protoc >/dev/null 2>&1 || missing+=(protobuf-compiler)
/usr/bin/python3 -c 'import grpc' >/dev/null 2>&1 || missing+=(python3-grpcio)
/usr/bin/python3 -c 'import grpc_tools' >/dev/null 2>&1 || missing+=(python3-grpc-tools)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v go >/dev/null 2>&1 || missing+=(golang-go)
command -v protoc-gen-go >/dev/null 2>&1 || missing+=(protoc-gen-go)
command -v protoc-gen-go-grpc >/dev/null 2>&1 || missing+=(protoc-gen-go-grpc)
[ -d /usr/share/gocode/src/google.golang.org/grpc ] || missing+=(golang-google-grpc-dev)
[ -d /usr/share/gocode/src/google.golang.org/genproto ] || missing+=(golang-google-genproto-dev)
# grpc-go marshals through github.com/golang/protobuf: 1.5 (not Debian's
# default 1.3) understands the messages protoc-gen-go generates today.
dpkg -s golang-github-golang-protobuf-1-5-dev >/dev/null 2>&1 || missing+=(golang-github-golang-protobuf-1-5-dev)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing Debian packages: ${missing[*]}" >&2
    echo "deps: run as root: apt-get update && apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "deps: installing Debian packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq "${missing[@]}" >&2
fi

# The JavaScript bin/blockstore runs (when any source is newer than it).
scripts/build.sh
