/**
 * Self-healing: a block daemon holding data is SIGKILLed for good — every
 * block is copied back to R live daemons within a bound and every file
 * reads back byte-identical; a corrupt copy found by the scrubber is
 * replaced from a good one.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { corruptStoredBlock } from '../harness/blockd';
import * as grpc from '@grpc/grpc-js';
import { readJson } from '../../coordination/job-lock';
import { MetaRouter } from '../../lib/rpc/clients/meta-router';
import { BlockdClient } from '../../lib/rpc/clients/blockd-client';
import { sha256Hex } from '../../lib/hash';
import { FullCluster } from '../harness/full-cluster';
import { waitFor } from '../harness/wait';

const test = suite('self-healing blocks');
let c: FullCluster;

test.before(async () => {
  c = await FullCluster.start({
    blockds: 4,
    gatewayArgs: ['--repair-lost-after-ms', '2000', '--repair-interval-ms', '500', '--gc-grace-ms', '3000', '--max-upload-ms', '1400'],
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

test('DrainNode on a block daemon moves its blocks away without any block dropping below 3 copies', async () => {
  const { client } = await c.user('drain');
  const files = Array.from({ length: 8 }, (_, i) => ({ path: `d/${i}`, data: randomBytes(200_000 + i * 10_000) }));
  for (const f of files) await client.put(f.path, f.data);
  await c.startBlockd('b5', ['--scrub-rate', '1GiB', '--scrub-interval-ms', '300']);
  const admin = c.client(c.adminToken);
  await waitFor('gateways to see b5', async () => (await admin.clusterStatus()).nodes.some((n) => n.id === 'b5' && n.state === 'up'), 15_000);
  const router = new MetaRouter({ discover: async () => c.meta.alive().map((n) => n.address) });
  const live = () => [...c.blockds.values()].filter((b) => b.proc.alive()).map((b) => b.id);
  let minCopies = Infinity;
  const sample = async () => {
    let after = '';
    const liveIds = live();
    for (;;) {
      const page = await router.readMaster((m) => m.listBlockIndex(after, 1000));
      for (const b of page.blocks) if (b.refs > 0) minCopies = Math.min(minCopies, b.nodes.filter((n) => liveIds.includes(n)).length);
      if (!page.nextAfter) break;
      after = page.nextAfter;
    }
  };
  try {
    await sample();
    const r = await new Promise<unknown>((resolve, reject) => {
      const md = new grpc.Metadata();
      md.set('authorization', `Bearer ${c.adminToken}`);
      admin.admin.drainNode({ nodeId: 'b2' }, md, (err, res) => (err ? reject(err) : resolve(res)));
    });
    assert.equal(r, { accepted: true });
    await waitFor('b2 to hold no referenced block in the index', async () => {
      await sample();
      const st = await readJson<{ draining: Record<string, number>; lastPass: string }>([c.etcd.endpoint], '/blockstore/repair/status');
      let onB2 = 0;
      let after = '';
      for (;;) {
        const page = await router.readMaster((m) => m.listBlockIndex(after, 1000));
        onB2 += page.blocks.filter((b) => b.refs > 0 && b.nodes.includes('b2')).length;
        if (!page.nextAfter) break;
        after = page.nextAfter;
      }
      return st && st.draining['b2'] === 0 && onB2 === 0;
    }, 60_000, 200);
    assert.ok(minCopies >= 3, `a block fell to ${minCopies} copies during the drain`);
    // b2 can now leave: every file still reads back.
    assert.is(await c.blockds.get('b2')!.proc.stop(), 0);
    for (const f of files) assert.ok((await client.get(f.path)).equals(f.data), f.path);
  } finally {
    router.close();
  }
});

test('a new block daemon receives its share of existing blocks (rebalance), never below 3 copies', async () => {
  const { client } = await c.user('rebalance');
  const files = Array.from({ length: 10 }, (_, i) => ({ path: `rb/${i}`, data: randomBytes(150_000 + i * 1000) }));
  for (const f of files) await client.put(f.path, f.data);
  await c.startBlockd('b6', ['--scrub-rate', '1GiB', '--scrub-interval-ms', '300']);
  await waitFor('b6 to receive existing blocks without new writes', async () => ((await c.blockdStats()).find((s) => s.id === 'b6')?.blocks ?? 0) > 3, 60_000, 250);
  const router = new MetaRouter({ discover: async () => c.meta.alive().map((n) => n.address) });
  try {
    const liveIds = [...c.blockds.values()].filter((b) => b.proc.alive()).map((b) => b.id);
    let after = '';
    for (;;) {
      const page = await router.readMaster((m) => m.listBlockIndex(after, 1000));
      for (const b of page.blocks) if (b.refs > 0) assert.ok(b.nodes.filter((n) => liveIds.includes(n)).length >= 3, `${b.hash} has ${b.nodes.join(',')}`);
      if (!page.nextAfter) break;
      after = page.nextAfter;
    }
  } finally {
    router.close();
  }
  for (const f of files) assert.ok((await client.get(f.path)).equals(f.data), f.path);
});

test('garbage collection: blocks of an abandoned upload go after the grace; staged and committed blocks stay', async () => {
  const { client, token } = await c.user('gc');
  const kept = randomBytes(120_000);
  await client.put('gc/kept', kept);
  // An upload that wrote its block to the daemons and never committed.
  const orphan = randomBytes(70_000);
  const orphanHash = sha256Hex(orphan);
  const daemons = [...c.blockds.values()].filter((b) => b.proc.alive());
  for (const d of daemons) {
    const bd = new BlockdClient(d.address);
    await bd.putBlock(orphanHash, orphan);
    bd.close();
  }
  // A delta-sync upload that staged its block and has not committed yet.
  const staged = randomBytes(60_000);
  const stagedHash = sha256Hex(staged);
  await new Promise<void>((resolve, reject) => {
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${token}`);
    const call = client.files.putBlocks(md, (err) => (err ? reject(err) : resolve()));
    call.write({ hash: stagedHash, data: staged });
    call.end();
  });
  const holders = async (hash: string) => {
    let n = 0;
    for (const d of daemons) {
      const bd = new BlockdClient(d.address);
      n += (await bd.hasBlocks([hash])).present.length;
      bd.close();
    }
    return n;
  };
  assert.is(await holders(orphanHash), daemons.length);
  await waitFor('the orphan to be collected everywhere', async () => (await holders(orphanHash)) === 0, 30_000, 300);
  assert.ok((await holders(stagedHash)) >= 2, 'staged blocks are kept');
  assert.ok((await client.get('gc/kept')).equals(kept));
  // The staged block can still be committed afterwards.
  const r = await new Promise<{ file: { size: number } }>((resolve, reject) => {
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${token}`);
    client.files.commitFile({ path: 'gc/staged', blocks: [{ hash: stagedHash, size: staged.length }], idempotencyKey: 'gc-1' }, md, (err, res) =>
      err ? reject(err) : resolve(res as { file: { size: number } }),
    );
  });
  assert.is(r.file.size, staged.length);
  assert.ok((await client.get('gc/staged')).equals(staged));
});

test('a corrupt copy is found by the scrubber and replaced from a good one', async () => {
  const { client } = await c.user('rot');
  const data = randomBytes(200_000);
  const put = await client.put('rot/file', data);
  const hash = put.file.blocks[0]!.hash;
  // A live daemon that holds a copy (with more daemons than R, not every one does).
  let holder: (typeof c.blockds extends Map<string, infer N> ? N : never) | undefined;
  for (const b of c.blockds.values()) {
    if (!b.proc.alive()) continue;
    const bc = new BlockdClient(b.address);
    const has = await bc.hasBlocks([hash]).finally(() => bc.close());
    if (has.present.includes(hash)) {
      holder = b;
      break;
    }
  }
  assert.ok(holder, 'some live daemon holds the block');
  assert.is(await holder!.proc.stop(), 0);
  await corruptStoredBlock(holder!.dataDir, hash);
  const restarted = await c.startBlockd(holder!.id, ['--scrub-rate', '1GiB', '--scrub-interval-ms', '300']);
  const admin = c.client(c.adminToken);
  // The repair may replace the copy between two polls of the corrupt gauge,
  // so the restarted holder's lifetime counters say what happened.
  const counters = async () => {
    const node = (await admin.clusterStatus()).nodes.find((n) => n.kind === 'blockd' && n.id === holder!.id && n.state === 'up');
    if (!node?.metricsAddress) return undefined;
    const text = await (await fetch(`http://${node.metricsAddress}/metrics`)).text();
    const read = (name: string) => Number(new RegExp(`^${name}\\{[^}]*\\} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
    return { found: read('blockstore_corrupt_found_total'), replaced: read('blockstore_corrupt_replaced_total') };
  };
  const seen = await waitFor('the scrubber to find it and the repair to replace it', async () => {
    const n = await counters();
    return n && n.found >= 1 && n.replaced >= 1 ? n : undefined;
  }, 30_000, 200);
  assert.is(seen.found, 1, 'exactly the one rotten copy was found');
  await waitFor('no corrupt copy left in the cluster', async () => (await admin.clusterStatus()).corruptBlocks === 0, 30_000);
  const bc = new BlockdClient(restarted.address);
  assert.equal((await bc.hasBlocks([hash]).finally(() => bc.close())).present, [hash], 'the holder has a good copy again');
  assert.ok((await client.get('rot/file')).equals(data));
});

test.run();
