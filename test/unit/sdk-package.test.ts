/**
 * The installable SDK package (scripts/build-sdk.sh): its manifest, what it
 * carries and what it does not (etcd, LevelDB, server code), and that a
 * project resolves it, its types included, from a scratch directory.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../lib/root';
import { installSdkPackage } from '../harness/sdk-package';
import { makeTempDir, removeDir } from '../harness/temp';

test('packed: a bundle, its types and protos; two dependencies; no etcd, LevelDB or server code', () => {
  const project = makeTempDir('sdk-package');
  try {
    const { packageDir } = installSdkPackage(project);
    const pkg = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { name: string; version: string; main: string; types: string; dependencies: Record<string, string> };
    assert.is(pkg.name, '@blockstore/sdk');
    assert.is(pkg.version, (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
    assert.equal(Object.keys(pkg.dependencies).sort(), ['@grpc/grpc-js', '@grpc/proto-loader']);
    assert.ok(existsSync(join(packageDir, pkg.main)) && existsSync(join(packageDir, pkg.types)));
    assert.ok(existsSync(join(packageDir, 'proto', 'blockstore', 'v1', 'files.proto')));
    const bundle = readFileSync(join(packageDir, pkg.main), 'utf8');
    for (const server of ['etcd3', 'classic-level', 'require("level")', 'prom-client', 'meta-node', 'block-daemon']) assert.not.match(bundle, server, `the bundle has no ${server}`);
    // Resolved and loaded as a dependency, from outside this repository.
    const out = execFileSync('node', ['-e', `const s = require('@blockstore/sdk'); console.log([typeof s.BlockstoreClient, typeof s.BlockstoreClient.fromEnv, typeof s.BlockstoreError, typeof s.resolveConnection].join(' '))`], { cwd: project, encoding: 'utf8' });
    assert.is(out.trim(), 'function function function function');
    // Its types, as a TypeScript project sees them.
    writeFileSync(join(project, 'use.ts'), "import { BlockstoreClient, BlockstoreError, type FileInfo } from '@blockstore/sdk';\nconst c: BlockstoreClient = BlockstoreClient.fromEnv({ timeoutMs: 5000 });\nconst f: Promise<FileInfo> = c.stat('x');\nconst e: BlockstoreError | undefined = undefined;\nvoid f; void e;\n");
    execFileSync(join(ROOT, 'node_modules', '.bin', 'tsc'), ['--noEmit', '--strict', '--module', 'commonjs', '--moduleResolution', 'node10', '--esModuleInterop', '--skipLibCheck', '--types', 'node', '--typeRoots', join(ROOT, 'node_modules', '@types'), 'use.ts'], { cwd: project });
  } finally {
    removeDir(project);
  }
});

test.run();
