# blockstore's image (the one cluster/deploy/kubernetes/blockstore.yaml names):
#   docker build -t blockstore:0.1.0 .
# One image for every role: `blockstore meta|blockd|gateway|cluster envoy-eds`.
# Two stages: dependencies are installed (and native modules built) in the
# first; the second carries only what runs, as a non-root user.
FROM node:20-bookworm-slim AS build
# A C compiler for the block daemon's page-cache addon (scripts/build.sh).
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/blockstore
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY bin ./bin
COPY lib ./lib
COPY proto ./proto
COPY coordination ./coordination
COPY meta ./meta
COPY daemon ./daemon
COPY gateway ./gateway
COPY sdk ./sdk
COPY cluster ./cluster
COPY scripts/build.sh ./scripts/build.sh
COPY tsconfig.json ./
# Compiled JavaScript (build/): nodes start without a TypeScript loader.
RUN scripts/build.sh --force

FROM node:20-bookworm-slim
RUN groupadd --system blockstore && useradd --system --gid blockstore --home-dir /var/lib/blockstore blockstore \
  && mkdir -p /data /var/lib/blockstore && chown blockstore:blockstore /data /var/lib/blockstore
WORKDIR /opt/blockstore
COPY --from=build /opt/blockstore ./
USER blockstore
# gRPC: meta 7200, blockd 7100, gateway 7300; their HTTP side ports (metrics, health) 7201, 7101, 7400;
# the block daemon's data port (block bodies for gateways) 7102.
EXPOSE 7100 7101 7102 7200 7201 7300 7400
ENTRYPOINT ["/opt/blockstore/bin/blockstore"]
CMD ["--help"]
