/**
 * The master's replicator on a real LevelDB, replicas played by the test
 * and etcd's synchronous-set record by a publish function it controls:
 * - a write is never acknowledged on the master alone: with no member it
 *   waits, and a silent member is dropped without the write being acked;
 * - the handshake: a replica whose log diverges is told to truncate to its
 *   applied position, an empty one gets a snapshot;
 * - a replica that has promised a newer epoch, or a publish etcd refuses,
 *   ends the term (onStale).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { silentLogger } from '../../lib/logger';
import type { SyncSetRecord } from '../../coordination/meta-election';
import { Replicator, type ReplicatorOptions } from '../../meta/replication/replicator';
import type { MetaStore } from '../../meta/store/meta-store';
import { FakeReplica, userEntry, withStore } from '../harness/replication-links';
import { waitFor } from '../harness/wait';

const test = suite('replicator');

function replicator(store: MetaStore, opts: Partial<ReplicatorOptions> & { publish?: (r: SyncSetRecord) => Promise<boolean> } = {}) {
  const published: SyncSetRecord[] = [];
  const stale: string[] = [];
  const publish = opts.publish ?? (async (r: SyncSetRecord) => (published.push(r), true));
  const r = new Replicator(store, 5, 'm1', publish, (why) => stale.push(why), { maxSync: 1, syncTimeoutMs: 60_000, ...opts }, silentLogger);
  return { r, published, stale };
}

/** Appends one entry of epoch 5 and tells the replicator. */
async function append(store: MetaStore, r: Replicator): Promise<number> {
  const seq = store.last.seq + 1;
  await store.appendLog([userEntry(seq, 5)]);
  r.notifyAppended();
  return seq;
}

const track = (p: Promise<void>) => {
  const s = { done: false, failed: false };
  p.then(() => (s.done = true), () => (s.failed = true));
  return s;
};

test('no synchronous member: the write waits, and is acknowledged once a replica holds it and etcd lists it', async () => {
  await withStore(async (store) => {
    const { r, published } = replicator(store);
    const seq = await append(store, r);
    const w = track(r.waitForSync(seq, () => true));
    const a = new FakeReplica('a');
    r.attach(a.link);
    a.hello(5);
    await waitFor('the entry reaches a', () => a.sent.some((m) => m.kind === 'entries' && m.entries.some((e) => e.seq === seq)));
    assert.is(w.done, false, 'not acknowledged before the replica has it');
    a.ack(seq);
    await waitFor('acknowledged', () => w.done);
    assert.equal(published.at(-1)!.members, ['a'], 'published before the ack');
    r.close();
  });
});

test('a silent member is dropped after syncTimeoutMs and the write still waits for a replica that holds it', async () => {
  await withStore(async (store) => {
    const { r, published } = replicator(store, { syncTimeoutMs: 100 });
    const a = new FakeReplica('a');
    r.attach(a.link);
    a.hello(5);
    const first = await append(store, r);
    a.ack(first);
    await r.waitForSync(first, () => true);
    const seq = await append(store, r); // a never acks this one
    const w = track(r.waitForSync(seq, () => true));
    await waitFor('a removed', () => published.at(-1)!.members.length === 0);
    assert.is(w.done, false, 'never acknowledged on the master alone');
    const b = new FakeReplica('b');
    r.attach(b.link);
    b.hello(5);
    await waitFor('b has the entry', () => b.sent.some((m) => m.kind === 'snapshot' || (m.kind === 'entries' && m.entries.some((e) => e.seq === seq))));
    b.ack(seq);
    await waitFor('acknowledged by b', () => w.done);
    assert.equal(published.at(-1)!.members, ['b']);
    r.close();
  });
});

test('stepping down while waiting: waitForSync rejects', async () => {
  await withStore(async (store) => {
    const { r } = replicator(store);
    const seq = await append(store, r);
    let alive = true;
    const w = track(r.waitForSync(seq, () => alive));
    alive = false;
    await waitFor('rejected', () => w.failed);
    r.close();
  });
});

test('handshake: a diverging replica is told to truncate to its applied position; an empty one gets a snapshot', async () => {
  await withStore(async (store) => {
    for (let i = 0; i < 3; i++) await store.appendLog([userEntry(store.last.seq + 1, 5)]);
    await store.applyUpTo(2);
    const { r } = replicator(store);
    r.setCommitted(2);
    const d = new FakeReplica('d');
    r.attach(d.link);
    // Its entry 3 came from an older master (epoch 4) and was never committed.
    d.say({ kind: 'hello', nodeId: 'd', address: 'd:1', last: { seq: 3, epoch: 4 }, applied: { seq: 2, epoch: 5 }, promisedEpoch: 5, incarnation: 'd-disk' });
    await waitFor('d gets entries', () => d.sent.some((m) => m.kind === 'entries'));
    assert.equal(d.sent[0], { epoch: 5, kind: 'truncate', after: 2 });
    const entries = d.sent.find((m) => m.kind === 'entries');
    assert.is(entries?.kind === 'entries' && entries.entries[0]!.seq, 3, 'then entries from 3, of this log');

    const e = new FakeReplica('e');
    r.attach(e.link);
    e.hello(5);
    await waitFor('e gets a snapshot', () => e.sent.some((m) => m.kind === 'snapshot' && m.last));
    const snap = e.sent.find((m) => m.kind === 'snapshot');
    assert.equal(snap?.kind === 'snapshot' && snap.applied, { seq: 2, epoch: 5 });
    r.close();
  });
});

test('a replica that promised a newer epoch, or etcd refusing the set, ends the term', async () => {
  await withStore(async (store) => {
    const { r, stale } = replicator(store);
    const n = new FakeReplica('n');
    r.attach(n.link);
    n.hello(6);
    assert.ok(n.closed, 'its stream is closed');
    assert.is(stale.length, 1);
    r.close();

    const refused = replicator(store, { publish: async () => false });
    const a = new FakeReplica('a');
    refused.r.attach(a.link);
    a.hello(5);
    const seq = await append(store, refused.r);
    a.ack(seq);
    const w = track(refused.r.waitForSync(seq, () => refused.stale.length === 0));
    await waitFor('stale', () => refused.stale.length > 0);
    await waitFor('rejected', () => w.failed);
    refused.r.close();
  });
});

test.run();
