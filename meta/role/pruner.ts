/**
 * Version retention, run by the master: a superseded version stays readable
 * for `retentionMs` after the version that replaced it was written, and a
 * file whose head is a delete marker that old goes altogether. Pruning
 * takes the versions' block references; a block left with none is
 * forgotten from the index `forgetAfterMs` later (reads of a just-pruned
 * version may still be streaming it), and garbage collection then deletes
 * its copies from the daemons (gateway/repair). Heads are never pruned:
 * retention only ever shortens history.
 *
 * The change feed keeps the same history (events older than the retention
 * go; a watch resuming from before the oldest kept event is told so), and
 * idempotency keys are remembered for `idempotencyWindowMs`.
 *
 * Each pass walks a bounded page of each table from where the last pass
 * stopped, and proposes `pruneVersions`, `forgetBlocks` and `trimHistory`
 * writes through the ordinary write pipeline (replicated and acknowledged
 * like any write; re-validated against the state at commit).
 */
import type { Logger } from '../../lib/logger';
import { TableKeys, pathFromFileKey, type BlockRec, type ChangeRec, type FileRec, type IdemRec, type VersionRec } from '../state/records';
import type { WriteRequest } from '../state/requests';
import type { MetaStore } from '../store/meta-store';

export interface PrunerOptions {
  /** 0 keeps every version forever (the pruner still forgets freed blocks). */
  retentionMs: number;
  forgetAfterMs: number;
  /** How long an idempotency key is remembered (0: forever). */
  idempotencyWindowMs: number;
  intervalMs: number;
  /** Files and block-index entries looked at per pass. */
  filesPerPass?: number;
  blocksPerPass?: number;
}

/** Versions, hashes or keys named by one proposed write. */
const MAX_ITEMS_PER_WRITE = 1000;

export class Pruner {
  versionsPruned = 0;
  filesDropped = 0;
  blocksForgotten = 0;
  changesTrimmed = 0;
  idempotencyKeysForgotten = 0;
  /** Per table prefix: the last key a pass looked at ('' = start over). */
  private readonly cursors = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;

