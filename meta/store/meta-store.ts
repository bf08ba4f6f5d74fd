/**
 * A metadata node's LevelDB: the operation log, the materialised tables and
 * a little node state, in one database.
 *
 *   l:<seq, 16 digits>  LogEntry JSON — append-only, fsync'd on append
 *   m:applied           { seq, epoch } of the last applied entry
 *   m:promised          the highest epoch this node promised to follow
 *   m:incarnation       this data directory's identity (random, made once):
 *                       a node that lost its disk comes back as another one
 *   m:restored          set by a restore from a backup until the node has
 *                       declared the restored state to the cluster
 *   t:…                 tables (meta/state/records.ts)
 *
 * Tables change only by applying committed log entries, in one batch with
 * m:applied, so they always equal "the log up to applied". Entries after
 * applied are in the log but not yet known committed; a divergent tail is
 * dropped with truncateAfter. Applied entries are compacted away from the
 * front (compactLog): the log holds [logStart, last]; a replica that needs
 * an entry before logStart is sent a snapshot instead.
 */
import { randomUUID } from 'node:crypto';
import { Level } from 'level';
import { BlockstoreError } from '../../lib/errors';
import { applyOp, keysReadBy } from '../state/apply';
import { Overlay, type KvReader } from '../state/kv-view';
import type { LogEntry } from '../state/ops';
import { TableKeys } from '../state/records';
import { ReadCache } from './read-cache';

/** Bound of the in-memory tail of unapplied entries. */
const TAIL_MAX = 10_000;
const LOG = 'l:';
/** Default bound of the table read cache: some 300,000 block records. */
const DEFAULT_CACHE_BYTES = 64 * 1024 * 1024;
const pad = (n: number) => n.toString().padStart(16, '0');

export interface Position {
  seq: number;
  epoch: number;
}

/** Where a restored data directory came from: the backup's position in the cluster it was taken from. */
export interface RestoredFrom {
  seq: number;
  epoch: number;
  takenAt: string;
  file: string;
}

export class MetaStore implements KvReader {
  private readonly db: Level<string, string>;
  last: Position = { seq: 0, epoch: 0 };
  applied: Position = { seq: 0, epoch: 0 };
  promisedEpoch = 0;
  /** First entry still in the log; last.seq + 1 when the log is empty. */
  logStart = 1;
  /** Entries compacted away since open. */
  compacted = 0;
  /** This data directory's identity (see m:incarnation). */
  incarnation = '';
  /** Set when this data directory was made from a backup and the cluster has not taken it up yet (m:restored). */
  restored: RestoredFrom | undefined;
  private applying: Promise<void> = Promise.resolve();
  /** Appends and truncations run one at a time, each checked against `last` when it runs. */
  private logging: Promise<void> = Promise.resolve();
  /** True from the start of a snapshot install until it finishes: the tables are partial. */
  installing = false;
  private readers = 0;
  private readersGone: (() => void) | undefined;
  /**
   * Test hook (a stalled disk): awaited before every log append and
   * snapshot write. Never set in production.
   */
  beforeWrite: (() => Promise<void>) | undefined;
  private opened = false;
  /**
   * Appended entries not applied yet, as written, by position: an apply (and
   * a follower's catch-up) takes them from here instead of reading back what
   * this process just wrote. Kept equal to the log: truncation and wipes
   * drop them, an apply forgets what it applied; bounded, and a gap falls
   * back to the database.
   */
  private readonly tail = new Map<number, string>();
  /** Called after each apply with the new applied position (read waits, watches). */
  /**
   * Called with each new applied position and the table pairs the batch
   * changed (a value undefined: deleted); `changed` undefined: the whole
   * state may have changed (a snapshot install began or finished).
   */
  onApplied: (applied: Position, changed?: ReadonlyArray<readonly [string, string | undefined]>) => void = () => {};

  /** Table reads, kept equal to the database by applyNow and the snapshot steps. */
  readonly cache: ReadCache;

  /** @param cacheBytes bound of the table read cache (0: no cache) */
  constructor(
    readonly dir: string,
    cacheBytes = DEFAULT_CACHE_BYTES,
  ) {
    this.db = new Level<string, string>(dir, { keyEncoding: 'utf8', valueEncoding: 'utf8' });
    this.cache = new ReadCache(cacheBytes);
  }

