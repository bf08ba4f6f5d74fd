/**
 * make bench-load: the QAS load generator (cluster/qas/load.ts) with no
 * faults, on a cluster of real processes (etcd, 3 metadata nodes, 3 block
 * daemons, 2 gateways; R = 3, W = 2, fsync everywhere), driven as hard as
 * it goes (open loop far above capacity, BENCH_LOAD_IN_FLIGHT calls in
 * flight). Each mix is reported beside two baselines measured in the same
 * run: a bare gRPC call to a gateway (health check: the transport ceiling)
 * and StatFile alone (the cheapest call through every layer: token check
 * and a metadata read).
 */
import * as grpc from '@grpc/grpc-js';
import { loadProtos } from '../../lib/rpc/proto';
import { LoadGenerator, quantile } from '../qas/load';
import type { CallRecord } from '../qas/history';
import { FullCluster } from '../../test/harness/full-cluster';
import { cpuMs } from './proc-stats';

const SECONDS = Number(process.env.BENCH_LOAD_SECONDS ?? 15);
const IN_FLIGHT = Number(process.env.BENCH_LOAD_IN_FLIGHT ?? 32);

interface Row {
  name: string;
  seconds: number;
  perSec: number;
  mbPerSec: number;
  p50: number;
  p95: number;
  p99: number;
  failed: number;
  /** CPU ms per successful call, by role (the load generator is "client"). */
  cpu?: Record<string, number>;
}

const ROLES = ['gateway', 'blockd', 'meta', 'etcd', 'client'] as const;

function rolePids(c: FullCluster): Array<{ role: string; pid: number }> {
  return [
    ...[...c.gateways.values()].map((n) => ({ role: 'gateway', pid: n.proc.pid })),
    ...[...c.blockds.values()].map((n) => ({ role: 'blockd', pid: n.proc.pid })),
    ...[...c.meta.nodes.values()].map((n) => ({ role: 'meta', pid: n.proc.pid })),
    { role: 'etcd', pid: c.etcd.proc.pid },
  ];
}

/** CPU ms by role so far (the bench's own process is the client). */
function roleCpu(c: FullCluster): Record<string, number> {
  const out: Record<string, number> = Object.fromEntries(ROLES.map((r) => [r, 0]));
  for (const { role, pid } of rolePids(c)) out[role]! += cpuMs(pid);
  const own = process.cpuUsage();
  out.client = (own.user + own.system) / 1000;
  return out;
}

/** Runs a row, adding CPU per successful call by role. */
async function measured(c: FullCluster, run: () => Promise<Row>): Promise<Row> {
  const before = roleCpu(c);
  const row = await run();
  const after = roleCpu(c);
  const calls = Math.max(1, row.perSec * row.seconds);
  row.cpu = Object.fromEntries(ROLES.map((r) => [r, (after[r]! - before[r]!) / calls]));
  return row;
}

function summarize(name: string, h: CallRecord[], seconds: number): Row {
  const ok = h.filter((r) => r.status === 'OK');
  return {
    name,
    seconds,
    perSec: ok.length / seconds,
    mbPerSec: ok.reduce((a, r) => a + r.bytes, 0) / seconds / 1e6,
    p50: quantile(ok, 0.5),
    p95: quantile(ok, 0.95),
    p99: quantile(ok, 0.99),
    failed: h.length - ok.length,
  };
}

async function mix(c: FullCluster, token: string, name: string, writeFraction: number, averageBytes: number, readKinds?: 'stat'): Promise<Row> {
  const client = c.client(token);
  const gen = new LoadGenerator(client, { rate: () => 5000, durationMs: SECONDS * 1000, maxInFlight: IN_FLIGHT, writeFraction, averageBytes, prefix: `bench-${name.replace(/\W+/g, '-')}` });
  if (readKinds === 'stat') {
    // Seed a few files, then time StatFile alone.
    const seed = new LoadGenerator(client, { rate: () => 50, durationMs: 400, maxInFlight: 4, writeFraction: 1, averageBytes: 4000, prefix: 'bench-stat' });
    await seed.run();
    const paths = seed.history.filter((r) => r.status === 'OK').map((r) => r.path!);
    const h: CallRecord[] = [];
    const t0 = Date.now();
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async (_, w) => {
        for (let i = 0; Date.now() - t0 < SECONDS * 1000; i++) {
          const rec: CallRecord = { start: Date.now(), end: 0, method: 'StatFile', status: 'OK', bytes: 0 };
          await client.stat(paths[(w + i) % paths.length]!).catch(() => (rec.status = 'FAILED'));
          rec.end = Date.now();
          h.push(rec);
        }
      }),
    );
    return summarize(name, h, (Date.now() - t0) / 1000);
  }
  const t0 = Date.now();
  await gen.run();
  return summarize(name, gen.history, (Date.now() - t0) / 1000);
}

async function health(address: string): Promise<Row> {
  const { protos } = loadProtos();
  const h = new protos.grpc.health.v1.Health(address, grpc.credentials.createInsecure());
  const lat: CallRecord[] = [];
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (Date.now() - t0 < SECONDS * 1000) {
        const rec: CallRecord = { start: Date.now(), end: 0, method: 'Check', status: 'OK', bytes: 0 };
        await new Promise<void>((resolve) => h.check({ service: '' }, (err) => ((rec.status = err ? 'FAILED' : 'OK'), resolve())));
        rec.end = Date.now();
        lat.push(rec);
      }
    }),
  );
  h.close();
  return summarize('baseline: bare gRPC health check (one gateway)', lat, (Date.now() - t0) / 1000);
}

async function main(): Promise<void> {
  const c = await FullCluster.start({ gatewayArgs: ['--log-level', 'warn'] });
  try {
    const { token } = await c.user('bench', 1e13);
    const rows: Row[] = [];
    rows.push(await health(c.gatewayAddresses()[0]!));
    rows.push(await measured(c, () => mix(c, token, 'baseline: StatFile only (token check + metadata read)', 0, 0, 'stat')));
    rows.push(await measured(c, () => mix(c, token, 'QAS mix: ~500 KB files, half writes', 0.5, 500_000)));
    rows.push(await measured(c, () => mix(c, token, 'small files: ~16 KB, one write in five', 0.2, 16_000)));
    rows.push(await measured(c, () => mix(c, token, 'writes only: ~500 KB files', 1, 500_000)));
    const stat = rows[1]!.perSec;
    const bare = rows[0]!.perSec;
    console.log(`\nload generator, no faults: ${SECONDS} s per row, ${IN_FLIGHT} calls in flight, 2 gateways, R=3 W=2\n`);
    console.log(`| workload | calls/s | MB/s | p50 ms | p95 ms | p99 ms | failed | vs bare gRPC | vs StatFile | ${ROLES.map((r) => `${r} ms CPU/call`).join(' | ')} |`);
    console.log(`|---|---|---|---|---|---|---|---|---|${ROLES.map(() => '---|').join('')}`);
    for (const r of rows) {
      const cpu = ROLES.map((role) => (r.cpu ? r.cpu[role]!.toFixed(2) : '—')).join(' | ');
      console.log(`| ${r.name} | ${r.perSec.toFixed(0)} | ${r.mbPerSec.toFixed(1)} | ${r.p50} | ${r.p95} | ${r.p99} | ${r.failed} | ${((r.perSec / bare) * 100).toFixed(1)} % | ${((r.perSec / stat) * 100).toFixed(1)} % | ${cpu} |`);
    }
  } finally {
    await c.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
