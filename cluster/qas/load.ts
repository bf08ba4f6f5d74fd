/**
 * The QAS load generator: an open-loop schedule at a bounded rate (calls
 * start on time whether or not earlier ones finished, up to a cap on calls
 * in flight), bounded in duration, recording every call in a history.
 * The default mix is the chapter's: files averaging ~500 KB (a few KB to a
 * few MB), half writes and half reads, with some stats and lists among the
 * reads. Every write goes to its own path with its own idempotency key.
 */
import { createHash, randomBytes } from 'node:crypto';
import { BlockstoreError } from '../../lib/errors';
import type { BlockstoreClient } from '../../sdk/client';
import type { CallRecord } from './history';

export interface LoadOptions {
  rate: () => number;
  durationMs: number;
  maxInFlight: number;
  /** Fraction of calls that are uploads. */
  writeFraction: number;
  /** Average upload size in bytes (log-normal spread, 4 KB … 4 MB). */
  averageBytes: number;
  prefix: string;
}

export function fileSize(average: number): number {
  const z = Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random());
  return Math.max(4_000, Math.min(4_000_000, Math.round(average * 0.55 * Math.exp(1.1 * z))));
}

export class LoadGenerator {
  readonly history: CallRecord[] = [];
  inFlight = 0;
  /**
   * When each call the schedule offered but could not start (the in-flight
   * cap was full) was due. A shed call is a request that did not succeed:
   * verdicts count it as a failure.
   */
  readonly shedAt: number[] = [];
  get shed(): number {
    return this.shedAt.length;
  }
  private readonly written: Array<{ path: string; hash: string }> = [];
  private seq = 0;
  /** Reusable random payload (slices are distinct by offset and a header). */
  private readonly pool = randomBytes(8 * 1024 * 1024);

  constructor(
    private readonly client: BlockstoreClient,
    private readonly o: LoadOptions,
  ) {}

  /** Runs until the duration ends (or `stop` resolves); waits for calls in flight. */
  async run(stop?: Promise<void>): Promise<void> {
    const started = Date.now();
    const pending = new Set<Promise<void>>();
    let stopped = false;
    void stop?.then(() => (stopped = true));
    let next = started;
    while (!stopped && Date.now() - started < this.o.durationMs) {
      const now = Date.now();
      if (now < next) {
        await new Promise((r) => setTimeout(r, Math.min(next - now, 50)));
        continue;
      }
      const due = next;
      next += 1000 / Math.max(1, this.o.rate());
      if (this.inFlight >= this.o.maxInFlight) {
        this.shedAt.push(due);
        continue;
      }
      const p = this.one().finally(() => pending.delete(p));
      pending.add(p);
    }
    await Promise.all(pending);
  }

  private async one(): Promise<void> {
    this.inFlight++;
    const rec: CallRecord = { start: Date.now(), end: 0, method: '', status: 'OK', bytes: 0 };
    try {
      const r = Math.random();
      if (r < this.o.writeFraction || this.written.length === 0) {
        rec.method = 'PutFile';
        const size = fileSize(this.o.averageBytes);
        const off = Math.floor(Math.random() * (this.pool.length - size));
        const data = Buffer.concat([Buffer.from(`${this.o.prefix}:${this.seq}:${Date.now()}\n`), this.pool.subarray(off, off + size)]);
        rec.path = `${this.o.prefix}/${this.seq++}.bin`;
        rec.contentHash = createHash('sha256').update(data).digest('hex');
        rec.bytes = data.length;
        const out = await this.client.put(rec.path, data);
        rec.version = out.file.version;
        this.written.push({ path: rec.path, hash: rec.contentHash });
      } else if (r < this.o.writeFraction + (1 - this.o.writeFraction) * 0.8) {
        rec.method = 'GetFile';
        const f = this.written[Math.floor(Math.random() * this.written.length)]!;
        rec.path = f.path;
        const data = await this.client.get(f.path);
        rec.bytes = data.length;
        rec.contentHash = createHash('sha256').update(data).digest('hex');
        if (rec.contentHash !== f.hash) throw new BlockstoreError('CORRUPT_BLOCK', `${f.path} read back different bytes`);
      } else if (r < this.o.writeFraction + (1 - this.o.writeFraction) * 0.95) {
        rec.method = 'StatFile';
        const f = this.written[Math.floor(Math.random() * this.written.length)]!;
        rec.path = f.path;
        await this.client.stat(f.path);
      } else {
        rec.method = 'ListFiles';
        const it = this.client.list(`${this.o.prefix}/`, 20);
        await it.next();
        await it.return(undefined);
      }
    } catch (err) {
      rec.status = err instanceof BlockstoreError ? err.code : 'INTERNAL';
      rec.error = err instanceof Error ? err.message.slice(0, 200) : String(err);
    } finally {
      rec.end = Date.now();
      this.inFlight--;
      this.history.push(rec);
    }
  }
}

/** Latency quantile (ms) of records. */
export function quantile(records: CallRecord[], q: number): number {
  const xs = records.map((r) => r.end - r.start).sort((a, b) => a - b);
  return xs.length ? xs[Math.min(xs.length - 1, Math.floor(xs.length * q))]! : 0;
}

/** Longest stretch without a successful call between `from` and `to` (ms). */
export function longestGap(records: CallRecord[], from: number, to: number): number {
  const ends = records.filter((r) => r.status === 'OK').map((r) => r.end).filter((t) => t >= from && t <= to).sort((a, b) => a - b);
  let gap = 0;
  let prev = from;
  for (const t of ends) {
    gap = Math.max(gap, t - prev);
    prev = t;
  }
  return Math.max(gap, to - prev);
}