  async open(): Promise<void> {
    await this.db.open();
    this.opened = true;
    if (await this.db.get('m:snapshot-incomplete')) {
      await this.wipeState();
      await this.db.del('m:snapshot-incomplete');
    }
    this.incarnation = (await this.db.get('m:incarnation')) ?? '';
    if (!this.incarnation) {
      this.incarnation = randomUUID();
      await this.db.put('m:incarnation', this.incarnation, { sync: true });
    }
    const restored = await this.db.get('m:restored');
    this.restored = restored ? (JSON.parse(restored) as RestoredFrom) : undefined;
    const applied = await this.db.get('m:applied');
    this.applied = applied ? (JSON.parse(applied) as Position) : { seq: 0, epoch: 0 };
    const promised = await this.db.get('m:promised');
    this.promisedEpoch = promised ? Number(promised) : 0;
    this.last = { ...this.applied };
    for await (const [, v] of this.db.iterator({ gt: LOG, lt: `${LOG}\xff`, reverse: true, limit: 1 })) {
      const e = JSON.parse(v) as LogEntry;
      if (e.seq > this.last.seq) this.last = { seq: e.seq, epoch: e.epoch };
    }
    this.logStart = this.last.seq + 1;
    for await (const [k] of this.db.iterator({ gt: LOG, lt: `${LOG}\xff`, limit: 1 })) this.logStart = Number(k.slice(LOG.length));
  }

  async close(): Promise<void> {
    if (!this.opened) return;
    this.opened = false;
    await this.applying.catch(() => {});
    await this.db.close();
  }

  async get(key: string): Promise<string | undefined> {
    if (!key.startsWith(TableKeys.tablesPrefix)) return (await this.db.get(key)) ?? undefined;
    if (this.cache.has(key)) {
      this.cache.hits++;
      return this.cache.get(key);
    }
    this.cache.misses++;
    const since = this.cache.generation;
    const value = (await this.db.get(key)) ?? undefined;
    this.cache.fill(key, value, since);
    return value;
  }

  /**
   * Loads table keys a batch is about to read into the read cache with one
   * LevelDB call (each point read is a trip through the thread pool).
   */
  async prefetch(keys: Iterable<string>): Promise<void> {
    if (!this.cache.enabled) return;
    const wanted = [...new Set(keys)].filter((k) => k.startsWith(TableKeys.tablesPrefix) && !this.cache.has(k));
    if (!wanted.length) return;
    this.cache.misses += wanted.length;
    const since = this.cache.generation;
    const values = await this.db.getMany(wanted);
    wanted.forEach((k, i) => this.cache.fill(k, values[i] ?? undefined, since));
  }

  async getJson<T>(key: string): Promise<T | undefined> {
    const v = await this.get(key);
    return v === undefined ? undefined : (JSON.parse(v) as T);
  }

  /** Key-ordered scan of [gte, lt), at most `limit` pairs. */
  async scan(gte: string, lt: string, limit: number, reverse = false): Promise<Array<[string, string]>> {
    const out: Array<[string, string]> = [];
    for await (const kv of this.db.iterator({ gte, lt, limit, reverse })) out.push(kv);
    return out;
  }

