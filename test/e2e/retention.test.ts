/**
 * Version retention on real processes: superseded versions and deleted
 * files older than --version-retention are pruned by the metadata master,
 * blocks left with no reference are forgotten from the index, and garbage
 * collection deletes their copies from every daemon — while every head
 * (and every block a head still shares) reads back intact.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { BlockstoreError } from '../../lib/errors';
import { sha256Hex } from '../../lib/hash';
import { BlockdClient } from '../../lib/rpc/clients/blockd-client';
import { FullCluster } from '../harness/full-cluster';
import { waitFor } from '../harness/wait';

const test = suite('version retention');
let c: FullCluster;

test.before(async () => {
  c = await FullCluster.start({
    metaArgs: ['--version-retention', '2s', '--prune-interval-ms', '300', '--forget-after-ms', '500', '--idempotency-window', '2s'],
    gatewayArgs: ['--repair-interval-ms', '500', '--gc-grace-ms', '2000', '--max-upload-ms', '1500'],
  });
});

test.after(async () => {
  await c?.stop();
});

async function copies(hash: string): Promise<number> {
  let n = 0;
  for (const d of c.blockds.values()) {
    const bd = new BlockdClient(d.address);
    n += (await bd.hasBlocks([hash]).finally(() => bd.close())).present.length;
  }
  return n;
}

test('old versions and deleted files are pruned after the retention and their blocks collected; heads and shared blocks stay', async () => {
  const { client } = await c.user('keeper');
  // Blocks are content-defined chunks; files this small are one block each.
  const v1 = randomBytes(30_000);
  const v2 = randomBytes(31_000);
  const v3 = randomBytes(32_000);
  const gone = randomBytes(33_000);
  const shared = randomBytes(34_000);
  await client.put('r/file', v1);
  await client.put('r/file', v2);
  await client.put('r/file', v3);
  await client.put('r/deleted', gone);
  await client.delete('r/deleted');
  await client.put('r/shared-old', shared);
  await client.put('r/shared-old', randomBytes(100)); // the shared block's old version…
  await client.put('r/shared-keep', shared); // …is still a head here
  const h = (b: Buffer) => sha256Hex(b);
  for (const b of [v1, v2, v3, gone, shared]) assert.ok((await copies(h(b))) >= 2, 'stored');
  // Before the retention has passed, history is readable.
  assert.ok((await client.get('r/file', { version: 1 })).equals(v1));
  await waitFor('old versions pruned', async () => (await client.versions('r/file')).length === 1, 20_000, 200);
  assert.equal((await client.versions('r/file')).map((v) => Number(v.version)), [3]);
  await waitFor('the deleted file gone altogether', async () => {
    try {
      await client.versions('r/deleted');
      return false;
    } catch (err) {
      return err instanceof BlockstoreError && err.code === 'NOT_FOUND';
    }
  }, 20_000, 200);
  const err = await client.get('r/file', { version: 1 }).then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof BlockstoreError && err.code === 'NOT_FOUND', 'a pruned version is NOT_FOUND');
  await waitFor('the unreferenced blocks collected from every daemon', async () => {
    for (const b of [v1, v2, gone]) if ((await copies(h(b))) > 0) return false;
    return true;
  }, 30_000, 300);
  // Heads read back; a block still used by a head was kept.
  assert.ok((await client.get('r/file')).equals(v3));
  assert.ok((await client.get('r/shared-keep')).equals(shared));
  assert.ok((await copies(h(v3))) >= 2);
  assert.ok((await copies(h(shared))) >= 2, 'shared with a head: kept');
  // A file can be written again at a path that was dropped.
  await client.put('r/deleted', gone);
  assert.ok((await client.get('r/deleted')).equals(gone));
});

test('the change feed keeps the retention too: a watch resuming from before it is told (OUT_OF_RANGE), from 0 it gets what is kept; idempotency keys are forgotten after their window', async () => {
  const { client } = await c.user('watcher2');
  const first = await client.put('feed/a', randomBytes(100), { idempotencyKey: 'feed-key-1' });
  await client.put('feed/b', randomBytes(100));
  // Within the window the key replays.
  const replay = await client.put('feed/a', randomBytes(100), { idempotencyKey: 'feed-key-1' });
  assert.ok(replay.replayed);
  assert.is(Number(replay.file.version), Number(first.file.version));
  const watchFrom = async (cursor: number) => {
    const ac = new AbortController();
    const seen: number[] = [];
    try {
      for await (const ev of client.watch('feed/', cursor, ac.signal)) {
        seen.push(Number(ev.cursor));
        if (seen.length === 1) ac.abort();
      }
      return { seen };
    } catch (err) {
      return { seen, err };
    }
  };
  assert.equal((await watchFrom(1)).seen, [2], 'before the trim, cursor 1 resumes at 2');
  await waitFor('the old events trimmed', async () => {
    const r = await watchFrom(1);
    return r.err instanceof BlockstoreError && r.err.code === 'CURSOR_EXPIRED';
  }, 20_000, 300);
  const late = await client.put('feed/c', randomBytes(100));
  const fromStart = await watchFrom(0);
  assert.ok(!fromStart.err, 'cursor 0 means from the oldest event kept');
  assert.ok(fromStart.seen[0]! > 2, `the kept feed starts after the trimmed events (got ${fromStart.seen[0]})`);
  // After the window the key is a new write.
  await waitFor('the idempotency key forgotten', async () => {
    const again = await client.put('feed/a', randomBytes(100), { idempotencyKey: 'feed-key-1' });
    return !again.replayed;
  }, 20_000, 500);
  assert.ok(late.position > 0);
});

test.run();
