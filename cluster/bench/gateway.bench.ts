/**
 * make bench-gateway: the public API through two gateways (SDK balancing
 * over both), 3 replicas, W = 2, fsync everywhere — beside baselines run in
 * the same script: raw block-daemon puts (one copy, no metadata) and a bare
 * gRPC call (health check) to a gateway.
 */
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { BlockdClient } from '../../lib/rpc/clients/blockd-client';
import { loadProtos } from '../../lib/rpc/proto';
import { sha256Hex } from '../../lib/hash';
import { FullCluster } from '../../test/harness/full-cluster';

const IN_FLIGHT = 16;

interface Stat {
  ops: number;
  perSec: number;
  mbPerSec: number;
  p50: number;
  p95: number;
  p99: number;
}

async function run(n: number, inFlight: number, op: (i: number) => Promise<number>): Promise<Stat> {
  const lat: number[] = [];
  let bytes = 0;
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < n) {
        const i = next++;
        const s = performance.now();
        const b = await op(i);
        bytes += b;
        lat.push(performance.now() - s);
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(lat.length * p))]!;
  return { ops: n, perSec: n / secs, mbPerSec: bytes / secs / 1e6, p50: q(0.5), p95: q(0.95), p99: q(0.99) };
}

/** File sizes from a few KB to a few MB, averaging about 500 KB. */
function mixSize(): number {
  const s = Math.round(Math.exp(Math.log(250_000) + 1.15 * gaussian()));
  return Math.max(4_000, Math.min(4_000_000, s));
}

function gaussian(): number {
  return Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random());
}

const fmt = (s: Stat) => `${s.perSec.toFixed(0)} ops/s, ${s.mbPerSec.toFixed(1)} MB/s, p50 ${s.p50.toFixed(1)} / p95 ${s.p95.toFixed(1)} / p99 ${s.p99.toFixed(1)} ms`;

async function main(): Promise<void> {
  const c = await FullCluster.start();
  try {
    const { client } = await c.user('bench', 1e15);
    const rows: Array<[string, Stat]> = [];

    // Baseline 1: a bare gRPC call to a gateway.
    const { protos } = loadProtos();
    const health = new protos.grpc.health.v1.Health(c.gatewayAddresses()[0]!, grpc.credentials.createInsecure());
    const check = () => new Promise<number>((resolve, reject) => health.check({ service: '' }, (err) => (err ? reject(err) : resolve(0))));
    await run(200, IN_FLIGHT, check);
    rows.push(['baseline: bare gRPC call (health check)', await run(3000, IN_FLIGHT, check)]);
    health.close();

    // Baseline 2: raw block-daemon puts, one copy, no metadata.
    const blockd = new BlockdClient([...c.blockds.values()][0]!.address);
    const raw64 = Array.from({ length: 1000 }, () => randomBytes(65536));
    rows.push(['baseline: raw BlockDaemon.PutBlock 64 KiB (1 copy)', await run(raw64.length, IN_FLIGHT, async (i) => (await blockd.putBlock(sha256Hex(raw64[i]!), raw64[i]!), 65536))]);
    blockd.close();

    const files64 = Array.from({ length: 1000 }, () => randomBytes(65536));
    rows.push(['PutFile 64 KiB (3 copies, W=2)', await run(files64.length, IN_FLIGHT, async (i) => (await client.put(`b64/${i}`, files64[i]!), 65536))]);
    rows.push(['GetFile 64 KiB', await run(files64.length, IN_FLIGHT, async (i) => (await client.get(`b64/${(i * 7) % files64.length}`)).length)]);
    const files1m = Array.from({ length: 150 }, () => randomBytes(1024 * 1024));
    rows.push(['PutFile 1 MiB (3 copies, W=2)', await run(files1m.length, 8, async (i) => (await client.put(`b1m/${i}`, files1m[i]!), 1048576))]);
    rows.push(['GetFile 1 MiB', await run(files1m.length, 8, async (i) => (await client.get(`b1m/${(i * 7) % files1m.length}`)).length)]);

    // The chapter's mix: ~500 KB average, half reads, half writes.
    const written: string[] = [];
    const pre = Array.from({ length: 50 }, () => randomBytes(mixSize()));
    await run(pre.length, 8, async (i) => (await client.put(`mix/pre-${i}`, pre[i]!), written.push(`mix/pre-${i}`), 0));
    const payloads = Array.from({ length: 300 }, () => randomBytes(mixSize()));
    rows.push([
      'mix: ~500 KB files, 50 % PutFile / 50 % GetFile',
      await run(600, IN_FLIGHT, async (i) => {
        if (i % 2 === 0) {
          const p = payloads[i / 2]!;
          await client.put(`mix/${i}`, p);
          written.push(`mix/${i}`);
          return p.length;
        }
        return (await client.get(written[Math.floor(Math.random() * written.length)]!)).length;
      }),
    ]);

    console.log(`\nthrough 2 gateways, 3 metadata nodes (1 synchronous replica), 3 block daemons (R=3, W=2), fsync everywhere; ${IN_FLIGHT} in flight unless noted\n`);
    console.log('| operation | result |');
    console.log('|---|---|');
    for (const [name, s] of rows) console.log(`| ${name} | ${fmt(s)} |`);
    const put64 = rows.find(([n]) => n.startsWith('PutFile 64'))![1];
    const raw = rows.find(([n]) => n.includes('raw'))![1];
    console.log(`\nPutFile 64 KiB / raw PutBlock 64 KiB: ${((put64.perSec / raw.perSec) * 100).toFixed(0)} %; target 480 uploads/s: ${((put64.perSec / 480) * 100).toFixed(0)} % of it`);
    console.log(JSON.stringify(Object.fromEntries(rows)));
  } finally {
    await c.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
