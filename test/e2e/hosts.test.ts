/**
 * Simulated hosts with a CPU budget (`cluster up --host-cpu`): every
 * metadata node, block daemon and gateway runs in a control group of its own
 * with the quota, from its first instruction; a restarted or newly scaled
 * node too; a busy node is held to its quota (the scheduler throttles it);
 * `cluster down` leaves no group behind. A machine without a usable CPU
 * controller gets a clear refusal instead (never an unlimited cluster).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { clusterGroup, detectCpuControl } from '../../cluster/local/hosts';
import type { StateDir } from '../../cluster/local/layout';
import { BlockstoreClient } from '../../sdk/client';
import { localClusterDown, localClusterUp } from '../harness/local-cluster';
import { BLOCKSTORE_BIN } from '../harness/process';
import { makeTempDir, removeDir } from '../harness/temp';
import { waitFor } from '../harness/wait';

const test = suite('hosts with a CPU budget');
const run = promisify(execFile);
const CORES = 0.25;
const control = detectCpuControl();
let dir: StateDir | undefined;
let address = '';

/** The cpu control group a process is in (cgroup v1 `cpu` line, or the v2 line). */
function cpuGroup(pid: number): string {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
  const v1 = lines.find((l) => /^\d+:([^:]*,)?cpu(,[^:]*)?:/.test(l));
  return (v1 ?? lines.find((l) => l.startsWith('0::')) ?? '').split(':').slice(2).join(':');
}

function quotaOf(group: string): number {
  if ('unavailable' in control) return 0;
  const root = control.cpuRoot;
  if (control.kind === 'cgroup-v1') return Number(readFileSync(join(root, group, 'cpu.cfs_quota_us'), 'utf8')) / Number(readFileSync(join(root, group, 'cpu.cfs_period_us'), 'utf8'));
  const [q, p] = readFileSync(join(root, group, 'cpu.max'), 'utf8').trim().split(' ');
  return Number(q) / Number(p);
}

const hosted = () => dir!.readState()!.nodes.filter((n) => n.role === 'meta' || n.role === 'blockd' || n.role === 'gateway');

test.before(async () => {
  if ('unavailable' in control) return;
  ({ dir, address } = await localClusterUp('hosts', ['--host-cpu', String(CORES)]));
});

test.after(async () => {
  await localClusterDown(dir);
});

test('a machine without a usable CPU controller is refused plainly', async () => {
  const { detectCpuControl: detect } = await import('../../cluster/local/hosts');
  const empty = makeTempDir('no-cgroups');
  try {
    const r = detect(empty);
    assert.ok('unavailable' in r, 'no controller found in an empty hierarchy');
    assert.match((r as { unavailable: string }).unavailable, 'no CPU controller');
  } finally {
    removeDir(empty);
  }
  if (!('unavailable' in control)) return;
  // This machine has none: `cluster up --host-cpu` must fail, not run unlimited.
  const state = makeTempDir('hosts-refused');
  try {
    const err = await run(BLOCKSTORE_BIN, ['cluster', 'up', '--state', state, '--host-cpu', '0.2'], { timeout: 60_000 }).then(() => undefined, (e: { code: number; stderr: string }) => e);
    assert.ok(err, 'cluster up --host-cpu succeeded without a CPU controller');
    assert.is(err!.code, 2);
    assert.match(err!.stderr, 'cannot give nodes a CPU budget');
  } finally {
    removeDir(state);
  }
});

test('every node runs in its own host with the quota, from its first instruction', () => {
  if ('unavailable' in control) return;
  const base = clusterGroup(dir!.dir);
  for (const n of hosted()) {
    const group = cpuGroup(n.pid);
    assert.is(group, `/${base}/${n.id}`, `${n.id} (pid ${n.pid}) is in ${group}`);
    assert.is(quotaOf(group), CORES, `${n.id}'s quota`);
    assert.is(n.hostCpu, CORES, 'state.json records the budget');
  }
  for (const n of dir!.readState()!.nodes.filter((x) => x.role === 'etcd' || x.role === 'haproxy')) {
    assert.not.match(cpuGroup(n.pid), base, `${n.id} is not a budgeted host`);
  }
});

test('a restarted gateway and a scaled-out one get their hosts too; status shows budgets and use', async () => {
  if ('unavailable' in control) return;
  const base = clusterGroup(dir!.dir);
  const g1 = hosted().find((n) => n.id === 'g1')!;
  process.kill(g1.pid, 'SIGKILL');
  await waitFor('g1 restarted', () => hosted().some((n) => n.id === 'g1' && n.pid !== g1.pid), 60_000);
  const again = hosted().find((n) => n.id === 'g1')!;
  assert.is(cpuGroup(again.pid), `/${base}/g1`);
  await run(BLOCKSTORE_BIN, ['cluster', 'scale', 'gateway=3', '--state', dir!.dir], { timeout: 180_000 });
  const g3 = hosted().find((n) => n.id === 'g3')!;
  assert.is(cpuGroup(g3.pid), `/${base}/g3`);
  const { stdout } = await run(BLOCKSTORE_BIN, ['cluster', 'status', '--json', '--state', dir!.dir], { timeout: 60_000 });
  const st = JSON.parse(stdout) as { nodes: Array<{ id: string; host?: { quotaCores: number; cpuSeconds?: number } }> };
  for (const id of ['m1', 'b1', 'g3']) {
    const h = st.nodes.find((n) => n.id === id)?.host;
    assert.is(h?.quotaCores, CORES, `${id}'s budget in status`);
    assert.ok((h?.cpuSeconds ?? 0) > 0, `${id}'s CPU use in status`);
  }
});

test('a busy node is held to its budget: the scheduler throttles it', async () => {
  if ('unavailable' in control) return;
  const base = clusterGroup(dir!.dir);
  const throttled = () =>
    hosted()
      .filter((n) => n.role === 'gateway')
      .reduce((sum, n) => {
        const stat = readFileSync(join((control as { cpuRoot: string }).cpuRoot, base, n.id, 'cpu.stat'), 'utf8');
        return sum + Number(/nr_throttled (\d+)/.exec(stat)?.[1] ?? 0);
      }, 0);
  const before = throttled();
  const client = new BlockstoreClient({ address, token: readFileSync(dir!.path('user.token'), 'utf8').trim(), timeoutMs: 30_000 });
  try {
    const data = Buffer.alloc(2 << 20, 7);
    await Promise.all(Array.from({ length: 6 }, (_, i) => client.put(`busy/${i}`, Buffer.concat([Buffer.from(String(i)), data]))));
  } finally {
    client.close();
  }
  assert.ok(throttled() > before, `the gateways were never throttled (${before} → ${throttled()})`);
});

test('down removes every host', async () => {
  if ('unavailable' in control) return;
  const base = clusterGroup(dir!.dir);
  const d = dir!;
  dir = undefined;
  await localClusterDown(d);
  for (const root of [control.cpuRoot, control.acctRoot]) if (root) assert.not.ok(existsSync(join(root, base)), `${join(root, base)} is left behind`);
});

test.run();
