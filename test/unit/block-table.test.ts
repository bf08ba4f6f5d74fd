import { MemoryBlockTable } from '../../daemon/store/memory-block-table';
import { LevelBlockTable } from '../../daemon/store/level-block-table';
import { makeTempDir, removeDir } from '../harness/temp';
import { chunkStoreConformance } from './block-table.conformance';

chunkStoreConformance({
  name: 'memory',
  async make() {
    const store = new MemoryBlockTable();
    await store.open();
    return { store, dispose: () => store.close() };
  },
});

chunkStoreConformance({
  name: 'leveldb',
  async make() {
    const dir = makeTempDir('chunks');
    let store = new LevelBlockTable(dir);
    await store.open();
    return {
      store,
      async reopen() {
        await store.close();
        store = new LevelBlockTable(dir);
        await store.open();
        return store;
      },
      async dispose() {
        await store.close();
        removeDir(dir);
      },
    };
  },
});

// Key-value separation: bodies in segment files, records in LevelDB.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { appendFileSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { sha256Hex } from '../../lib/hash';

const segmentFiles = (dir: string) => readdirSync(join(dir, 'segments')).filter((f) => f.endsWith('.seg')).sort();

test('segments: bodies over 4 KiB go to segment files, small ones stay inline', async () => {
  const dir = makeTempDir('segments');
  const t = new LevelBlockTable(dir);
  try {
    await t.open();
    const big = randomBytes(100_000);
    const small = randomBytes(1000);
    await t.put(sha256Hex(big), big);
    await t.put(sha256Hex(small), small);
    const at = await t.location(sha256Hex(big));
    assert.ok(at && 'file' in at && existsSync(at.file), 'the big body is in a segment');
    assert.equal(await t.location(sha256Hex(small)), { inline: true });
    assert.equal(await t.get(sha256Hex(big)), big);
    assert.equal(await t.get(sha256Hex(small)), small);
  } finally {
    await t.close();
    removeDir(dir);
  }
});

test('segments: compaction moves live bodies out of mostly-dead segments and deletes them; everything survives a reopen', async () => {
  const dir = makeTempDir('segments');
  let t = new LevelBlockTable(dir, { segmentBytes: 256 * 1024 });
  try {
    await t.open();
    const blocks = Array.from({ length: 60 }, () => randomBytes(20_000));
    for (const b of blocks) await t.put(sha256Hex(b), b);
    const before = segmentFiles(dir);
    assert.ok(before.length >= 4, `several segments (${before.length})`);
    const keep = blocks.filter((_, i) => i % 5 === 0);
    await t.delete(blocks.filter((_, i) => i % 5 !== 0).map((b) => sha256Hex(b)));
    await t.compactSegments();
    const after = segmentFiles(dir);
    assert.ok(after.length < before.length, `segments reclaimed: ${before.length} → ${after.length}`);
    assert.ok(t.segmentsCompacted > 0);
    for (const b of keep) assert.equal(await t.get(sha256Hex(b)), b);
    await t.close();
    t = new LevelBlockTable(dir, { segmentBytes: 256 * 1024 });
    await t.open();
    for (const b of keep) assert.equal(await t.get(sha256Hex(b)), b);
    assert.is(t.totals().blocks, keep.length);
  } finally {
    await t.close();
    removeDir(dir);
  }
});

test('segments: a torn tail and a segment no record names (a crash between body and record) lose nothing acknowledged', async () => {
  const dir = makeTempDir('segments');
  let t = new LevelBlockTable(dir);
  try {
    await t.open();
    const blocks = Array.from({ length: 10 }, () => randomBytes(50_000));
    for (const b of blocks) await t.put(sha256Hex(b), b);
    await t.close();
    const [last] = segmentFiles(dir).slice(-1);
    appendFileSync(join(dir, 'segments', last!), randomBytes(12_345)); // half-written bodies
    writeFileSync(join(dir, 'segments', '99999990.seg'), randomBytes(70_000)); // bodies whose records never landed
    t = new LevelBlockTable(dir);
    await t.open();
    assert.not.ok(segmentFiles(dir).includes('99999990.seg'), 'the unreferenced segment is removed at open');
    for (const b of blocks) assert.equal(await t.get(sha256Hex(b)), b);
    const more = randomBytes(30_000);
    await t.put(sha256Hex(more), more);
    assert.equal(await t.get(sha256Hex(more)), more);
    const at = await t.location(sha256Hex(more));
    assert.ok(at && 'file' in at && !at.file.endsWith(last!), 'new bodies go to a new segment, never after a torn tail');
  } finally {
    await t.close();
    removeDir(dir);
  }
});

test('segments: deletes, touches and puts of the same blocks racing compaction stay consistent', async () => {
  const dir = makeTempDir('segments');
  const t = new LevelBlockTable(dir, { segmentBytes: 128 * 1024 });
  try {
    await t.open();
    const blocks = Array.from({ length: 40 }, () => randomBytes(16_000));
    for (const b of blocks) await t.put(sha256Hex(b), b);
    const doomed = blocks.filter((_, i) => i % 2 === 0);
    const kept = blocks.filter((_, i) => i % 2 === 1);
    await t.delete(doomed.slice(0, 10).map((b) => sha256Hex(b)));
    await Promise.all([
      t.compactSegments(),
      t.delete(doomed.slice(10).map((b) => sha256Hex(b))),
      ...kept.map((b) => t.touch(sha256Hex(b))),
      ...kept.slice(0, 5).map((b) => t.put(sha256Hex(b), b)),
    ]);
    await t.compactSegments();
    for (const b of doomed) assert.is(await t.get(sha256Hex(b)), undefined);
    for (const b of kept) assert.equal(await t.get(sha256Hex(b)), b);
    assert.is(t.totals().blocks, kept.length);
  } finally {
    await t.close();
    removeDir(dir);
  }
});

test.run();
