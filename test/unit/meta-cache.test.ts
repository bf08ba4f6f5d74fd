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
const feed = (position: number, files: Array<[string, string]> = [], reset = false) => ({ position, files: files.map(([namespace, path]) => ({ namespace, path, head: null })), reset });
/** Table pairs as a batch changed them (values: JSON records), keys only (values irrelevant). */
const keys = (...ks: string[]): Array<[string, string | undefined]> => ks.map((k) => [k, undefined]);

function cache(maxBytes = 1 << 20) {
  let t = 1000;
  const c = new MetaCache(maxBytes, 1500, () => t);
  return { c, advance: (ms: number) => (t += ms) };
}

/** The follow() call ends with an error matching `why`. */
async function endsWith(running: Promise<void>, why: RegExp): Promise<void> {
  try {
    await running;
    assert.unreachable('the stream should have ended');
  } catch (err) {
    assert.match(String(err), why);
  }
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
  f.applied({ seq: 8, epoch: 1 }, keys(TableKeys.file('u', 'a'), TableKeys.version('u', 'a', 2), TableKeys.user('u')));
  await new Promise((r) => setImmediate(r));
  // The follower is busy with position 8; 9 and 10 arrive meanwhile and go as one.
  f.applied({ seq: 9, epoch: 1 }, keys(TableKeys.file('u', 'b')));
  f.applied({ seq: 10, epoch: 1 }, keys(TableKeys.block('c'.repeat(64)), TableKeys.version('v', 'x/y', 1)));
  applied = 10;
  gate = undefined;
  release();
  const until = Date.now() + 2000;
  while (got.length < 4 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
  assert.equal(got[1], { position: 8, files: [{ namespace: 'u', path: 'a', head: undefined }], reset: false });
  assert.equal(got[2], { position: 10, files: [{ namespace: 'u', path: 'b', head: undefined }, { namespace: 'v', path: 'x/y', head: undefined }], reset: false });
  assert.equal(got[3], { position: 10, files: [], reset: false }, 'a heartbeat carries the applied position');
  // The state replaced: a reset, and the files before it are void.
  f.applied({ seq: 11, epoch: 1 }, keys(TableKeys.file('u', 'z')));
  f.applied({ seq: 0, epoch: 0 });
  while (!got.some((m, i) => i > 3 && m.reset) && Date.now() < until + 2000) await new Promise((r) => setTimeout(r, 5));
  const last = got.slice(4).find((m) => m.reset);
  assert.ok(last, 'a reset was sent');
  assert.equal(last!.files, []);
  stop.abort();
  await running;
  assert.is(f.size, 0);
});

