# blockstore — the two commands: `make cluster-up` (a later milestone) and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: cluster-up cluster-down cluster-clean cluster-status help deps build test test-unit test-integration test-e2e typecheck proto proto-check proto-baseline sdk go bench bench-blockd bench-meta bench-gateway bench-load bench-balancer bench-datapath soak qas

help:
	@echo "make cluster-up    start a whole local cluster (installs what is missing); balancer on 127.0.0.1:7000"
	@echo "make cluster-down  stop it (data kept); make cluster-clean also wipes .cluster/"
	@echo "make cluster-status"
	@echo "make deps          install what is missing (npm packages; etcd, haproxy, protoc, python3-grpcio from Debian) and compile to build/"
	@echo "make test          every test tier; last line 'N passed, N failed'"
	@echo "make bench         benchmarks (see README)"
	@echo "make proto         regenerate proto/gen after editing .proto files"
	@echo "make sdk           the SDK as an npm package: build/packages/blockstore-sdk-VERSION.tgz"
	@echo "make go            Go code from the protos and the Go example client (build/go)"

deps:
	@scripts/deps.sh

# The SDK as an installable package: build/packages/blockstore-sdk-VERSION.tgz.
sdk: deps
	@scripts/build-sdk.sh

# Go: code generated from the public protos (build/go, a GOPATH) and the
# example client built against it offline (build/go/example ADDRESS TOKEN).
go: deps
	@scripts/gen-go.sh build/go
	@GO111MODULE=off GOPATH=$(CURDIR)/build/go:/usr/share/gocode GOCACHE=$(CURDIR)/build/go/cache go build -o build/go/example ./examples/go
	@echo "built build/go/example (usage: build/go/example ADDRESS TOKEN [PREFIX])"

# deps builds too, when a source changed; this rebuilds regardless.
build: deps
	@scripts/build.sh --force

cluster-up: deps
	@bin/blockstore cluster up

cluster-down:
	@bin/blockstore cluster down

cluster-clean:
	@bin/blockstore cluster clean

cluster-status:
	@bin/blockstore cluster status

test: deps
	@test/run.sh

test-unit: deps
	@test/run.sh typecheck unit

test-integration: deps
	@test/run.sh integration

test-e2e: deps
	@test/run.sh e2e

typecheck: deps
	@node_modules/.bin/tsc -p .

proto: deps
	@proto/gen.sh

proto-check: deps
	@proto/check.sh

# At a release: the protos later changes are checked against (buf breaking).
proto-baseline: deps
	@cd proto && ../node_modules/.bin/buf build -o buf-baseline.binpb

bench: bench-blockd bench-meta bench-gateway bench-load bench-balancer bench-datapath

bench-blockd: deps
	@node --import ./node_modules/tsx/dist/loader.mjs cluster/bench/blockd.bench.ts

bench-meta: deps
	@node --import ./node_modules/tsx/dist/loader.mjs cluster/bench/meta.bench.ts

# Long fault campaigns: 50 nemesis rounds, 10 whole-cluster restarts with a
# wiped node, the master killed 10 times under load; no write may be lost.
soak: deps
	@NEMESIS_ROUNDS=50 META_RESTART_ROUNDS=10 META_KILL_ROUNDS=10 TIER_TIMEOUT=3600 test/run.sh e2e

bench-gateway: deps
	@node --import ./node_modules/tsx/dist/loader.mjs cluster/bench/gateway.bench.ts

# The QAS load generator with no faults, beside a bare-gRPC and a StatFile baseline.
bench-load: deps
	@node --import ./node_modules/tsx/dist/loader.mjs cluster/bench/load.bench.ts

# The QAS-001 mix straight to the gateways and through HAProxy, CPU per call by role.
bench-balancer: deps
	@node --import ./node_modules/tsx/dist/loader.mjs cluster/bench/balancer.bench.ts

# The data path through HAProxy with a Python grpcio client: PUT/GET 1 MiB and
# 64 KiB beside the raw fsync ceiling, CPU by role, disk bytes per byte uploaded.
bench-datapath: deps
	@node --import ./node_modules/tsx/dist/loader.mjs cluster/bench/datapath.bench.ts

# The three quality scenarios against the local cluster (started if needed),
# filled first to 2 GB of files; QAS-003 on a cluster of its own whose nodes
# have 0.2 core each (metadata 0.3). Report in .cluster/qas/.
QAS_FLAGS ?= --preload-mb 2000 --host-cpu 0.2 --meta-host-cpu 0.3 --units 1,2,3,4 --step-seconds 10 --from-rate 3
qas: deps
	@bin/blockstore qas $(QAS_FLAGS)
