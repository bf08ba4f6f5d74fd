/**
 * Safety rules of the metadata log on a real LevelDB, with hand-driven
 * replication links and an injectable disk stall:
 * - a node that becomes master while its follower is mid-append never has
 *   the old term's entries land after (or over) its own;
 * - reads never see a snapshot install's half-written tables;
 * - the synchronous set is published one change at a time, and a write is
 *   acknowledged only by the set etcd holds;
 * - a replica never gives up committed entries for an older snapshot.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BlockstoreError } from '../../lib/errors';
import { silentLogger } from '../../lib/logger';
import type { SyncSetRecord } from '../../coordination/meta-election';
import { StateReader } from '../../meta/state-reader';
import { Replicator } from '../../meta/replication/replicator';
import { TableKeys } from '../../meta/state/records';
import { MetaStore } from '../../meta/store/meta-store';
import { FakeReplica, follow, userEntry, withStore } from '../harness/replication-links';
import { waitFor } from '../harness/wait';

const test = suite('metadata safety rules');

const user = userEntry;

/** Stalls the store's LevelDB batches while `on` (a disk that stops answering). */
function stallBatches(store: MetaStore) {
  const db = (store as unknown as { db: { batch: (...a: unknown[]) => Promise<void> } }).db;
  const real = db.batch.bind(db);
  const stall = { on: false, hits: 0, release: () => {} };
  let gate = Promise.resolve();
  db.batch = async (...args: unknown[]) => {
    if (stall.on) {
      stall.hits++;
      await gate;
    }
    return real(...args);
  };
  return {
    stall,
    engage() {
      stall.on = true;
      gate = new Promise<void>((r) => (stall.release = r));
    },
    release() {
      stall.on = false;
      stall.release();
    },
  };
}

const followAt = (store: MetaStore, epoch: number) => follow(store, { id: 'm1', epoch });

test('a new master waits for its follower\'s append in flight: the old term never lands over or past its own entries', async () => {
  await withStore(async (store) => {
    const disk = stallBatches(store);
    const { follower, m } = await followAt(store, 5);
    m.deliver({ epoch: 5, kind: 'entries', entries: [user(1, 5), user(2, 5)], commitSeq: 2 });
    await waitFor('entries 1-2 applied', () => store.applied.seq === 2);
    disk.engage();
    m.deliver({ epoch: 5, kind: 'entries', entries: [user(3, 5), user(4, 5)], commitSeq: 2 });
    await waitFor('the append to reach the stalled disk', () => disk.stall.hits > 0);
    // This node wins the election meanwhile: it stops following and
    // appends its term's first entry at the end of its log.
    const stopped = Promise.resolve(follower.stop());
    const mine = stopped.then(() => store.appendLog([{ seq: store.last.seq + 1, epoch: 6, op: { type: 'noop', reason: 'term 6 begins' } }]));
    setImmediate(() => disk.release());
    await mine;
    const log = await store.readLog(1, 100);
    assert.equal(log.map((e) => e.seq), log.map((_, i) => i + 1), 'contiguous from 1');
    assert.is(log[log.length - 1]!.seq, store.last.seq, 'nothing past last');
    assert.is(log[log.length - 1]!.epoch, 6, "the new term's entry is the last one, not overwritten");
    assert.equal(log.map((e) => e.epoch), [5, 5, 5, 5, 6]);
  });
});

test('reads never see a snapshot install half-done: a read under way finishes first, later ones are UNAVAILABLE', async () => {
  await withStore(async (store) => {
    const { m } = await followAt(store, 5);
    const reads = new StateReader(store, 2000, () => false, () => true);
    m.deliver({ epoch: 5, kind: 'entries', entries: [user(1, 5), user(2, 5), user(3, 5)], commitSeq: 3 });
    await waitFor('entries applied', () => store.applied.seq === 3);
    const disk = stallBatches(store);
    // A read with a position, in progress when the install begins.
    let letRead = () => {};
    const readGate = new Promise<void>((r) => (letRead = r));
    let started = false;
    const early = reads.run(3, async () => {
      started = true;
      await readGate;
      return reads.user('u1');
    });
    await waitFor('the early read to start', () => started);
    disk.engage();
    m.deliver({ epoch: 5, kind: 'snapshot', first: true, last: false, applied: { seq: 3, epoch: 5 }, pairs: [{ key: TableKeys.user('u1'), value: JSON.stringify({ id: 'u1', name: 'u1', quotaBytes: 1, usedBytes: 0, createdAt: 't' }) }] });
    await waitFor('the install to begin', () => store.installing);
    letRead();
    assert.is((await early).id, 'u1', 'the read under way saw the whole state');
    await waitFor('the install to write its first chunk', () => disk.stall.hits > 0);
    // Mid-install: the tables hold part of the snapshot.
    const mid = await reads.run(3, () => reads.user('u2')).then(
      () => 'served',
      (err: unknown) => (err as BlockstoreError).code,
    );
    assert.is(mid, 'UNAVAILABLE', 'refused, not NOT_FOUND');
    disk.release();
    m.deliver({ epoch: 5, kind: 'snapshot', first: false, last: true, applied: { seq: 3, epoch: 5 }, pairs: [
      { key: TableKeys.user('u2'), value: JSON.stringify({ id: 'u2', name: 'u2', quotaBytes: 1, usedBytes: 0, createdAt: 't' }) },
      { key: TableKeys.user('u3'), value: JSON.stringify({ id: 'u3', name: 'u3', quotaBytes: 1, usedBytes: 0, createdAt: 't' }) },
    ] });
    await waitFor('the install to finish', () => !store.installing && store.applied.seq === 3);
    assert.is((await reads.run(3, () => reads.user('u3'))).id, 'u3');
  });
});

