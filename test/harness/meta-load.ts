/**
 * Load against a metadata cluster with a full history: every write's key,
 * outcome (acknowledged, failed, unknown), position, epoch and times; and
 * readers that count failed reads. Bounded in count and time.
 */
import { randomBytes } from 'node:crypto';
import { BlockstoreError } from '../../lib/errors';
import { MetaRouter } from '../../lib/rpc/clients/meta-router';
import type { MetaClient } from '../../lib/rpc/clients/meta-client';
import { checkHistory as checkQasHistory, type CallRecord, type FinalVersion } from '../../cluster/qas/history';

export interface WriteRecord {
  key: string;
  path: string;
  hash: string;
  started: number;
  ended: number;
  outcome: 'ok' | 'unknown';
  position: number;
  epoch: number;
  version: number;
  error?: string;
}

export interface LoadOptions {
  namespace: string;
  writers: number;
  readers: number;
  /** Addresses writes and reads may use. */
  writeNodes: () => Promise<string[]>;
  readNodes: () => Promise<string[]>;
  maxWrites: number;
  maxMs: number;
}

export class MetaLoad {
  readonly writes: WriteRecord[] = [];
  readonly readErrors: string[] = [];
  reads = 0;
  private stopping = false;
  private done: Promise<void> | undefined;
  private readonly writeRouter: MetaRouter;
  private readonly readRouter: MetaRouter;

  constructor(private readonly o: LoadOptions) {
    this.writeRouter = new MetaRouter({ discover: o.writeNodes, writeDeadlineMs: 20_000 });
    this.readRouter = new MetaRouter({ discover: o.readNodes, readDeadlineMs: 10_000 });
  }

  get acked(): WriteRecord[] {
    return this.writes.filter((w) => w.outcome === 'ok');
  }

  start(): void {
    const deadline = Date.now() + this.o.maxMs;
    let n = 0;
    const writer = async (w: number) => {
      for (let k = 0; !this.stopping && Date.now() < deadline && n < this.o.maxWrites; k++) {
        n++;
        const key = `w${w}-${k}-${randomBytes(3).toString('hex')}`;
        const hash = randomBytes(32).toString('hex');
        const rec: WriteRecord = { key, path: `load/${key}.bin`, hash, started: Date.now(), ended: 0, outcome: 'unknown', position: 0, epoch: 0, version: 0 };
        this.writes.push(rec);
        try {
          const r = await this.writeRouter.write((c: MetaClient) =>
            c.commitVersion(
              {
                namespace: this.o.namespace, path: rec.path, blocks: [{ hash, size: 1000 }], locations: [{ hash, nodes: ['b1', 'b2'] }],
                idempotencyKey: key, author: `writer-${w}`, hasExpectedVersion: true, expectedVersion: 0,
              },
              { timeoutMs: 6000 },
            ),
          );
          rec.outcome = 'ok';
          rec.position = r.result!.position;
          rec.epoch = r.result!.epoch;
          rec.version = r.version!.version;
        } catch (err) {
          rec.error = err instanceof BlockstoreError ? `${err.code}: ${err.message}` : String(err);
        }
        rec.ended = Date.now();
      }
    };
    const reader = async () => {
      while (!this.stopping && Date.now() < deadline) {
        const acked = this.acked;
        const pick = acked.length ? acked[Math.floor(Math.random() * acked.length)]! : undefined;
        try {
          if (pick) {
            const s = await this.readRouter.read((c) => c.statFile(this.o.namespace, pick.path, 0, pick.position, { timeoutMs: 5000 }));
            if (s.version?.blocks[0]?.hash !== pick.hash) this.readErrors.push(`read ${pick.path}: wrong content`);
          } else {
            await this.readRouter.read((c) => c.listFiles(this.o.namespace, 'load/', 10, '', 0, { timeoutMs: 5000 }));
          }
          this.reads++;
        } catch (err) {
          this.readErrors.push(`read ${pick?.path ?? '(list)'}: ${err instanceof BlockstoreError ? err.code + ' ' + err.message : String(err)}`);
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    this.done = Promise.all([
      ...Array.from({ length: this.o.writers }, (_, i) => writer(i)),
      ...Array.from({ length: this.o.readers }, () => reader()),
    ]).then(() => {});
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.done;
    this.writeRouter.close();
    this.readRouter.close();
  }

  /**
   * The write gap of a failover (ms): last acknowledgement of the old term
   * (epoch ≤ oldEpoch) to the first of a newer term.
   */
  writeGap(oldEpoch: number): number {
    const acked = this.acked;
    const before = Math.max(...acked.filter((w) => w.epoch <= oldEpoch).map((w) => w.ended));
    const after = Math.min(...acked.filter((w) => w.epoch > oldEpoch).map((w) => w.ended));
    return after - before;
  }
}

/**
 * Checks a history against what one node holds, with the same checker as
 * the quality scenarios (cluster/qas/history.ts): every acknowledged write
 * present with its content; every unknown one wholly present or absent;
 * no more versions than writes. Returns the problems found.
 */
export async function checkHistory(client: MetaClient, namespace: string, writes: WriteRecord[], minPosition: number): Promise<string[]> {
  const calls: CallRecord[] = writes.map((w) => ({
    start: w.started, end: w.ended, method: 'PutFile', status: w.outcome === 'ok' ? 'OK' : 'UNAVAILABLE', bytes: 0,
    path: w.path, contentHash: w.hash, version: w.version,
  }));
  const unreadable: string[] = [];
  const problems = await checkQasHistory(calls, async (path): Promise<FinalVersion[]> => {
    try {
      const vs = await client.listVersions(namespace, path, minPosition, { timeoutMs: 10_000 });
      // The metadata load writes one block per file: its hash is the content.
      return vs.versions.map((v) => ({ version: v.version, contentHash: v.blocks[0]?.hash ?? '', readHash: v.blocks[0]?.hash }));
    } catch (err) {
      if (err instanceof BlockstoreError && err.code === 'NOT_FOUND') return [];
      unreadable.push(`${client.address}: ${path}: ${String(err)}`);
      return [];
    }
  });
  return [...unreadable, ...problems.filter((p) => !unreadable.some((u) => u.includes(`: ${p.path}: `))).map((p) => `${client.address}: ${p.kind}: ${p.path}: ${p.detail}`)];
}
