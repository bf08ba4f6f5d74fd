/**
 * A gateway's cache of file heads: the answer of StatFile for a file's
 * current version (its blocks and where they are), kept so that reading a
 * file again costs no metadata call.
 *
 * It is kept exact by the applied-position feed of one metadata node
 * (FollowApplied), the master's when it can: every position that node
 * applies, with the files whose head or versions it changed, and the new
 * head itself when a commit wrote it (so a file just written through any
 * gateway is read through every gateway without a metadata call). An entry is dropped when its file appears.
 * Three rules make a cached answer never older than what a metadata read
 * would give at the same moment:
 * - fill: an answer read at position R is kept only if no change to its
 *   file came between R and F, the feed's position: R ≥ F, or the feed
 *   listed no change to the file after R (it remembers, per file, the last
 *   change it listed since a recent position W ≤ R). Each change after F
 *   drops the entry when it arrives;
 * - serve: only while the feed is live (a message, at least a heartbeat,
 *   within `freshMs`) and F ≥ the position the read must reflect (the
 *   client's min_position, or this gateway's last write to the namespace),
 *   exactly when a metadata node would serve it;
 * - reset: when the feed ends or its node's state is replaced, everything
 *   goes.
 * Block locations in an entry may grow stale (repair adds copies, a drained
 * daemon loses them); a block read falls back to every live daemon, so that
 * costs a miss, never a wrong answer: blocks are named by their content.
 */
import { BlockstoreError } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import type { MetaRouter } from '../../lib/rpc/clients/meta-router';
import type { StatFileResponse__Output } from '../../proto/gen/ts/blockstore/internal/v1/StatFileResponse';
import type { AppliedBatch__Output } from '../../proto/gen/ts/blockstore/internal/v1/AppliedBatch';

interface Entry {
  st: StatFileResponse__Output;
  bytes: number;
}

export interface MetaCacheStats {
  hits: number;
  misses: number;
  entries: number;
  bytes: number;
  live: boolean;
}

const key = (ns: string, path: string) => `${ns}\u0000${path}`;

/** Files whose last change the cache remembers before it starts its window afresh. */
const MAX_RECENT = 50_000;

/** Rough memory an answer holds (strings and objects), for the byte bound. */
function sizeOf(st: StatFileResponse__Output): number {
  let n = 256 + (st.version?.path.length ?? 0) * 2;
  n += (st.version?.blocks.length ?? 0) * 200;
  for (const l of st.locations) n += 160 + l.nodes.length * 48;
  return n;
}

export class MetaCache {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;
  /** The feed's position (F); 0 while it is not live. */
  private position = 0;
  private live = false;
  private heardAt = 0;
  /** Every change the feed listed after `windowStart`: the file's last one. */
  private readonly recent = new Map<string, number>();
  private windowStart = 0;
  private readonly counts = { hits: 0, misses: 0 };

  constructor(
    private readonly maxBytes: number,
    /**
     * A feed silent this long (a heartbeat is due every 500 ms) is not
     * trusted. Shorter than a metadata master's lease: a master that stopped
     * is not replaced (no write commits elsewhere) before its cache is off.
     */
    readonly freshMs = 1000,
    private readonly now: () => number = Date.now,
  ) {}

  get enabled(): boolean {
    return this.maxBytes > 0;
  }

  /** The cached head of `path`, if it may be served to a read that must reflect position `floor`. */
  lookup(ns: string, path: string, floor: number): StatFileResponse__Output | undefined {
    if (!this.live || this.position < floor || this.silentMs() > this.freshMs) {
      this.counts.misses++;
      return undefined;
    }
    const k = key(ns, path);
    const e = this.entries.get(k);
    if (!e) {
      this.counts.misses++;
      return undefined;
    }
    // Least recently used goes first: a hit moves to the back.
    this.entries.delete(k);
    this.entries.set(k, e);
    this.counts.hits++;
    return e.st;
  }

  /** Keeps a StatFile answer for the current version of `path` (if the rules allow; see above). */
  fill(ns: string, path: string, st: StatFileResponse__Output): void {
    if (!this.enabled || !this.live || !st.version || st.version.deleted) return;
    const k = key(ns, path);
    const r = st.readPosition;
    if (r < this.position && (r < this.windowStart || (this.recent.get(k) ?? 0) > r)) return;
    this.remove(k);
    const bytes = sizeOf(st);
    if (bytes > this.maxBytes / 8) return;
    this.entries.set(k, { st, bytes });
    this.bytes += bytes;
    for (const [oldest, e] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.bytes -= e.bytes;
    }
  }

  /** Since the feed's last message (or since the cache began). */
  silentMs(): number {
    return this.now() - this.heardAt;
  }

  /** One message of the feed. */
  applied(m: AppliedBatch__Output): void {
    this.heardAt = this.now();
    if (m.reset) {
      this.clear();
      this.live = true;
      this.windowStart = m.position;
    }
    if (this.recent.size + m.files.length > MAX_RECENT) {
      this.recent.clear();
      this.windowStart = Math.max(this.position, m.position);
    }
    for (const f of m.files) {
      const k = key(f.namespace, f.path);
      this.remove(k);
      this.recent.set(k, m.position);
      // The head the change wrote (a commit), read at its batch's position: kept like an answer.
      if (f.head) this.fill(f.namespace, f.path, f.head);
    }
    if (m.position > this.position) this.position = m.position;
  }

  /** The feed ended: nothing cached may be served until a new one begins (with a reset). */
  down(): void {
    this.live = false;
    this.clear();
  }

  stats(): MetaCacheStats {
    return { ...this.counts, entries: this.entries.size, bytes: this.bytes, live: this.live };
  }

  private remove(k: string): void {
    const e = this.entries.get(k);
    if (!e) return;
    this.entries.delete(k);
    this.bytes -= e.bytes;
  }

  private clear(): void {
    this.entries.clear();
    this.bytes = 0;
    this.position = 0;
    this.recent.clear();
    this.windowStart = Number.MAX_SAFE_INTEGER;
  }
}

/**
 * Keeps `cache` fed from the metadata master's FollowApplied until `signal`
 * aborts. A stream that ends (its node died, fell behind, was replaced) or
 * goes silent past the cache's freshness (a stopped node) takes the cache
 * down at once and counts as the master being unavailable: the router looks
 * for the master again (a stopped one is not followed twice) and the next
 * stream starts there.
 */
export async function feedMetaCache(meta: MetaRouter, cache: MetaCache, signal: AbortSignal, logger: Logger): Promise<void> {
  while (!signal.aborted) {
    try {
      // The master applies each write before acknowledging it, so its feed
      // drops an entry before the write's acknowledgement can reach a client.
      await meta.readMaster(async (c) => {
        const stream = new AbortController();
        const stop = () => stream.abort();
        signal.addEventListener('abort', stop, { once: true });
        const startedAt = Date.now();
        const watchdog = setInterval(() => {
          if (Math.min(cache.silentMs(), Date.now() - startedAt) > cache.freshMs) stream.abort();
        }, cache.freshMs / 2);
        try {
          await c.followApplied((m) => cache.applied(m), stream.signal);
        } finally {
          clearInterval(watchdog);
          signal.removeEventListener('abort', stop);
          cache.down();
        }
        if (!signal.aborted) throw new BlockstoreError('UNAVAILABLE', `the applied feed of ${c.address} ended or went silent`);
      });
    } catch (err) {
      if (!signal.aborted) logger.debug('metadata cache feed ended; following again', { err: err as Error });
    }
    if (signal.aborted) return;
    await new Promise((r) => setTimeout(r, 200));
  }
}
