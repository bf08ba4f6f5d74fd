/**
 * Whole-cluster stops and restarts of real metadata processes over a real
 * etcd, in shuffled orders, orderly (SIGTERM) and not (SIGKILL), with one
 * node that the synchronous set names losing its disk each time. The rule
 * under test: a node that does not hold every committed entry never becomes
 * master; the cluster waits for one that does, and nothing acknowledged is
 * lost. Rounds: META_RESTART_ROUNDS (default 2); seed: META_RESTART_SEED.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { silentLogger } from '../../lib/logger';
import { MetaElection } from '../../coordination/meta-election';
import { startEtcd, type EtcdHandle } from '../harness/etcd';
import { MetaCluster } from '../harness/meta-cluster';
import { seededRandom, shuffle } from '../harness/random';
import { removeDir } from '../harness/temp';
import { fail, waitFor } from '../harness/wait';

const test = suite('metadata full restarts');

let etcd: EtcdHandle;
const ROUNDS = Number(process.env.META_RESTART_ROUNDS ?? 2);

test.before(async () => {
  etcd = await startEtcd();
});

test.after(async () => {
  await etcd?.stop();
});

/** Fails if node `id` becomes master at any time within `ms` (a bounded watch, polled). */
async function neverMasterWithin(cluster: MetaCluster, id: string, ms: number): Promise<void> {
  const until = Date.now() + ms;
  const node = cluster.nodes.get(id)!;
  while (Date.now() < until) {
    const s = await node.client.status({ timeoutMs: 500 }).catch(() => undefined);
    if (s?.role === 'master') assert.unreachable(`${id}, which lacks committed entries, became master (applied ${s.appliedSeq})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('full stops in every order, one node the synchronous set names wiped: it never leads, nothing committed is lost', async () => {
  const seed = Number(process.env.META_RESTART_SEED ?? Math.floor(Math.random() * 1e9));
  const rnd = seededRandom(seed);
  const prefix = `/restart-${seed}/`;
  const cluster = await MetaCluster.start(etcd, { extraArgs: ['--etcd-prefix', prefix] });
  const coordinator = new MetaElection({ etcd: [etcd.endpoint], prefix, ttlSeconds: 2, logger: silentLogger });
  const users: string[] = [];
  const ids = ['m1', 'm2', 'm3'];
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      const master = await cluster.waitForMaster(20_000);
      for (let i = 0; i < 10; i++) {
        const id = `r${round}u${i}`;
        await master.client.createUser(id, id, 1);
        users.push(id);
      }
      const orderly = round % 2 === 1;
      const order = shuffle(ids, rnd);
      if (orderly) {
        for (const id of order) await cluster.nodes.get(id)!.proc.stop(10_000);
      } else {
        for (const id of order) cluster.nodes.get(id)!.proc.signal('SIGKILL');
        await Promise.all(ids.map((id) => cluster.nodes.get(id)!.proc.exited));
      }
      const { record } = await coordinator.readSyncSet();
      assert.ok(record, 'a synchronous set was published');
      const named = [record.master, ...record.members];
      const victim = named[Math.floor(rnd() * named.length)]!;
      const why = `seed ${seed}, round ${round}: ${orderly ? 'SIGTERM' : 'SIGKILL'} in order ${order.join(',')}, record ${JSON.stringify(record)}, wiped ${victim}`;
      removeDir(cluster.nodes.get(victim)!.dataDir);
      // Alone, the wiped node must not lead: it holds nothing.
      await cluster.startNode(victim);
      await neverMasterWithin(cluster, victim, 3000).catch((err: Error) => fail(`${err.message} (${why})`));
      for (const id of shuffle(ids.filter((x) => x !== victim), rnd)) await cluster.startNode(id);
      const m = await cluster.waitForMaster(30_000).catch((err: Error) => fail(`${err.message} (${why})`));
      for (const u of users) {
        const got = await m.client.getUser(u).catch((err: Error) => fail(`user ${u} lost on master ${m.id}: ${err.message} (${why})`));
        assert.is(got.user?.id, u);
      }
      const { appliedSeq } = await m.client.status();
      await cluster.waitApplied(appliedSeq, 20_000);
      for (const n of cluster.alive()) {
        const got = await n.client.getUser(users[users.length - 1]!, appliedSeq);
        assert.is(got.user?.id, users[users.length - 1], `${n.id} caught up (${why})`);
      }
      console.log(`  round ${round}: ${orderly ? 'SIGTERM' : 'SIGKILL'} ${order.join(',')}, wiped ${victim}, new master ${m.id}, ${users.length} users intact`);
    }
  } finally {
    coordinator.close();
    await cluster.stop();
  }
});

test('a lagging asynchronous replica alone after an orderly stop does not lead; the cluster waits for a node with the full log', async () => {
  const prefix = `/lagging-${Date.now()}/`;
  const cluster = await MetaCluster.start(etcd, { extraArgs: ['--etcd-prefix', prefix] });
  try {
    const master = await cluster.waitForMaster(20_000);
    const st = await master.client.status();
    const member = st.syncReplicas[0]!;
    const lagging = cluster.nodes.get(['m1', 'm2', 'm3'].find((id) => id !== master.id && id !== member)!)!;
    for (let i = 0; i < 10; i++) await master.client.createUser(`early${i}`, 'e', 1);
    const { appliedSeq } = await master.client.status();
    await cluster.waitApplied(appliedSeq, 15_000);
    // The asynchronous replica freezes; writes go on without it.
    lagging.proc.signal('SIGSTOP');
    for (let i = 0; i < 10; i++) await master.client.createUser(`late${i}`, 'l', 1);
    await cluster.nodes.get(member)!.proc.stop(10_000);
    await master.proc.stop(10_000);
    lagging.proc.signal('SIGKILL');
    await lagging.proc.exited;
    await cluster.startNode(lagging.id);
    await neverMasterWithin(cluster, lagging.id, 3000);
    const s = await cluster.nodes.get(lagging.id)!.client.status();
    assert.is(s.role, 'replica');
    await cluster.startNode(member);
    const m = await cluster.waitForMaster(30_000);
    for (let i = 0; i < 10; i++) assert.is((await m.client.getUser(`late${i}`)).user?.id, `late${i}`);
    const now = await m.client.status();
    await cluster.waitApplied(now.appliedSeq, 20_000);
    assert.is((await cluster.nodes.get(lagging.id)!.client.getUser('late9', now.appliedSeq)).user?.id, 'late9', 'the lagging node caught up');
  } finally {
    await cluster.stop();
  }
});

test.run();
