// The block daemon's page-cache window: durable segment bytes beyond the
// most recent `cacheBytes` are dropped from the kernel's page cache (real
// files, the real addon, mincore to see what is in memory).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { pageCache, ADDON_PATH } from '../../daemon/store/page-cache';
import { SegmentLog, type SegmentPointer } from '../../daemon/store/segments';
import { LevelBlockTable } from '../../daemon/store/level-block-table';
import { sha256Hex } from '../../lib/hash';
import { BlockStore } from '../../daemon/blocks/block-store';
import { makeTempDir, removeDir } from '../harness/temp';

const KIB = 1024;
const PAGE = 4096;

test('page cache: the addon is built and loaded (scripts/build.sh)', () => {
  assert.ok(pageCache.available, `${ADDON_PATH} should load`);
});

test('page cache: synced ranges beyond the window leave memory, the most recent stay, and every body reads back', async () => {
  const dir = makeTempDir('pagecache');
  const log = new SegmentLog(dir, 64 * 1024 * KIB, 256 * KIB);
  try {
    log.open();
    const bodies = Array.from({ length: 16 }, () => randomBytes(64 * KIB));
    const at: SegmentPointer[] = [];
    for (const b of bodies) {
      const [p] = await log.append([[b]]);
      at.push(p!);
      await log.sync([p!]);
    }
    // 16 × 64 KiB synced, 256 KiB kept: the first 12 bodies dropped.
    assert.is(log.droppedBytes, 12 * 64 * KIB);
    for (let i = 0; i < 12; i++) assert.is(await log.resident(at[i]!), 0, `body ${i} should be out of memory`);
    for (let i = 12; i < 16; i++) assert.is(await log.resident(at[i]!), (64 * KIB) / PAGE, `body ${i} should be in memory`);
    // Dropped bodies come back from the disk, byte for byte.
    for (let i = 0; i < 16; i++) assert.equal(await log.read(at[i]!), bodies[i]);
  } finally {
    await log.close();
    removeDir(dir);
  }
});

test('page cache: bytes written but not yet synced are never dropped; one synced range over the window is cut, its newest bytes kept', async () => {
  const dir = makeTempDir('pagecache');
  const log = new SegmentLog(dir, 64 * 1024 * KIB, 64 * KIB);
  try {
    log.open();
    const unsynced = await log.append([[randomBytes(128 * KIB)]]);
    const synced = await log.append([[randomBytes(1024 * KIB)]]);
    await log.sync(synced);
    assert.is(await log.resident(unsynced[0]!), (128 * KIB) / PAGE, 'an append no sync() covered yet stays in memory');
    assert.is(log.droppedBytes, 960 * KIB);
    const s = synced[0]!;
    assert.is(await log.resident({ ...s, offset: s.offset + 960 * KIB, length: 64 * KIB }), 16, 'the newest 64 KiB stay');
    // The kernel drops only whole folios inside a range: a large folio
    // across the cut may stay, so the bound is loose.
    const left = (await log.resident(s))!;
    assert.ok(left <= 128, `${left} of 256 pages still in memory`);
  } finally {
    await log.close();
    removeDir(dir);
  }
});

test('page cache: a block table with a small window drops bodies as it writes them and still serves them all, across a reopen', async () => {
  const dir = makeTempDir('pagecache');
  let t = new LevelBlockTable(dir, { pageCacheBytes: 128 * KIB });
  try {
    await t.open();
    const blocks = Array.from({ length: 24 }, () => randomBytes(32 * KIB + Math.floor(Math.random() * 32 * KIB)));
    await Promise.all(blocks.map((b) => t.put(sha256Hex(b), b)));
    const total = blocks.reduce((n, b) => n + b.length, 0);
    assert.ok(t.pageCacheDroppedBytes >= total - 128 * KIB - 64 * KIB, `dropped ${t.pageCacheDroppedBytes} of ${total}`);
    for (const b of blocks) assert.equal(await t.get(sha256Hex(b)), b);
    await t.close();
    t = new LevelBlockTable(dir, { pageCacheBytes: 128 * KIB });
    await t.open();
    for (const b of blocks) assert.equal(await t.get(sha256Hex(b)), b);
  } finally {
    await t.close();
    removeDir(dir);
  }
});

test('page cache: the scrubber\'s reads leave memory as they found it (a cold body stays out, a cached one stays in)', async () => {
  const dir = makeTempDir('pagecache');
  const log = new SegmentLog(dir, 64 * 1024 * KIB, 0);
  try {
    log.open();
    const bodies = [randomBytes(128 * KIB), randomBytes(128 * KIB)];
    const at: SegmentPointer[] = [];
    for (const b of bodies) {
      const [p] = await log.append([[b]]);
      await log.sync([p!]);
      at.push(p!);
    }
    assert.is(await log.resident(at[0]!), 0, 'a window of 0 keeps nothing');
    // A passing read of a cold body returns it and leaves it out of memory.
    assert.equal(await log.readPassing(at[0]!), bodies[0]);
    assert.is(await log.resident(at[0]!), 0);
    // A body a client read is cached; a passing read leaves it there.
    assert.equal(await log.read(at[1]!), bodies[1]);
    assert.is(await log.resident(at[1]!), 32);
    assert.equal(await log.readPassing(at[1]!), bodies[1]);
    assert.is(await log.resident(at[1]!), 32);
  } finally {
    await log.close();
    removeDir(dir);
  }
});

test('page cache: a scrub pass over a block table verifies every body without leaving them in memory', async () => {
  const dir = makeTempDir('pagecache');
  const t = new LevelBlockTable(dir, { pageCacheBytes: 0 });
  const store = new BlockStore(t, { capacityBytes: 1 << 30 });
  try {
    await t.open();
    const blocks = Array.from({ length: 8 }, () => randomBytes(64 * KIB));
    for (const b of blocks) await store.put(sha256Hex(b), b);
    for (const b of blocks) assert.equal(await store.verify(sha256Hex(b)), { ok: true, size: 64 * KIB + 1 });
    const log = (t as unknown as { segments: SegmentLog }).segments;
    let resident = 0;
    for (const b of blocks) {
      const at = await t.location(sha256Hex(b));
      assert.ok(at && 'file' in at);
      resident += (await log.resident({ segment: Number(at.file.slice(-12, -4)), offset: at.offset, length: at.length }))!;
    }
    // The kernel drops only whole pages: the file's partial last page stays
    // until the next write's drop takes it.
    assert.ok(resident <= 1, `${resident} pages of 8 bodies in memory`);
  } finally {
    await t.close();
    removeDir(dir);
  }
});

test.run();
