import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BlockStore } from '../../daemon/blocks/block-store';
import { MAX_BLOCK_BYTES } from '../../lib/limits';
import { Scrubber } from '../../daemon/blocks/scrubber';
import { MemoryBlockTable } from '../../daemon/store/memory-block-table';
import { BlockstoreError, type ErrorCode } from '../../lib/errors';
import { sha256Hex } from '../../lib/hash';
import { silentLogger } from '../../lib/logger';
import { waitFor } from '../harness/wait';

function make(capacityBytes = 1 << 30) {
  const chunks = new MemoryBlockTable();
  return { chunks, store: new BlockStore(chunks, { capacityBytes }) };
}

async function rejectsWith(p: Promise<unknown>, code: ErrorCode): Promise<BlockstoreError> {
  try {
    await p;
  } catch (err) {
    assert.instance(err, BlockstoreError);
    assert.is((err as BlockstoreError).code, code);
    return err as BlockstoreError;
  }
  throw new Error(`expected ${code}, but it succeeded`);
}

const data = Buffer.from('hello, blocks');
const hash = sha256Hex(data);

test('put verifies the hash: a mismatch stores nothing', async () => {
  const { store, chunks } = make();
  await rejectsWith(store.put(sha256Hex(Buffer.from('other')), data), 'HASH_MISMATCH');
  assert.is(chunks.totals().blocks, 0);
});

test('put rejects malformed hashes, empty and oversize blocks', async () => {
  const { store, chunks } = make();
  await rejectsWith(store.put('', data), 'INVALID_HASH');
  await rejectsWith(store.put(hash.toUpperCase(), data), 'INVALID_HASH');
  await rejectsWith(store.put(sha256Hex(Buffer.alloc(0)), Buffer.alloc(0)), 'INVALID_ARGUMENT');
  const big = Buffer.alloc(MAX_BLOCK_BYTES + 1);
  await rejectsWith(store.put(sha256Hex(big), big), 'BLOCK_TOO_LARGE');
  assert.is(chunks.totals().blocks, 0);
});

test('put is idempotent and reports a present block', async () => {
  const { store, chunks } = make();
  assert.equal(await store.put(hash, data), { alreadyPresent: false, size: data.length });
  assert.equal(await store.put(hash, data), { alreadyPresent: true, size: data.length });
  assert.is(chunks.totals().blocks, 1);
});

test('near capacity, a put of a present block still renews its touch time (garbage collection spares it)', async () => {
  const { store, chunks } = make(1010);
  const b = Buffer.alloc(1000, 7);
  const h = sha256Hex(b);
  await store.put(h, b);
  chunks.setTouchedForTest(h, 1000); // put long ago: older than any GC cutoff
  const before = Date.now();
  assert.equal(await store.put(h, b), { alreadyPresent: true, size: 1000 });
  const [touched] = await chunks.touched([h]);
  assert.ok(touched! >= before, `touch time renewed (${touched} >= ${before})`);
});

test('capacity: a put that would exceed it stores nothing, parallel puts cannot overshoot', async () => {
  const { store, chunks } = make(2500);
  const blocks = Array.from({ length: 5 }, (_, i) => Buffer.alloc(1000, i + 1));
  const results = await Promise.allSettled(blocks.map((b) => store.put(sha256Hex(b), b)));
  const ok = results.filter((r) => r.status === 'fulfilled').length;
  assert.is(ok, 2);
  for (const r of results) if (r.status === 'rejected') assert.is((r.reason as BlockstoreError).code, 'CAPACITY_EXCEEDED');
  assert.is(chunks.totals().bytes, 2002, 'two blocks on disk, one encoding byte each');
});

test('get returns ranges and refuses ranges beyond the block', async () => {
  const { store } = make();
  await store.put(hash, data);
  assert.is((await store.get(hash, 7, 6)).data.toString(), 'blocks');
  assert.is((await store.get(hash, 7)).data.toString(), 'blocks');
  assert.is((await store.get(hash, 0, 1000)).data.toString(), 'hello, blocks');
  assert.is((await store.get(hash, 7)).blockSize, data.length);
  await rejectsWith(store.get(hash, 14), 'INVALID_ARGUMENT');
  await rejectsWith(store.get('a'.repeat(64)), 'BLOCK_NOT_FOUND');
});

test('an encoded (brotli) put is verified against the original bytes and stored compressed', async () => {
  const { store, chunks } = make();
  const text = Buffer.from('blockstore '.repeat(5000));
  const { maybeCompress } = await import('../../lib/compression');
  const c = maybeCompress(text);
  assert.is(c.encoding, 'br');
  assert.equal(await store.put(sha256Hex(text), c.payload, 'br'), { alreadyPresent: false, size: text.length });
  assert.ok(chunks.totals().bytes < text.length / 5, 'kept compressed on disk');
  assert.ok((await store.get(sha256Hex(text))).data.equals(text));
  await rejectsWith(store.put(sha256Hex(Buffer.from('other')), c.payload, 'br'), 'HASH_MISMATCH');
  await rejectsWith(store.put(sha256Hex(text), Buffer.from('not brotli'), 'br'), 'INVALID_ARGUMENT');
  const random = (await import('node:crypto')).randomBytes(100_000);
  assert.is(maybeCompress(random).encoding, '', 'random data is not compressed');
});

