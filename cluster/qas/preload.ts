/**
 * Before the scenarios: a cluster that already holds data, as a real one
 * does. Uploads unique 1 MiB files (8 in flight) under `qas-preload/` until
 * the cluster stores `megabytes` of file data (block bytes ÷ replicas, as
 * the cluster status counts them); a cluster already that full gets none.
 */
import { randomBytes } from 'node:crypto';
import { BlockstoreClient } from '../../sdk/client';
import type { Target } from './scenarios';

export async function preload(t: Target, megabytes: number, replicas: number, say: (line: string) => void): Promise<{ before: number; after: number; uploaded: number }> {
  const admin = new BlockstoreClient({ address: t.address, token: t.adminToken, timeoutMs: 10_000, ca: t.ca });
  const user = new BlockstoreClient({ address: t.address, token: t.userToken, timeoutMs: 60_000, ca: t.ca });
  const stored = async () => Number((await admin.clusterStatus()).blockBytes) / Math.max(1, replicas) / 2 ** 20;
  try {
    const before = await stored();
    const want = Math.ceil(megabytes - before);
    if (want <= 0) return { before, after: before, uploaded: 0 };
    say(`preloading ${want} MB (the cluster holds ${before.toFixed(0)} MB; wanted ${megabytes} MB)`);
    const run = `${Date.now()}`;
    let next = 0;
    let done = 0;
    const started = Date.now();
    await Promise.all(Array.from({ length: 8 }, async () => {
      for (let i = next++; i < want; i = next++) {
        await user.put(`qas-preload/${run}/${i}`, randomBytes(2 ** 20));
        if (++done % 250 === 0) say(`  ${done} of ${want} MB (${(done / ((Date.now() - started) / 1000)).toFixed(1)} MB/s)`);
      }
    }));
    return { before, after: await stored(), uploaded: want };
  } finally {
    admin.close();
    user.close();
  }
}
