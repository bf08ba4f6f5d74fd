/**
 * The gateway's cache of file heads (its fill, serve and reset rules) and
 * the metadata node's applied feed that keeps it exact, each on its own with
 * a hand-driven clock and messages.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MetaCache } from '../../gateway/files/meta-cache';
import { AppliedFeed, type AppliedMessage } from '../../meta/applied-feed';
import { TableKeys } from '../../meta/state/records';
import type { StatFileResponse__Output } from '../../proto/gen/ts/blockstore/internal/v1/StatFileResponse';

const answer = (path: string, version: number, readPosition: number, deleted = false): StatFileResponse__Output =>
  ({
    version: { path, version, size: 1, contentHash: '', author: '', time: '', deleted, blocks: [{ hash: 'a'.repeat(64), size: 1 }], movedFrom: '' },
    locations: [{ hash: 'a'.repeat(64), nodes: ['b1'] }],
    readPosition,
  }) as StatFileResponse__Output;
const feed = (position: number, files: Array<[string, string]> = [], reset = false) => ({ position, files: files.map(([namespace, path]) => ({ namespace, path })), reset });

function cache(maxBytes = 1 << 20) {
  let t = 1000;
  const c = new MetaCache(maxBytes, 1500, () => t);
  return { c, advance: (ms: number) => (t += ms) };
}

test('nothing is served before the feed has begun, nor after it ended', () => {
  const { c } = cache();
  c.fill('u', 'a', answer('a', 1, 5));
  assert.is(c.lookup('u', 'a', 0), undefined, 'not live: not even kept');
  c.applied(feed(5, [], true));
  c.fill('u', 'a', answer('a', 1, 5));
  assert.is(c.lookup('u', 'a', 0)?.version?.version, 1);
  c.down();
  assert.is(c.lookup('u', 'a', 0), undefined);
  c.applied(feed(6, [], true));
  assert.is(c.lookup('u', 'a', 0), undefined, 'a new feed starts empty');
});

test('a change to the file drops it; changes to other files do not', () => {
  const { c } = cache();
  c.applied(feed(10, [], true));
  c.fill('u', 'a', answer('a', 1, 10));
  c.fill('u', 'b', answer('b', 1, 10));
  c.fill('v', 'a', answer('a', 1, 10));
  c.applied(feed(11, [['u', 'a']]));
  assert.is(c.lookup('u', 'a', 0), undefined);
  assert.ok(c.lookup('u', 'b', 0));
  assert.ok(c.lookup('v', 'a', 0), 'same path, other namespace');
});

test('an answer read before the feed position is not kept (a change in between may be missed); one read at or after it is', () => {
  const { c } = cache();
  c.applied(feed(20, [], true));
  c.fill('u', 'a', answer('a', 1, 19));
  assert.is(c.lookup('u', 'a', 0), undefined);
  c.fill('u', 'a', answer('a', 2, 20));
  assert.is(c.lookup('u', 'a', 0)?.version?.version, 2);
  // Read ahead of the feed: changes up to its position may still arrive and drop it (a miss, never stale).
  c.fill('u', 'b', answer('b', 3, 25));
  c.applied(feed(22, [['u', 'b']]));
  assert.is(c.lookup('u', 'b', 0), undefined);
  // Delete markers are not kept.
  c.fill('u', 'd', answer('d', 4, 22, true));
  assert.is(c.lookup('u', 'd', 0), undefined);
});

test('an answer read behind the feed is kept when the feed listed no change to its file since the answer was read', () => {
  const { c } = cache();
  c.applied(feed(20, [], true));
  c.applied(feed(25, [['u', 'b']]));
  c.fill('u', 'a', answer('a', 1, 22));
  assert.is(c.lookup('u', 'a', 0)?.version?.version, 1, 'a did not change in 22..25');
  c.fill('u', 'b', answer('b', 1, 22));
  assert.is(c.lookup('u', 'b', 0), undefined, 'b changed at 25, after the read at 22');
  c.fill('u', 'b', answer('b', 2, 25));
  assert.is(c.lookup('u', 'b', 0)?.version?.version, 2);
  c.fill('u', 'c', answer('c', 1, 19));
  assert.is(c.lookup('u', 'c', 0), undefined, 'read before the feed began: changes in 19..20 are unknown');
});

test('a read that must reflect a position past the feed is not served from the cache', () => {
  const { c } = cache();
  c.applied(feed(30, [], true));
  c.fill('u', 'a', answer('a', 1, 30));
  assert.ok(c.lookup('u', 'a', 30));
  assert.is(c.lookup('u', 'a', 31), undefined, 'the gateway wrote at 31, the feed has not shown it yet');
  c.applied(feed(31));
  assert.ok(c.lookup('u', 'a', 31), 'a heartbeat at 31: nothing of a changed');
});

test('a silent feed is not trusted; a heartbeat restores it', () => {
  const { c, advance } = cache();
  c.applied(feed(40, [], true));
  c.fill('u', 'a', answer('a', 1, 40));
  advance(1400);
  assert.ok(c.lookup('u', 'a', 0));
  advance(200);
  assert.is(c.lookup('u', 'a', 0), undefined);
  c.applied(feed(40));
  assert.ok(c.lookup('u', 'a', 0));
});

test('a reset drops everything; the byte bound drops the least recently used first', () => {
  const { c } = cache(8000);
  c.applied(feed(50, [], true));
  for (let i = 0; i < 3; i++) c.fill('u', `f${i}`, answer(`f${i}`, 1, 50));
  assert.ok(c.lookup('u', 'f0', 0)); // f0 is now the most recently used
  for (let i = 3; i < 20; i++) c.fill('u', `f${i}`, answer(`f${i}`, 1, 50));
  const s = c.stats();
  assert.ok(s.bytes <= 8000, `${s.bytes} bytes kept`);
  assert.ok(s.entries < 20 && s.entries > 0);
  assert.is(c.lookup('u', 'f1', 0), undefined, 'the oldest went first');
  assert.ok(c.lookup('u', 'f19', 0));
  c.applied(feed(51, [], true));
  assert.is(c.stats().entries, 0);
});

test('a cache of 0 bytes keeps nothing', () => {
  const { c } = cache(0);
  assert.not.ok(c.enabled);
  c.applied(feed(1, [], true));
  c.fill('u', 'a', answer('a', 1, 1));
  assert.is(c.lookup('u', 'a', 0), undefined);
});

test('the applied feed: a reset first, then each batch\'s files (head and version keys, once each), merged while the follower is busy, heartbeats when quiet', async () => {
  let applied = 7;
  const f = new AppliedFeed(() => applied, { heartbeatMs: 50, maxPendingFiles: 1000 });
  const got: AppliedMessage[] = [];
  const stop = new AbortController();
  let release!: () => void;
  let gate: Promise<void> | undefined;
  const running = f.follow(stop.signal, async (m) => {
    got.push(structuredClone(m));
    if (gate) await gate;
  });
  assert.equal(got[0], { position: 7, files: [], reset: true });
  gate = new Promise((r) => (release = r));
  applied = 8;
  f.applied({ seq: 8, epoch: 1 }, [TableKeys.file('u', 'a'), TableKeys.version('u', 'a', 2), TableKeys.user('u')]);
  await new Promise((r) => setImmediate(r));
  // The follower is busy with position 8; 9 and 10 arrive meanwhile and go as one.
  f.applied({ seq: 9, epoch: 1 }, [TableKeys.file('u', 'b')]);
  f.applied({ seq: 10, epoch: 1 }, [TableKeys.block('c'.repeat(64)), TableKeys.version('v', 'x/y', 1)]);
  applied = 10;
  gate = undefined;
  release();
  const until = Date.now() + 2000;
  while (got.length < 4 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
  assert.equal(got[1], { position: 8, files: [{ namespace: 'u', path: 'a' }], reset: false });
  assert.equal(got[2], { position: 10, files: [{ namespace: 'u', path: 'b' }, { namespace: 'v', path: 'x/y' }], reset: false });
  assert.equal(got[3], { position: 10, files: [], reset: false }, 'a heartbeat carries the applied position');
  // The state replaced: a reset, and the files before it are void.
  f.applied({ seq: 11, epoch: 1 }, [TableKeys.file('u', 'z')]);
  f.applied({ seq: 0, epoch: 0 });
  while (!got.some((m, i) => i > 3 && m.reset) && Date.now() < until + 2000) await new Promise((r) => setTimeout(r, 5));
  const last = got.slice(4).find((m) => m.reset);
  assert.ok(last, 'a reset was sent');
  assert.equal(last!.files, []);
  stop.abort();
  await running;
  assert.is(f.size, 0);
});

test('a follower that falls too far behind is let go', async () => {
  const f = new AppliedFeed(() => 1, { heartbeatMs: 1000, maxPendingFiles: 3 });
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let sent = 0;
  const running = f.follow(new AbortController().signal, async () => {
    if (sent++ === 0) await gate;
  });
  for (let i = 0; i < 5; i++) f.applied({ seq: 2 + i, epoch: 1 }, [TableKeys.file('u', `f${i}`)]);
  release();
  try {
    await running;
    assert.unreachable('the stream should have ended');
  } catch (err) {
    assert.match(String(err), /fell too far behind/);
  }
  assert.is(f.size, 0);
});

test.run();
