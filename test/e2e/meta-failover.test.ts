/**
 * QAS-002 on real processes: three metadata nodes over a real etcd, writers
 * and readers running, the master SIGKILLed / SIGSTOPped. Nothing
 * acknowledged may be lost, reads never fail, writes come back within
 * seconds, and the old master rejoins as a replica.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startEtcd, type EtcdHandle } from '../harness/etcd';
import { checkHistory, MetaLoad } from '../harness/meta-load';
import { MetaCluster, type MetaNodeHandle } from '../harness/meta-cluster';
import { waitFor } from '../harness/wait';

const test = suite('metadata failover');
let etcd: EtcdHandle;
const KILLS = Number(process.env.META_KILL_ROUNDS ?? 3);

test.before(async () => {
  etcd = await startEtcd();
});

test.after(async () => {
  await etcd?.stop();
});

async function setup(prefix: string, extraArgs: string[] = []): Promise<{ cluster: MetaCluster; master: MetaNodeHandle; ns: string }> {
  const cluster = await MetaCluster.start(etcd, { extraArgs: ['--etcd-prefix', prefix, ...extraArgs] });
  const master = await cluster.waitForMaster();
  const ns = 'u1';
  await master.client.createUser(ns, 'load user', 1e15);
  return { cluster, master, ns };
}

function load(cluster: MetaCluster, ns: string, replicas: MetaNodeHandle[], maxMs = 40_000): MetaLoad {
  return new MetaLoad({
    namespace: ns,
    writers: 50,
    readers: 4,
    writeNodes: async () => cluster.alive().map((n) => n.address),
    readNodes: async () => replicas.map((n) => n.address),
    maxWrites: 20_000,
    maxMs,
  });
}

async function verify(cluster: MetaCluster, l: MetaLoad, ns: string): Promise<void> {
  const master = await cluster.waitForMaster();
  const top = Math.max(0, ...l.acked.map((w) => w.position));
  await cluster.waitApplied(top);
  for (const n of cluster.alive()) {
    const problems = await checkHistory(n.client, ns, l.writes, top);
    if (problems.length) {
      // Keep the evidence: every node's last log lines (run with META_LOG_LEVEL=info for more).
      for (const m of cluster.nodes.values()) console.error(`--- ${m.id}\n${m.proc.output().split('\n').slice(-40).join('\n')}`);
    }
    assert.equal(problems.slice(0, 5), [], `${n.id}: ${problems.length} problems`);
  }
  assert.equal(l.readErrors.slice(0, 5), [], `${l.readErrors.length} failed reads`);
  assert.ok(master);
}

test(`SIGKILL the master under 50 writers, ${KILLS} rounds: 0 acknowledged writes lost, 0 failed reads`, async () => {
  const { cluster, ns } = await setup('/kill/');
  const gaps: number[] = [];
  try {
    for (let round = 0; round < KILLS; round++) {
      const master = await cluster.waitForMaster();
      const replicas = cluster.alive().filter((n) => n.id !== master.id);
      const oldEpoch = (await master.client.status()).epoch;
      const l = load(cluster, ns, replicas);
      l.start();
      await waitFor('200 acknowledged writes', () => l.acked.length >= 200, 30_000);
      const killedAt = Date.now();
      master.proc.signal('SIGKILL');
      await master.proc.exited;
      await waitFor('200 acknowledged writes after the kill', () => l.acked.filter((w) => w.ended > killedAt).length >= 200, 30_000);
      await l.stop();
      const gap = l.writeGap(oldEpoch);
      gaps.push(gap);
      const newMaster = await cluster.waitForMaster();
      assert.is.not(newMaster.id, master.id);
      await verify(cluster, l, ns);
      console.log(`  round ${round + 1}: ${l.acked.length} acknowledged, ${l.writes.length - l.acked.length} unknown, ${l.reads} reads, write gap ${gap} ms`);
      // The killed node comes back with its data and rejoins as a replica.
      const back = await cluster.startNode(master.id);
      await waitFor('the old master to follow the new one', async () => {
        const s = await back.client.status();
        return s.role === 'replica' && s.masterId === newMaster.id && s.appliedSeq >= Math.max(...l.acked.map((w) => w.position));
      }, 20_000);
    }
    console.log(`  write gaps (ms): ${gaps.join(', ')}`);
    assert.ok(Math.max(...gaps) < 10_000, `write gap within seconds: ${gaps.join(', ')}`);
  } finally {
    await cluster.stop();
  }
});

test('SIGSTOP the master beyond its TTL, then SIGCONT: it acknowledges nothing after the new term began, and rejoins as a replica', async () => {
  const { cluster, ns } = await setup('/stop/');
  try {
    const master = await cluster.waitForMaster();
    const oldEpoch = (await master.client.status()).epoch;
    const replicas = cluster.alive().filter((n) => n.id !== master.id);
    const l = load(cluster, ns, replicas);
    l.start();
    await waitFor('100 acknowledged writes', () => l.acked.length >= 100, 30_000);
    const stoppedAt = Date.now();
    master.proc.signal('SIGSTOP');
    const newMaster = await cluster.waitForMaster(20_000, master.id);
    const newEpoch = (await newMaster.client.status()).epoch;
    assert.ok(newEpoch > oldEpoch);
    await waitFor('100 writes in the new term', () => l.acked.filter((w) => w.epoch === newEpoch).length >= 100, 30_000);
    const contAt = Date.now();
    master.proc.signal('SIGCONT');
    await waitFor('the old master to rejoin as a replica', async () => {
      const s = await master.client.status({ timeoutMs: 1000 }).catch(() => undefined);
      return s?.role === 'replica' && s.masterId === newMaster.id;
    }, 20_000);
    await waitFor('a few more writes', () => l.acked.filter((w) => w.ended > Date.now() - 500).length >= 20, 20_000);
    await l.stop();
    const lateOld = l.acked.filter((w) => w.epoch === oldEpoch && w.ended > stoppedAt + 1000);
    assert.equal(lateOld.map((w) => w.path), [], 'writes acknowledged by the paused master after it was paused');
    assert.ok(contAt > stoppedAt);
    await verify(cluster, l, ns);
    const s = await master.client.status();
    assert.is(s.role, 'replica');
  } finally {
    await cluster.stop();
  }
});

test('wipe a replica and restart it under writes: it bootstraps from a snapshot, catches up and rejoins the synchronous set', async () => {
  const { cluster, ns } = await setup('/wipe/', ['--sync-replicas', '2']);
  try {
    const master = await cluster.waitForMaster();
    await waitFor('both replicas synchronous', async () => (await master.client.status()).syncReplicas.length === 2);
    const [victim, other] = cluster.alive().filter((n) => n.id !== master.id);
    const l = load(cluster, ns, [other!]);
    l.start();
    await waitFor('100 acknowledged writes', () => l.acked.length >= 100, 30_000);
    victim!.proc.signal('SIGKILL');
    await victim!.proc.exited;
    await waitFor('the master to drop the dead replica from the synchronous set', async () => (await master.client.status()).syncReplicas.length === 1, 10_000);
    const { rmSync, mkdirSync } = await import('node:fs');
    rmSync(victim!.dataDir, { recursive: true, force: true });
    mkdirSync(victim!.dataDir);
    const before = l.acked.length;
    await waitFor('writes continuing with one synchronous replica', () => l.acked.length >= before + 100, 20_000);
    const back = await cluster.startNode(victim!.id);
    await waitFor('the wiped replica back in the synchronous set', async () => (await master.client.status()).syncReplicas.includes(back.id), 20_000);
    const mark = l.acked.length;
    await waitFor('more writes with both replicas', () => l.acked.length >= mark + 100, 20_000);
    await l.stop();
    await verify(cluster, l, ns);
    assert.is((await back.client.status()).snapshotsInstalled, 1, 'the wiped replica bootstrapped from a snapshot');
  } finally {
    await cluster.stop();
  }
});

test('log compaction under writes: a replica left behind the compacted log catches up from a snapshot; failover after compaction loses nothing; every log stays bounded', async () => {
  const RETAIN = 50;
  const { cluster, ns } = await setup('/compact/', ['--log-retain', String(RETAIN), '--log-compact-interval-ms', '200']);
  try {
    const master = await cluster.waitForMaster();
    const [victim, other] = cluster.alive().filter((n) => n.id !== master.id);
    const l = load(cluster, ns, [other!]);
    l.start();
    await waitFor('300 acknowledged writes', () => l.acked.length >= 300, 30_000);
    await waitFor('the master compacting its log', async () => (await master.client.status()).logStart > 1, 10_000);
    victim!.proc.signal('SIGKILL');
    await victim!.proc.exited;
    const left = await (async () => {
      const { MetaStore } = await import('../../meta/store/meta-store');
      const st = new MetaStore(victim!.dataDir);
      await st.open();
      const last = st.last.seq;
      await st.close();
      return last;
    })();
    await waitFor('the master to compact past what the stopped replica holds', async () => (await master.client.status()).logStart > left + 1, 30_000);
    const back = await cluster.startNode(victim!.id);
    await waitFor('the replica caught up from a snapshot', async () => {
      const [m, b] = await Promise.all([master.client.status(), back.client.status()]);
      return b.snapshotsInstalled >= 1 && b.appliedSeq >= m.commitSeq - RETAIN;
    }, 30_000);
    // Failover after compaction: the new master's log has been compacted too.
    const mark = l.acked.length;
    master.proc.signal('SIGKILL');
    await master.proc.exited;
    await cluster.waitForMaster(15_000, master.id);
    await waitFor('200 more acknowledged writes after the failover', () => l.acked.length >= mark + 200, 30_000);
    await l.stop();
    await cluster.startNode(master.id);
    await verify(cluster, l, ns);
    for (const n of cluster.alive()) {
      await waitFor(`${n.id}'s log bounded by the retention`, async () => {
        const st = await n.client.status();
        return st.lastSeq - st.logStart + 1 <= RETAIN + 1;
      }, 10_000);
    }
  } finally {
    await cluster.stop();
  }
});

test.run();
