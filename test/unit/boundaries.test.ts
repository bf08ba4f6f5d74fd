/**
 * Architecture boundaries: the layer table of docs/architecture.md, as code.
 * Every relative import must land in a layer its own layer may use; only
 * storage imports LevelDB, only coordination imports etcd3, only rpc adapters,
 * clients and the SDK import gRPC; and there is no import cycle.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const SOURCE_DIRS = ['bin', 'lib', 'coordination', 'daemon', 'gateway', 'meta', 'cluster', 'sdk'];

function sources(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(dir, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (n.endsWith('.ts')) out.push(relative(ROOT, p));
    }
  };
  for (const d of SOURCE_DIRS) walk(join(ROOT, d));
  return out;
}

function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [...text.matchAll(/(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1] ?? m[2]!);
}

const RULES: Array<{ pkg: RegExp; allowed: RegExp; why: string }> = [
  { pkg: /^(level|classic-level)$/, allowed: /\/store\/|^cluster\/bench\//, why: 'only storage layers (and the raw-LevelDB baseline of benchmarks) import LevelDB' },
  { pkg: /^etcd3$/, allowed: /^coordination\//, why: 'only coordination/ imports etcd3' },
  { pkg: /^@grpc\/(grpc-js|proto-loader)$/, allowed: /(^|\/)rpc\/|^sdk\/|^cluster\/bench\//, why: 'only rpc adapters, clients, the SDK and the bare-gRPC baselines of benchmarks import gRPC' },
];

test('package imports respect the layer boundaries', () => {
  const violations: string[] = [];
  for (const file of sources()) {
    for (const spec of importsOf(file)) {
      for (const rule of RULES) {
        if (rule.pkg.test(spec) && !rule.allowed.test(file)) violations.push(`${file} imports ${spec}: ${rule.why}`);
      }
    }
  }
  assert.equal(violations, []);
});

/** The layers, top to bottom, and which layers each may import (its own always). */
const LAYERS: Array<{ name: string; folder: RegExp; may: string[] }> = [
  { name: 'entry point', folder: /^bin\//, may: ['tooling', 'gateway', 'metadata node', 'block daemon', 'sdk', 'lib'] },
  { name: 'tooling', folder: /^cluster\//, may: ['sdk', 'coordination', 'lib', 'generated', 'test harness'] },
  { name: 'gateway', folder: /^gateway\//, may: ['coordination', 'lib', 'generated'] },
  { name: 'metadata node', folder: /^meta\//, may: ['coordination', 'lib', 'generated'] },
  { name: 'block daemon', folder: /^daemon\//, may: ['coordination', 'lib', 'generated'] },
  { name: 'sdk', folder: /^sdk\//, may: ['lib', 'generated'] },
  { name: 'coordination', folder: /^coordination\//, may: ['lib'] },
  { name: 'lib', folder: /^lib\//, may: ['generated'] },
  { name: 'generated', folder: /^proto\//, may: [] },
  { name: 'test harness', folder: /^test\//, may: [] },
];

function layerOf(file: string): string | undefined {
  return LAYERS.find((l) => l.folder.test(file))?.name;
}

test('every import stays inside the layer table (processes reach each other only over gRPC)', () => {
  const violations: string[] = [];
  for (const file of sources()) {
    const from = LAYERS.find((l) => l.folder.test(file));
    if (!from) {
      violations.push(`${file}: in no layer`);
      continue;
    }
    for (const spec of importsOf(file)) {
      if (!spec.startsWith('.')) continue;
      const target = normalize(join(dirname(file), spec));
      const to = layerOf(target);
      if (to !== from.name && !from.may.includes(to ?? '')) violations.push(`${file} (${from.name}) imports ${target} (${to ?? 'no layer'})`);
    }
  }
  assert.equal(violations, []);
});

test('the repair worker uses nothing of the gateway it runs in but what it is handed', () => {
  const bad = sources()
    .filter((f) => f.startsWith('gateway/repair/'))
    .flatMap((f) => importsOf(f).filter((s) => s.startsWith('.') && /^gateway\/(?!repair\/)/.test(normalize(join(dirname(f), s)))).map((s) => `${f} imports ${s}`));
  assert.equal(bad, []);
});

/** The project file a relative import names, or undefined for a package. */
function resolveLocal(from: string, spec: string, known: Set<string>): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const base = normalize(join(dirname(from), spec));
  return [`${base}.ts`, join(base, 'index.ts')].find((f) => known.has(f));
}

/** Every import cycle among project sources (type-only imports count: they are coupling too). */
function cycles(): string[][] {
  const files = sources();
  const known = new Set(files);
  const edges = new Map(files.map((f) => [f, importsOf(f).map((s) => resolveLocal(f, s, known)).filter((x): x is string => x !== undefined)]));
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string) => {
    state.set(f, 'open');
    stack.push(f);
    for (const g of edges.get(f) ?? []) {
      if (state.get(g) === 'open') found.push([...stack.slice(stack.indexOf(g)), g]);
      else if (!state.has(g)) visit(g);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of files) if (!state.has(f)) visit(f);
  return found;
}

test('no import cycles', () => {
  assert.equal(cycles().map((c) => c.join(' → ')), []);
});

test('only the gateway (and the entry point) imports gateway code', () => {
  const bad = sources()
    .filter((f) => !f.startsWith('gateway/') && !f.startsWith('bin/'))
    .flatMap((f) => importsOf(f).filter((s) => /(^|\/)gateway\//.test(s)).map((s) => `${f} imports ${s}`));
  assert.equal(bad, []);
});

test('a server process opens one etcd client, in its composition root, and hands it on', () => {
  const opening = sources().filter((f) => /^(gateway|meta|daemon|coordination)\//.test(f) && /\bconnectEtcd\(/.test(readFileSync(join(ROOT, f), 'utf8')));
  assert.equal(opening.sort(), ['coordination/etcd.ts', 'gateway/gateway.ts', 'meta/meta-node.ts']);
});

test('server processes use their own cluster credentials, never the process-wide default', () => {
  const bad: string[] = [];
  for (const f of sources().filter((x) => /^(daemon|gateway|meta)\//.test(x))) {
    const text = readFileSync(join(ROOT, f), 'utf8');
    if (/\b(clusterCredentials|installClusterCredentials)\(/.test(text)) bad.push(`${f} reads the process-wide credentials`);
    for (const m of text.matchAll(/new (RpcServer|SidePort|MetaRouter|BlockdClient|MetaClient)\(/g)) {
      // The constructor call, up to its closing parenthesis.
      let depth = 0;
      let end = m.index! + m[0].length - 1;
      for (; end < text.length; end++) {
        if (text[end] === '(') depth++;
        else if (text[end] === ')' && --depth === 0) break;
      }
      if (!/credentials/.test(text.slice(m.index!, end))) bad.push(`${f}: ${m[0]} without credentials`);
    }
  }
  assert.equal(bad, []);
});

test('the rules see real imports (the checker itself works)', () => {
  assert.equal(layerOf('meta/meta-node.ts'), 'metadata node');
  assert.ok(importsOf('gateway/gateway.ts').some((s) => s.includes('coordination/')));
  assert.ok(importsOf('daemon/store/level-block-table.ts').includes('level'));
  assert.ok(importsOf('coordination/etcd.ts').includes('etcd3'));
});

test.run();
