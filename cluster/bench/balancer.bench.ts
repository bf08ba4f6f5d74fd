/**
 * make bench-balancer: the local cluster as `cluster up` runs it (etcd, 3
 * metadata nodes, 3 block daemons, 2 gateways, HAProxy, supervisor), the
 * QAS-001 drill's mix (40 % downloads of 20–60 KB files, 40 % stats, 20 %
 * uploads of 8 KB) from 64 closed-loop SDK workers, straight to the two
 * gateways (the baseline, before and after) and through HAProxy, in the
 * same run, after a warm-up pass.
 * Reports calls/s, the ratio to the baseline, the CPU each role spends per
 * call (read from /proc: the sizing figures in the README), and how many
 * connections HAProxy opened to the gateways for how many calls.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { clusterProcesses, cpuMs } from './proc-stats';
import { backendCounters } from '../local/haproxy';
import { BlockstoreClient } from '../../sdk/client';
import { localClusterDown, localClusterUp } from '../../test/harness/local-cluster';

const SECONDS = Number(process.env.BENCH_BALANCER_SECONDS ?? 15);
const WORKERS = 64;
interface Result {
  name: string;
  perSec: number;
  failed: number;
  cpuPerCall: Record<string, number>;
}

let passes = 0;

async function drive(name: string, client: BlockstoreClient, procs: Array<{ role: string; pid: number }>): Promise<Result> {
  const prefix = `bench-balancer/${++passes}-${name}`;
  const files = Array.from({ length: 40 }, (_, i) => ({ path: `${prefix}/${i}`, data: randomBytes(20_000 + i * 1000) }));
  for (const f of files) await client.put(f.path, f.data);
  let ok = 0;
  let failed = 0;
  const run = async (ms: number) => {
    const t0 = Date.now();
    await Promise.all(
      Array.from({ length: WORKERS }, async (_, w) => {
        for (let i = 0; Date.now() - t0 < ms; i++) {
          const f = files[(w * 7 + i) % files.length]!;
          try {
            if (i % 5 < 2) {
              if (!(await client.get(f.path)).equals(f.data)) throw new Error('wrong bytes');
            } else if (i % 5 < 4) await client.stat(f.path);
            else await client.put(`${prefix}/w${w}-${i}`, randomBytes(8000));
            ok++;
          } catch {
            failed++;
          }
        }
      }),
    );
  };
  await run(3000); // warm-up: JIT, connections
  ok = 0;
  failed = 0;
  const before = procs.map((p) => cpuMs(p.pid));
  const self0 = process.cpuUsage();
  const t0 = Date.now();
  await run(SECONDS * 1000);
  const secs = (Date.now() - t0) / 1000;
  const self = process.cpuUsage(self0);
  const cpuPerCall: Record<string, number> = { client: (self.user + self.system) / 1000 / ok };
  procs.forEach((p, i) => (cpuPerCall[p.role] = (cpuPerCall[p.role] ?? 0) + (cpuMs(p.pid) - before[i]!) / ok));
  return { name, perSec: ok / secs, failed, cpuPerCall };
}

async function main(): Promise<void> {
  const { dir, address } = await localClusterUp('bench-balancer');
  try {
    const token = readFileSync(dir.path('user.token'), 'utf8').trim();
    const nodes = dir.readState()!.nodes;
    const procs = clusterProcesses(nodes);
    const gateways = nodes.filter((n) => n.role === 'gateway').map((n) => n.address);
    const direct = new BlockstoreClient({ address: gateways, token, timeoutMs: 20_000 });
    const viaLb = new BlockstoreClient({ address, token, timeoutMs: 20_000 });
    // A first pass warms every process (JIT, LevelDB, connections); then the
    // baseline runs before and after the balanced run, and is their mean.
    await drive('warm-up', direct, procs);
    const before = await drive('direct', direct, procs);
    const c0 = await backendCounters(dir.path('haproxy.sock'));
    const balanced = await drive('haproxy', viaLb, procs);
    const c1 = await backendCounters(dir.path('haproxy.sock'));
    const after = await drive('direct', direct, procs);
    const baseline: Result = {
      name: 'direct',
      perSec: (before.perSec + after.perSec) / 2,
      failed: before.failed + after.failed,
      cpuPerCall: Object.fromEntries(Object.keys(before.cpuPerCall).map((k) => [k, ((before.cpuPerCall[k] ?? 0) + (after.cpuPerCall[k] ?? 0)) / 2])),
    };
    const rows = [baseline, balanced];
    console.log(`\nbaseline runs: ${before.perSec.toFixed(0)} and ${after.perSec.toFixed(0)} calls/s`);
    direct.close();
    viaLb.close();
    const sum = (cs: typeof c0, k: 'requests' | 'connects') => cs.reduce((a, c) => a + c[k], 0);
    const roles = ['gateway', 'meta', 'blockd', 'etcd', 'haproxy', 'client'];
    console.log(`balancer: QAS-001 mix (40 % GetFile 20–60 KB, 40 % StatFile, 20 % PutFile 8 KB), ${WORKERS} workers, ${SECONDS} s each, 2 gateways, R=3 W=2\n`);
    console.log(`| path | calls/s | vs direct | failed | ${roles.map((r) => `${r} ms CPU/call`).join(' | ')} | total ms CPU/call |`);
    console.log(`|---|---|---|---|${roles.map(() => '---|').join('')}---|`);
    for (const r of rows) {
      const total = Object.values(r.cpuPerCall).reduce((a, b) => a + b, 0);
      console.log(`| ${r.name === 'direct' ? 'baseline: SDK straight to the gateways (mean of the runs before and after)' : 'through HAProxy (the local balancer)'} | ${r.perSec.toFixed(0)} | ${((r.perSec / rows[0]!.perSec) * 100).toFixed(0)} % | ${r.failed} | ${roles.map((k) => (r.cpuPerCall[k] ?? 0).toFixed(3)).join(' | ')} | ${total.toFixed(2)} |`);
    }
    console.log(`\nHAProxy → gateways: ${sum(c1, 'requests') - sum(c0, 'requests')} calls over ${sum(c1, 'connects') - sum(c0, 'connects')} new connections`);
  } finally {
    await localClusterDown(dir);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