test('a block put as the pieces it arrived in is verified and stored as their concatenation (plain and brotli)', async () => {
  const { store, chunks } = make();
  const { randomBytes } = await import('node:crypto');
  const whole = randomBytes(300_000);
  const pieces = [whole.subarray(0, 65_536), whole.subarray(65_536, 65_537), whole.subarray(65_537)];
  await rejectsWith(store.put(sha256Hex(whole), [pieces[0]!, pieces[2]!]), 'HASH_MISMATCH');
  assert.is(chunks.totals().blocks, 0, 'a piece missing: nothing stored');
  assert.equal(await store.put(sha256Hex(whole), pieces), { alreadyPresent: false, size: whole.length });
  assert.ok((await store.get(sha256Hex(whole))).data.equals(whole));
  assert.ok((await store.get(sha256Hex(whole), 65_000, 1000)).data.equals(whole.subarray(65_000, 66_000)), 'a range across the pieces');
  const text = Buffer.from('blockstore '.repeat(5000));
  const { maybeCompress } = await import('../../lib/compression');
  const c = maybeCompress(text).payload;
  const half = Math.floor(c.length / 2);
  assert.equal(await store.put(sha256Hex(text), [c.subarray(0, half), c.subarray(half)], 'br'), { alreadyPresent: false, size: text.length });
  assert.ok((await store.get(sha256Hex(text))).data.equals(text));
});

test('a corrupt copy is DATA_LOSS, counted, reported missing, and repaired by a fresh put', async () => {
  const { store, chunks } = make();
  await store.put(hash, data);
  const rotten = Buffer.from(data);
  rotten[0] ^= 0xff;
  chunks.corruptForTest(hash, rotten);
  await rejectsWith(store.get(hash), 'CORRUPT_BLOCK');
  await rejectsWith(store.get(hash), 'CORRUPT_BLOCK');
  assert.is(store.stats().corruptBlocks, 1);
  assert.is(store.corruptFound, 1, 'one copy found corrupt, counted once');
  assert.equal(await store.has([hash]), { present: [], missing: [hash] });
  assert.equal(await store.put(hash, data), { alreadyPresent: false, size: data.length });
  assert.is((await store.get(hash)).data.toString(), 'hello, blocks');
  assert.is(store.stats().corruptBlocks, 0);
  assert.is(store.corruptReplaced, 1);
  await store.put(hash, data);
  assert.is(store.corruptReplaced, 1, 'a duplicate put of a good copy is not a replacement');
});

test('the scrubber finds a corrupt copy without any read', async () => {
  const { store, chunks } = make();
  const good = Array.from({ length: 10 }, (_, i) => Buffer.from(`block ${i}`));
  for (const b of good) await store.put(sha256Hex(b), b);
  const victim = sha256Hex(good[3]!);
  chunks.corruptForTest(victim, Buffer.from('bit rot'));
  const scrubber = new Scrubber(store, { bytesPerSecond: 1e9, passIntervalMs: 10 }, silentLogger);
  scrubber.start();
  try {
    await waitFor('a completed scrub pass', () => scrubber.lastPassCompleted !== undefined, 5000);
    assert.equal(store.stats().corruptHashes, [victim]);
    assert.is(store.corruptFound, 1);
    assert.ok(scrubber.scrubbedBlocks >= 10);
  } finally {
    await scrubber.close();
  }
});

test('delete with untouchedSince keeps blocks put since then (garbage collection cannot race an upload)', async () => {
  const { store, chunks } = make();
  const old = Buffer.from('old block');
  const fresh = Buffer.from('fresh block');
  await store.put(sha256Hex(old), old);
  await store.put(sha256Hex(fresh), fresh);
  chunks.setTouchedForTest(sha256Hex(old), Date.now() - 60_000);
  const cutoff = Date.now() - 30_000;
  assert.equal(await store.delete([sha256Hex(old), sha256Hex(fresh)], cutoff), { deleted: 1, bytesFreed: old.length + 1 });
  assert.equal(await store.has([sha256Hex(fresh)]), { present: [sha256Hex(fresh)], missing: [] });
  // A put racing the delete of the same hash: serialised, so the block survives.
  chunks.setTouchedForTest(sha256Hex(fresh), Date.now() - 60_000);
  const [put, del] = await Promise.all([store.put(sha256Hex(fresh), fresh), store.delete([sha256Hex(fresh)], cutoff)]);
  assert.is(put.size, fresh.length);
  assert.is(del.deleted, 0, 'the put renewed it first');
  assert.equal(await store.has([sha256Hex(fresh)]), { present: [sha256Hex(fresh)], missing: [] });
});

test('has and delete validate every hash and bound the batch', async () => {
  const { store } = make();
  await rejectsWith(store.has(['nope']), 'INVALID_HASH');
  await rejectsWith(store.has(Array(10_001).fill(hash)), 'INVALID_ARGUMENT');
  await rejectsWith(store.delete(['x'.repeat(64)]), 'INVALID_HASH');
  await store.put(hash, data);
  assert.equal(await store.delete([hash]), { deleted: 1, bytesFreed: data.length + 1 });
  assert.equal(await store.has([hash]), { present: [], missing: [hash] });
});

test.run();
