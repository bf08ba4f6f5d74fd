/**
 * make bench-meta: committed metadata writes/s and latency with one
 * synchronous replica (3 nodes) against a standalone node without
 * replication, in the same run; then the failover write gap over repeated
 * master kills, without and with lease revocation (the supervisor's path).
 */
import { randomBytes } from 'node:crypto';
import { MetaClient } from '../../lib/rpc/clients/meta-client';
import { startEtcd, type EtcdHandle } from '../../test/harness/etcd';
import { MetaCluster } from '../../test/harness/meta-cluster';
import { MetaLoad } from '../../test/harness/meta-load';
import { waitFor } from '../../test/harness/wait';

const WRITES = Number(process.env.BENCH_META_WRITES ?? 4000);
const IN_FLIGHT = Number(process.env.BENCH_META_IN_FLIGHT ?? 64);
const KILLS = Number(process.env.BENCH_META_KILLS ?? 10);

interface Throughput {
  perSec: number;
  p50: number;
  p99: number;
}

const q = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

async function throughput(client: MetaClient, ns: string): Promise<Throughput> {
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < WRITES) {
        const i = next++;
        const hash = randomBytes(32).toString('hex');
        const s = performance.now();
        await client.commitVersion({ namespace: ns, path: `bench/${i}`, blocks: [{ hash, size: 500_000 }], locations: [{ hash, nodes: ['b1', 'b2', 'b3'] }] });
        lat.push(performance.now() - s);
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return { perSec: WRITES / secs, p50: q(lat, 0.5), p99: q(lat, 0.99) };
}

async function measure(etcd: EtcdHandle, prefix: string, standalone: boolean): Promise<Throughput> {
  const cluster = await MetaCluster.start(etcd, {
    nodes: standalone ? 1 : 3,
    standalone,
    extraArgs: ['--etcd-prefix', prefix, '--sync-replicas', standalone ? '0' : '1'],
  });
  try {
    const master = await cluster.waitForMaster();
    await master.client.createUser('bench', 'bench', 1e15);
    await throughput(master.client, 'bench'); // warm-up pass on the same paths' neighbours
    return await throughput(master.client, 'bench');
  } finally {
    await cluster.stop();
  }
}

async function failoverGaps(etcd: EtcdHandle, prefix: string, revoke: boolean): Promise<number[]> {
  const cluster = await MetaCluster.start(etcd, { extraArgs: ['--etcd-prefix', prefix] });
  const gaps: number[] = [];
  try {
    const m0 = await cluster.waitForMaster();
    await m0.client.createUser('u', 'u', 1e15);
    for (let i = 0; i < KILLS; i++) {
      const master = await cluster.waitForMaster();
      const oldEpoch = (await master.client.status()).epoch;
      const l = new MetaLoad({
        namespace: 'u', writers: 10, readers: 0, maxWrites: 100_000, maxMs: 60_000,
        writeNodes: async () => cluster.alive().map((n) => n.address),
        readNodes: async () => [],
      });
      l.start();
      await waitFor('writes flowing', () => l.acked.length >= 50, 20_000);
      master.proc.signal('SIGKILL');
      await master.proc.exited;
      if (revoke) {
        const other = cluster.alive()[0]!;
        await other.client.revokeMasterLease(master.id);
      }
      await waitFor('writes in the new term', () => l.acked.some((w) => w.epoch > oldEpoch), 30_000);
      await l.stop();
      gaps.push(l.writeGap(oldEpoch));
      await cluster.startNode(master.id);
      await cluster.waitForMaster();
    }
  } finally {
    await cluster.stop();
  }
  return gaps.sort((a, b) => a - b);
}

async function main(): Promise<void> {
  const etcd = await startEtcd();
  try {
    const single = await measure(etcd, '/bench-single/', true);
    const replicated = await measure(etcd, '/bench-sync/', false);
    const ratio = replicated.perSec / single.perSec;
    console.log(`\nmetadata commits, ${IN_FLIGHT} in flight, ${WRITES} writes, fsync on every node\n`);
    console.log('| setup | commits/s | p50 ms | p99 ms |');
    console.log('|---|---|---|---|');
    console.log(`| one node, no replication (baseline) | ${single.perSec.toFixed(0)} | ${single.p50.toFixed(1)} | ${single.p99.toFixed(1)} |`);
    console.log(`| master + 1 synchronous replica (3 nodes) | ${replicated.perSec.toFixed(0)} | ${replicated.p50.toFixed(1)} | ${replicated.p99.toFixed(1)} |`);
    console.log(`\nreplicated / baseline: ${(ratio * 100).toFixed(0)} % (goal ≥ 50 %)`);
    const ttl = await failoverGaps(etcd, '/bench-ttl/', false);
    const rev = await failoverGaps(etcd, '/bench-revoke/', true);
    console.log(`\nfailover write gap over ${KILLS} SIGKILLs of the master (lease TTL 2 s), ms:`);
    console.log(`| path | p50 | max | all |`);
    console.log('|---|---|---|---|');
    console.log(`| lease expiry (no supervisor) | ${q(ttl, 0.5)} | ${ttl[ttl.length - 1]} | ${ttl.join(', ')} |`);
    console.log(`| lease revoked at once (supervisor) | ${q(rev, 0.5)} | ${rev[rev.length - 1]} | ${rev.join(', ')} |`);
    console.log(JSON.stringify({ single, replicated, ratio, gapsTtl: ttl, gapsRevoke: rev }));
  } finally {
    await etcd.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
