/**
 * The one-worker lock against a real etcd: one holder at a time, the
 * stand-by takes over when the holder lets go, and a stand-by's tries cost
 * etcd a read each, not a lease granted and revoked.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { JobLock } from '../../coordination/job-lock';
import { startEtcd, type EtcdHandle } from '../harness/etcd';

const test = suite('job lock');
let etcd: EtcdHandle;

test.before(async () => {
  etcd = await startEtcd();
});

test.after(async () => {
  await etcd?.stop();
});

/** etcd's count of LeaseGrant calls so far. */
async function leaseGrants(): Promise<number> {
  const text = await (await fetch(`${etcd.endpoint}/metrics`)).text();
  return Number(/^grpc_server_handled_total\{grpc_code="OK",grpc_method="LeaseGrant"[^}]*\} (\d+)$/m.exec(text)?.[1] ?? 0);
}

test('one holder; the stand-by only reads, and takes over when the holder lets go', async () => {
  const a = new JobLock([etcd.endpoint], '/jl/', 'repair', 'g1');
  const b = new JobLock([etcd.endpoint], '/jl/', 'repair', 'g2');
  try {
    assert.ok(await a.holds());
    assert.ok(await a.holds(), 'still held');
    const grants = await leaseGrants();
    for (let i = 0; i < 5; i++) assert.not.ok(await b.holds());
    assert.is(await leaseGrants(), grants, 'the stand-by granted no lease');
    await a.close();
    assert.ok(await b.holds(), 'taken over once the holder let go');
  } finally {
    await a.close();
    await b.close();
  }
});

test.run();
