/**
 * The master's write pipeline on a real LevelDB, with a replicator that
 * acknowledges or fails on demand and a lease the test controls:
 * - a retried write (same idempotency key) that lands in the same batch as
 *   its original shares the original's fate;
 * - nothing is accepted, logged or acknowledged once the lease is within
 *   the fence margin, and the term steps down;
 * - a write no synchronous replica acknowledges in time fails as
 *   NO_SYNC_REPLICA (outcome unknown), never OK.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BlockstoreError } from '../../lib/errors';
import { silentLogger } from '../../lib/logger';
import type { Replicator } from '../../meta/replication/replicator';
import { MasterTerm, type WriteResult } from '../../meta/role/master-term';
import { TableKeys, type FileRec } from '../../meta/state/records';
import type { WriteRequest } from '../../meta/state/requests';
import { MetaStore } from '../../meta/store/meta-store';
import { makeTempDir, removeDir } from '../harness/temp';
import { waitFor } from '../harness/wait';

const test = suite('master write pipeline');

/** Just what MasterTerm uses of a Replicator; `sync` decides each batch's fate. */
function fakeReplicator(sync: () => Promise<void>): Replicator {
  return {
    onCanGrow: () => {},
    notifyAppended: () => {},
    setCommitted: () => {},
    close: () => {},
    waitForSync: () => sync(),
  } as unknown as Replicator;
}

async function withUserStore(fn: (store: MetaStore) => Promise<void>): Promise<void> {
  const dir = makeTempDir('master-term');
  const store = new MetaStore(dir);
  await store.open();
  try {
    await store.appendLog([{ seq: 1, epoch: 1, op: { type: 'createUser', userId: 'alice', name: 'alice', quotaBytes: 1 << 20, time: 't' } }]);
    await store.applyUpTo(1);
    await fn(store);
  } finally {
    await store.close();
    removeDir(dir);
  }
}

const commit = (key: string): WriteRequest => ({
  kind: 'commit', ns: 'alice', path: '/a.txt', expectedVersion: undefined, blocks: [{ hash: 'a'.repeat(64), size: 10 }],
  contentHash: '', author: 'alice', idempotencyKey: key, locations: [{ hash: 'a'.repeat(64), nodes: ['b1'] }],
});

function term(store: MetaStore, epoch: number, sync: () => Promise<void>, opts: { lease?: () => number; onStepDown?: (why: string) => void; writeTimeoutMs?: number } = {}): MasterTerm {
  return new MasterTerm(epoch, store, fakeReplicator(sync), opts.lease ?? (() => 60_000), opts.onStepDown ?? (() => {}), { writeTimeoutMs: opts.writeTimeoutMs ?? 5000, fenceMarginMs: 100 }, silentLogger);
}

const settle = (p: Promise<WriteResult>) => p.then((r) => ({ ok: true as const, r }), (err: unknown) => ({ ok: false as const, err }));

test('a retry in the same batch as its original fails when the batch fails (no OK for a write nobody holds)', async () => {
  await withUserStore(async (store) => {
    let batches = 0;
    // The term's opening no-op commits; the next batch (both writes) is not acknowledged.
    const t = term(store, 2, () => (++batches === 1 ? Promise.resolve() : Promise.reject(new Error('the synchronous replica is gone'))));
    t.start();
    const original = settle(t.submit(commit('k1')));
    const retry = settle(t.submit(commit('k1')));
    const [o, r] = await Promise.all([original, retry]);
    assert.is(o.ok, false, 'the original was never acknowledged');
    assert.is(r.ok, false, 'so neither is its retry');
    if (!r.ok) assert.is((r.err as BlockstoreError).code, 'NOT_MASTER');
    assert.is(store.applied.seq, 2, 'only the opening no-op applied');
    assert.is(await store.get(TableKeys.file('alice', 'a.txt')), undefined);
  });
});

test('a retry in the same batch as its original is acknowledged with it, at the same position, once', async () => {
  await withUserStore(async (store) => {
    const t = term(store, 2, () => Promise.resolve());
    t.start();
    const [o, r] = await Promise.all([t.submit(commit('k2')), t.submit(commit('k2'))]);
    assert.is(r.position, o.position);
    assert.is(r.outcome.replayed, true);
    assert.is(r.outcome.version?.version, 1);
    const head = await store.getJson<FileRec>(TableKeys.file('alice', 'a.txt'));
    assert.is(head?.version, 1, 'one version, not two');
    assert.ok(store.applied.seq >= o.position, 'acknowledged only once applied');
    t.stop('test over');
  });
});