test('a replica refuses a snapshot older than what it has applied (committed entries are never given up)', async () => {
  await withStore(async (store) => {
    const { m } = await followAt(store, 5);
    m.deliver({ epoch: 5, kind: 'entries', entries: [user(1, 5), user(2, 5), user(3, 5)], commitSeq: 3 });
    await waitFor('entries applied', () => store.applied.seq === 3);
    // A master with an empty state (it lost its disk) offers its snapshot.
    m.deliver({ epoch: 5, kind: 'snapshot', first: true, last: true, applied: { seq: 0, epoch: 0 }, pairs: [] });
    await waitFor('the stream closed', () => m.closed);
    assert.is(store.applied.seq, 3);
    assert.ok(await store.get(TableKeys.user('u1')), 'the committed state is still here');
  });
});

test('synchronous set: one publish at a time, each from the latest set; an ack only when every member etcd lists has the write', async () => {
  await withStore(async (store) => {
    let etcd: string[] = [];
    const requested: SyncSetRecord[] = [];
    const pending: Array<() => void> = [];
    const publish = (rec: SyncSetRecord) => {
      requested.push(rec);
      return new Promise<boolean>((resolve) =>
        pending.push(() => {
          etcd = rec.members;
          resolve(true);
        }),
      );
    };
    const r = new Replicator(store, 7, 'm1', publish, () => {}, { maxSync: 2, syncTimeoutMs: 60_000 }, silentLogger);
    const a = new FakeReplica('a');
    const b = new FakeReplica('b');
    r.attach(a.link);
    r.attach(b.link);
    a.hello(7);
    b.hello(7);
    await waitFor('both attached', () => r.status().replicas.length === 2);
    const acks: Array<{ seq: number; etcd: string[]; acked: Record<string, number> }> = [];
    const acked: Record<string, number> = { a: 0, b: 0 };
    const ack = (rep: FakeReplica, seq: number) => {
      acked[rep.id] = seq;
      rep.ack(seq);
    };
    const sync = (seq: number) => r.waitForSync(seq, () => true).then(() => acks.push({ seq, etcd: [...etcd], acked: { ...acked } }));

    await store.appendLog([{ seq: 1, epoch: 7, op: { type: 'noop', reason: 'term 7 begins' } }]);
    r.notifyAppended();
    ack(a, 1);
    const w1 = sync(1);
    await waitFor('a is proposed', () => requested.length === 1);
    pending.shift()!();
    await w1;

    // b catches up and is being added when a's stream closes.
    await store.appendLog([{ seq: 2, epoch: 7, op: { type: 'noop', reason: 'w2' } }]);
    r.notifyAppended();
    ack(b, 2);
    const w2 = sync(2);
    await waitFor('b is proposed', () => requested.length === 2);
    a.link.close();
    pending.shift()!(); // etcd now lists a and b; a will never ack 2
    await waitFor('the removal of a to be proposed', () => requested.length === 3);
    assert.equal(requested[2]!.members, ['b'], 'the removal publishes the latest set (with b), not one computed before the add');
    pending.shift()!();
    await w2;
    for (const x of acks) {
      for (const m of x.etcd) assert.ok((x.acked[m] ?? 0) >= x.seq, `write ${x.seq} acknowledged while etcd listed ${m}, which had acked only ${x.acked[m] ?? 0}`);
    }
    assert.equal(etcd, ['b']);
    assert.equal(r.status().syncReplicas, ['b']);
    r.close();
  });
});

test.run();
