/**
 * The metadata state machine on its in-memory twin (MapReader): validation
 * (prepare) and effects (applyOp) of every write kind.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BlockstoreError, type ErrorCode } from '../../lib/errors';
import { applyOp, keysReadBy } from '../../meta/state/apply';
import { MapReader, Overlay } from '../../meta/state/kv-view';
import { TableKeys, type BlockRec, type FileRec, type IdemRec, type NsBlockRec, type NsCounterRec, type UserRec } from '../../meta/state/records';
import { keysReadBy as keysForRequest, prepare, type WriteRequest } from '../../meta/state/requests';

const H = (c: string) => c.repeat(64);

function machine() {
  const base = new MapReader();
  let seq = 0;
  const exec = async (req: WriteRequest) => {
    const view = new Overlay(base);
    const p = await prepare(view, req, '2026-01-01T00:00:00Z');
    if (p.op) {
      await applyOp(view, p.op, ++seq);
      base.write(view.mutations());
    }
    return p;
  };
  const get = async <T>(key: string) => {
    const v = await base.get(key);
    return v === undefined ? undefined : (JSON.parse(v) as T);
  };
  return { exec, get, base };
}

async function fails(p: Promise<unknown>, code: ErrorCode): Promise<BlockstoreError> {
  try {
    await p;
  } catch (err) {
    assert.instance(err, BlockstoreError);
    assert.is((err as BlockstoreError).code, code, (err as Error).message);
    return err as BlockstoreError;
  }
  throw new Error(`expected ${code}`);
}

const commit = (over: Partial<Extract<WriteRequest, { kind: 'commit' }>> = {}): WriteRequest => ({
  kind: 'commit', ns: 'alice', path: 'docs/a.txt', expectedVersion: undefined, blocks: [{ hash: H('a'), size: 100 }],
  contentHash: '', author: 'alice', idempotencyKey: '', locations: [{ hash: H('a'), nodes: ['b1', 'b2'] }], ...over,
});

test('commit: versions, block refs, usage, change feed', async () => {
  const m = machine();
  await m.exec({ kind: 'createUser', userId: 'alice', name: 'A', quotaBytes: 1000 });
  const v1 = await m.exec(commit());
  assert.is(v1.outcome.version!.version, 1);
  const v2 = await m.exec(commit({ blocks: [{ hash: H('a'), size: 100 }, { hash: H('b'), size: 50 }], locations: [{ hash: H('b'), nodes: ['b3'] }] }));
  assert.is(v2.outcome.version!.version, 2);
  assert.equal(await m.get<FileRec>(TableKeys.file('alice', 'docs/a.txt')), { path: 'docs/a.txt', version: 2, size: 150, deleted: false });
  assert.is((await m.get<UserRec>(TableKeys.user('alice')))!.usedBytes, 150);
  assert.equal(await m.get<BlockRec>(TableKeys.block(H('a'))), { size: 100, refs: 2, locations: ['b1', 'b2'] });
  assert.equal(await m.get<NsBlockRec>(TableKeys.nsBlock('alice', H('b'))), { size: 50, refs: 1 });
  assert.ok(await m.get(TableKeys.change('alice', 2)));
});

test('collection fence: blocks written before the announced cutoff are refused (commit and stage); later ones, and commits that wrote none, pass', async () => {
  const m = machine();
  await m.exec({ kind: 'createUser', userId: 'alice', name: 'A', quotaBytes: 10_000 });
  await m.exec({ kind: 'fenceCollection', cutoffMs: 5000 });
  await fails(m.exec(commit({ uploadStartedMs: 4999 })), 'UPLOAD_EXPIRED');
  assert.is(await m.get(TableKeys.file('alice', 'docs/a.txt')), undefined, 'nothing committed');
  await fails(m.exec({ kind: 'stageBlocks', ns: 'alice', blocks: [{ hash: H('c'), size: 10, nodes: ['b1'] }], writtenSinceMs: 1000 }), 'UPLOAD_EXPIRED');
  assert.is(await m.get(TableKeys.staged('alice', H('c'))), undefined, 'nothing staged');
  assert.is((await m.exec(commit({ uploadStartedMs: 5000 }))).outcome.version!.version, 1);
  await m.exec({ kind: 'stageBlocks', ns: 'alice', blocks: [{ hash: H('c'), size: 10, nodes: ['b1'] }], writtenSinceMs: 6000 });
  // A version of blocks the namespace already holds wrote nothing: no fence applies.
  assert.is((await m.exec(commit({ locations: [], uploadStartedMs: 1 }))).outcome.version!.version, 2);
  // The fence only moves forward.
  await m.exec({ kind: 'fenceCollection', cutoffMs: 3000 });
  assert.equal(await m.get(TableKeys.gcFence), { cutoffMs: 5000 });
  await fails(m.exec({ kind: 'fenceCollection', cutoffMs: 0 }), 'INVALID_ARGUMENT');
});

test('compare-and-set: a stale expected version is VERSION_CONFLICT naming the current one', async () => {
  const m = machine();
  await m.exec({ kind: 'createUser', userId: 'alice', name: 'A', quotaBytes: 1000 });
  await m.exec(commit({ expectedVersion: 0 }));
  const err = await fails(m.exec(commit({ expectedVersion: 0 })), 'VERSION_CONFLICT');
  assert.is(err.details['current-version'], '1');
  await m.exec(commit({ expectedVersion: 1 }));
});

test('unknown blocks are MISSING_BLOCKS; blocks of another namespace do not count (no dedup across users)', async () => {
  const m = machine();
  await m.exec({ kind: 'createUser', userId: 'alice', name: 'A', quotaBytes: 1000 });
  await m.exec({ kind: 'createUser', userId: 'bob', name: 'B', quotaBytes: 1000 });
  await m.exec(commit());
  await fails(m.exec(commit({ ns: 'bob', locations: [] })), 'MISSING_BLOCKS');
  await m.exec(commit({ path: 'again.txt', locations: [] })); // alice holds it: dedup
});

test('quota: a version beyond it commits nothing', async () => {
  const m = machine();
  await m.exec({ kind: 'createUser', userId: 'alice', name: 'A', quotaBytes: 120 });
  await m.exec(commit());
  await fails(m.exec(commit({ path: 'b.txt', blocks: [{ hash: H('c'), size: 30 }], locations: [{ hash: H('c'), nodes: ['b1'] }] })), 'QUOTA_EXCEEDED');
  assert.is(await m.get(TableKeys.file('alice', 'b.txt')), undefined);
  // Replacing a file counts only the difference.
  await m.exec(commit({ blocks: [{ hash: H('c'), size: 110 }], locations: [{ hash: H('c'), nodes: ['b1'] }] }));
});

test('idempotency keys: a replay returns the first version and writes nothing', async () => {
  const m = machine();
  await m.exec({ kind: 'createUser', userId: 'alice', name: 'A', quotaBytes: 1000 });
  const first = await m.exec(commit({ idempotencyKey: 'k1' }));
  const size = m.base.map.size;
  const again = await m.exec(commit({ idempotencyKey: 'k1' }));
  assert.is(again.op, undefined);
  assert.is(again.outcome.replayed, true);
  assert.is(again.outcome.version!.version, first.outcome.version!.version);
  assert.is(m.base.map.size, size);
});

test('delete and move keep history and usage', async () => {
  const m = machine();
  await m.exec({ kind: 'createUser', userId: 'alice', name: 'A', quotaBytes: 1000 });
  await m.exec(commit());
  const moved = await m.exec({ kind: 'move', ns: 'alice', from: 'docs/a.txt', to: 'docs/b.txt', author: 'a', idempotencyKey: '' });
  assert.is(moved.outcome.version!.movedFrom, 'docs/a.txt');
  assert.is((await m.get<FileRec>(TableKeys.file('alice', 'docs/a.txt')))!.deleted, true);
  assert.is((await m.get<UserRec>(TableKeys.user('alice')))!.usedBytes, 100);
  assert.is((await m.get<BlockRec>(TableKeys.block(H('a'))))!.refs, 2);
  await m.exec({ kind: 'delete', ns: 'alice', path: 'docs/b.txt', expectedVersion: 1, author: 'a', idempotencyKey: '' });
  assert.is((await m.get<UserRec>(TableKeys.user('alice')))!.usedBytes, 0);
  await fails(m.exec({ kind: 'delete', ns: 'alice', path: 'docs/b.txt', expectedVersion: undefined, author: 'a', idempotencyKey: '' }), 'NOT_FOUND');
});

test('bad input: paths, hashes, sizes, huge block lists, ids', async () => {
  const m = machine();
  await m.exec({ kind: 'createUser', userId: 'alice', name: 'A', quotaBytes: 1e12 });
  for (const path of ['', '/', 'a//b', '../x', 'a/./b', 'a\u0000b', 'a\nb', 'x'.repeat(1025)]) await fails(m.exec(commit({ path })), 'INVALID_PATH');
  await fails(m.exec(commit({ blocks: [{ hash: 'nope', size: 1 }] })), 'INVALID_ARGUMENT');
  await fails(m.exec(commit({ blocks: [{ hash: H('a'), size: 0 }] })), 'INVALID_ARGUMENT');
  await fails(m.exec(commit({ blocks: [{ hash: H('a'), size: 5 * 1024 * 1024 }] })), 'INVALID_ARGUMENT');
  await fails(m.exec(commit({ blocks: Array(50_001).fill({ hash: H('a'), size: 1 }) })), 'INVALID_ARGUMENT');
  await fails(m.exec(commit({ ns: 'nobody' })), 'NOT_FOUND');
  await fails(m.exec({ kind: 'createUser', userId: 'bad id', name: '', quotaBytes: 1 }), 'INVALID_ARGUMENT');
  await fails(m.exec({ kind: 'createUser', userId: 'alice', name: '', quotaBytes: 1 }), 'ALREADY_EXISTS');
  await fails(m.exec({ kind: 'issueToken', userId: 'alice', tokenHash: H('f'), tokenId: 't1', scope: 'root' }), 'INVALID_ARGUMENT');
  assert.is(await m.get(TableKeys.file('alice', 'docs/a.txt')), undefined, 'nothing was written by failed writes');
});

test('a batch sees its own earlier writes (overlay): two creates of one path in a batch conflict', async () => {
  const base = new MapReader();
  const view = new Overlay(base);
  const p0 = await prepare(view, { kind: 'createUser', userId: 'alice', name: 'A', quotaBytes: 1000 }, 't');
  await applyOp(view, p0.op!, 1);
  const p1 = await prepare(view, commit({ expectedVersion: 0 }), 't');
  await applyOp(view, p1.op!, 2);
  await fails(prepare(view, commit({ expectedVersion: 0 }), 't'), 'VERSION_CONFLICT');
});


test('pruning old versions takes their block references; the last one frees the block; the head stays', async () => {
  const m = machine();
  await m.exec({ kind: 'createUser', userId: 'alice', name: 'A', quotaBytes: 10_000 });
  await m.exec(commit()); // v1: a
  await m.exec(commit({ blocks: [{ hash: H('a'), size: 100 }, { hash: H('b'), size: 50 }], locations: [{ hash: H('b'), nodes: ['b3'] }] })); // v2: a b
  await m.exec(commit({ blocks: [{ hash: H('c'), size: 10 }], locations: [{ hash: H('c'), nodes: ['b1'] }] })); // v3: c
  // The head (3) is never pruned, even if asked.
  const p = await m.exec({ kind: 'pruneVersions', ns: 'alice', path: 'docs/a.txt', versions: [1, 2, 3], dropHead: undefined });
  assert.equal(p.op && p.op.type === 'pruneVersions' ? p.op.versions : [], [1, 2]);
  assert.is(await m.get(TableKeys.version('alice', 'docs/a.txt', 1)), undefined);
  assert.is(await m.get(TableKeys.version('alice', 'docs/a.txt', 2)), undefined);
  assert.ok(await m.get(TableKeys.version('alice', 'docs/a.txt', 3)));
  assert.equal(await m.get<BlockRec>(TableKeys.block(H('a'))), { size: 100, refs: 0, locations: ['b1', 'b2'], freedAt: '2026-01-01T00:00:00Z' });
  assert.is((await m.get<BlockRec>(TableKeys.block(H('c'))))!.refs, 1);
  assert.is(await m.get(TableKeys.nsBlock('alice', H('a'))), undefined, 'no longer in the namespace: dedup will not reuse it');
  assert.is((await m.get<UserRec>(TableKeys.user('alice')))!.usedBytes, 10, 'usage follows the head, untouched');
  // A commit naming a pruned block without uploading it is refused…
  await fails(m.exec(commit({ locations: [] })), 'MISSING_BLOCKS');
  // …and an upload of it references it again and clears the mark.
  await m.exec(commit({ path: 'docs/b.txt' }));
  assert.equal(await m.get<BlockRec>(TableKeys.block(H('a'))), { size: 100, refs: 1, locations: ['b1', 'b2'] });
  // Forgetting spares a referenced block and forgets a freed one.
  await m.exec({ kind: 'forgetBlocks', hashes: [H('a'), H('b')] });
  assert.ok(await m.get(TableKeys.block(H('a'))), 'referenced again: kept');
  assert.is(await m.get(TableKeys.block(H('b'))), undefined, 'freed: forgotten');
});

test('a deleted file past retention goes with all its versions; a file written again meanwhile keeps its head', async () => {
  const m = machine();
  await m.exec({ kind: 'createUser', userId: 'alice', name: 'A', quotaBytes: 10_000 });
  await m.exec(commit()); // v1
  await m.exec({ kind: 'delete', ns: 'alice', path: 'docs/a.txt', expectedVersion: undefined, author: 'alice', idempotencyKey: '' }); // v2 marker
  // A stale request naming an old marker drops nothing but old versions.
  const stale = await m.exec({ kind: 'pruneVersions', ns: 'alice', path: 'docs/a.txt', versions: [1], dropHead: 7 });
  assert.ok(stale.op && stale.op.type === 'pruneVersions' && !stale.op.dropFile);
  await m.exec(commit()); // v3 (a again, uploaded)
  await m.exec({ kind: 'delete', ns: 'alice', path: 'docs/a.txt', expectedVersion: undefined, author: 'alice', idempotencyKey: '' }); // v4
  await m.exec({ kind: 'pruneVersions', ns: 'alice', path: 'docs/a.txt', versions: [2, 3, 4], dropHead: 4 });
  assert.is(await m.get(TableKeys.file('alice', 'docs/a.txt')), undefined);
  for (const v of [1, 2, 3, 4]) assert.is(await m.get(TableKeys.version('alice', 'docs/a.txt', v)), undefined);
  assert.is((await m.get<BlockRec>(TableKeys.block(H('a'))))!.refs, 0);
  // Nothing left to prune: no entry at all.
  const none = await m.exec({ kind: 'pruneVersions', ns: 'alice', path: 'docs/a.txt', versions: [1], dropHead: undefined });
  assert.is(none.op, undefined);
});

test('a block staged anywhere is never forgotten, even with no references', async () => {
  const m = machine();
  await m.exec({ kind: 'createUser', userId: 'alice', name: 'A', quotaBytes: 10_000 });
  await m.exec({ kind: 'createUser', userId: 'bob', name: 'B', quotaBytes: 10_000 });
  await m.exec({ kind: 'stageBlocks', ns: 'bob', blocks: [{ hash: H('a'), size: 100, nodes: ['b1'] }] });
  await m.exec({ kind: 'stageBlocks', ns: 'bob', blocks: [{ hash: H('a'), size: 100, nodes: ['b1'] }] }); // re-staged: counted once
  await m.exec(commit()); // alice v1 uses a
  await m.exec(commit({ blocks: [{ hash: H('c'), size: 10 }], locations: [{ hash: H('c'), nodes: ['b1'] }] }));
  await m.exec({ kind: 'pruneVersions', ns: 'alice', path: 'docs/a.txt', versions: [1], dropHead: undefined });
  assert.equal((await m.get<BlockRec>(TableKeys.block(H('a'))))!.staged, 1);
  await m.exec({ kind: 'forgetBlocks', hashes: [H('a')] });
  assert.ok(await m.get(TableKeys.block(H('a'))), 'bob may still commit it');
  await m.exec(commit({ ns: 'bob', path: 'x', locations: [] })); // bob commits the staged block
  const g = (await m.get<BlockRec>(TableKeys.block(H('a'))))!;
  assert.is(g.refs, 1);
  assert.is(g.staged, undefined, 'no stage left');
});
test('trimming history drops old change events (the oldest kept is recorded) and forgets idempotency keys', async () => {
  const m = machine();
  await m.exec({ kind: 'createUser', userId: 'alice', name: 'A', quotaBytes: 10_000 });
  await m.exec(commit({ idempotencyKey: 'k1' })); // change 1
  await m.exec(commit({ idempotencyKey: 'k2' })); // change 2
  await m.exec(commit({ idempotencyKey: 'k3' })); // change 3
  assert.is((await m.get<IdemRec>(TableKeys.idem('alice', 'k1')))!.time, '2026-01-01T00:00:00Z', 'keys remember when they were used');
  await m.exec({ kind: 'trimHistory', ns: 'alice', changesBefore: 3, changeCursors: [1, 2], idemKeys: ['k1'] });
  assert.is(await m.get(TableKeys.change('alice', 1)), undefined);
  assert.is(await m.get(TableKeys.change('alice', 2)), undefined);
  assert.ok(await m.get(TableKeys.change('alice', 3)));
  assert.equal(await m.get<NsCounterRec>(TableKeys.nsCounter('alice')), { next: 4, first: 3 });
  await m.exec(commit()); // change 4: the counter keeps its first
  assert.equal(await m.get<NsCounterRec>(TableKeys.nsCounter('alice')), { next: 5, first: 3 });
  // A forgotten key is a new write; a remembered one still replays.
  const again = await m.exec(commit({ idempotencyKey: 'k1' }));
  assert.is(again.outcome.replayed, undefined);
  assert.is(again.outcome.version!.version, 5);
  const replay = await m.exec(commit({ idempotencyKey: 'k2' }));
  assert.is(replay.outcome.replayed, true);
  assert.is(replay.outcome.version!.version, 2);
});


test('the keys listed for a batch prefetch cover every table read of a commit and a delete (prepare on the master, apply on every node)', async () => {
  const m = machine();
  await m.exec({ kind: 'createUser', userId: 'alice', name: 'A', quotaBytes: 10_000 });
  await m.exec(commit({ idempotencyKey: 'k0' }));
  const reads = new Set<string>();
  const recording = { get: async (k: string) => (reads.add(k), m.base.get(k)) };
  const cases: WriteRequest[] = [
    // a new file with a new block, an existing file with a block it already holds and a new one, a replayed key, a delete
    commit({ path: 'docs/b.txt', blocks: [{ hash: H('c'), size: 10 }], locations: [{ hash: H('c'), nodes: ['b1'] }], idempotencyKey: 'k1' }),
    commit({ blocks: [{ hash: H('a'), size: 100 }, { hash: H('d'), size: 5 }], locations: [{ hash: H('d'), nodes: ['b2'] }], expectedVersion: 1, uploadStartedMs: 1 }),
    commit({ idempotencyKey: 'k0' }),
    { kind: 'delete', ns: 'alice', path: '/docs/a.txt', expectedVersion: undefined, author: 'alice', idempotencyKey: 'k2' },
  ];
  for (const req of cases) {
    reads.clear();
    const view = new Overlay(recording);
    const p = await prepare(view, req, '2026-01-01T00:00:00Z');
    const listed = new Set(keysForRequest(req));
    // (A replay also reads the version it answers with: rare, read on its own.)
    for (const k of reads) if (!(p.outcome.replayed && k.startsWith('t:v:'))) assert.ok(listed.has(k), `prepare of ${req.kind} read ${k}, not listed`);
    if (!p.op) continue;
    reads.clear();
    await applyOp(new Overlay(recording), p.op, 99);
    const applyListed = new Set(keysReadBy(p.op));
    for (const k of reads) assert.ok(applyListed.has(k), `apply of ${p.op.type} read ${k}, not listed`);
    await m.exec(req);
  }
});

test.run();
