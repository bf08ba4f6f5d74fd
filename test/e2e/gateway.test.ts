/**
 * The public API end to end on real processes: etcd, 3 metadata nodes,
 * 3 block daemons, 2 gateways; the SDK balancing over both gateways.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { corruptStoredBlock } from '../harness/blockd';
import { BlockstoreError } from '../../lib/errors';
import { sha256Hex } from '../../lib/hash';
import { BlockstoreClient } from '../../sdk/client';
import { FullCluster } from '../harness/full-cluster';
import { strictReflectionCall } from '../harness/strict-client';
import { waitFor } from '../harness/wait';

const test = suite('gateways and the public API');
let c: FullCluster;
let alice: BlockstoreClient;
let aliceToken: string;
let bob: BlockstoreClient;

test.before(async () => {
  c = await FullCluster.start();
  const a = await c.user('alice', 1e12);
  alice = a.client;
  aliceToken = a.token;
  bob = (await c.user('bob', 1e12)).client;
});

test.after(async () => {
  await c?.stop();
});

async function failure(p: Promise<unknown>): Promise<BlockstoreError & { grpcCode?: number }> {
  try {
    await p;
  } catch (err) {
    assert.instance(err, BlockstoreError);
    return err as BlockstoreError & { grpcCode?: number };
  }
  throw new Error('expected a failure');
}

test('byte-identical round trips (0 B … 64 MiB) via PutFile/GetFile and via delta sync; ranges', async () => {
  for (const size of [0, 1, 500_000, 4 * 1024 * 1024 + 1, 64 * 1024 * 1024]) {
    const data = randomBytes(size);
    const put = await alice.put(`rt/put-${size}`, data);
    assert.is(put.file.size, size);
    assert.is(put.file.contentHash, sha256Hex(data));
    assert.ok((await alice.get(`rt/put-${size}`)).equals(data), `PutFile ${size}`);
    const synced = await alice.sync(`rt/sync-${size}`, data);
    assert.is(synced.file.size, size);
    assert.ok((await alice.get(`rt/sync-${size}`)).equals(data), `sync ${size}`);
    if (size > 1000) {
      const off = Math.floor(size / 3);
      assert.ok((await alice.get(`rt/put-${size}`, { offset: off, length: 777 })).equals(data.subarray(off, off + 777)), `range ${size}`);
    }
  }
  const big = await alice.stat('rt/put-67108864');
  const mid = big.blocks[0]!.size - 10; // a range across a block boundary
  const bytes = await alice.get('rt/put-67108864', { offset: mid, length: 20 });
  assert.is(bytes.length, 20);
  const tail = await failure(alice.get('rt/put-1', { offset: 5 }));
  assert.is(tail.grpcCode, grpc.status.INVALID_ARGUMENT);
});

test('many downloads at once, again and again: every byte right while block buffers are reused', async () => {
  // Gateways read blocks into pooled buffers and reuse one once its frame is
  // written; a buffer reused too early would serve another block's bytes.
  const files = await Promise.all(
    [65_536, 100_000, 300_000, 1 << 20, 1_500_000, 2_500_000, 70_000, 900_000].map(async (size, i) => {
      const data = randomBytes(size);
      await alice.put(`pool/${i}`, data);
      return { path: `pool/${i}`, data };
    }),
  );
  for (let round = 0; round < 3; round++) {
    const got = await Promise.all(Array.from({ length: 40 }, (_, i) => files[(i + round) % files.length]!).map(async (f) => ({ f, bytes: await alice.get(f.path) })));
    for (const { f, bytes } of got) assert.ok(bytes.equals(f.data), `${f.path} (${f.data.length} bytes), round ${round}`);
  }
});

test('edit 1 KiB in the middle of 64 MiB: delta sync sends a small fraction; both versions read back', async () => {
  const v1 = randomBytes(64 * 1024 * 1024);
  const first = await alice.sync('delta/big.bin', v1);
  const v2 = Buffer.from(v1);
  randomBytes(1024).copy(v2, 32 * 1024 * 1024);
  const second = await alice.sync('delta/big.bin', v2, { expectedVersion: first.file.version });
  console.log(`  delta sync: sent ${second.bytesSent} of ${v2.length} bytes (${second.blocksSent}/${second.blocks} blocks)`);
  assert.ok(second.bytesSent < v2.length * 0.1, `sent ${second.bytesSent}`);
  assert.ok((await alice.get('delta/big.bin')).equals(v2));
  assert.ok((await alice.get('delta/big.bin', { version: first.file.version })).equals(v1));
});

test('dedup: the same file uploaded twice stores its blocks once', async () => {
  const data = randomBytes(3 * 1024 * 1024);
  await alice.put('dedup/one', data);
  const before = await c.blockdStats();
  const again = await alice.put('dedup/two', data);
  assert.is(again.bytesStored, 0);
  assert.equal(await c.blockdStats(), before);
});

test('compressible files are stored compressed on the daemons; reads return the original bytes', async () => {
  const text = Buffer.from(Array.from({ length: 60_000 }, (_, i) => `line ${i}: the quick brown fox\n`).join(''));
  const sum = async () => (await c.blockdStats()).reduce((n, s) => n + s.bytes, 0);
  const before = await sum();
  await alice.put('compress/log.txt', text);
  const grown = (await sum()) - before;
  assert.ok(grown < text.length, `3 copies took ${grown} bytes on disk for ${text.length} bytes of text`);
  assert.ok((await alice.get('compress/log.txt')).equals(text));
  assert.ok((await alice.get('compress/log.txt', { offset: 1_000_000, length: 100 })).equals(text.subarray(1_000_000, 1_000_100)));
});

test('conflict: two writers with the same expected version, one wins, the other gets FAILED_PRECONDITION', async () => {
  const v = await alice.put('cas/file', Buffer.from('v1'));
  const results = await Promise.allSettled([
    alice.put('cas/file', Buffer.from('writer A'), { expectedVersion: v.file.version }),
    alice.put('cas/file', Buffer.from('writer B'), { expectedVersion: v.file.version }),
  ]);
  const ok = results.filter((r) => r.status === 'fulfilled');
  const bad = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
  assert.is(ok.length, 1);
  assert.is(bad.length, 1);
  assert.is((bad[0]!.reason as { grpcCode?: number }).grpcCode, grpc.status.FAILED_PRECONDITION);
  assert.is((bad[0]!.reason as BlockstoreError).code, 'VERSION_CONFLICT');
  assert.is((await alice.versions('cas/file')).length, 2);
});

test('a replayed PutFile or CommitFile (same idempotency key) creates one version', async () => {
  const data = randomBytes(100_000);
  const a = await alice.put('replay/put', data, { idempotencyKey: 'key-put-1' });
  const b = await alice.put('replay/put', data, { idempotencyKey: 'key-put-1' });
  assert.is(b.replayed, true);
  assert.is(b.file.version, a.file.version);
  const s1 = await alice.sync('replay/commit', data, { idempotencyKey: 'key-commit-1' });
  const s2 = await alice.sync('replay/commit', data, { idempotencyKey: 'key-commit-1' });
  assert.is(s2.file.version, s1.file.version);
  assert.is((await alice.versions('replay/put')).length, 1);
  assert.is((await alice.versions('replay/commit')).length, 1);
});

test('isolation: bob cannot stat, read, list, watch or probe alice; no token or a bad one is refused; Admin refuses user tokens', async () => {
  const secret = randomBytes(200_000);
  await alice.put('private/secret', secret);
  assert.is((await failure(bob.stat('private/secret'))).grpcCode, grpc.status.NOT_FOUND);
  assert.is((await failure(bob.get('private/secret'))).grpcCode, grpc.status.NOT_FOUND);
  const listed = [];
  for await (const f of bob.list('')) listed.push(f.path);
  assert.equal(listed, []);
  const ac = new AbortController();
  const seen: string[] = [];
  const watching = (async () => {
    for await (const ev of bob.watch('', 0, ac.signal)) seen.push(ev.path);
  })();
  await bob.put('bob/own', Buffer.from('mine'));
  await waitFor("bob's own event", () => seen.includes('bob/own'));
  ac.abort();
  await watching;
  assert.equal(seen, ['bob/own']);
  // Probing by hash says "missing": dedup leaks nothing across users.
  const hash = sha256Hex(secret);
  const probe = new BlockstoreClient({ address: c.gatewayAddresses(), token: (await c.user('carol')).token });
  try {
    const r = await new Promise<{ missing: string[] }>((resolve, reject) => {
      const md = new grpc.Metadata();
      md.set('authorization', `Bearer ${(probe as unknown as { options: { token: string } }).options.token}`);
      probe.files.findMissingBlocks({ hashes: [hash] }, md, (err, res) => (err ? reject(err) : resolve(res as { missing: string[] })));
    });
    assert.equal(r.missing, [hash]);
    // And a commit naming alice's block without uploading it is refused.
    const stolen = await failure(
      new Promise((resolve, reject) => {
        const md = new grpc.Metadata();
        md.set('authorization', `Bearer ${(probe as unknown as { options: { token: string } }).options.token}`);
        probe.files.commitFile({ path: 'stolen', blocks: [{ hash, size: secret.length }], idempotencyKey: 'x' }, md, (err, res) =>
          err ? reject(Object.assign(new BlockstoreError('MISSING_BLOCKS', err.details), { grpcCode: err.code })) : resolve(res),
        );
      }),
    );
    assert.is(stolen.grpcCode, grpc.status.FAILED_PRECONDITION);
  } finally {
    probe.close();
  }
  const anon = new BlockstoreClient({ address: c.gatewayAddresses(), token: '' });
  const forged = new BlockstoreClient({ address: c.gatewayAddresses(), token: 'bst_0000000000000000_forged' });
  try {
    assert.is((await failure(anon.stat('private/secret'))).grpcCode, grpc.status.UNAUTHENTICATED);
    assert.is((await failure(forged.stat('private/secret'))).grpcCode, grpc.status.UNAUTHENTICATED);
  } finally {
    anon.close();
    forged.close();
  }
  assert.is((await failure(alice.clusterStatus())).grpcCode, grpc.status.PERMISSION_DENIED);
  assert.is((await failure(alice.createUser('eve', 'eve', 1))).grpcCode, grpc.status.PERMISSION_DENIED);
  // A revoked token stops working (within the gateway's cache lifetime).
  const admin = c.client(c.adminToken);
  const t = await admin.issueToken('bob');
  const temp = c.client(t.token);
  await temp.usage();
  await admin.revokeToken(t.tokenId);
  await waitFor('the revoked token to be refused', async () => (await temp.usage().then(() => false, (e: BlockstoreError) => e.code === 'UNAUTHENTICATED')), 10_000);
});

test('quota: an upload beyond it is RESOURCE_EXHAUSTED and commits nothing', async () => {
  const { client } = await c.user('tiny', 1_000_000);
  await client.put('ok', randomBytes(600_000));
  const err = await failure(client.put('too-much', randomBytes(600_000)));
  assert.is(err.grpcCode, grpc.status.RESOURCE_EXHAUSTED);
  assert.is(err.code, 'QUOTA_EXCEEDED');
  assert.is((await failure(client.stat('too-much'))).grpcCode, grpc.status.NOT_FOUND);
  assert.is((await client.usage()).bytesUsed, 600_000);
});

test('a client that disconnects mid-upload leaves no version and is charged nothing', async () => {
  const { client, token } = await c.user('flaky', 1e12);
  const usage = (await client.usage()).bytesUsed;
  const { protos } = await import('../../lib/rpc/proto').then((m) => m.loadProtos());
  const raw = new protos.blockstore.v1.Files(c.gatewayAddresses()[0]!, grpc.credentials.createInsecure());
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${token}`);
  const done = new Promise<grpc.ServiceError | null>((resolve) => {
    const call = raw.putFile(md, (err) => resolve(err));
    call.write({ header: { path: 'half.bin', idempotencyKey: 'half' } });
    for (let i = 0; i < 6; i++) call.write({ data: randomBytes(1024 * 1024) });
    setTimeout(() => call.cancel(), 300); // the client goes away without ending the stream
  });
  const err = await done;
  assert.is(err?.code, grpc.status.CANCELLED);
  raw.close();
  await new Promise((r) => setTimeout(r, 500)); // let the gateway notice (a fault's duration, not synchronisation)
  assert.is((await failure(client.stat('half.bin'))).grpcCode, grpc.status.NOT_FOUND);
  assert.is((await client.usage()).bytesUsed, usage);
});

test('watch: create, update, move, delete in order; resumes from a cursor without gaps or duplicates', async () => {
  const { client } = await c.user('watcher');
  await client.put('w/a', Buffer.from('1'));
  await client.put('w/a', Buffer.from('2'));
  await client.move('w/a', 'w/b');
  await client.delete('w/b');
  const take = async (cursor: number, n: number) => {
    const ac = new AbortController();
    const out: Array<{ cursor: number; line: string }> = [];
    for await (const ev of client.watch('w/', cursor, ac.signal)) {
      out.push({ cursor: ev.cursor, line: `${ev.kind} ${ev.path} v${ev.version}${ev.fromPath ? ` from ${ev.fromPath}` : ''}` });
      if (out.length === n) ac.abort();
    }
    return out;
  };
  const all = await take(0, 4);
  assert.equal(all.map((e) => e.line), ['put w/a v1', 'put w/a v2', 'move w/b v1 from w/a', 'delete w/b v2']);
  const rest = await take(all[1]!.cursor, 2);
  assert.equal(rest.map((e) => e.cursor), [all[2]!.cursor, all[3]!.cursor]);
});

test('restore an old version; delete keeps history', async () => {
  const v1 = randomBytes(10_000);
  await alice.put('r/file', v1);
  await alice.put('r/file', randomBytes(10_000));
  await alice.delete('r/file');
  assert.is((await failure(alice.get('r/file'))).grpcCode, grpc.status.NOT_FOUND);
  const restored = await alice.restore('r/file', 1);
  assert.is(restored.file.version, 4);
  assert.ok((await alice.get('r/file')).equals(v1));
});

test('faults: a block daemon SIGKILLed mid-upload; a corrupt copy is skipped on read', async () => {
  const data = randomBytes(24 * 1024 * 1024);
  const victim = c.blockds.get('b3')!;
  const upload = alice.put('fault/kill-mid-upload', data).then(
    (r) => ({ ok: true as const, r }),
    (e: BlockstoreError) => ({ ok: false as const, e }),
  );
  setTimeout(() => victim.proc.signal('SIGKILL'), 200);
  const out = await upload;
  await victim.proc.exited;
  if (out.ok) {
    assert.ok((await alice.get('fault/kill-mid-upload')).equals(data), 'committed with W copies and reads back');
  } else {
    assert.is((await failure(alice.stat('fault/kill-mid-upload'))).grpcCode, grpc.status.NOT_FOUND, 'failed cleanly: no version');
  }
  await c.startBlockd('b3');

  // Corrupt one copy on disk (daemon stopped), then read through the others.
  const small = randomBytes(300_000);
  const put = await alice.put('fault/corrupt', small);
  const hash = put.file.blocks[0]!.hash;
  const holder = c.blockds.get('b1')!;
  assert.is(await holder.proc.stop(), 0);
  await corruptStoredBlock(holder.dataDir, hash); // R = 3 of 3 daemons: b1 holds a copy
  await c.startBlockd('b1');
  await waitFor('gateways to see b1 again', async () => (await c.client(c.adminToken).clusterStatus()).nodes.filter((n) => n.kind === 'blockd' && n.state === 'up').length === 3, 15_000);
  for (let i = 0; i < 4; i++) assert.ok((await alice.get('fault/corrupt')).equals(small), 'correct bytes despite a corrupt copy');
});

test('a client that carries no position reads its own writes through the same gateway (200 write-then-read rounds)', async () => {
  // Straight to one gateway with min_position 0 on every read: only the
  // gateway's own memory of its writes makes the replica wait for them.
  const gw = c.gatewayAddresses()[0]!;
  const raw = c.client(aliceToken, gw);
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${aliceToken}`);
  const stat = (path: string) =>
    new Promise<{ size: number; version: number }>((resolve, reject) =>
      raw.files.statFile({ path, version: 0, minPosition: 0 }, md, (err, res) => (err ? reject(err) : resolve({ size: Number(res!.size), version: Number(res!.version) }))),
    );
  for (let i = 0; i < 200; i++) {
    const path = `ryw/${i % 20}`;
    const put = await raw.put(path, randomBytes(100 + i));
    const st = await stat(path);
    assert.equal(st, { size: 100 + i, version: put.file.version }, `round ${i}: read the write just made`);
  }
});

test('an independent client (Python grpcio, reflection only) uploads and downloads through a gateway', async () => {
  const data = randomBytes(5000);
  const gw = c.gatewayAddresses()[0]!;
  const out = await strictReflectionCall(gw, 'blockstore.v1.Files', [
    { method: 'PutFile', request: [{ header: { path: 'py/file.bin', idempotencyKey: 'py-1' } }, { data: data.toString('base64') }] },
    { method: 'GetFile', request: { path: 'py/file.bin' } },
  ], aliceToken);
  const pieces = out.results[1] as unknown as Array<{ info?: { size: string }; data?: string }>;
  assert.is(Number(pieces[0]!.info!.size), 5000);
  const got = Buffer.concat(pieces.slice(1).map((p) => Buffer.from(p.data!, 'base64')));
  assert.ok(got.equals(data));
  assert.ok((await alice.get('py/file.bin')).equals(data));
});

test.run();
