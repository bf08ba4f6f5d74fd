/**
 * Block I/O on in-memory daemons (BlockdPeer twins): R copies in
 * rendezvous order with W as the bar, the next daemon standing in for a
 * failed one, input errors not retried elsewhere; reads from recorded
 * locations first, skipping failed and corrupt copies.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { BlockstoreError, type ErrorCode } from '../../lib/errors';
import { sha256Hex } from '../../lib/hash';
import { rankNodes } from '../../lib/placement';
import { BlockIo } from '../../gateway/blocks/block-io';
import { twinDaemons } from '../harness/twins';
import { silentLogger } from '../../lib/logger';

function cluster(n: number, o: { replicas?: number; writeQuorum?: number } = {}) {
  const { daemons, view, connect } = twinDaemons(n);
  const io = new BlockIo(view, { replicas: o.replicas ?? 3, writeQuorum: o.writeQuorum ?? 2, timeoutMs: 1000 }, silentLogger, connect);
  const byId = (id: string) => daemons.find((d) => d.id === id)!;
  return { daemons, view, io, byId };
}

const block = (size = 4096) => {
  const data = randomBytes(size);
  return { data, hash: sha256Hex(data) };
};

async function failsWith(p: Promise<unknown>, code: ErrorCode): Promise<void> {
  try {
    await p;
  } catch (err) {
    assert.instance(err, BlockstoreError);
    assert.is((err as BlockstoreError).code, code);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

test('a write lands on the first R daemons in rendezvous order', async () => {
  const { io, daemons } = cluster(5);
  const { data, hash } = block();
  const stored = await io.write(hash, data);
  const expected = rankNodes(hash, daemons.map((d) => d.id)).slice(0, 3);
  assert.equal([...stored].sort(), [...expected].sort());
  for (const d of daemons) assert.is(d.blocks.has(hash), expected.includes(d.id), d.id);
});

test('a failed daemon is replaced by the next in order; the write still makes R copies', async () => {
  const { io, daemons, byId } = cluster(5);
  const { data, hash } = block();
  const order = rankNodes(hash, daemons.map((d) => d.id));
  byId(order[0]!).failWith = 'UNAVAILABLE';
  const stored = await io.write(hash, data);
  assert.is(stored.length, 3);
  assert.not.ok(stored.includes(order[0]!));
  assert.ok(stored.includes(order[3]!), 'the fourth in order stood in');
});

test('fewer than W copies fails UNAVAILABLE; W copies but fewer than R succeeds with what was stored', async () => {
  const a = cluster(3);
  const x = block();
  a.daemons[0]!.failWith = 'UNAVAILABLE';
  a.daemons[1]!.failWith = 'CAPACITY_EXCEEDED';
  await failsWith(a.io.write(x.hash, x.data), 'UNAVAILABLE');
  const b = cluster(3);
  const y = block();
  b.daemons[2]!.failWith = 'UNAVAILABLE';
  assert.is((await b.io.write(y.hash, y.data)).length, 2);
});

test('input errors are not tried on other daemons', async () => {
  const { io, daemons } = cluster(5);
  const { data } = block();
  await failsWith(io.write('0'.repeat(64), data), 'HASH_MISMATCH');
  assert.ok(daemons.reduce((n, d) => n + d.puts, 0) <= 3, 'at most one round of puts');
});

test('draining daemons get no new copies', async () => {
  const { io, view, daemons } = cluster(4);
  const { data, hash } = block();
  const order = rankNodes(hash, daemons.map((d) => d.id));
  view.draining.add(order[0]!);
  const stored = await io.write(hash, data);
  assert.not.ok(stored.includes(order[0]!));
});

test('reads come from a recorded location, skip failed and corrupt copies, and say CORRUPT_BLOCK when every copy is bad', async () => {
  const { io, byId } = cluster(4);
  const { data, hash } = block(10_000);
  const stored = await io.write(hash, data);
  assert.equal(await io.read(hash, stored), data);
  assert.equal(await io.read(hash, stored, { offset: 100, length: 50 }), data.subarray(100, 150));
  byId(stored[0]!).failWith = 'UNAVAILABLE';
  byId(stored[1]!).corrupt = true;
  assert.equal(await io.read(hash, stored), data);
  for (const id of stored) byId(id).corrupt = true;
  byId(stored[0]!).failWith = undefined;
  await failsWith(io.read(hash, stored), 'CORRUPT_BLOCK');
});

test('a block nobody holds is UNAVAILABLE, not a hang', async () => {
  const { io } = cluster(3);
  await failsWith(io.read('a'.repeat(64), ['b1']), 'UNAVAILABLE');
});

test.run();
