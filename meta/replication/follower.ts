/**
 * A replica's side of log shipping: follow the current master, refuse
 * anything from an older epoch than promised, append entries durably and
 * ack them, apply what the master says is committed, truncate a divergent
 * tail, install a snapshot when the master sends one.
 */
import type { Logger } from '../../lib/logger';
import type { LeaderInfo } from '../../coordination/meta-election';
import type { MetaStore } from '../store/meta-store';
import type { DialMaster, MasterLink, ToReplica } from './messages';

export class Follower {
  private link: MasterLink | undefined;
  private leader: LeaderInfo | undefined;
  private queue: ToReplica[] = [];
  private processing: Promise<void> | undefined;
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;
  private snapshotting = false;
  commitSeq = 0;
  snapshotsInstalled = 0;
  /**
   * True once this process has applied everything a master said was
   * committed: before that (a node just started or wiped) the tables may be
   * far behind, and reads that carry no position must go elsewhere.
   */
  synced = false;

  constructor(
    private readonly store: MetaStore,
    private readonly nodeId: string,
    private readonly address: () => string,
    private readonly dial: DialMaster,
    private readonly logger: Logger,
  ) {}

  get masterId(): string | undefined {
    return this.leader?.id;
  }

  get masterAddress(): string | undefined {
    return this.leader?.address;
  }

  /** Follow this master (no-op if already following it). */
  async follow(leader: LeaderInfo): Promise<void> {
    this.stopped = false;
    if (this.leader && this.leader.id === leader.id && this.leader.epoch === leader.epoch && this.link) return;
    if (leader.epoch < this.store.promisedEpoch) return; // a stale leader record
    this.disconnect();
    this.leader = leader;
    await this.store.setPromised(leader.epoch);
    this.connect();
  }

  private connect(): void {
    clearTimeout(this.retry);
    const leader = this.leader;
    if (!leader || this.stopped) return;
    const link = this.dial(leader.address);
    this.link = link;
    link.onMessage((msg) => {
      if (this.link !== link) return;
      this.queue.push(msg);
      this.kick();
    });
    link.onClose((err) => {
      if (this.link !== link) return;
      this.link = undefined;
      if (!this.stopped) {
        this.logger.debug('replication stream closed; reconnecting', { err: err?.message });
        this.retry = setTimeout(() => this.connect(), 200);
      }
    });
    link.send({
      kind: 'hello',
      nodeId: this.nodeId,
      address: this.address(),
      last: this.store.last,
      applied: this.store.applied,
      promisedEpoch: this.store.promisedEpoch,
      incarnation: this.store.incarnation,
    });
  }

  /** Handles queued messages, one at a time, on the current link. */
  private kick(): void {
    const link = this.link;
    if (this.processing || !link) return;
    this.processing = this.process(link).finally(() => {
      this.processing = undefined;
      if (this.queue.length) this.kick();
    });
  }

  private async process(link: MasterLink): Promise<void> {
    try {
      while (this.queue.length && this.link === link) {
        const msg = this.queue.shift()!;
        if (msg.epoch < this.store.promisedEpoch) {
          this.logger.warn('refusing a message from an older epoch', { epoch: msg.epoch, promised: this.store.promisedEpoch });
          link.close();
          return;
        }
        switch (msg.kind) {
          case 'entries': {
            // Coalesce queued entry messages into one fsync'd append.
            const entries = [...msg.entries];
            let commit = msg.commitSeq;
            while (this.queue[0]?.kind === 'entries') {
              const more = this.queue.shift() as Extract<ToReplica, { kind: 'entries' }>;
              entries.push(...more.entries);
              commit = Math.max(commit, more.commitSeq);
            }
            // Raft's rule: a local entry that conflicts with the master's (same
            // seq, another epoch) goes, with everything after it. Such a tail
            // can appear after the hello: a deposed master resumed from a
            // pause may finish appending a batch of its old term after it
            // has already said where its log ends.
            for (const e of entries) {
              if (e.seq > this.store.last.seq) break;
              const mine = await this.store.epochAt(e.seq);
              if (mine !== undefined && mine !== e.epoch) {
                this.logger.info('dropping a conflicting log tail', { from: e.seq, mine, master: e.epoch, last: this.store.last.seq });
                await this.store.truncateAfter(e.seq - 1);
                break;
              }
            }
            const fresh = entries.filter((e) => e.seq > this.store.last.seq);
            if (fresh.some((e) => e.epoch > msg.epoch)) throw new Error('entry from a future epoch');
            await this.store.appendLog(fresh);
            link.send({ kind: 'ack', seq: this.store.last.seq });
            await this.commit(commit);
            break;
          }
          case 'commit':
            await this.commit(msg.commitSeq);
            break;
          case 'truncate':
            this.logger.info('truncating a divergent log tail', { after: msg.after, last: this.store.last.seq });
            await this.store.truncateAfter(msg.after);
            break;
          case 'snapshot':
            if (msg.first && msg.applied.seq < this.store.applied.seq) {
              // Committed entries are never given up because a peer says so:
              // a master whose state is behind what this node has applied
              // lacks committed writes (it should never have been elected).
              this.logger.error('refusing a snapshot older than what this node has applied; the master lacks committed entries', {
                master: this.leader?.id, snapshot: msg.applied, applied: this.store.applied,
              });
              link.close();
              return;
            }
            if (msg.first) {
              this.logger.info('installing a snapshot from the master');
              this.snapshotting = true;
              await this.store.beginSnapshot();
            }
            if (!this.snapshotting) throw new Error('snapshot part without a first part');
            await this.store.writeSnapshotPart(msg.pairs);
            if (msg.last) {
              await this.store.finishSnapshot(msg.applied);
              this.snapshotting = false;
              this.snapshotsInstalled++;
              this.logger.info('snapshot installed', { applied: msg.applied });
              await this.commit(msg.applied.seq);
              link.send({ kind: 'ack', seq: this.store.last.seq });
            }
            break;
        }
      }
    } catch (err) {
      this.logger.warn('replication failed; reconnecting', { err: err as Error });
      link.close();
      if (this.link === link) {
        this.link = undefined;
        this.retry = setTimeout(() => this.connect(), 200);
      }
    }
  }

  private async commit(seq: number): Promise<void> {
    this.commitSeq = Math.max(this.commitSeq, seq);
    await this.store.applyUpTo(Math.min(this.commitSeq, this.store.last.seq));
    if (this.store.applied.seq >= this.commitSeq) this.synced = true;
  }

  private disconnect(): void {
    clearTimeout(this.retry);
    const link = this.link;
    this.link = undefined;
    this.queue = [];
    link?.close();
  }

  /**
   * Stops following (becoming master, or shutting down); idempotent.
   * Resolves once the message being handled (an append waiting on its
   * fsync, say) has finished: nothing from the old master lands after.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.leader = undefined;
    this.disconnect();
    await this.processing;
  }
}
