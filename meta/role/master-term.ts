/**
 * One term as master: the write pipeline.
 *
 * Writes queue; a batch is validated in order against the applied state plus
 * the batch's own earlier effects, appended to the log (one fsync), shipped
 * to the replicas, and acknowledged only when every synchronous replica has
 * fsync'd it — and only while the etcd lease certainly still holds. Then it
 * is applied and the callers get their positions. One batch at a time: the
 * next forms while this one replicates (group commit).
 *
 * A term begins with a no-op entry of its epoch, which commits whatever the
 * log holds from earlier terms before any new write is accepted.
 */
import { BlockstoreError } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import type { Replicator } from '../replication/replicator';
import { applyOp } from '../state/apply';
import { Overlay } from '../state/kv-view';
import type { LogEntry } from '../state/ops';
import { keysReadBy, prepare, type WriteOutcome, type WriteRequest } from '../state/requests';
import type { MetaStore } from '../store/meta-store';

export interface WriteResult {
  outcome: WriteOutcome;
  position: number;
  epoch: number;
}

interface Pending {
  req: WriteRequest;
  resolve: (r: WriteResult) => void;
  reject: (err: unknown) => void;
  settled: boolean;
}

export interface MasterTermOptions {
  /** A write not acknowledged within this fails with UNAVAILABLE (outcome unknown). */
  writeTimeoutMs: number;
  /** Stop acknowledging this long before the lease could expire. */
  fenceMarginMs: number;
  maxBatch?: number;
}

export class MasterTerm {
  private queue: Pending[] = [];
  private running = true;
  private wake: (() => void) | undefined;
  private loop: Promise<void> = Promise.resolve();
  /** True once the opening no-op has committed. */
  ready = false;

  constructor(
    readonly epoch: number,
    private readonly store: MetaStore,
    readonly replicator: Replicator,
    private readonly leaseRemainingMs: () => number,
    private readonly onStepDown: (reason: string) => void,
    private readonly options: MasterTermOptions,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.replicator.onCanGrow = () => {
      if (this.queue.length === 0 && this.accepting) this.submit({ kind: 'noop', reason: 'grow the synchronous set' }).catch(() => {});
    };
    this.queue.unshift({ req: { kind: 'noop', reason: `term ${this.epoch} begins` }, resolve: () => (this.ready = true), reject: () => {}, settled: false });
    this.loop = this.run().catch((err: unknown) => {
      this.logger.error('write pipeline failed', { err: err as Error });
      this.stop('pipeline failure');
    });
  }

  /** True while this term may accept writes. */
  get accepting(): boolean {
    return this.running && this.leaseRemainingMs() > this.options.fenceMarginMs;
  }

  /** How long the term stays `accepting` if the lease is not renewed meanwhile (0 once it is not). */
  get acceptingForMs(): number {
    return this.running ? Math.max(0, this.leaseRemainingMs() - this.options.fenceMarginMs) : 0;
  }

  /**
   * Queues a write; resolves once it is durable on the master and every
   * synchronous replica, and applied.
   * @throws BlockstoreError from validation, NOT_MASTER when this term ended,
   *   NO_SYNC_REPLICA when not acknowledged within writeTimeoutMs.
   */
  submit(req: WriteRequest): Promise<WriteResult> {
    if (!this.accepting) return Promise.reject(new BlockstoreError('NOT_MASTER', 'this node is not the master (anymore)'));
    return new Promise<WriteResult>((resolve, reject) => {
      const p: Pending = { req, resolve, reject, settled: false };
      const timer = setTimeout(() => {
        if (p.settled) return;
        p.settled = true;
        reject(new BlockstoreError('NO_SYNC_REPLICA', `not acknowledged by a synchronous replica within ${this.options.writeTimeoutMs} ms; the write may or may not take effect`));
      }, this.options.writeTimeoutMs);
      p.resolve = (r) => {
        clearTimeout(timer);
        if (!p.settled) {
          p.settled = true;
          resolve(r);
        }
      };
      p.reject = (e) => {
        clearTimeout(timer);
        if (!p.settled) {
          p.settled = true;
          reject(e);
        }
      };
      this.queue.push(p);
      this.wake?.();
    });
  }

