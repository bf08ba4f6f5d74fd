/**
 * The gateway's upload path (FileService.putFile) on twins: a metadata twin
 * that records every call and answers like a namespace with known blocks,
 * and in-memory block daemons. What it pins down: the metadata round trips
 * an upload costs, where its blocks go, that a re-upload is not stored
 * twice, and that a failed or mismatched upload commits nothing.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash, randomBytes } from 'node:crypto';
import { BlockstoreError } from '../../lib/errors';
import { silentLogger } from '../../lib/logger';
import type { MetaRouter } from '../../lib/rpc/clients/meta-router';
import { BlockIo } from '../../gateway/blocks/block-io';
import { FileService } from '../../gateway/files/file-service';
import { chunkBuffer } from '../../lib/chunking/fastcdc';
import { blockBuffers } from '../../lib/rpc/framed';
import { twinDaemons } from '../harness/twins';

interface Commit {
  blocks: Array<{ hash: string; size: number }>;
  locations: Array<{ hash: string; nodes: string[] }>;
  contentHash: string;
}

/** Metadata as FileService sees it: one namespace, its known blocks, every call recorded. */
function metaTwin() {
  const calls: string[] = [];
  const known = new Set<string>();
  const commits: Commit[] = [];
  const client = {
    findBlocks: async (_ns: string, hashes: string[]) => {
      calls.push('findBlocks');
      return { known: hashes.filter((h) => known.has(h)).map((hash) => ({ hash, size: 0 })) };
    },
    getUser: async () => {
      calls.push('getUser');
      return { user: { id: 'u', name: 'u', quotaBytes: 1e12, usedBytes: 0 } };
    },
    statFile: async () => {
      calls.push('statFile');
      throw new BlockstoreError('NOT_FOUND', 'no such file');
    },
    commit: async (req: Commit & { path: string }) => {
      calls.push('commitVersion');
      commits.push(req);
      for (const b of req.blocks) known.add(b.hash);
      const size = req.blocks.reduce((n, b) => n + b.size, 0);
      return {
        version: { path: req.path, version: commits.length, size, contentHash: req.contentHash, author: '', time: '', deleted: false, blocks: req.blocks, movedFrom: '' },
        result: { position: commits.length, epoch: 1 },
        replayed: false,
      };
    },
  };
  const meta = { read: (fn: (c: typeof client) => unknown) => fn(client), write: (fn: (c: typeof client) => unknown) => fn(client) } as unknown as MetaRouter;
  return { meta, calls, commits };
}

function setup() {
  const m = metaTwin();
  const d = twinDaemons(3);
  const files = new FileService(m.meta, new BlockIo(d.view, { replicas: 3, writeQuorum: 2, timeoutMs: 1000 }, silentLogger, d.connect));
  const put = (path: string, data: Buffer, contentHash = '', piece = 256 * 1024) => {
    async function* pieces() {
      for (let i = 0; i < data.length; i += piece) yield data.subarray(i, i + piece);
    }
    return files.putFile('u', 't', { path, expectedVersion: undefined, idempotencyKey: '', contentHash }, pieces(), new AbortController().signal);
  };
  return { ...m, ...d, put };
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('a one-block file costs exactly one metadata call, its commit, and lands on R daemons', async () => {
  const t = setup();
  const data = randomBytes(64 * 1024);
  const r = await t.put('small', data);
  assert.equal(t.calls, ['commitVersion']);
  assert.is(r.bytesStored, data.length);
  assert.is(t.commits[0]!.contentHash, sha(data), 'the content hash is the block hash');
  assert.equal(t.commits[0]!.locations[0]!.nodes.length, 3);
  for (const dm of t.daemons) assert.ok(dm.blocks.has(sha(data)), `${dm.id} holds it`);
});

test('a large file: blocks past the first 4 MiB are looked up, the whole-file hash covers every byte', async () => {
  const t = setup();
  const data = randomBytes(12 * 1024 * 1024);
  await t.put('big', data);
  const lookups = t.calls.filter((c) => c === 'findBlocks').length;
  const blocks = t.commits[0]!.blocks;
  assert.ok(blocks.length >= 4, `${blocks.length} blocks`);
  assert.ok(lookups > 0 && lookups < blocks.length, `${lookups} lookups for ${blocks.length} blocks: not for the first 4 MiB`);
  assert.is(t.commits[0]!.contentHash, sha(data));
  assert.is(blocks.reduce((n, b) => n + b.size, 0), data.length);
});

test('the same large file again stores nothing new: known blocks are neither sent nor counted', async () => {
  const t = setup();
  const data = randomBytes(10 * 1024 * 1024);
  await t.put('one', data);
  const puts = t.daemons.reduce((n, d) => n + d.puts, 0);
  const again = await t.put('two', data);
  assert.is(again.bytesStored, 0, 'blocks of the first 4 MiB are re-put but found present; later ones are not sent');
  const resent = t.daemons.reduce((n, d) => n + d.puts, 0) - puts;
  // The blocks cut within the first 4 MiB (how many depends on the bytes: 4 to 16) go again, to R = 3 daemons each.
  let at = 0;
  let direct = 0;
  for (const b of chunkBuffer(data)) {
    if (at < 4 * 1024 * 1024) direct++;
    at += b.length;
  }
  assert.is(resent, 3 * direct, `only the direct-write window was sent again (${direct} blocks)`);
});

test('a content hash that does not match, or too few daemons, commits nothing', async () => {
  const t = setup();
  const data = randomBytes(300_000);
  let code = '';
  await t.put('bad', data, 'f'.repeat(64)).catch((e: BlockstoreError) => (code = e.code));
  assert.is(code, 'HASH_MISMATCH');
  t.daemons[0]!.failWith = 'UNAVAILABLE';
  t.daemons[1]!.failWith = 'UNAVAILABLE';
  await t.put('down', randomBytes(300_000)).catch((e: BlockstoreError) => (code = e.code));
  assert.is(code, 'UNAVAILABLE');
  assert.not.ok(t.calls.includes('commitVersion'), 'no commit for either');
});

test('block buffers are reused across uploads, and never before a block is stored and hashed: every stored block and content hash is right', async () => {
  const t = setup();
  for (const d of t.daemons) d.putLagMs = 3; // each put reads its bytes later, as a socket would
  const reusedBefore = blockBuffers.reused;
  const files = Array.from({ length: 6 }, (_, i) => randomBytes(3 * 1024 * 1024 + i * 100_003));
  for (let round = 0; round < 2; round++) {
    const rs = await Promise.all(files.map((data, i) => t.put(`f${round}-${i}`, data)));
    for (const r of rs) assert.ok(r.file);
  }
  // The twins check each block's hash when they read it: a buffer given back too early fails there.
  assert.is(t.commits.length, 12);
  // (Commits arrive in whatever order the uploads finish: matched by path.)
  for (const c of t.commits as Array<Commit & { path: string }>) {
    const i = Number(/-(\d+)$/.exec(c.path)![1]);
    assert.is(c.contentHash, sha(files[i]!), `${c.path}: the whole-file hash`);
  }
  for (const d of t.daemons) for (const [hash, bytes] of d.blocks) assert.is(sha(bytes), hash);
  assert.ok(blockBuffers.reused > reusedBefore, 'assembled blocks came from the pool');
});

test.run();