  constructor(
    private readonly store: MetaStore,
    private readonly write: (req: WriteRequest) => Promise<unknown>,
    /** True while this node is a master taking writes. */
    private readonly isMaster: () => boolean,
    private readonly options: PrunerOptions,
    private readonly logger: Logger,
  ) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.pass()
        .catch((err: unknown) => this.logger.warn('prune pass failed', { err: err as Error }))
        .finally(() => this.schedule());
    }, this.options.intervalMs);
    this.timer.unref();
  }

  /** One bounded pass over files and over the block index. */
  async pass(now = Date.now()): Promise<void> {
    if (!this.isMaster()) {
      this.cursors.clear();
      return;
    }
    if (this.options.retentionMs > 0) {
      await this.pruneFiles(now - this.options.retentionMs);
      await this.trimChanges(now - this.options.retentionMs);
    }
    await this.forgetBlocks(now - this.options.forgetAfterMs);
    if (this.options.idempotencyWindowMs > 0) await this.forgetIdempotencyKeys(now - this.options.idempotencyWindowMs);
  }

  /**
   * The next page of a table (keys under `prefix`; the first character after
   * it is ASCII, so \xff bounds them), continuing after the last page; past
   * the end it starts over.
   */
  private async nextPage(prefix: string, limit: number): Promise<Array<[string, string]>> {
    const after = this.cursors.get(prefix);
    const page = await this.store.scan(after ? `${after}\u0000` : prefix, `${prefix}\xff`, limit);
    this.cursors.set(prefix, page.length ? page[page.length - 1]![0] : '');
    return page;
  }

  /** Each namespace's change events older than the cutoff (they are in time order). */
  private async trimChanges(cutoff: number): Promise<void> {
    const start = 't:u:';
    const page = await this.nextPage(start, 200);
    for (const [key] of page) {
      if (this.stopped || !this.isMaster()) return;
      const ns = key.slice(start.length);
      // The oldest event first: most namespaces have nothing old to trim.
      const oldest = await this.store.scan(TableKeys.change(ns, 0), `${TableKeys.changePrefix(ns)}\xff`, 1);
      if (!oldest.length || Date.parse((JSON.parse(oldest[0]![1]) as ChangeRec).time) >= cutoff) continue;
      const events = (await this.store.scan(TableKeys.change(ns, 0), `${TableKeys.changePrefix(ns)}\xff`, 1000)).map(([, v]) => JSON.parse(v) as ChangeRec);
      const old: number[] = [];
      for (const e of events) {
        if (Date.parse(e.time) >= cutoff) break;
        old.push(e.cursor);
      }
      if (!old.length) continue;
      await this.write({ kind: 'trimHistory', ns, changesBefore: old[old.length - 1]! + 1, changeCursors: old, idemKeys: [] });
      this.changesTrimmed += old.length;
    }
  }

  /** Idempotency keys used before the cutoff, a page of the key table at a time. */
  private async forgetIdempotencyKeys(cutoff: number): Promise<void> {
    const start = 't:i:';
    const page = await this.nextPage(start, 5000);
    const byNs = new Map<string, string[]>();
    for (const [key, value] of page) {
      const rec = JSON.parse(value) as IdemRec;
      if (!rec.time || Date.parse(rec.time) >= cutoff) continue;
      const sep = key.indexOf('\u0000');
      const ns = key.slice(start.length, sep);
      let keys = byNs.get(ns);
      if (!keys) byNs.set(ns, (keys = []));
      keys.push(key.slice(sep + 1));
    }
    for (const [ns, keys] of byNs) {
      for (let i = 0; i < keys.length; i += MAX_ITEMS_PER_WRITE) {
        if (this.stopped || !this.isMaster()) return;
        const batch = keys.slice(i, i + MAX_ITEMS_PER_WRITE);
        await this.write({ kind: 'trimHistory', ns, changesBefore: 0, changeCursors: [], idemKeys: batch });
        this.idempotencyKeysForgotten += batch.length;
      }
    }
  }

  private async pruneFiles(cutoff: number): Promise<void> {
    const start = 't:f:'; // t:f:<ns>\0<path>
    const page = await this.nextPage(start, this.options.filesPerPass ?? 500);
    for (const [key, value] of page) {
      if (this.stopped || !this.isMaster()) return;
      const head = JSON.parse(value) as FileRec;
      if (head.version === 1 && !head.deleted) continue; // one live version: nothing to prune
      const ns = key.slice(start.length, key.indexOf('\u0000'));
      const path = pathFromFileKey(key);
      const prefix = TableKeys.versionPrefix(ns, path);
      const versions = (await this.store.scan(prefix, `${prefix}\xff`, 1_000_000)).map(([, v]) => JSON.parse(v) as VersionRec);
      const doomed: number[] = [];
      for (let i = 0; i + 1 < versions.length; i++) {
        // Superseded when its successor was written.
        if (Date.parse(versions[i + 1]!.time) < cutoff) doomed.push(versions[i]!.version);
      }
      const last = versions[versions.length - 1];
      const dropHead = last && head.deleted && last.version === head.version && Date.parse(last.time) < cutoff ? head.version : undefined;
      if (dropHead !== undefined) doomed.push(dropHead);
      for (let i = 0; i < doomed.length; i += MAX_ITEMS_PER_WRITE) {
        const batch = doomed.slice(i, i + MAX_ITEMS_PER_WRITE);
        const final = i + MAX_ITEMS_PER_WRITE >= doomed.length;
        await this.write({ kind: 'pruneVersions', ns, path, versions: batch, dropHead: final ? dropHead : undefined });
        this.versionsPruned += batch.length;
      }
      if (dropHead !== undefined) this.filesDropped++;
      if (doomed.length) this.logger.info('versions pruned', { ns, path, versions: doomed.length, fileDropped: dropHead !== undefined });
    }
  }

  private async forgetBlocks(cutoff: number): Promise<void> {
    const start = TableKeys.block('');
    const page = await this.nextPage(start, this.options.blocksPerPass ?? 5000);
    const hashes: string[] = [];
    for (const [key, value] of page) {
      const b = JSON.parse(value) as BlockRec;
      if (b.refs === 0 && !b.staged && b.freedAt && Date.parse(b.freedAt) < cutoff) hashes.push(key.slice(start.length));
    }
    for (let i = 0; i < hashes.length; i += MAX_ITEMS_PER_WRITE) {
      if (this.stopped || !this.isMaster()) return;
      const batch = hashes.slice(i, i + MAX_ITEMS_PER_WRITE);
      await this.write({ kind: 'forgetBlocks', hashes: batch });
      this.blocksForgotten += batch.length;
    }
    if (hashes.length) this.logger.info('unreferenced blocks forgotten from the index', { count: hashes.length });
  }
}
