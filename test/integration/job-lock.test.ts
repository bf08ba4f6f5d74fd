/**
 * The one-worker lock against a real etcd: one holder at a time, the
 * stand-by takes over when the holder lets go, and a stand-by's tries cost
 * etcd no lease granted and revoked, and no read while its watch on the key
 * stands; the holder answers from its lease, and a lost lease ends the hold.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { JobLock } from '../../coordination/job-lock';
import { startEtcd, type EtcdHandle } from '../harness/etcd';
import { waitFor } from '../harness/wait';
import { connectEtcd } from '../../coordination/etcd';

const test = suite('job lock');
let etcd: EtcdHandle;

test.before(async () => {
  etcd = await startEtcd();
});

test.after(async () => {
  await etcd?.stop();
});

/** etcd's count of successful calls of a method so far. */
async function handled(method: string): Promise<number> {
  const text = await (await fetch(`${etcd.endpoint}/metrics`)).text();
  return Number(new RegExp(`^grpc_server_handled_total\\{grpc_code="OK",grpc_method="${method}"[^}]*\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
}
const leaseGrants = () => handled('LeaseGrant');

test('one holder; the stand-by only reads, and takes over when the holder lets go', async () => {
  const a = new JobLock([etcd.endpoint], '/jl/', 'repair', 'g1');
  const b = new JobLock([etcd.endpoint], '/jl/', 'repair', 'g2');
  try {
    assert.ok(await a.holds());
    assert.ok(await a.holds(), 'still held');
    const grants = await leaseGrants();
    const reads = await handled('Range');
    for (let i = 0; i < 5; i++) assert.not.ok(await b.holds());
    assert.is(await leaseGrants(), grants, 'the stand-by granted no lease');
    assert.is(await handled('Range'), reads + 1, 'five tries, one read: the stand-by watches the key');
    await a.close();
    // The key's deletion reaches the stand-by's watch.
    await waitFor('the stand-by to take over once the holder let go', async () => ((await b.holds()) ? true : undefined), 5_000);
  } finally {
    await a.close();
    await b.close();
  }
});

test('the holder answers from its lease without reading etcd; a lost lease ends the hold', async () => {
  const a = new JobLock([etcd.endpoint], '/jl2/', 'repair', 'g1');
  const b = new JobLock([etcd.endpoint], '/jl2/', 'repair', 'g2');
  const admin = connectEtcd([etcd.endpoint]);
  try {
    assert.ok(await a.holds());
    const reads = await handled('Range');
    for (let i = 0; i < 10; i++) assert.ok(await a.holds(), 'still held');
    assert.is(await handled('Range'), reads, 'ten answers, no read of etcd');
    // The key's lease revoked behind the holder's back (as an expiry would
    // end it), and the stand-by takes the free key.
    const kv = (await admin.get('/jl2/repair/leader').exec()).kvs[0]!;
    await admin.leaseClient.leaseRevoke({ ID: kv.lease });
    assert.ok(await b.holds(), 'the stand-by takes the key');
    await waitFor('the old holder to let go once its keep-alive finds the lease gone', async () => ((await a.holds()) ? undefined : true), 10_000);
    assert.ok(await b.holds(), 'one holder');
  } finally {
    await a.close();
    await b.close();
    admin.close();
  }
});

test.run();
