/**
 * Bad input to the metadata service over gRPC: clear statuses, and the log
 * does not move (nothing half-written).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as grpc from '@grpc/grpc-js';
import { BlockstoreError } from '../../lib/errors';
import { startEtcd, type EtcdHandle } from '../harness/etcd';
import { MetaCluster } from '../harness/meta-cluster';

const test = suite('metadata bad input');
let etcd: EtcdHandle;
let cluster: MetaCluster;

test.before(async () => {
  etcd = await startEtcd();
  cluster = await MetaCluster.start(etcd, { extraArgs: ['--read-wait-ms', '500'] });
});

test.after(async () => {
  await cluster?.stop();
  await etcd?.stop();
});

async function status(p: Promise<unknown>): Promise<{ grpc: number; code: string; err: BlockstoreError }> {
  try {
    await p;
  } catch (err) {
    assert.instance(err, BlockstoreError);
    const e = err as BlockstoreError & { grpcCode?: number };
    return { grpc: e.grpcCode ?? -1, code: e.code, err: e };
  }
  throw new Error('expected a failure');
}

const H = (c: string) => c.repeat(64);

test('every bad write gets a clear status and the log does not move', async () => {
  const master = await cluster.waitForMaster();
  const c = master.client;
  await c.createUser('alice', 'Alice', 10_000);
  await c.commitVersion({ namespace: 'alice', path: 'a.txt', blocks: [{ hash: H('a'), size: 10 }], locations: [{ hash: H('a'), nodes: ['b1'] }] });
  const before = (await c.status()).lastSeq;
  const base = { namespace: 'alice', path: 'b.txt', blocks: [{ hash: H('b'), size: 10 }], locations: [{ hash: H('b'), nodes: ['b1'] }] };
  const cases: Array<[string, () => Promise<unknown>, number, string]> = [
    ['unknown block', () => c.commitVersion({ ...base, locations: [] }), grpc.status.FAILED_PRECONDITION, 'MISSING_BLOCKS'],
    ['version out of order', () => c.commitVersion({ ...base, path: 'a.txt', hasExpectedVersion: true, expectedVersion: 7 }), grpc.status.FAILED_PRECONDITION, 'VERSION_CONFLICT'],
    ['create over an existing file', () => c.commitVersion({ ...base, path: 'a.txt', hasExpectedVersion: true, expectedVersion: 0 }), grpc.status.FAILED_PRECONDITION, 'VERSION_CONFLICT'],
    ['path with ..', () => c.commitVersion({ ...base, path: 'x/../../etc/passwd' }), grpc.status.INVALID_ARGUMENT, 'INVALID_PATH'],
    ['empty path', () => c.commitVersion({ ...base, path: '' }), grpc.status.INVALID_ARGUMENT, 'INVALID_PATH'],
    ['control characters', () => c.commitVersion({ ...base, path: 'a\u0007b' }), grpc.status.INVALID_ARGUMENT, 'INVALID_PATH'],
    ['malformed hash', () => c.commitVersion({ ...base, blocks: [{ hash: 'zz', size: 1 }] }), grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT'],
    ['oversize block', () => c.commitVersion({ ...base, blocks: [{ hash: H('b'), size: 4 * 1024 * 1024 + 1 }] }), grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT'],
    ['50,001 blocks', () => c.commitVersion({ ...base, blocks: Array(50_001).fill({ hash: H('b'), size: 1 }), locations: [] }), grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT'],
    ['quota', () => c.commitVersion({ ...base, blocks: [{ hash: H('b'), size: 20_000 }] }), grpc.status.RESOURCE_EXHAUSTED, 'QUOTA_EXCEEDED'],
    ['unknown namespace', () => c.commitVersion({ ...base, namespace: 'nobody' }), grpc.status.NOT_FOUND, 'NOT_FOUND'],
    ['delete a missing file', () => c.deleteFile({ namespace: 'alice', path: 'nope' }), grpc.status.NOT_FOUND, 'NOT_FOUND'],
    ['move onto an existing file', () => c.moveFile({ namespace: 'alice', fromPath: 'a.txt', toPath: 'a.txt' }), grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT'],
    ['bad token scope', () => c.issueToken('alice', H('c'), 'tok1', 'root'), grpc.status.INVALID_ARGUMENT, 'INVALID_ARGUMENT'],
    ['duplicate user', () => c.createUser('alice', 'again', 1), grpc.status.ALREADY_EXISTS, 'ALREADY_EXISTS'],
  ];
  for (const [name, p, grpcCode, code] of cases) {
    const s = await status(p());
    assert.is(s.grpc, grpcCode, `${name}: ${s.err.message}`);
    assert.is(s.code, code, name);
  }
  const huge = await status(c.commitVersion({ ...base, contentHash: 'x'.repeat(6 * 1024 * 1024) }));
  assert.is(huge.grpc, grpc.status.RESOURCE_EXHAUSTED, 'a message over the limit');
  assert.is((await c.status()).lastSeq, before, 'no bad write reached the log');
});

test('commits sent together: each answered on its own, an error exactly as its own call ends, a replica refuses each naming the master', async () => {
  const master = await cluster.waitForMaster();
  const c = master.client;
  await c.createUser('carol', 'Carol', 10_000);
  const ok = (path: string) => ({ namespace: 'carol', path, blocks: [{ hash: H('e'), size: 10 }], locations: [{ hash: H('e'), nodes: ['b1'] }] });
  const batch = [
    ok('one'),
    { ...ok('two'), hasExpectedVersion: true, expectedVersion: 7 },
    ok('three'),
    { ...ok('four'), blocks: [{ hash: H('e'), size: 20_000 }] },
    ok('x/../../y'),
  ];
  const res = await c.commitVersions(batch);
  assert.is(res.outcomes.length, batch.length);
  assert.is(res.outcomes[0]!.response!.version!.path, 'one');
  assert.is(res.outcomes[2]!.response!.version!.path, 'three');
  assert.equal(res.outcomes.map((o) => o.errorCode), ['', 'VERSION_CONFLICT', '', 'QUOTA_EXCEEDED', 'INVALID_PATH']);
  // The same refusals as single calls, code, message and details alike.
  for (const i of [1, 3, 4]) {
    const alone = (await status(c.commitVersion(batch[i]!))).err;
    const together = await status(
      (async () => {
        const o = (await c.commitVersions([batch[i]!, ok(`pad${i}`)])).outcomes[0]!;
        if (o.errorCode) throw (await import('../../lib/rpc/clients/commit-batcher')).outcomeError(o);
      })(),
    );
    assert.is(together.code, alone.code, `commit ${i}`);
    assert.is(together.err.message, alone.message, `commit ${i}`);
    assert.equal({ ...together.err.details }, { ...alone.details }, `commit ${i}`);
  }
  // Through the batcher: concurrent commits share calls, each gets its own version.
  const calls = c.batcher.calls;
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => c.commit(ok(`b/${i}`))));
  results.forEach((r, i) => {
    assert.is(r.version!.path, `b/${i}`);
    assert.is(r.version!.version, 1);
  });
  assert.ok(c.batcher.calls - calls < 20, `${c.batcher.calls - calls} calls for 20 commits`);
  assert.is(new Set(results.map((r) => r.result!.position)).size, 20, 'twenty log positions');
  // A replica refuses every commit of a call, each naming the master.
  const replica = cluster.alive().find((n) => n.id !== master.id)!;
  const refused = await Promise.all([0, 1, 2, 3].map((i) => status(replica.client.commit(ok(`r/${i}`)))));
  for (const r of refused) {
    assert.is(r.code, 'NOT_MASTER');
    assert.is(r.err.details['master'], master.address);
  }
});

test('a write to a replica is UNAVAILABLE (NOT_MASTER) and names the master', async () => {
  const master = await cluster.waitForMaster();
  const replica = cluster.alive().find((n) => n.id !== master.id)!;
  const s = await status(replica.client.createUser('bob', 'Bob', 1));
  assert.is(s.grpc, grpc.status.UNAVAILABLE);
  assert.is(s.code, 'NOT_MASTER');
  assert.is(s.err.details['master'], master.address);
});

test('a read waiting for a position from the future is UNAVAILABLE after the bound, not a hang', async () => {
  const master = await cluster.waitForMaster();
  const replica = cluster.alive().find((n) => n.id !== master.id)!;
  const t0 = Date.now();
  const s = await status(replica.client.statFile('alice', 'a.txt', 0, 1e12));
  assert.is(s.grpc, grpc.status.UNAVAILABLE);
  assert.ok(Date.now() - t0 < 3000);
});

test('reads: another namespace is NOT_FOUND; bad prefixes and page sizes are INVALID_ARGUMENT', async () => {
  const master = await cluster.waitForMaster();
  const pos = (await master.client.status()).lastSeq;
  const replica = cluster.alive().find((n) => n.id !== master.id)!;
  assert.is((await replica.client.statFile('alice', 'a.txt', 0, pos)).version!.path, 'a.txt');
  assert.is((await status(replica.client.statFile('mallory', 'a.txt', 0, pos))).grpc, grpc.status.NOT_FOUND);
  assert.is((await status(replica.client.listFiles('alice', '../', 10))).grpc, grpc.status.INVALID_ARGUMENT);
  assert.is((await status(replica.client.listFiles('alice', '', 5000))).grpc, grpc.status.INVALID_ARGUMENT);
  assert.is((await status(replica.client.findBlocks('alice', ['nothex']))).grpc, grpc.status.INVALID_ARGUMENT);
});

test('Watch: events in order from any node, resumable from a cursor without gaps or duplicates', async () => {
  const master = await cluster.waitForMaster();
  const c = master.client;
  await c.createUser('wanda', 'W', 1e9);
  const put = (path: string) => c.commitVersion({ namespace: 'wanda', path, blocks: [{ hash: H('d'), size: 5 }], locations: [{ hash: H('d'), nodes: ['b1'] }] });
  await put('w/a');
  await put('w/a');
  await put('other/x');
  await c.moveFile({ namespace: 'wanda', fromPath: 'w/a', toPath: 'w/b' });
  const last = await c.deleteFile({ namespace: 'wanda', path: 'w/b' });
  const replica = cluster.alive().find((n) => n.id !== master.id)!;
  await replica.client.statFile('wanda', 'other/x', 0, last.result!.position);
  const take = async (cursor: number, n: number) => {
    const ac = new AbortController();
    const out: Array<{ cursor: number; kind: string; path: string; version: number; fromPath: string }> = [];
    for await (const ev of replica.client.watch('wanda', 'w/', cursor, ac.signal)) {
      out.push({ cursor: ev.cursor, kind: ev.kind, path: ev.path, version: ev.version, fromPath: ev.fromPath });
      if (out.length === n) ac.abort();
    }
    return out;
  };
  const all = await take(0, 4);
  assert.equal(all.map((e) => `${e.kind} ${e.path} v${e.version}${e.fromPath ? ' from ' + e.fromPath : ''}`), [
    'put w/a v1', 'put w/a v2', 'move w/b v1 from w/a', 'delete w/b v2',
  ]);
  const resumed = await take(all[1]!.cursor, 2);
  assert.equal(resumed.map((e) => e.cursor), all.slice(2).map((e) => e.cursor));
  // A live event arrives on an open watch.
  const ac = new AbortController();
  const live = (async () => {
    for await (const ev of replica.client.watch('wanda', 'w/', all[3]!.cursor, ac.signal)) {
      ac.abort();
      return ev.path;
    }
    return '';
  })();
  await put('w/live');
  assert.is(await live, 'w/live');
  const bad = await status((async () => {
    for await (const _ of replica.client.watch('wanda', '../x', 0)) void _;
  })());
  assert.is(bad.grpc, grpc.status.INVALID_ARGUMENT);
});

test.run();