test('the feed carries the head a commit wrote whole (file, version and every block record in the batch), and nothing more', async () => {
  const f = new AppliedFeed(() => 1, { heartbeatMs: 1000, maxPendingFiles: 1000 });
  const got: AppliedMessage[] = [];
  const stop = new AbortController();
  const running = f.follow(stop.signal, async (m) => {
    got.push(structuredClone(m));
  });
  const h1 = 'a'.repeat(64);
  const h2 = 'b'.repeat(64);
  const version = (path: string, v: number, hashes: string[], deleted = false) => ({ path, version: v, size: hashes.length, contentHash: '', author: 'u', time: 't', deleted, blocks: hashes.map((hash) => ({ hash, size: 1 })), movedFrom: '', seq: 2 });
  const block = (nodes: string[]) => JSON.stringify({ size: 1, refs: 1, locations: nodes });
  // A commit: head, version, both blocks (one of them twice in the file).
  f.applied({ seq: 2, epoch: 1 }, [
    [TableKeys.file('u', 'a'), JSON.stringify({ path: 'a', version: 3, size: 3, deleted: false })],
    [TableKeys.version('u', 'a', 3), JSON.stringify(version('a', 3, [h1, h2, h1]))],
    [TableKeys.block(h1), block(['b1', 'b2'])],
    [TableKeys.block(h2), block(['b3'])],
    [TableKeys.user('u'), '{}'],
  ]);
  // A head whose block record is not in the batch (a move), and a delete marker.
  f.applied({ seq: 3, epoch: 1 }, [
    [TableKeys.file('u', 'm'), JSON.stringify({ path: 'm', version: 1, size: 1, deleted: false })],
    [TableKeys.version('u', 'm', 1), JSON.stringify(version('m', 1, [h2.replace(/b/g, 'c')]))],
    [TableKeys.file('u', 'd'), JSON.stringify({ path: 'd', version: 2, size: 0, deleted: true })],
    [TableKeys.version('u', 'd', 2), JSON.stringify(version('d', 2, [], true))],
  ]);
  const until = Date.now() + 2000;
  while (!got.some((m) => m.files.some((x) => x.path === 'd')) && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
  const files = got.flatMap((m) => m.files);
  const a = files.find((x) => x.path === 'a');
  assert.equal(a?.head?.readPosition, 2);
  assert.equal(a?.head?.version.version, 3);
  assert.equal(a?.head?.locations, [{ hash: h1, nodes: ['b1', 'b2'] }, { hash: h2, nodes: ['b3'] }]);
  assert.is(files.find((x) => x.path === 'm')?.head, undefined);
  assert.is(files.find((x) => x.path === 'd')?.head, undefined);
  assert.ok(files.some((x) => x.path === 'm') && files.some((x) => x.path === 'd'), 'both are still listed');
  stop.abort();
  await running;
});

test('a follower that is behind gets heads up to a bound per message, then the files alone', async () => {
  const f = new AppliedFeed(() => 1, { heartbeatMs: 1000, maxPendingFiles: 1000 });
  const got: AppliedMessage[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const stop = new AbortController();
  const running = f.follow(stop.signal, async (m) => {
    got.push(m);
    if (got.length === 1) await gate;
  });
  const hashes = Array.from({ length: 64 }, (_, i) => i.toString(16).padStart(64, '0'));
  const blockPairs = hashes.map((h): [string, string] => [TableKeys.block(h), JSON.stringify({ size: 1, refs: 1, locations: ['b1'] })]);
  for (let i = 0; i < 70; i++) {
    const path = `f${i}`;
    f.applied({ seq: 2 + i, epoch: 1 }, [
      [TableKeys.file('u', path), JSON.stringify({ path, version: 1, size: 64, deleted: false })],
      [TableKeys.version('u', path, 1), JSON.stringify({ path, version: 1, size: 64, contentHash: '', author: 'u', time: 't', deleted: false, blocks: hashes.map((hash) => ({ hash, size: 1 })), movedFrom: '', seq: 2 + i })],
      ...blockPairs,
    ]);
  }
  release();
  const until = Date.now() + 2000;
  while (got.length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
  const m = got[1]!;
  assert.is(m.files.length, 70);
  assert.is(m.files.filter((x) => x.head).length, 64, '64 heads of 64 blocks fill the bound');
  assert.is(m.position, 71);
  stop.abort();
  await running;
});

test('a pushed head fills the cache at its position; a later change in the same message wins', () => {
  const { c } = cache();
  c.applied(feed(1, [], true));
  c.applied({ position: 5, reset: false, files: [{ namespace: 'u', path: 'a', head: answer('a', 1, 4) }, { namespace: 'u', path: 'b', head: answer('b', 1, 4) }, { namespace: 'u', path: 'b', head: null }] });
  assert.is(c.lookup('u', 'a', 5)?.version?.version, 1);
  assert.is(c.lookup('u', 'b', 0), undefined, 'b changed again after its head');
});

test('a stream ends once the node no longer serves the feed it began (it stopped being master)', async () => {
  const f = new AppliedFeed(() => 1, { heartbeatMs: 20, maxPendingFiles: 1000 });
  let master = true;
  let sent = 0;
  const running = f.follow(new AbortController().signal, async () => {
    sent++;
  }, () => master);
  const until = Date.now() + 2000;
  while (sent < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
  master = false;
  await endsWith(running, /stopped being master/);
  assert.ok(sent >= 2, 'heartbeats flowed while it was master');
  assert.is(f.size, 0);
});

test('a batch the feed cannot list never fails the apply: every follower is let go instead', async () => {
  const f = new AppliedFeed(() => 1, { heartbeatMs: 1000, maxPendingFiles: 1000 });
  const running = f.follow(new AbortController().signal, async () => undefined);
  f.applied({ seq: 2, epoch: 1 }, [[TableKeys.file('u', 'a'), 'not json']]);
  await endsWith(running, /could not be listed/);
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
  for (let i = 0; i < 5; i++) f.applied({ seq: 2 + i, epoch: 1 }, keys(TableKeys.file('u', `f${i}`)));
  release();
  await endsWith(running, /fell too far behind/);
  assert.is(f.size, 0);
});

test.run();
