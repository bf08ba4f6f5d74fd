/**
 * Replication rules on a real LevelDB with a hand-driven master link:
 * epochs are fenced, divergent tails are truncated, interrupted snapshots
 * leave an empty node rather than a partial one.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { ToMaster } from '../../meta/replication/messages';
import { TableKeys } from '../../meta/state/records';
import { MetaStore } from '../../meta/store/meta-store';
import { makeTempDir, removeDir } from '../harness/temp';
import { follow, userEntry, withStore } from '../harness/replication-links';
import { waitFor } from '../harness/wait';

const test = suite('metadata replication rules');

const user = userEntry;

test('entries are appended, acked after fsync, applied once committed; an older epoch is refused and changes nothing', async () => {
  await withStore(async (store) => {
    const { follower, m } = await follow(store, { id: 'm1', epoch: 5 });
    assert.equal(m.sent[0]!.kind, 'hello');
    m.deliver({ epoch: 5, kind: 'entries', entries: [user(1, 5), user(2, 5)], commitSeq: 1 });
    await waitFor('the ack', () => m.sent.some((s) => s.kind === 'ack' && s.seq === 2));
    await waitFor('entry 1 applied', () => store.applied.seq === 1);
    assert.ok(await store.get(TableKeys.user('u1')));
    assert.is(await store.get(TableKeys.user('u2')), undefined, 'not committed yet: not applied');
    // A message from an older term (a deposed master that woke up): refused.
    m.deliver({ epoch: 4, kind: 'entries', entries: [user(3, 4, 'evil')], commitSeq: 3 });
    await waitFor('the stale stream closed', () => m.closed);
    assert.is(store.last.seq, 2);
    assert.is(await store.get(TableKeys.user('evil')), undefined);
    assert.is(store.promisedEpoch, 5);
    follower.stop();
  });
});

test('a divergent tail is truncated; applied entries cannot be', async () => {
  await withStore(async (store) => {
    await store.appendLog([user(1, 5), user(2, 5), user(3, 5)]);
    assert.equal(await store.readLog(1, 10), [user(1, 5), user(2, 5), user(3, 5)]);
    await store.applyUpTo(1);
    assert.equal(await store.readLog(2, 1), [user(2, 5)]);
    await store.truncateAfter(1);
    assert.equal(store.last, { seq: 1, epoch: 5 });
    assert.equal(await store.readLog(2, 10), [], 'the dropped entries are gone, in memory too');
    await store.appendLog([user(2, 7, 'new2')]);
    assert.equal(await store.readLog(1, 10), [user(1, 5), user(2, 7, 'new2')]);
    await store.applyUpTo(2);
    assert.ok(await store.get(TableKeys.user('new2')));
    assert.is(await store.get(TableKeys.user('u2')), undefined);
    let refused = false;
    await store.truncateAfter(0).catch(() => (refused = true));
    assert.ok(refused);
  });
});

test('an interrupted snapshot leaves an empty node, not a partial one', async () => {
  const dir = makeTempDir('meta-snap');
  try {
    let store = new MetaStore(dir);
    await store.open();
    await store.appendLog([user(1, 5)]);
    await store.applyUpTo(1);
    await store.beginSnapshot();
    await store.writeSnapshotPart([{ key: TableKeys.user('half'), value: '{}' }]);
    await store.close(); // crash before the last chunk
    store = new MetaStore(dir);
    await store.open();
    assert.equal(store.applied, { seq: 0, epoch: 0 });
    assert.equal(store.last, { seq: 0, epoch: 0 });
    assert.is(await store.get(TableKeys.user('half')), undefined);
    assert.is(await store.get(TableKeys.user('u1')), undefined);
    await store.close();
  } finally {
    removeDir(dir);
  }
});

test('compaction drops applied entries only, from the front, and the log start survives a restart', async () => {
  const dir = makeTempDir('meta-compact');
  try {
    let store = new MetaStore(dir);
    await store.open();
    assert.is(store.logStart, 1);
    await store.appendLog(Array.from({ length: 10 }, (_, i) => user(i + 1, 3)));
    await store.applyUpTo(6);
    assert.is(await store.compactLog(4), 3, 'entries 1–3 dropped');
    assert.is(store.logStart, 4);
    assert.is((await store.readLog(1, 100))[0]!.seq, 4, 'a read from before the start begins at the start');
    assert.is(await store.epochAt(2), undefined, 'a compacted entry is unknown (a replica needing it gets a snapshot)');
    assert.is(await store.epochAt(5), 3);
    assert.is(await store.compactLog(100), 3, 'never past the applied position: 4–6 dropped, 7–10 kept');
    assert.is(store.logStart, 7);
    assert.equal((await store.readLog(1, 100)).map((e) => e.seq), [7, 8, 9, 10]);
    assert.is(await store.compactLog(100), 0);
    await store.applyUpTo(10);
    assert.ok(await store.get(TableKeys.user('u10')), 'unapplied entries stayed and apply');
    await store.close();
    store = new MetaStore(dir);
    await store.open();
    assert.is(store.logStart, 7);
    assert.equal(store.last, { seq: 10, epoch: 3 });
    assert.equal(store.applied, { seq: 10, epoch: 3 });
    // Everything applied may go; the log then starts after its end.
    assert.is(await store.compactLog(11), 4);
    assert.is(store.logStart, 11);
    await store.close();
    store = new MetaStore(dir);
    await store.open();
    assert.is(store.logStart, 11, 'an empty log starts after the applied position');
    await store.appendLog([user(11, 4)]);
    assert.is(store.logStart, 11);
    assert.equal((await store.readLog(1, 10)).map((e) => e.seq), [11]);
    await store.close();
  } finally {
    removeDir(dir);
  }
});

test('a log tail appended after the hello (a deposed master finishing a batch) that conflicts with the master is dropped, not kept', async () => {
  await withStore(async (store) => {
    await store.appendLog([user(1, 5), user(2, 5), user(3, 5)]);
    await store.applyUpTo(2);
    const { follower, m } = await follow(store, { id: 'm2', epoch: 7 });
    assert.equal((m.sent[0] as Extract<ToMaster, { kind: 'hello' }>).last, { seq: 3, epoch: 5 });
    // After the hello, the old term's last batch lands in the log.
    await store.appendLog([user(4, 5, 'stale4'), user(5, 5, 'stale5')]);
    // The new master continues after 3 (what the hello said) with its own term.
    m.deliver({ epoch: 7, kind: 'entries', entries: [user(4, 7, 'real4'), user(5, 7, 'real5')], commitSeq: 5 });
    await waitFor('the real entries applied', () => store.applied.seq === 5);
    assert.equal(store.last, { seq: 5, epoch: 7 });
    assert.equal((await store.readLog(4, 10)).map((e) => e.epoch), [7, 7]);
    assert.ok(await store.get(TableKeys.user('real4')));
    assert.ok(await store.get(TableKeys.user('real5')));
    assert.is(await store.get(TableKeys.user('stale4')), undefined, 'the never-committed entries are not applied');
    assert.is(await store.get(TableKeys.user('stale5')), undefined);
    follower.stop();
  });
});

test('a log gap is refused', async () => {
  await withStore(async (store) => {
    let refused = false;
    await store.appendLog([user(2, 1)]).catch(() => (refused = true));
    assert.ok(refused);
    assert.is(store.last.seq, 0);
  });
});

test('the table read cache follows applies and snapshot installs: a cached absence or value never outlives the change', async () => {
  await withStore(async (store) => {
    assert.is(await store.get(TableKeys.user('u1')), undefined);
    assert.is(await store.get(TableKeys.user('u1')), undefined);
    assert.ok(store.cache.hits >= 1, 'the second read of an absent key is a hit');
    await store.appendLog([user(1, 5)]);
    assert.is(await store.get(TableKeys.user('u1')), undefined, 'logged, not applied: still absent');
    await store.applyUpTo(1);
    const u1 = await store.get(TableKeys.user('u1'));
    assert.ok(u1, 'the apply batch replaced the cached absence');
    // Reads racing an apply: none may leave the value from before it in the cache.
    await store.appendLog([user(2, 5)]);
    const racing = Array.from({ length: 20 }, () => store.get(TableKeys.user('u2')));
    await Promise.all([store.applyUpTo(2), ...racing]);
    assert.ok(await store.get(TableKeys.user('u2')), 'applied: present, whatever the racing reads saw');
    // A snapshot install replaces the tables: nothing cached from before survives.
    await store.beginSnapshot();
    await store.writeSnapshotPart([{ key: TableKeys.user('s1'), value: '{"userId":"s1"}' }]);
    await store.finishSnapshot({ seq: 10, epoch: 6 });
    assert.is(await store.get(TableKeys.user('u1')), undefined);
    assert.is(await store.get(TableKeys.user('s1')), '{"userId":"s1"}');
  });
});

test.run();