  private async run(): Promise<void> {
    const max = this.options.maxBatch ?? 512;
    while (this.running) {
      if (!this.queue.length) {
        await new Promise<void>((r) => (this.wake = r));
        this.wake = undefined;
        continue;
      }
      if (!this.accepting) {
        this.stop('lease no longer certain');
        return;
      }
      // The term's opening no-op goes alone: until it commits, the applied
      // state may lack entries the previous master committed (this node
      // learns of their commit only now), and writes validated against it
      // could miss an idempotency key, a version or a fence already in force.
      const batch = this.queue.splice(0, this.ready ? max : 1).filter((p) => !p.settled || p.req.kind === 'noop');
      await this.store.prefetch(batch.flatMap((p) => keysReadBy(p.req)));
      const view = new Overlay(this.store);
      const entries: LogEntry[] = [];
      const accepted: Array<{ p: Pending; seq: number; outcome: WriteOutcome }> = [];
      let seq = this.store.last.seq;
      const time = new Date().toISOString();
      for (const p of batch) {
        try {
          const prepared = await prepare(view, p.req, time);
          if (!prepared.op) {
            const replaySeq = prepared.outcome.replaySeq ?? this.store.applied.seq;
            if (replaySeq > this.store.applied.seq) {
              // A retry of a write earlier in this very batch (seen in the
              // batch's scratch view): not committed yet. It shares the
              // original's fate — acknowledged only when the batch is.
              accepted.push({ p, seq: replaySeq, outcome: prepared.outcome });
              continue;
            }
            // An idempotent replay: already committed at replaySeq.
            p.resolve({ outcome: prepared.outcome, position: replaySeq, epoch: this.epoch });
            continue;
          }
          seq++;
          await applyOp(view, prepared.op, seq);
          entries.push({ seq, epoch: this.epoch, op: prepared.op });
          accepted.push({ p, seq, outcome: prepared.outcome });
        } catch (err) {
          p.reject(err);
        }
      }
      if (!entries.length) continue;
      // Checked again right before the append: after a pause the term may
      // have ended while this batch was being prepared.
      if (!this.running || !this.accepting) {
        for (const a of accepted) a.p.reject(new BlockstoreError('NOT_MASTER', 'this node stopped being master before the write was logged; it did not take effect'));
        if (this.running) this.stop('lease no longer certain');
        return;
      }
      await this.store.appendLog(entries);
      this.replicator.notifyAppended();
      const last = entries[entries.length - 1]!.seq;
      try {
        await this.replicator.waitForSync(last, () => this.accepting);
      } catch {
        for (const a of accepted) a.p.reject(new BlockstoreError('NOT_MASTER', 'the master stepped down before the write was acknowledged; it may or may not take effect'));
        this.stop('stepped down while replicating');
        return;
      }
      if (!this.accepting) {
        for (const a of accepted) a.p.reject(new BlockstoreError('NOT_MASTER', 'the master lease lapsed before the write was acknowledged; it may or may not take effect'));
        this.stop('lease no longer certain');
        return;
      }
      this.replicator.setCommitted(last);
      await this.store.applyUpTo(last);
      for (const a of accepted) {
        const outcome = a.outcome.version ? { ...a.outcome, version: { ...a.outcome.version, seq: a.seq } } : a.outcome;
        a.p.resolve({ outcome, position: a.seq, epoch: this.epoch });
      }
    }
  }

  /** Ends the term: queued writes fail with NOT_MASTER. Idempotent. */
  stop(reason: string): void {
    if (!this.end(reason)) return;
    this.finish(reason);
  }

  /**
   * An orderly end (shutdown): like stop, but once the batch in flight has
   * settled, the final committed position is sealed into etcd, so whichever
   * node holds it may lead next. Idempotent.
   */
  async retire(reason: string): Promise<void> {
    if (!this.end(reason)) return;
    await this.loop;
    if (!(await this.replicator.seal())) this.logger.warn('could not seal the synchronous set; the next master must be one of its members');
    this.finish(reason);
  }

  /** Stops taking writes; false when already stopped. */
  private end(reason: string): boolean {
    if (!this.running) return false;
    this.running = false;
    this.logger.warn('master term ends', { epoch: this.epoch, reason });
    for (const p of this.queue) p.reject(new BlockstoreError('NOT_MASTER', `this node stopped being master (${reason})`));
    this.queue = [];
    this.wake?.();
    return true;
  }

  private finish(reason: string): void {
    this.replicator.close();
    this.onStepDown(reason);
  }
}
