/**
 * make bench-blockd: block daemon put/get, durable (fsync), 16 in flight,
 * over its two transports — gRPC (PutBlock/GetBlock) and the data port
 * (block bodies over HTTP/1.1, what gateways use) — against raw LevelDB
 * puts with the same durability in the same run. Reports ops/s, MB/s, the
 * ratio to raw, and CPU per call on each side (client: this process;
 * daemon: /proc), which is what the transport costs.
 *
 * The daemon runs as its own process (as deployed); the client is this one.
 */
import { randomBytes } from 'node:crypto';
import { Level } from 'level';
import { sha256Hex } from '../../lib/hash';
import { BlockDataClient } from '../../lib/http/block-data-client';
import { BlockdClient } from '../../lib/rpc/clients/blockd-client';
import { clusterCredentials } from '../../lib/security/cluster-credentials';
import { freePort } from '../../test/harness/ports';
import { startBlockstore, waitListening } from '../../test/harness/process';
import { cpuMs } from './proc-stats';
import { makeTempDir, removeDir } from '../../test/harness/temp';

const IN_FLIGHT = 16;
const CASES = [
  { label: '64 KiB', size: 64 * 1024, ops: Number(process.env.BENCH_OPS_64K ?? 3000) },
  { label: '1 MiB', size: 1024 * 1024, ops: Number(process.env.BENCH_OPS_1M ?? 600) },
];

interface Result {
  opsPerSec: number;
  mbPerSec: number;
  /** CPU ms per call: this process (the client), the daemon. */
  clientMs?: number;
  daemonMs?: number;
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

/** Runs `op` n times IN_FLIGHT at a time; rate and CPU per call of both sides. */
async function measured(n: number, size: number, daemonPid: number, op: (i: number) => Promise<void>): Promise<Result> {
  const c0 = process.cpuUsage();
  const d0 = cpuMs(daemonPid);
  const r = result(n, size, await runPool(n, op));
  const c = process.cpuUsage(c0);
  return { ...r, clientMs: (c.user + c.system) / 1000 / n, daemonMs: (cpuMs(daemonPid) - d0) / n };
}

const rate = (r: Result) => `${r.opsPerSec.toFixed(0)} ops/s, ${r.mbPerSec.toFixed(0)} MB/s`;
const cpu = (r: Result) => `${r.clientMs!.toFixed(2)} / ${r.daemonMs!.toFixed(2)}`;

async function main(): Promise<void> {
  const dir = makeTempDir('bench-blockd');
  const dataPort = await freePort();
  const proc = startBlockstore(['blockd', '--id', 'bench', '--data-dir', dir, '--listen', '127.0.0.1:0', '--data-listen', `127.0.0.1:${dataPort}`, '--etcd', 'none', '--scrub-rate', '0', '--log-level', 'warn']);
  const rows: string[] = [];
  const summary: Record<string, unknown> = {};
  try {
    const { port } = await waitListening(proc);
    const client = new BlockdClient(`127.0.0.1:${port}`);
    const data = new BlockDataClient(`127.0.0.1:${dataPort}`, clusterCredentials());
    for (const c of CASES) {
      // Warm-up so the connections and LevelDB are past their first-use costs.
      const warm = blocks(64, c.size);
      await runPool(32, async (i) => void (await client.putBlock(warm[i]!.hash, warm[i]!.data)));
      await runPool(32, async (i) => void (await data.putBlock(warm[32 + i]!.hash, warm[32 + i]!.data)));

      const raw = await rawLevel(c.size, c.ops);
      const viaGrpc = blocks(c.ops, c.size);
      const viaData = blocks(c.ops, c.size);
      const check = (r: { data: Buffer }) => {
        if (r.data.length !== c.size) throw new Error('short read');
      };
      const put = await measured(c.ops, c.size, proc.pid, async (i) => void (await client.putBlock(viaGrpc[i]!.hash, viaGrpc[i]!.data)));
      const get = await measured(c.ops, c.size, proc.pid, async (i) => check(await client.getBlock(viaGrpc[(i * 7919) % c.ops]!.hash)));
      const dput = await measured(c.ops, c.size, proc.pid, async (i) => void (await data.putBlock(viaData[i]!.hash, viaData[i]!.data)));
      const dget = await measured(c.ops, c.size, proc.pid, async (i) => check(await data.getBlock(viaData[(i * 7919) % c.ops]!.hash)));
      summary[c.label] = { rawDurablePut: raw, grpcPut: put, grpcGet: get, dataPut: dput, dataGet: dget, putRatio: put.mbPerSec / raw.mbPerSec, dataPutRatio: dput.mbPerSec / raw.mbPerSec };
      rows.push(`| ${c.label} | put | ${rate(raw)} | ${rate(put)} (${((put.mbPerSec / raw.mbPerSec) * 100).toFixed(0)} %) | ${cpu(put)} | ${rate(dput)} (${((dput.mbPerSec / raw.mbPerSec) * 100).toFixed(0)} %) | ${cpu(dput)} |`);
      rows.push(`| ${c.label} | get | — | ${rate(get)} | ${cpu(get)} | ${rate(dget)} | ${cpu(dget)} |`);
    }
    client.close();
    data.close();
  } finally {
    await proc.stop();
    removeDir(dir);
  }
  console.log(`\nblock daemon, ${IN_FLIGHT} in flight, durable (fsync), over loopback, beside raw LevelDB sync puts in the same run; CPU ms per call: client / daemon\n`);
  console.log('| block | op | raw LevelDB put (sync) | gRPC | CPU | data port (HTTP/1.1) | CPU |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(r);
  console.log(`\n${JSON.stringify(summary)}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
