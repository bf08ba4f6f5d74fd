/**
 * Garbage collection never deletes a referenced block, whatever state a
 * metadata replica is in. Here one replica loses its disk and comes back
 * with its snapshot install stalled (a disk that stops answering), so it is
 * registered, answering, and empty — while passes with a grace of seconds
 * run over files older than the grace. Every block must survive on every
 * daemon and every file must read back.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FullCluster } from '../harness/full-cluster';
import { makeTempDir, removeDir } from '../harness/temp';
import { waitFor } from '../harness/wait';

const test = suite('garbage collection safety');
let c: FullCluster;
const faults = makeTempDir('gc-faults');
const stallFile = (id: string) => join(faults, `${id}.stall`);
const GRACE_MS = 2000;

test.before(async () => {
  c = await FullCluster.start({
    gatewayArgs: ['--gc-grace-ms', String(GRACE_MS), '--max-upload-ms', '1000', '--repair-interval-ms', '300'],
    metaArgsFor: (id) => ['--fault-stall-file', stallFile(id)],
  });
});

test.after(async () => {
  await c?.stop();
  removeDir(faults);
});

test('a wiped replica stuck in its snapshot install: GC passes delete no referenced block', async () => {
  const { client } = await c.user('gc');
  const files = Array.from({ length: 8 }, (_, i) => ({ path: `g/${i}`, data: randomBytes(100_000 + i * 20_000) }));
  for (const f of files) await client.put(f.path, f.data);
  const before = await c.blockdStats();
  const total = before.reduce((n, s) => n + s.blocks, 0);
  assert.ok(total >= files.length * 3, `${total} copies stored`);
  // Let the files grow older than the grace: from now on only the index protects them.
  const old = Date.now() + GRACE_MS + 200;
  await waitFor('the files to be older than the GC grace', () => Date.now() > old, GRACE_MS + 2000);

  const master = await c.meta.waitForMaster();
  const victim = [...c.meta.nodes.values()].find((n) => n.id !== master.id)!;
  victim.proc.signal('SIGKILL');
  await victim.proc.exited;
  removeDir(victim.dataDir);
  writeFileSync(stallFile(victim.id), 'stalled');
  try {
    await c.meta.startNode(victim.id);
    const admin = c.client(c.adminToken);
    const since = new Date().toISOString();
    // Several passes, each of which would collect (grace/4 apart), while the replica is empty.
    let passes = 0;
    let last = '';
    await waitFor('six repair passes with the empty replica registered', async () => {
      const s = await admin.clusterStatus();
      if (s.repairLastPass > since && s.repairLastPass !== last) {
        last = s.repairLastPass;
        passes++;
      }
      return passes >= 6;
    }, 30_000, 100);
    const after = await c.blockdStats();
    assert.equal(after.map((s) => s.blocks), before.map((s) => s.blocks), 'no daemon lost a block');
    for (const f of files) assert.ok((await client.get(f.path)).equals(f.data), f.path);
  } finally {
    rmSync(stallFile(victim.id), { force: true });
  }
  await waitFor('the replica to finish its install and catch up', async () => {
    const s = await c.meta.nodes.get(victim.id)!.client.status({ timeoutMs: 500 }).catch(() => undefined);
    const m = await master.client.status({ timeoutMs: 500 }).catch(() => undefined);
    return s && m && s.appliedSeq > 0 && s.appliedSeq >= m.appliedSeq - 5;
  }, 20_000);
});

test('a commit delayed past the GC grace (both replicas stalled) never ends up naming collected blocks', async () => {
  const { client } = await c.user('gc-late');
  const master = await c.meta.waitForMaster();
  const replicas = [...c.meta.nodes.values()].filter((n) => n.id !== master.id);
  const data = randomBytes(180_000);
  for (const r of replicas) writeFileSync(stallFile(r.id), 'stalled');
  let put: Promise<unknown> = Promise.resolve();
  try {
    // The upload writes its blocks at once; its commit waits for a
    // synchronous replica, well past the grace, while collection runs.
    put = client.put('late/file', data).then(() => 'ok', (err: Error) => err.message);
    const until = Date.now() + GRACE_MS * 2 + 1000;
    await waitFor('the blocks to be older than the GC grace, twice over', () => Date.now() > until, GRACE_MS * 3 + 5000);
  } finally {
    for (const r of replicas) rmSync(stallFile(r.id), { force: true });
  }
  const outcome = await put;
  if (outcome !== 'ok') await client.put('late/file', data); // an unknown outcome: the client retries
  assert.ok((await client.get('late/file')).equals(data), 'the file reads back: no block it names was collected');
});

test.run();
