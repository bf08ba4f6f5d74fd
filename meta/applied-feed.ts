/**
 * The applied-position feed (Metadata.FollowApplied): every follower (a
 * gateway's metadata cache) is told, in order, each position this node
 * applies and the files whose head or versions it changed, with a
 * heartbeat while nothing is applied, and a reset when the node's state is
 * replaced. A follower that falls too far behind is let go (it starts over
 * with a reset) rather than buffered without bound.
 */
import { BlockstoreError } from '../lib/errors';
import { fileOfKey } from './state/records';
import type { Position } from './store/meta-store';

export interface AppliedMessage {
  position: number;
  files: Array<{ namespace: string; path: string }>;
  reset: boolean;
}

interface Follower {
  pending: AppliedMessage | undefined;
  overflowed: boolean;
  wake: (() => void) | undefined;
}

export class AppliedFeed {
  private readonly followers = new Set<Follower>();

  constructor(
    /** The node's applied position now. */
    private readonly position: () => number,
    private readonly options: { heartbeatMs: number; maxPendingFiles: number } = { heartbeatMs: 250, maxPendingFiles: 100_000 },
  ) {}

  get size(): number {
    return this.followers.size;
  }

  /** From the store: a batch applied (`changed`: its table keys), or the whole state replaced (`changed` undefined). */
  applied(pos: Position, changed?: readonly string[]): void {
    if (!this.followers.size) return;
    const files: AppliedMessage['files'] = [];
    if (changed) {
      const seen = new Set<string>();
      for (const key of changed) {
        const f = fileOfKey(key);
        if (!f) continue;
        const k = `${f.ns}\u0000${f.path}`;
        if (seen.has(k)) continue;
        seen.add(k);
        files.push({ namespace: f.ns, path: f.path });
      }
    }
    for (const f of this.followers) {
      const p = (f.pending ??= { position: pos.seq, files: [], reset: false });
      p.position = pos.seq;
      if (!changed) {
        p.reset = true;
        p.files = [];
      } else if (!p.reset) {
        for (const x of files) p.files.push(x);
        if (p.files.length > this.options.maxPendingFiles) f.overflowed = true;
      }
      f.wake?.();
    }
  }

  /**
   * Streams the feed to one follower until `signal` aborts: first a reset at
   * the current position, then what is applied, merged while the follower
   * is busy sending, and a heartbeat after each quiet `heartbeatMs`.
   * @throws BlockstoreError UNAVAILABLE when the follower fell more
   *   than maxPendingFiles files behind.
   */
  async follow(signal: AbortSignal, send: (m: AppliedMessage) => Promise<void>): Promise<void> {
    const f: Follower = { pending: { position: this.position(), files: [], reset: true }, overflowed: false, wake: undefined };
    this.followers.add(f);
    const onAbort = () => f.wake?.();
    signal.addEventListener('abort', onAbort);
    try {
      while (!signal.aborted) {
        if (f.overflowed) throw new BlockstoreError('UNAVAILABLE', 'the follower fell too far behind the applied positions; follow again');
        const m = f.pending ?? { position: this.position(), files: [], reset: false };
        f.pending = undefined;
        await send(m);
        if (f.pending || signal.aborted) continue;
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, this.options.heartbeatMs);
          f.wake = () => (clearTimeout(t), resolve());
        });
        f.wake = undefined;
      }
    } finally {
      this.followers.delete(f);
      signal.removeEventListener('abort', onAbort);
    }
  }
}
