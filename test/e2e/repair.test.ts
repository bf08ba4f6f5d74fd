/**
 * Self-healing: a block daemon holding data is SIGKILLed for good — every
 * block is copied back to R live daemons within a bound and every file
 * reads back byte-identical; a corrupt copy found by the scrubber is
 * replaced from a good one.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { Level } from 'level';
import { FullCluster } from '../harness/full-cluster';
import { waitFor } from '../harness/wait';

const test = suite('self-healing blocks');
let c: FullCluster;

test.before(async () => {
  c = await FullCluster.start({
    blockds: 4,
    gatewayArgs: ['--repair-lost-after-ms', '2000', '--repair-interval-ms', '500'],
    blockdArgs: ['--scrub-rate', '1GiB', '--scrub-interval-ms', '300'],
  });
});

test.after(async () => {
  await c?.stop();
});

test('a lost block daemon: under-replicated reaches 0 on its own; all files read back', async () => {
  const { client } = await c.user('heal');
  const files = Array.from({ length: 12 }, (_, i) => ({ path: `h/${i}`, data: randomBytes(300_000 + i * 50_000) }));
  for (const f of files) await client.put(f.path, f.data);
  const admin = c.client(c.adminToken);
  await waitFor('a repair pass with nothing to do', async () => {
    const s = await admin.clusterStatus();
    return s.repairLastPass !== '' && s.underReplicatedBlocks === 0 && s.blocks > 0;
  }, 20_000);
  const victim = c.blockds.get('b1')!;
  victim.proc.signal('SIGKILL');
  await victim.proc.exited;
  const t0 = Date.now();
  await waitFor('under-replicated to be noticed', async () => (await admin.clusterStatus()).underReplicatedBlocks > 0, 20_000);
  const healed = await waitFor('every block back to 3 live copies', async () => {
    const s = await admin.clusterStatus();
    return s.underReplicatedBlocks === 0 && s.repairLastPass > new Date(t0 + 2000).toISOString() ? s : undefined;
  }, 60_000, 250);
  console.log(`  healed ${Date.now() - t0} ms after the SIGKILL (grace 2 s); ${healed.blocks} referenced blocks, each back on 3 live daemons`);
  const stats = await c.blockdStats();
  const live = stats.filter((s) => s.id !== 'b1');
  assert.is(live.length, 3);
  // With 3 live daemons and R = 3, every live daemon holds every block.
  const counts = live.map((s) => s.blocks);
  assert.ok(counts.every((n) => n === counts[0]), `copies per daemon: ${counts.join(', ')}`);
  for (const f of files) assert.ok((await client.get(f.path)).equals(f.data), f.path);
});

test('a corrupt copy is found by the scrubber and replaced from a good one', async () => {
  const { client } = await c.user('rot');
  const data = randomBytes(200_000);
  const put = await client.put('rot/file', data);
  const hash = put.file.blocks[0]!.hash;
  const holder = [...c.blockds.values()].find((b) => b.proc.alive())!;
  assert.is(await holder.proc.stop(), 0);
  const db = new Level<string, Buffer>(holder.dataDir, { keyEncoding: 'utf8', valueEncoding: 'buffer' });
  const v = await db.get(`d!${hash}`);
  assert.ok(v, 'the holder has the block');
  v![50] ^= 0xff;
  await db.put(`d!${hash}`, v!);
  await db.close();
  await c.startBlockd(holder.id, ['--scrub-rate', '1GiB', '--scrub-interval-ms', '300']);
  const admin = c.client(c.adminToken);
  await waitFor('the scrubber to report it', async () => (await admin.clusterStatus()).corruptBlocks > 0, 20_000);
  await waitFor('the repair to replace it', async () => (await admin.clusterStatus()).corruptBlocks === 0, 30_000);
  assert.ok((await client.get('rot/file')).equals(data));
});

test.run();
