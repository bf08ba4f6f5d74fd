/**
 * The master cut off from etcd only (a frozen TCP proxy between it and
 * etcd; the replicas still reach both): it must stop acknowledging before
 * its lease can expire, a replica takes over, and nothing acknowledged is
 * lost. Also: the supervisor's lease revocation makes failover immediate.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startEtcd, type EtcdHandle } from '../harness/etcd';
import { checkHistory, MetaLoad } from '../harness/meta-load';
import { MetaCluster } from '../harness/meta-cluster';
import { TcpProxy } from '../harness/tcp-proxy';
import { waitFor } from '../harness/wait';

const test = suite('metadata master partitioned from etcd');
let etcd: EtcdHandle;
const proxies = new Map<string, TcpProxy>();

test.before(async () => {
  etcd = await startEtcd();
  for (const id of ['m1', 'm2', 'm3']) {
    const p = new TcpProxy(etcd.clientPort);
    await p.start();
    proxies.set(id, p);
  }
});

test.after(async () => {
  for (const p of proxies.values()) await p.stop();
  await etcd?.stop();
});

test('a master that cannot reach etcd self-fences before its lease expires; a replica takes over; 0 writes lost', async () => {
  const cluster = await MetaCluster.start(etcd, {
    etcdFor: (id) => `http://127.0.0.1:${proxies.get(id)!.port}`,
    extraArgs: ['--etcd-prefix', '/part/'],
  });
  try {
    const master = await cluster.waitForMaster();
    await master.client.createUser('u1', 'u', 1e15);
    const replicas = cluster.alive().filter((n) => n.id !== master.id);
    const l = new MetaLoad({
      namespace: 'u1', writers: 20, readers: 2, maxWrites: 20_000, maxMs: 40_000,
      writeNodes: async () => cluster.alive().map((n) => n.address),
      readNodes: async () => replicas.map((n) => n.address),
    });
    l.start();
    await waitFor('100 acknowledged writes', () => l.acked.length >= 100, 30_000);
    const blockedAt = Date.now();
    proxies.get(master.id)!.block();
    let fencedAt = 0;
    let newMasterAt = 0;
    await waitFor('the old master to fence and a new one to lead', async () => {
      if (!fencedAt) {
        const s = await master.client.status({ timeoutMs: 300 }).catch(() => undefined);
        if (s && !s.acceptingWrites) fencedAt = Date.now();
      }
      if (!newMasterAt) {
        for (const r of replicas) {
          const s = await r.client.status({ timeoutMs: 300 }).catch(() => undefined);
          if (s?.role === 'master') newMasterAt = Date.now();
        }
      }
      return fencedAt && newMasterAt;
    }, 20_000, 20);
    console.log(`  fenced ${fencedAt - blockedAt} ms after the cut; new master ${newMasterAt - blockedAt} ms after it`);
    assert.ok(fencedAt <= newMasterAt, 'the old master stopped before the new one started');
    assert.ok(fencedAt - blockedAt < 2000, 'fenced within the 2 s lease TTL');
    await waitFor('writes in the new term', () => l.acked.filter((w) => w.ended > newMasterAt).length >= 100, 30_000);
    proxies.get(master.id)!.unblock();
    await waitFor('the old master back as a replica', async () => (await master.client.status({ timeoutMs: 500 }).catch(() => undefined))?.role === 'replica', 20_000);
    await l.stop();
    const lateOld = l.acked.filter((w) => w.ended > fencedAt + 200 && w.epoch < Math.max(...l.acked.map((x) => x.epoch)) && w.started > fencedAt);
    assert.equal(lateOld.map((w) => w.path), [], 'writes started after the fence and acknowledged by the old term');
    const top = Math.max(...l.acked.map((w) => w.position));
    await cluster.waitApplied(top);
    for (const n of cluster.alive()) assert.equal((await checkHistory(n.client, 'u1', l.writes, top)).slice(0, 5), []);
    assert.equal(l.readErrors.slice(0, 5), []);
  } finally {
    await cluster.stop();
  }
});

test('RevokeMasterLease after the master process died: failover without waiting for the TTL', async () => {
  const cluster = await MetaCluster.start(etcd, { extraArgs: ['--etcd-prefix', '/revoke/', '--lease-ttl', '10'], leaseTtl: 10 });
  try {
    const master = await cluster.waitForMaster();
    await master.client.createUser('u1', 'u', 1e15);
    const [r1] = cluster.alive().filter((n) => n.id !== master.id);
    // A live master is never revoked by name mismatch.
    assert.is((await r1!.client.revokeMasterLease('not-the-master')).revoked, false);
    master.proc.signal('SIGKILL');
    await master.proc.exited;
    const t0 = Date.now();
    assert.is((await r1!.client.revokeMasterLease(master.id)).revoked, true);
    const next = await cluster.waitForMaster(10_000, master.id);
    const gap = Date.now() - t0;
    console.log(`  failover after lease revocation: ${gap} ms (TTL 10 s)`);
    assert.ok(gap < 3000);
    const w = await next.client.commitVersion({ namespace: 'u1', path: 'after-revoke', blocks: [] });
    assert.ok(w.result!.position > 0);
  } finally {
    await cluster.stop();
  }
});

test.run();
