/**
 * The repair worker's pass on twins: in-memory daemons, a block index twin
 * and a membership twin. What it pins down: a lost daemon's blocks get new
 * copies where rendezvous placement says and the index forgets the lost
 * copy; a restart is not a loss; a drained copy leaves the index only when R
 * others hold the block; garbage collection announces its cutoff before it
 * reads the index and deletes only unindexed blocks older than the cutoff;
 * a corrupt copy is replaced from a good one.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { sha256Hex } from '../../lib/hash';
import { silentLogger } from '../../lib/logger';
import { rankNodes } from '../../lib/placement';
import { RepairWorker, type BlockIndex, type IndexedBlock, type RepairOptions, type RepairPeer } from '../../gateway/repair/repair-worker';
import { twinDaemons, type TwinDaemon } from '../harness/twins';

const R = 3;

function setup(n: number, options: Partial<RepairOptions> = {}) {
  const { daemons, view, connect } = twinDaemons(n);
  const index = new Map<string, IndexedBlock>();
  const events: string[] = [];
  const blockIndex: BlockIndex = {
    async list(after, limit) {
      events.push('list');
      const all = [...index.values()].filter((b) => b.hash > after).sort((a, b) => (a.hash < b.hash ? -1 : 1));
      const page = all.slice(0, limit).map((b) => ({ ...b, nodes: [...b.nodes] }));
      return { blocks: page, nextAfter: all.length > limit ? page[page.length - 1]!.hash : '' };
    },
    async update(add, remove) {
      events.push('update');
      for (const l of add) index.get(l.hash)!.nodes.push(...l.nodes.filter((x) => !index.get(l.hash)!.nodes.includes(x)));
      for (const l of remove) index.get(l.hash)!.nodes = index.get(l.hash)!.nodes.filter((x) => !l.nodes.includes(x));
    },
    async fenceCollection() {
      events.push('fence');
    },
  };
  const live = new Set(daemons.map((d) => d.id));
  const drains = new Set<string>();
  const membership = {
    list: async () => view.blockds.filter((r) => live.has(r.id)),
    drains: async () => [...drains],
  };
  const published: string[] = [];
  const lock = { holds: async () => true, put: async (_k: string, v: string) => void published.push(v), close: async () => {} };
  const worker = new RepairWorker('g1', blockIndex, membership, lock, {
    replicas: R, lostAfterMs: 0, passIntervalMs: 60_000, bytesPerSecond: 1e12, statusKey: 'repair/status',
    connect: connect as unknown as (address: string) => RepairPeer, ...options,
  }, silentLogger);
  const byId = new Map(daemons.map((d) => [d.id, d]));
  /** A block on the top R daemons of its rendezvous order (over all daemons), indexed with `refs`. */
  const place = (refs = 1): { hash: string; holders: TwinDaemon[] } => {
    const bytes = randomBytes(1000);
    const hash = sha256Hex(bytes);
    const holders = rankNodes(hash, daemons.map((d) => d.id)).slice(0, R).map((id) => byId.get(id)!);
    for (const h of holders) h.hold(bytes);
    index.set(hash, { hash, size: bytes.length, refs, nodes: holders.map((h) => h.id) });
    return { hash, holders };
  };
  return { daemons, byId, index, events, live, drains, worker, published, place };
}

test('a lost daemon: its blocks are copied onto the next daemon in rendezvous order from a survivor, and the index forgets the lost copy', async () => {
  const s = setup(4);
  const { hash, holders } = s.place();
  const lost = holders[0]!;
  s.live.delete(lost.id);
  const next = rankNodes(hash, [...s.live]).find((id) => !holders.some((h) => h.id === id))!;
  const st = await s.worker.pass();
  assert.ok(s.byId.get(next)!.blocks.has(hash), `the copy went to ${next}`);
  assert.equal(new Set(s.index.get(hash)!.nodes), new Set([...holders.slice(1).map((h) => h.id), next]));
  assert.is(st.copiesMade, 1);
  assert.is(st.underReplicated, 0, 'healed within the pass');
  assert.is(st.blocks, 1);
  assert.ok(s.published.length === 1 && JSON.parse(s.published[0]!).leader === 'g1', 'the status is published');
  // A second pass finds nothing to do.
  const again = await s.worker.pass();
  assert.is(again.copiesMade, 1, 'no further copy');
});

