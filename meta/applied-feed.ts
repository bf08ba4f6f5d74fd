/**
 * The applied-position feed (Metadata.FollowApplied): every follower (a
 * gateway's metadata cache) is told, in order, each position this node
 * applies and the files whose head or versions it changed (with the new
 * head itself when the batch wrote it whole: a commit), with a
 * heartbeat while nothing is applied, and a reset when the node's state is
 * replaced. A follower that falls too far behind is let go (it starts over
 * with a reset) rather than buffered without bound.
 */
import { BlockstoreError } from '../lib/errors';
import { fileOfKey, TableKeys, type BlockRec, type FileRec, type VersionRec } from './state/records';
import type { Position } from './store/meta-store';

/** A file's head as StatFile answers it, at `readPosition`. */
export interface AppliedHead {
  version: VersionRec;
  locations: Array<{ hash: string; nodes: string[] }>;
  readPosition: number;
}

export interface AppliedMessage {
  position: number;
  /** In the order the changes were applied: a file listed twice, the later entry is its state. */
  files: Array<{ namespace: string; path: string; head?: AppliedHead }>;
  reset: boolean;
}

/** Heads of files with more blocks than this are not sent (the follower reads them if it needs them). */
const MAX_HEAD_BLOCKS = 64;

/**
 * The head a batch wrote whole: the file's record, the version it names
 * and every one of its blocks' records are all among the batch's pairs
 * (a commit); undefined otherwise (a delete, a move, a prune).
 */
function headOf(values: ReadonlyMap<string, string | undefined>, ns: string, path: string, position: number): AppliedHead | undefined {
  const fileVal = values.get(TableKeys.file(ns, path));
  if (!fileVal) return undefined;
  const file = JSON.parse(fileVal) as FileRec;
  if (file.deleted) return undefined;
  const versionVal = values.get(TableKeys.version(ns, path, file.version));
  if (!versionVal) return undefined;
  const version = JSON.parse(versionVal) as VersionRec;
  if (version.blocks.length > MAX_HEAD_BLOCKS) return undefined;
  const locations: AppliedHead['locations'] = [];
  for (const hash of new Set(version.blocks.map((b) => b.hash))) {
    const blockVal = values.get(TableKeys.block(hash));
    if (!blockVal) return undefined;
    locations.push({ hash, nodes: (JSON.parse(blockVal) as BlockRec).locations });
  }
  return { version, locations, readPosition: position };
}

/**
 * Blocks of heads one message may carry (a head is ~150 bytes a block):
 * past it, files are only listed, so a follower that fell behind gets a
 * message well under the 5 MiB a gRPC message may be.
 */
const MAX_MESSAGE_HEAD_BLOCKS = 4096;

/**
 * A quiet feed sends its position this often. Gateways trust a feed that
 * spoke within 1 s, so two heartbeats fit in that window; each one costs
 * the master and every gateway a message (at 250 ms these were most of an
 * idle master's and gateway's calls). What a cached answer may be rests
 * on the 1 s window and on the master checking before every message that
 * it still leads, not on this period.
 */
const HEARTBEAT_MS = 500;

interface Follower {
  pending: (AppliedMessage & { headBlocks: number }) | undefined;
  overflowed: boolean;
  wake: (() => void) | undefined;
}

export class AppliedFeed {
  private readonly followers = new Set<Follower>();

  constructor(
    /** The node's applied position now. */
    private readonly position: () => number,
    private readonly options: { heartbeatMs: number; maxPendingFiles: number } = { heartbeatMs: HEARTBEAT_MS, maxPendingFiles: 20_000 },
  ) {}

  get size(): number {
    return this.followers.size;
  }

  /** From the store: a batch applied (`changed`: its table pairs), or the whole state replaced (`changed` undefined). */
  applied(pos: Position, changed?: ReadonlyArray<readonly [string, string | undefined]>): void {
    if (!this.followers.size) return;
    try {
      this.queue(pos, changed);
    } catch {
      // Never the apply's problem: every follower is let go and starts over with a reset.
      for (const f of this.followers) {
        f.overflowed = true;
        f.wake?.();
      }
    }
  }

  private queue(pos: Position, changed?: ReadonlyArray<readonly [string, string | undefined]>): void {
    const files: AppliedMessage['files'] = [];
    if (changed) {
      const seen = new Set<string>();
      let values: Map<string, string | undefined> | undefined;
      for (const [key] of changed) {
        const f = fileOfKey(key);
        if (!f) continue;
        const k = `${f.ns}\u0000${f.path}`;
        if (seen.has(k)) continue;
        seen.add(k);
        values ??= new Map(changed);
        files.push({ namespace: f.ns, path: f.path, head: headOf(values, f.ns, f.path, pos.seq) });
      }
    }
    for (const f of this.followers) {
      const p = (f.pending ??= { position: pos.seq, files: [], reset: false, headBlocks: 0 });
      p.position = pos.seq;
      if (!changed) {
        p.reset = true;
        p.files = [];
      } else if (!p.reset) {
        for (const x of files) {
          if (x.head && p.headBlocks + x.head.version.blocks.length > MAX_MESSAGE_HEAD_BLOCKS) {
            p.files.push({ namespace: x.namespace, path: x.path });
            continue;
          }
          p.headBlocks += x.head?.version.blocks.length ?? 0;
          p.files.push(x);
        }
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
   *   than maxPendingFiles files behind, or `still` turned false (checked
   *   before every message).
   */
  async follow(signal: AbortSignal, send: (m: AppliedMessage) => Promise<void>, still: () => boolean = () => true): Promise<void> {
    const f: Follower = { pending: { position: this.position(), files: [], reset: true, headBlocks: 0 }, overflowed: false, wake: undefined };
    this.followers.add(f);
    const onAbort = () => f.wake?.();
    signal.addEventListener('abort', onAbort);
    try {
      while (!signal.aborted) {
        if (f.overflowed) throw new BlockstoreError('UNAVAILABLE', 'the follower fell too far behind the applied positions (or a batch could not be listed); follow again');
        if (!still()) throw new BlockstoreError('UNAVAILABLE', 'this node no longer serves the feed it began (it stopped being master); follow the master');
        const m = f.pending ?? { position: this.position(), files: [], reset: false };
        f.pending = undefined;
        await send({ position: m.position, files: m.files, reset: m.reset });
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
