/**
 * The block daemon over real gRPC (port 0), real LevelDB (temp dir) and a
 * real etcd started from the Debian binary.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { Membership } from '../../coordination/membership';
import { BlockstoreError } from '../../lib/errors';
import { sha256Hex } from '../../lib/hash';
import { loadProtos } from '../../lib/rpc/proto';
import { startEtcd, type EtcdHandle } from '../harness/etcd';
import { startTestDaemon, type TestDaemon } from '../harness/blockd';
import { strictReflectionCall } from '../harness/strict-client';
import { waitFor } from '../harness/wait';

const test = suite('block daemon over gRPC');
let etcd: EtcdHandle;
let d: TestDaemon;

test.before(async () => {
  etcd = await startEtcd();
  d = await startTestDaemon({ etcd: [etcd.endpoint], capacityBytes: 64 * 1024 * 1024 });
});

test.after(async () => {
  await d?.stop();
  await etcd?.stop();
});

function randomBlock(size: number): { hash: string; data: Buffer } {
  const data = randomBytes(size);
  return { hash: sha256Hex(data), data };
}

async function failure(p: Promise<unknown>): Promise<BlockstoreError & { grpcCode?: number }> {
  try {
    await p;
  } catch (err) {
    assert.instance(err, BlockstoreError);
    return err as BlockstoreError & { grpcCode?: number };
  }
  throw new Error('expected the call to fail');
}

test('put, get, has, list, delete, stats round-trip', async () => {
  const a = randomBlock(500_000);
  const b = randomBlock(1);
  assert.equal(await d.client.putBlock(a.hash, a.data), { alreadyPresent: false, size: 500_000 });
  assert.equal(await d.client.putBlock(a.hash, a.data), { alreadyPresent: true, size: 500_000 });
  await d.client.putBlock(b.hash, b.data);
  const got = await d.client.getBlock(a.hash);
  assert.ok(got.data.equals(a.data));
  assert.is(got.blockSize, 500_000);
  const range = await d.client.getBlock(a.hash, { offset: 1000, length: 10 });
  assert.ok(range.data.equals(a.data.subarray(1000, 1010)));
  const missing = 'e'.repeat(64);
  assert.equal(await d.client.hasBlocks([a.hash, missing, b.hash]), { present: [a.hash, b.hash], missing: [missing] });
  const page = await d.client.listBlocks('', 0);
  assert.equal(page.blocks.map((x) => x.hash), [a.hash, b.hash].sort());
  const stats = await d.client.getStats();
  assert.is(stats.blocks, 2);
  assert.is(stats.bytes, 500_003, 'bytes on disk: one encoding byte a block');
  assert.is(stats.capacityBytes, 64 * 1024 * 1024);
  assert.equal(await d.client.deleteBlocks([b.hash]), { deleted: 1, bytesFreed: 2 }, 'bytes on disk');
  assert.is((await d.client.getStats()).blocks, 1);
});

test('a 4 MiB block goes through; 4 MiB + 1 byte is INVALID_ARGUMENT and stores nothing', async () => {
  const max = randomBlock(4 * 1024 * 1024);
  assert.is((await d.client.putBlock(max.hash, max.data)).size, 4 * 1024 * 1024);
  assert.ok((await d.client.getBlock(max.hash)).data.equals(max.data));
  const over = randomBlock(4 * 1024 * 1024 + 1);
  const err = await failure(d.client.putBlock(over.hash, over.data));
  assert.is(err.grpcCode, grpc.status.INVALID_ARGUMENT);
  assert.is(err.code, 'BLOCK_TOO_LARGE');
  assert.equal((await d.client.hasBlocks([over.hash])).missing, [over.hash]);
});

test('a message over the transport limit is RESOURCE_EXHAUSTED', async () => {
  const huge = Buffer.alloc(6 * 1024 * 1024, 1);
  const err = await failure(d.client.putBlock(sha256Hex(huge), huge));
  assert.is(err.grpcCode, grpc.status.RESOURCE_EXHAUSTED);
});

test('wrong hash: INVALID_ARGUMENT with code HASH_MISMATCH, nothing stored', async () => {
  const a = randomBlock(1000);
  const wrong = sha256Hex(Buffer.from('something else'));
  const before = (await d.client.getStats()).blocks;
  const err = await failure(d.client.putBlock(wrong, a.data));
  assert.is(err.grpcCode, grpc.status.INVALID_ARGUMENT);
  assert.is(err.code, 'HASH_MISMATCH');
  assert.match(err.message, 'nothing stored');
  assert.is((await d.client.getStats()).blocks, before);
});

test('empty hash, malformed hash, empty data: INVALID_ARGUMENT', async () => {
  for (const hash of ['', 'abc', 'G'.repeat(64), 'A'.repeat(64)]) {
    const err = await failure(d.client.putBlock(hash, Buffer.from('x')));
    assert.is(err.grpcCode, grpc.status.INVALID_ARGUMENT, hash);
    assert.is(err.code, 'INVALID_HASH');
  }
  const empty = await failure(d.client.putBlock(sha256Hex(Buffer.alloc(0)), Buffer.alloc(0)));
  assert.is(empty.grpcCode, grpc.status.INVALID_ARGUMENT);
  const list = await failure(d.client.listBlocks('zz', 10));
  assert.is(list.grpcCode, grpc.status.INVALID_ARGUMENT);
});

test('unknown block: NOT_FOUND; range beyond the end: INVALID_ARGUMENT', async () => {
  const err = await failure(d.client.getBlock('0'.repeat(64)));
  assert.is(err.grpcCode, grpc.status.NOT_FOUND);
  assert.is(err.code, 'BLOCK_NOT_FOUND');
  const a = randomBlock(100);
  await d.client.putBlock(a.hash, a.data);
  const range = await failure(d.client.getBlock(a.hash, { offset: 101 }));
  assert.is(range.grpcCode, grpc.status.INVALID_ARGUMENT);
});

test('capacity: RESOURCE_EXHAUSTED and nothing stored', async () => {
  const small = await startTestDaemon({ capacityBytes: 3000 });
  try {
    const a = randomBlock(2000);
    const b = randomBlock(2000);
    await small.client.putBlock(a.hash, a.data);
    const err = await failure(small.client.putBlock(b.hash, b.data));
    assert.is(err.grpcCode, grpc.status.RESOURCE_EXHAUSTED);
    assert.is(err.code, 'CAPACITY_EXCEEDED');
    assert.equal((await small.client.hasBlocks([b.hash])).missing, [b.hash]);
    assert.is((await small.client.getStats()).bytes, 2001);
  } finally {
    await small.stop();
  }
});

test('a client that cancels mid-call leaves the daemon serving', async () => {
  const blocks = Array.from({ length: 8 }, () => randomBlock(1024 * 1024));
  const controller = new AbortController();
  const calls = blocks.map((b) => d.client.putBlock(b.hash, b.data, { signal: controller.signal }).then(() => 'ok', (e: BlockstoreError) => e.code));
  setImmediate(() => controller.abort());
  const outcomes = await Promise.all(calls);
  assert.ok(outcomes.every((o) => o === 'ok' || o === 'CANCELLED'), outcomes.join());
  // Whatever was acknowledged is intact; the daemon still serves.
  for (const [i, o] of outcomes.entries()) {
    if (o === 'ok') assert.ok((await d.client.getBlock(blocks[i]!.hash)).data.equals(blocks[i]!.data));
  }
  const c = randomBlock(10);
  assert.is((await d.client.putBlock(c.hash, c.data)).size, 10);
});

test('CopyBlock fetches from a peer and verifies; a bad source is a clear error', async () => {
  const peer = await startTestDaemon();
  try {
    const a = randomBlock(300_000);
    await peer.client.putBlock(a.hash, a.data);
    assert.equal(await d.client.copyBlock(a.hash, peer.address), { alreadyPresent: false, size: 300_000 });
    assert.ok((await d.client.getBlock(a.hash)).data.equals(a.data));
    assert.equal(await d.client.copyBlock(a.hash, peer.address), { alreadyPresent: true, size: 300_001 }, 'size on disk');
    const absent = await failure(d.client.copyBlock('1'.repeat(64), peer.address));
    assert.is(absent.grpcCode, grpc.status.NOT_FOUND);
    const badAddr = await failure(d.client.copyBlock(a.hash.replace(/^./, '0'), 'not an address'));
    assert.is(badAddr.grpcCode, grpc.status.INVALID_ARGUMENT);
  } finally {
    await peer.stop();
  }
});

test('grpc.health.v1 reports SERVING for the server and the service', async () => {
  const { protos } = loadProtos();
  const health = new protos.grpc.health.v1.Health(d.address, grpc.credentials.createInsecure());
  try {
    for (const service of ['', 'blockstore.internal.v1.BlockDaemon']) {
      const res = await new Promise<{ status: string }>((resolve, reject) =>
        health.check({ service }, (err, r) => (err ? reject(err) : resolve(r as { status: string }))),
      );
      assert.is(res.status, 'SERVING');
    }
    const unknown = await new Promise<grpc.ServiceError>((resolve) => health.check({ service: 'nope' }, (err) => resolve(err!)));
    assert.is(unknown.code, grpc.status.NOT_FOUND);
  } finally {
    health.close();
  }
});

test('reflection satisfies a strict client (Python descriptor pool) and drives real calls', async () => {
  const a = randomBlock(64);
  const out = await strictReflectionCall(d.address, 'blockstore.internal.v1.BlockDaemon', [
    { method: 'PutBlock', request: { hash: a.hash, data: a.data.toString('base64') } },
    { method: 'GetBlock', request: { hash: a.hash } },
    { method: 'GetStats', request: {} },
  ]);
  assert.ok(out.services.includes('blockstore.internal.v1.BlockDaemon'));
  assert.ok(out.services.includes('grpc.health.v1.Health'));
  assert.ok(out.files.includes('google/protobuf/timestamp.proto'), out.files.join());
  assert.ok(out.methods.includes('CopyBlock'));
  assert.is(Buffer.from(String(out.results[1]!.data), 'base64').toString('hex'), a.data.toString('hex'));
  assert.is(out.results[2]!.nodeId, d.config.id);
});

test('registers in etcd with usage that follows puts', async () => {
  const members = new Membership([etcd.endpoint]);
  try {
    const first = await waitFor('the registration', async () => (await members.list('blockd')).find((n) => n.id === d.config.id));
    assert.is(first.address, d.address);
    assert.is(first.info.capacityBytes, 64 * 1024 * 1024);
    const a = randomBlock(123_457);
    await d.client.putBlock(a.hash, a.data);
    const used = (await d.client.getStats()).bytes;
    await waitFor('usage to follow', async () => (await members.list('blockd')).find((n) => n.id === d.config.id)?.info.usedBytes === used);
  } finally {
    members.close();
  }
});

test.run();
