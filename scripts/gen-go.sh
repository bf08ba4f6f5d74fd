#!/usr/bin/env bash
# Generates Go code for the public API (blockstore.v1 Files and Admin: messages
# and gRPC stubs) with protoc-gen-go and protoc-gen-go-grpc, into a GOPATH:
#   OUT/src/blockstore/v1/   import path "blockstore/v1" (the protos' go_package)
# Usage: scripts/gen-go.sh OUT   (default build/go)
# Build a client against it in GOPATH mode, with the grpc, protobuf and genproto
# sources Debian packages under /usr/share/gocode (nothing is downloaded):
#   GO111MODULE=off GOPATH=OUT:/usr/share/gocode go build ./examples/go
# In a Go module, map the files to your own import path instead:
#   protoc -I proto --go_out=. --go-grpc_out=. \
#     --go_opt=Mblockstore/v1/files.proto=example.com/you/blockstorev1 … 
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$(realpath -m "${1:-$root/build/go}")"
mkdir -p "$out/src"
cd "$root/proto"
protoc -I . --go_out="$out/src" --go_opt=paths=import --go-grpc_out="$out/src" --go-grpc_opt=paths=import \
  blockstore/v1/files.proto blockstore/v1/admin.proto
