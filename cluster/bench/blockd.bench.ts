/**
 * make bench-blockd: block daemon put/get through gRPC, durable (fsync),
 * 16 in flight, against raw LevelDB puts with the same durability in the
 * same run. Reports ops/s, MB/s and the ratio (goal: gRPC put ≥ 60 % of raw).
 *
 * The daemon runs as its own process (as deployed); the client is this one.
 */
import { randomBytes } from 'node:crypto';
import { Level } from 'level';
import { sha256Hex } from '../../lib/hash';
import { BlockdClient } from '../../lib/rpc/clients/blockd-client';
import { startBlockstore, waitListening } from '../../test/harness/process';
import { makeTempDir, removeDir } from '../../test/harness/temp';

const IN_FLIGHT = 16;
const CASES = [
  { label: '64 KiB', size: 64 * 1024, ops: Number(process.env.BENCH_OPS_64K ?? 3000) },
  { label: '1 MiB', size: 1024 * 1024, ops: Number(process.env.BENCH_OPS_1M ?? 600) },
];

interface Result {
  opsPerSec: number;
  mbPerSec: number;
}

async function runPool(n: number, op: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < n) await op(next++);
    }),
  );
  return Number(process.hrtime.bigint() - started) / 1e9;
}

function result(n: number, size: number, seconds: number): Result {
  return { opsPerSec: n / seconds, mbPerSec: (n * size) / seconds / 1e6 };
}

function blocks(n: number, size: number): Array<{ hash: string; data: Buffer }> {
  return Array.from({ length: n }, () => {
    const data = randomBytes(size);
    return { hash: sha256Hex(data), data };
  });
}

async function rawLevel(size: number, n: number): Promise<Result> {
  const dir = makeTempDir('bench-raw');
  const db = new Level<string, Buffer>(dir, {
    keyEncoding: 'utf8',
    valueEncoding: 'buffer',
    writeBufferSize: 64 * 1024 * 1024,
    maxFileSize: 64 * 1024 * 1024,
    compression: false,
  });
  await db.open();
  const data = blocks(n, size);
  try {
    const s = await runPool(n, (i) => db.put(`d!${data[i]!.hash}`, data[i]!.data, { sync: true }));
    return result(n, size, s);
  } finally {
    await db.close();
    removeDir(dir);
  }
}

async function main(): Promise<void> {
  const dir = makeTempDir('bench-blockd');
  const proc = startBlockstore(['blockd', '--id', 'bench', '--data-dir', dir, '--listen', '127.0.0.1:0', '--etcd', 'none', '--scrub-rate', '0', '--log-level', 'warn']);
  const rows: string[] = [];
  const summary: Record<string, unknown> = {};
  try {
    const { port } = await waitListening(proc);
    const client = new BlockdClient(`127.0.0.1:${port}`);
    for (const c of CASES) {
      // Warm-up so the channel and LevelDB are past their first-use costs.
      const warm = blocks(32, c.size);
      await runPool(warm.length, async (i) => void (await client.putBlock(warm[i]!.hash, warm[i]!.data)));

      const raw = await rawLevel(c.size, c.ops);
      const data = blocks(c.ops, c.size);
      const put = result(c.ops, c.size, await runPool(c.ops, async (i) => void (await client.putBlock(data[i]!.hash, data[i]!.data))));
      const get = result(c.ops, c.size, await runPool(c.ops, async (i) => {
        const r = await client.getBlock(data[(i * 7919) % c.ops]!.hash);
        if (r.data.length !== c.size) throw new Error('short read');
      }));
      const ratio = put.mbPerSec / raw.mbPerSec;
      summary[c.label] = { rawDurablePut: raw, grpcPut: put, grpcGet: get, putRatio: ratio };
      rows.push(
        `| ${c.label} | ${raw.opsPerSec.toFixed(0)} ops/s, ${raw.mbPerSec.toFixed(0)} MB/s | ${put.opsPerSec.toFixed(0)} ops/s, ${put.mbPerSec.toFixed(0)} MB/s | ${(ratio * 100).toFixed(0)} % | ${get.opsPerSec.toFixed(0)} ops/s, ${get.mbPerSec.toFixed(0)} MB/s |`,
      );
    }
    client.close();
  } finally {
    await proc.stop();
    removeDir(dir);
  }
  console.log(`\nblock daemon, ${IN_FLIGHT} in flight, durable (fsync), gRPC over loopback vs raw LevelDB sync puts in the same run\n`);
  console.log('| block | raw LevelDB put (sync) | gRPC PutBlock | put ratio | gRPC GetBlock |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) console.log(r);
  console.log(`\n${JSON.stringify(summary)}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
