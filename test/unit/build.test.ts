/**
 * scripts/build.sh: compiles the sources to build/, and says the build is
 * stale the moment a source is newer (bin/blockstore then runs the sources),
 * in a scratch tree of its own.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../lib/root';
import { makeTempDir, removeDir } from '../harness/temp';

test('build, fresh until a source changes, then stale until built again', () => {
  const dir = makeTempDir('build');
  try {
    mkdirSync(join(dir, 'scripts'));
    mkdirSync(join(dir, 'bin'));
    mkdirSync(join(dir, 'lib'));
    copyFileSync(join(ROOT, 'scripts', 'build.sh'), join(dir, 'scripts', 'build.sh'));
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    writeFileSync(join(dir, 'lib', 'answer.ts'), 'export const answer: number = 42;\n');
    // Loaded lazily, as bin/blockstore.ts loads each subcommand.
    writeFileSync(join(dir, 'bin', 'main.ts'), "void (async () => {\n  const { answer } = await import('../lib/answer');\n  console.log(`answer ${answer}`);\n})();\n");
    const fresh = () => spawnSync(join(dir, 'scripts', 'build.sh'), ['--fresh']).status;
    assert.is(fresh(), 1, 'never built: stale');
    execFileSync(join(dir, 'scripts', 'build.sh'));
    assert.ok(existsSync(join(dir, 'build', 'bin', 'main.js.map')), 'with source maps');
    assert.is(execFileSync('node', [join(dir, 'build', 'bin', 'main.js')], { encoding: 'utf8' }).trim(), 'answer 42');
    assert.is(fresh(), 0);
    const later = new Date(Date.now() + 5000);
    utimesSync(join(dir, 'lib', 'answer.ts'), later, later);
    assert.is(fresh(), 1, 'a source newer than the build: stale');
    execFileSync(join(dir, 'scripts', 'build.sh'));
    // The stamp is written after the files; the edited source is newer than
    // the first build, so this one ran (and is fresh only now that it is later).
    const after = new Date(Date.now() + 10_000);
    utimesSync(join(dir, 'build', '.built'), after, after);
    assert.is(fresh(), 0);
  } finally {
    removeDir(dir);
  }
});

test('this tree: every source compiles (bin/blockstore runs the result)', () => {
  const out = spawnSync(join(ROOT, 'scripts', 'build.sh'), [], { encoding: 'utf8' });
  assert.is(out.status, 0, out.stderr);
  assert.is(spawnSync(join(ROOT, 'scripts', 'build.sh'), ['--fresh']).status, 0);
  const cli = join(ROOT, 'build', 'bin', 'blockstore.js');
  assert.match(execFileSync('node', [cli, '--version'], { encoding: 'utf8' }), /^blockstore \d+\.\d+\.\d+/);
  // Subcommands are loaded lazily (import()): the compiled CLI must find them.
  for (const sub of ['cluster', 'meta', 'blockd', 'gateway', 'qas', 'ls']) {
    const r = spawnSync('node', [cli, sub, '--help'], { encoding: 'utf8' });
    assert.is(r.status, 0, `${sub} --help: ${r.stderr}`);
  }
});

test('bin/blockstore: block daemons run with single-threaded GC, gateways with a larger starting heap, every other command with V8\'s defaults', () => {
  const dir = makeTempDir('launcher');
  try {
    // A stand-in for node on PATH that prints the flags it was given.
    writeFileSync(join(dir, 'node'), '#!/bin/sh\necho "$@"\n', { mode: 0o755 });
    const run = (...args: string[]) => execFileSync(join(ROOT, 'bin', 'blockstore'), args, { encoding: 'utf8', env: { ...process.env, PATH: `${dir}:${process.env.PATH}`, BLOCKSTORE_NODE_ARGS: '' } });
    assert.match(run('blockd', '--id', 'b1'), /^--single-threaded-gc .*blockstore\.(js|ts) blockd --id b1$/m);
    assert.match(run('gateway', '--id', 'g1'), /^--initial-heap-size=128 .*blockstore\.(js|ts) gateway --id g1$/m);
    for (const cmd of ['gateway', 'meta', 'put']) assert.not.match(run(cmd), /single-threaded-gc/, cmd);
    for (const cmd of ['blockd', 'meta', 'put']) assert.not.match(run(cmd), /initial-heap-size/, cmd);
  } finally {
    removeDir(dir);
  }
});

test.run();
