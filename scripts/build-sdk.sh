#!/usr/bin/env bash
# Builds the SDK as an installable npm package in build/packages/sdk/ and packs it
# (build/packages/blockstore-sdk-VERSION.tgz): one bundled CommonJS file (sdk/index.ts
# and the lib/ code it uses; @grpc/grpc-js and @grpc/proto-loader stay
# dependencies), type declarations, and the .proto files it loads at run
# time. Nothing of etcd, LevelDB or the servers is in it.
#   npm install ./build/packages/blockstore-sdk-0.1.0.tgz
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd -P)"
cd "$root"
out=build/packages/sdk
rm -rf "$out"
mkdir -p "$out/dist" "$out/proto/gen"
node_modules/.bin/esbuild sdk/index.ts --bundle --platform=node --format=cjs --target=node20 \
  --external:@grpc/grpc-js --external:@grpc/proto-loader --sourcemap --outfile="$out/dist/index.js" --log-level=warning
node_modules/.bin/tsc sdk/index.ts --declaration --emitDeclarationOnly --outDir "$out/dist/types" --rootDir . \
  --target ES2022 --module commonjs --moduleResolution node10 --esModuleInterop --skipLibCheck --strict --types node
(cd proto && find blockstore grpc google -name '*.proto' -print0 | xargs -0 -I{} install -D -m 0644 {} "$root/$out/proto/{}")
cp proto/gen/descriptor-set.bin "$out/proto/gen/"
node -e '
const root = require("./package.json");
const pkg = {
  name: "@blockstore/sdk",
  version: root.version,
  description: "The blockstore client: files over gRPC, with retries, delta sync and the change feed",
  license: root.license,
  main: "dist/index.js",
  types: "dist/types/sdk/index.d.ts",
  exports: { ".": { types: "./dist/types/sdk/index.d.ts", default: "./dist/index.js" }, "./package.json": "./package.json" },
  files: ["dist", "proto", "README.md"],
  engines: root.engines,
  dependencies: { "@grpc/grpc-js": root.dependencies["@grpc/grpc-js"], "@grpc/proto-loader": root.dependencies["@grpc/proto-loader"] },
};
require("fs").writeFileSync(process.argv[1] + "/package.json", JSON.stringify(pkg, null, 2) + "\n");
' "$out"
cat > "$out/README.md" <<'README'
# @blockstore/sdk

```js
const { BlockstoreClient, BlockstoreError } = require('@blockstore/sdk');
const client = BlockstoreClient.fromEnv(); // BLOCKSTORE_ADDRESS + BLOCKSTORE_TOKEN(_FILE), BLOCKSTORE_PROFILE, or ~/.config/blockstore/credentials.json
await client.put('photos/a.jpg', './a.jpg', { onProgress: (n) => console.log(n) });
const bytes = await client.get('photos/a.jpg');
const { stream } = await client.downloadStream('photos/a.jpg');
for await (const ev of client.watch('photos/')) console.log(ev.kind, ev.path);
```

Errors are `BlockstoreError` with a stable `code` (NOT_FOUND, VERSION_CONFLICT, …), `retryable` and `details`.
README
(cd build/packages && npm pack ./sdk --pack-destination . --silent >/dev/null)
echo "build/packages/blockstore-sdk-$(node -p 'require("./package.json").version').tgz"