test('a new term validates writes only after its opening entry committed the previous term\'s: a retry of an acknowledged write is a replay, not a second version', async () => {
  await withUserStore(async (store) => {
    // The previous master committed (and acknowledged) this commit; this
    // node holds it in its log but has not learnt it was committed.
    const first = term(store, 2, () => Promise.resolve());
    first.start();
    await first.submit({ kind: 'noop', reason: 'settle' });
    first.stop('deposed');
    await store.appendLog([{
      seq: store.last.seq + 1, epoch: 2,
      op: { type: 'commit', ns: 'alice', path: 'a.txt', version: 1, blocks: [{ hash: 'a'.repeat(64), size: 10 }], size: 10, contentHash: '', author: 'alice', time: 't', idempotencyKey: 'k3', locations: [{ hash: 'a'.repeat(64), nodes: ['b1'] }] },
    }]);
    const t = term(store, 3, () => Promise.resolve());
    const retry = t.submit(commit('k3')); // the client's retry, queued as the term opens
    t.start();
    const r = await retry;
    assert.is(r.outcome.replayed, true, 'a replay of the committed write');
    const head = await store.getJson<FileRec>(TableKeys.file('alice', 'a.txt'));
    assert.is(head?.version, 1, 'one version, not two');
    t.stop('test over');
  });
});

test('a lease within the fence margin: writes are refused as NOT_MASTER and nothing reaches the log', async () => {
  await withUserStore(async (store) => {
    let lease = 60_000;
    const t = term(store, 2, () => Promise.resolve(), { lease: () => lease });
    t.start();
    await t.submit({ kind: 'noop', reason: 'settle' });
    const last = store.last.seq;
    lease = 50; // less than the 100 ms margin: etcd might already let another node lead
    const r = await settle(t.submit(commit('k4')));
    assert.is(r.ok, false);
    if (!r.ok) assert.is((r.err as BlockstoreError).code, 'NOT_MASTER');
    assert.is(store.last.seq, last, 'nothing logged');
    assert.is(t.accepting, false);
    t.stop('test over');
  });
});

test('the lease lapses while a batch replicates: its writes fail as NOT_MASTER, nothing is applied, and the term steps down', async () => {
  await withUserStore(async (store) => {
    let lease = 60_000;
    let stepDown = '';
    let release = () => {};
    let batches = 0;
    const t = term(store, 2, () => (++batches === 1 ? Promise.resolve() : new Promise<void>((r) => (release = r))), { lease: () => lease, onStepDown: (why) => (stepDown = why) });
    t.start();
    await waitFor('the opening no-op committed', () => t.ready);
    const applied = store.applied.seq;
    const w = settle(t.submit(commit('k5')));
    await waitFor('the batch is logged', () => store.last.seq === applied + 1);
    lease = 0; // the replica acks only after the lease is gone
    release();
    const r = await w;
    assert.is(r.ok, false);
    if (!r.ok) assert.is((r.err as BlockstoreError).code, 'NOT_MASTER');
    assert.is(store.applied.seq, applied, 'logged but never applied (a later master decides its fate)');
    assert.ok(stepDown, 'the term stepped down');
  });
});

test('a write no synchronous replica acknowledges within writeTimeoutMs fails as NO_SYNC_REPLICA, not OK', async () => {
  await withUserStore(async (store) => {
    let batches = 0;
    const t = term(store, 2, () => (++batches === 1 ? Promise.resolve() : new Promise<void>(() => {})), { writeTimeoutMs: 200 });
    t.start();
    await waitFor('the opening no-op committed', () => t.ready);
    const applied = store.applied.seq;
    const r = await settle(t.submit(commit('k6')));
    assert.is(r.ok, false);
    if (!r.ok) assert.is((r.err as BlockstoreError).code, 'NO_SYNC_REPLICA');
    assert.is(store.applied.seq, applied, 'not applied');
    t.stop('test over');
  });
});

test.run();
