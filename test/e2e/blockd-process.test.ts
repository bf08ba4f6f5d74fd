/**
 * The block daemon as a real process: SIGKILL under load, bytes flipped on
 * disk, etcd registration through SIGTERM, SIGKILL and an etcd outage.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { Membership } from '../../coordination/membership';
import { BlockstoreError } from '../../lib/errors';
import { sha256Hex } from '../../lib/hash';
import { BlockdClient } from '../../lib/rpc/clients/blockd-client';
import { corruptStoredBlock } from '../harness/blockd';
import { startEtcd, type EtcdHandle } from '../harness/etcd';
import { startBlockstore, waitListening, type Proc } from '../harness/process';
import { makeTempDir, removeDir } from '../harness/temp';
import { waitFor } from '../harness/wait';

const test = suite('block daemon process');
let etcd: EtcdHandle;
const procs: Proc[] = [];
const dirs: string[] = [];

test.before(async () => {
  etcd = await startEtcd();
});

test.after(async () => {
  for (const p of procs) await p.stop(2000);
  for (const d of dirs) removeDir(d);
  await etcd?.stop();
});

async function startDaemon(dataDir: string, extra: string[] = [], id = 'b1'): Promise<{ proc: Proc; address: string; client: BlockdClient }> {
  const proc = startBlockstore([
    'blockd', '--id', id, '--data-dir', dataDir, '--listen', '127.0.0.1:0',
    '--etcd', etcd.endpoint, '--lease-ttl', '2', '--refresh-ms', '300', '--log-level', 'warn', ...extra,
  ]);
  procs.push(proc);
  const { port } = await waitListening(proc);
  const address = `127.0.0.1:${port}`;
  return { proc, address, client: new BlockdClient(address) };
}

test('SIGKILL while 16 clients put: every acknowledged block survives intact', async () => {
  const dir = makeTempDir('blockd-kill');
  dirs.push(dir);
  const first = await startDaemon(dir);
  const acked = new Map<string, Buffer>();
  let stop = false;
  const deadline = Date.now() + 30_000;
  const worker = async () => {
    while (!stop && Date.now() < deadline) {
      const data = randomBytes(16 * 1024 + Math.floor(Math.random() * 200_000));
      const hash = sha256Hex(data);
      try {
        await first.client.putBlock(hash, data, { timeoutMs: 5000 });
        acked.set(hash, data);
      } catch {
        return; // the daemon is gone
      }
    }
  };
  const workers = Array.from({ length: 16 }, worker);
  await waitFor('300 acknowledged puts', () => acked.size >= 300, 30_000);
  first.proc.signal('SIGKILL');
  stop = true;
  await Promise.all(workers);
  assert.is(await first.proc.exited, 'SIGKILL');
  first.client.close();
  const ackedAtKill = new Map(acked);

  const second = await startDaemon(dir);
  try {
    const hashes = [...ackedAtKill.keys()];
    for (let i = 0; i < hashes.length; i += 1000) {
      const { missing } = await second.client.hasBlocks(hashes.slice(i, i + 1000));
      assert.equal(missing, [], 'acknowledged blocks missing after SIGKILL');
    }
    for (const [hash, data] of ackedAtKill) {
      assert.ok((await second.client.getBlock(hash)).data.equals(data), `block ${hash} differs`);
    }
    assert.ok((await second.client.getStats()).blocks >= ackedAtKill.size);
  } finally {
    second.client.close();
    assert.is(await second.proc.stop(), 0);
  }
});

test('bytes flipped on disk: GetBlock is DATA_LOSS, the scrubber finds the unread one', async () => {
  const dir = makeTempDir('blockd-rot');
  dirs.push(dir);
  const a = randomBytes(100_000);
  const b = randomBytes(200_000);
  const c = randomBytes(300);
  const first = await startDaemon(dir);
  for (const x of [a, b, c]) await first.client.putBlock(sha256Hex(x), x);
  first.client.close();
  assert.is(await first.proc.stop(), 0, 'SIGTERM exits 0');

  // Flip a byte of each body where it is kept, the daemon stopped.
  for (const x of [a, b]) await corruptStoredBlock(dir, sha256Hex(x));

  const second = await startDaemon(dir, ['--scrub-rate', '1GiB', '--scrub-interval-ms', '200']);
  try {
    let err: unknown;
    await second.client.getBlock(sha256Hex(a)).catch((e: unknown) => (err = e));
    assert.instance(err, BlockstoreError);
    assert.is((err as { grpcCode?: number }).grpcCode, grpc.status.DATA_LOSS);
    assert.is((err as BlockstoreError).code, 'CORRUPT_BLOCK');
    const stats = await waitFor('the scrubber to report both corrupt blocks', async () => {
      const s = await second.client.getStats();
      return s.corruptBlocks === 2 && s.lastScrubPass ? s : undefined;
    });
    assert.equal([...stats.corruptHashes].sort(), [sha256Hex(a), sha256Hex(b)].sort());
    assert.ok(stats.lastScrubPass, 'a completed pass is reported');
    assert.ok((await second.client.getBlock(sha256Hex(c))).data.equals(c), 'good blocks are still served');
    // The corrupt copy is repaired by a fresh put of the right bytes.
    assert.is((await second.client.putBlock(sha256Hex(a), a)).alreadyPresent, false);
    assert.ok((await second.client.getBlock(sha256Hex(a))).data.equals(a));
  } finally {
    second.client.close();
    await second.proc.stop();
  }
});

test('etcd registration: appears, follows usage, leaves on SIGTERM, expires after SIGKILL, survives an etcd outage', async () => {
  const members = new Membership([etcd.endpoint]);
  const dir = makeTempDir('blockd-reg');
  dirs.push(dir);
  try {
    const d = await startDaemon(dir, [], 'reg1');
    const rec = await waitFor('registration', async () => (await members.list('blockd')).find((n) => n.id === 'reg1'));
    assert.is(rec.address, d.address);
    assert.is(rec.pid, d.proc.pid);
    const x = randomBytes(54_321);
    await d.client.putBlock(sha256Hex(x), x);
    await waitFor('usage in etcd', async () => (await members.list('blockd')).find((n) => n.id === 'reg1')?.info.usedBytes === 54_322);

    // etcd goes away for longer than the lease TTL: the daemon keeps serving,
    // then registers again once etcd is back.
    await etcd.kill();
    const y = randomBytes(1000);
    await d.client.putBlock(sha256Hex(y), y);
    assert.ok((await d.client.getBlock(sha256Hex(x))).data.equals(x));
    await new Promise((r) => setTimeout(r, 5000)); // the outage itself (a fault, not synchronisation)
    await etcd.restart();
    await waitFor('re-registration with current usage', async () => (await members.list('blockd')).find((n) => n.id === 'reg1')?.info.usedBytes === 55_323, 20_000);

    // SIGTERM: the key is removed at once (lease revoked), not after the TTL.
    d.client.close();
    assert.is(await d.proc.stop(), 0);
    const gone = Date.now();
    await waitFor('key removed on SIGTERM', async () => !(await members.list('blockd')).some((n) => n.id === 'reg1'), 1500);
    assert.ok(Date.now() - gone < 1500);

    // SIGKILL: the key lives until the lease (2 s) expires.
    const k = await startDaemon(dir, [], 'reg2');
    await waitFor('registration', async () => (await members.list('blockd')).some((n) => n.id === 'reg2'));
    k.proc.signal('SIGKILL');
    await k.proc.exited;
    k.client.close();
    await waitFor('key expiry after SIGKILL', async () => !(await members.list('blockd')).some((n) => n.id === 'reg2'), 10_000);
  } finally {
    members.close();
  }
});

test.run();