  /** Runs `fn` after every earlier append or truncation has finished. */
  private serialLog<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.logging.then(fn);
    this.logging = run.then(
      () => {},
      () => {},
    );
    return run;
  }

  /**
   * Appends entries durably (one fsync'd batch). They must continue the log
   * as it stands when the append runs (appends are serialised, so two
   * writers can never both pass the check and land on the same positions).
   * @throws Error when they do not follow the last entry.
   */
  appendLog(entries: LogEntry[]): Promise<void> {
    if (!entries.length) return Promise.resolve();
    return this.serialLog(async () => {
      let expect = this.last.seq + 1;
      for (const e of entries) {
        if (e.seq !== expect++) throw new Error(`log gap: entry ${e.seq} after ${expect - 2}`);
      }
      await this.beforeWrite?.();
      const values = entries.map((e) => JSON.stringify(e));
      await this.db.batch(entries.map((e, i) => ({ type: 'put' as const, key: LOG + pad(e.seq), value: values[i]! })), { sync: true });
      if (this.tail.size + entries.length <= TAIL_MAX) entries.forEach((e, i) => this.tail.set(e.seq, values[i]!));
      const tail = entries[entries.length - 1]!;
      this.last = { seq: tail.seq, epoch: tail.epoch };
    });
  }

  /**
   * Drops applied entries before `before` (never an unapplied one: the
   * bound is applied.seq + 1, read when the drop runs). Serialised with
   * applies and snapshot installs. Resolves to how many were dropped.
   */
  compactLog(before: number): Promise<number> {
    const run = this.applying.then(async () => {
      const upTo = Math.min(before, this.applied.seq + 1);
      const from = this.logStart;
      if (!this.opened || upTo <= from) return 0;
      await this.db.clear({ gte: LOG + pad(from), lt: LOG + pad(upTo) });
      this.logStart = upTo;
      this.compacted += upTo - from;
      return upTo - from;
    });
    this.applying = run.then(() => {}, () => {});
    return run;
  }

  async readLog(fromSeq: number, limit: number): Promise<LogEntry[]> {
    const held = this.fromTail(fromSeq, limit);
    if (held) return held;
    const out: LogEntry[] = [];
    for await (const [, v] of this.db.iterator({ gte: LOG + pad(fromSeq), lt: `${LOG}\xff`, limit })) out.push(JSON.parse(v) as LogEntry);
    return out;
  }

  /** The entries readLog would return, when the in-memory tail holds all of them. */
  private fromTail(fromSeq: number, limit: number): LogEntry[] | undefined {
    const end = Math.min(fromSeq + limit - 1, this.last.seq);
    if (fromSeq > end) return undefined;
    const out: LogEntry[] = [];
    for (let seq = fromSeq; seq <= end; seq++) {
      const v = this.tail.get(seq);
      if (v === undefined) return undefined;
      out.push(JSON.parse(v) as LogEntry);
    }
    return out;
  }

  /** Epoch of the entry at `seq` (0 for seq 0), or undefined when not in the log. */
  async epochAt(seq: number): Promise<number | undefined> {
    if (seq === 0) return 0;
    if (seq === this.applied.seq) return this.applied.epoch;
    const v = await this.db.get(LOG + pad(seq));
    return v ? (JSON.parse(v) as LogEntry).epoch : undefined;
  }

  /** True when this node holds the committed entry at `pos` (applied past it, or that very entry in its log). */
  async holds(pos: Position): Promise<boolean> {
    if (pos.seq <= this.applied.seq) return true;
    return (await this.epochAt(pos.seq)) === pos.epoch;
  }

  /**
   * Drops log entries after `seq` (never applied ones: seq ≥ applied).
   * @throws Error when asked to drop applied entries.
   */
  truncateAfter(seq: number): Promise<void> {
    return this.serialLog(async () => {
      if (seq < this.applied.seq) throw new Error(`cannot truncate to ${seq}: entries up to ${this.applied.seq} are applied`);
      if (seq >= this.last.seq) return;
      await this.db.clear({ gt: LOG + pad(seq), lt: `${LOG}\xff` });
      for (const s of this.tail.keys()) if (s > seq) this.tail.delete(s);
      await this.db.put('m:truncated', String(seq), { sync: true });
      this.last = { seq, epoch: (await this.epochAt(seq)) ?? this.applied.epoch };
    });
  }

  /**
   * Runs a read of the tables. Refused while a snapshot install has the
   * tables half-written; an install waits for reads under way to finish
   * before it wipes anything, so no read sees a partial state.
   * @throws BlockstoreError UNAVAILABLE while a snapshot is being installed.
   */
  async reading<T>(fn: () => Promise<T>): Promise<T> {
    if (this.installing) throw new BlockstoreError('UNAVAILABLE', 'this node is installing a snapshot from the master; try another node');
    this.readers++;
    try {
      return await fn();
    } finally {
      if (--this.readers === 0) this.readersGone?.();
    }
  }

  async setPromised(epoch: number): Promise<void> {
    if (epoch <= this.promisedEpoch) return;
    this.promisedEpoch = epoch;
    await this.db.put('m:promised', String(epoch), { sync: true });
  }

  /**
   * Applies committed entries up to `upTo` (bounded by the log end), in
   * order, one batch per call. Serialised: concurrent calls queue.
   */
  applyUpTo(upTo: number): Promise<void> {
    const run = this.applying.then(() => this.applyNow(upTo));
    this.applying = run.catch(() => {});
    return run;
  }

  private async applyNow(upTo: number): Promise<void> {
    const target = Math.min(upTo, this.last.seq);
    while (this.applied.seq < target) {
      const entries = await this.readLog(this.applied.seq + 1, Math.min(1000, target - this.applied.seq));
      if (!entries.length) throw new Error(`log entries after ${this.applied.seq} are missing`);
      await this.prefetch(entries.flatMap((e) => keysReadBy(e.op)));
      const view = new Overlay(this);
      let pos = this.applied;
      for (const e of entries) {
        if (e.seq !== pos.seq + 1) throw new Error(`log gap at ${e.seq}`);
        await applyOp(view, e.op, e.seq);
        pos = { seq: e.seq, epoch: e.epoch };
      }
      const mutations = view.mutations();
      const ops = mutations.map(([key, value]) => (value === undefined ? { type: 'del' as const, key } : { type: 'put' as const, key, value }));
      ops.push({ type: 'put', key: 'm:applied', value: JSON.stringify(pos) });
      try {
        await this.db.batch(ops);
      } catch (err) {
        this.cache.clear();
        throw err;
      }
      this.cache.landed(mutations);
      for (const e of entries) this.tail.delete(e.seq);
      this.applied = pos;
      this.onApplied(pos, mutations);
    }
  }

  /**
   * A consistent dump of the tables for a replica's bootstrap: first the
   * applied position, then every table pair (one LevelDB snapshot).
   */
  async *snapshot(): AsyncGenerator<{ applied: Position } | { key: string; value: string }> {
    // The iterator pins a LevelDB snapshot at creation: m:applied and t:… agree.
    const it = this.db.iterator({ gte: 'm:applied', lt: `${TableKeys.tablesPrefix}\xff` });
    try {
      for await (const [key, value] of it) {
        if (key === 'm:applied') yield { applied: JSON.parse(value) as Position };
        else if (key.startsWith(TableKeys.tablesPrefix)) yield { key, value };
      }
    } finally {
      await it.close();
    }
  }

  /**
   * Snapshot install, step 1: wipes log and tables and marks the install
   * incomplete (a crash before finishSnapshot leaves an empty node, never a
   * partial one with a position).
   */
  async beginSnapshot(): Promise<void> {
    this.installing = true;
    while (this.readers > 0) await new Promise<void>((r) => (this.readersGone = r));
    this.readersGone = undefined;
    await this.applying;
    await this.logging;
    await this.beforeWrite?.();
    await this.db.put('m:snapshot-incomplete', '1', { sync: true });
    await this.wipeState();
    this.onApplied(this.applied);
  }

  /** Snapshot install, step 2 (repeated): table pairs. */
  async writeSnapshotPart(pairs: Array<{ key: string; value: string }>): Promise<void> {
    await this.beforeWrite?.();
    if (pairs.length) await this.db.batch(pairs.map((p) => ({ type: 'put' as const, key: p.key, value: p.value })));
  }

  /** Snapshot install, step 3: the state is at `pos`; the log continues after it. */
  async finishSnapshot(pos: Position): Promise<void> {
    await this.db.batch(
      [
        { type: 'put', key: 'm:applied', value: JSON.stringify(pos) },
        { type: 'del', key: 'm:snapshot-incomplete' },
      ],
      { sync: true },
    );
    this.cache.clear();
    this.tail.clear();
    this.applied = { ...pos };
    this.last = { ...pos };
    this.logStart = pos.seq + 1;
    this.installing = false;
    this.onApplied(pos);
  }

  /** Marks this data directory as made from a backup (see `restored`); durable. */
  async markRestored(from: RestoredFrom): Promise<void> {
    await this.db.put('m:restored', JSON.stringify(from), { sync: true });
    this.restored = from;
  }

  /** The cluster has taken the restored state up: the mark goes. */
  async clearRestored(): Promise<void> {
    await this.db.del('m:restored', { sync: true });
    this.restored = undefined;
  }

  private async wipeState(): Promise<void> {
    await this.db.clear({ gte: LOG, lt: `${LOG}\xff` });
    this.tail.clear();
    await this.db.clear({ gte: TableKeys.tablesPrefix, lt: `${TableKeys.tablesPrefix}\xff` });
    // Reads are refused while tables are wiped (open, or a snapshot install): one clear, after, suffices.
    this.cache.clear();
    await this.db.del('m:applied');
    this.applied = { seq: 0, epoch: 0 };
    this.last = { seq: 0, epoch: 0 };
    this.logStart = 1;
  }
}