test('a daemon gone for less than lostAfterMs is restarting, not lost: nothing is copied and nothing forgotten', async () => {
  const s = setup(4, { lostAfterMs: 60_000 });
  const { hash, holders } = s.place();
  s.live.delete(holders[0]!.id);
  const st = await s.worker.pass();
  assert.is(st.copiesMade, 0);
  assert.is(st.underReplicated, 1, 'counted as under-replicated while it is away');
  assert.equal(s.index.get(hash)!.nodes, holders.map((h) => h.id), 'the index still names it');
  assert.not.ok(s.events.includes('update'));
});

test('a block with no live copy is unavailable and nothing is invented for it', async () => {
  const s = setup(4);
  const { holders } = s.place();
  for (const h of holders) s.live.delete(h.id);
  const st = await s.worker.pass();
  assert.is(st.unavailable, 1);
  assert.is(st.copiesMade, 0);
});

test('draining: the drained copy leaves the index only once R other daemons hold the block', async () => {
  const three = setup(3);
  const a = three.place();
  three.drains.add(a.holders[0]!.id);
  const st = await three.worker.pass();
  assert.equal(three.index.get(a.hash)!.nodes, a.holders.map((h) => h.id), 'with nowhere to copy, the drained copy stays indexed');
  assert.is(st.draining[a.holders[0]!.id], 1, 'and the drain reports one block still placed on it');

  const four = setup(4);
  const b = four.place();
  const drained = b.holders[0]!;
  four.drains.add(drained.id);
  const st4 = await four.worker.pass();
  const nodes = four.index.get(b.hash)!.nodes;
  assert.not.ok(nodes.includes(drained.id), 'the drained copy is forgotten');
  assert.is(nodes.length, R);
  for (const id of nodes) assert.ok(four.byId.get(id)!.blocks.has(b.hash), `${id} holds what the index says`);
  assert.is(st4.draining[drained.id], 0);
});

test('garbage collection: the cutoff is announced before the index is read; only unindexed blocks older than the cutoff go', async () => {
  const s = setup(3, { gcGraceMs: 1000 });
  const referenced = s.place(1);
  const staged = s.place(0); // indexed, referenced by no version yet (an upload in progress)
  const d = s.daemons[0]!;
  const old = d.hold(randomBytes(100), Date.now() - 10_000);
  const recent = d.hold(randomBytes(100), Date.now());
  for (const b of [referenced, staged]) for (const h of b.holders) h.touched.set(b.hash, Date.now() - 10_000);
  const st = await s.worker.pass();
  assert.ok(s.events.indexOf('fence') >= 0 && s.events.indexOf('fence') < s.events.indexOf('list'), `fence before list: ${s.events.join(',')}`);
  assert.not.ok(d.blocks.has(old), 'an old unindexed block is collected');
  assert.ok(d.blocks.has(recent), 'a block put after the cutoff stays (its version may not be committed yet)');
  for (const h of referenced.holders) assert.ok(h.blocks.has(referenced.hash), 'a referenced block stays');
  for (const h of staged.holders) assert.ok(h.blocks.has(staged.hash), 'a staged block stays');
  assert.is(st.collected, 1);
});

test('a corrupt copy is replaced from a good one; one with no good copy anywhere is still counted', async () => {
  const s = setup(3);
  const a = s.place();
  const bad = a.holders[0]!;
  bad.corruptHashes.add(a.hash);
  const st = await s.worker.pass();
  assert.is(st.corrupt, 0);
  assert.not.ok(bad.corruptHashes.has(a.hash), 'replaced');
  assert.is(st.copiesMade, 1);

  const t = setup(1);
  const b = t.daemons[0]!.hold(randomBytes(100));
  t.daemons[0]!.corruptHashes.add(b);
  const st2 = await t.worker.pass();
  assert.is(st2.corrupt, 1);
});

test.run();
