/**
 * The role of a metadata node: replica (following the master) or master
 * (taking writes). The role follows the etcd leader key: a node with no
 * leader in sight campaigns (if the election rules let it lead); a master
 * that sees another leader, a newer epoch, or a lease it can no longer be
 * sure of, steps down and follows.
 *
 * It is also the node's write path: `write` and `readAsMaster` answer
 * NOT_MASTER (with the master's address) unless this node leads.
 */
import { BlockstoreError } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import type { LeaderInfo, MetaElection } from '../../coordination/meta-election';
import type { Follower } from '../replication/follower';
import type { ReplicaLink } from '../replication/messages';
import { Replicator } from '../replication/replicator';
import type { WriteRequest } from '../state/requests';
import type { MetaStore } from '../store/meta-store';
import { whyNotLeader } from './eligibility';
import { MasterTerm, type WriteResult } from './master-term';

export type Role = 'replica' | 'master';

/**
 * How much slower a node polls the leader key while its watch stands (3 s
 * at the default 200 ms). The watch brings every change at once, and a
 * reconnected watch triggers a look too; the poll backs up a watch that
 * fails silently. An etcd read costs about 0.9 ms of etcd's CPU and 1.6 ms
 * of the caller's at idle (measured), so at 1 s the three nodes' polls were
 * the largest part of an idle cluster's etcd reads.
 */
const WATCHED_POLL_FACTOR = 15;
/** Bounds of the wait between two looks at a master's lease (see watchFence). */
const FENCE_CHECK_MIN_MS = 50;
const FENCE_CHECK_MAX_MS = 1000;

export interface RoleOptions {
  id: string;
  leaseTtlSeconds: number;
  electionPollMs: number;
  syncReplicas: number;
  syncTimeoutMs: number;
  writeTimeoutMs: number;
}

/** The write path as the RPC adapter and the pruner see it. */
export interface WritePath {
  /** @throws BlockstoreError NOT_MASTER on a replica; validation errors. */
  write(req: WriteRequest): Promise<WriteResult>;
  /** @throws BlockstoreError NOT_MASTER unless this node is a master that may answer for every committed write. */
  readAsMaster<T>(fn: () => Promise<T>): Promise<T>;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`etcd did not answer within ${ms} ms`)), ms))),
  ]);
}

export class RoleManager implements WritePath {
  private term: MasterTerm | undefined;
  private leaderSeen: LeaderInfo | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private again = false;
  private stopped = false;
  private stopWatch: (() => void) | undefined;
  /** Why this node last declined to campaign (undefined: it may lead). */
  private ineligible: string | undefined;
  /** Elections won (status, tests). */
  termsWon = 0;

  constructor(
    private readonly store: MetaStore,
    private readonly election: MetaElection,
    private readonly follower: Follower,
    private readonly options: RoleOptions,
    /** This node's advertised address (known once its server is bound). */
    private readonly address: () => string,
    private readonly logger: Logger,
  ) {}

  get role(): Role {
    return this.term ? 'master' : 'replica';
  }

  /** The epoch of the leader this node last saw (its own when master). */
  get epoch(): number {
    return this.leaderSeen?.epoch ?? 0;
  }

  /** A master whose term has begun and whose lease is certain. */
  get acceptingWrites(): boolean {
    return this.term?.accepting === true && this.term.ready;
  }

  start(): void {
    this.schedule(0);
    // React to the leader key at once; the poll (electionPollMs × WATCHED_POLL_FACTOR
    // while the watch stands) only backs it up.
    void this.election
      .watchLeader(() => this.schedule(0))
      .then((stop) => {
        if (this.stopped) stop();
        else this.stopWatch = stop;
      })
      .catch((err: unknown) => this.logger.debug('cannot watch the leader key; polling only', { err: err as Error }));
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.ticking) {
      // A change seen mid-tick: look again as soon as this one ends.
      if (ms === 0) this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), ms);
  }

  /** One look at the leader key, and what follows from it. */
  private async tick(): Promise<void> {
    if (this.ticking || this.stopped) return;
    this.ticking = true;
    try {
      let leader: LeaderInfo | undefined;
      try {
        leader = await withTimeout(this.election.readLeader(), 2000);
      } catch (err) {
        this.logger.debug('etcd unreachable', { err: err as Error });
        return; // a master's fence handles a long outage; a replica keeps following
      }
      if (this.term) {
        if (!leader || leader.id !== this.options.id || leader.epoch !== this.term.epoch) {
          this.term.stop(leader ? `the leader key now names ${leader.id} (epoch ${leader.epoch})` : 'the leader key is gone');
        }
        return;
      }
      if (leader?.id === this.options.id) {
        // A key naming this node while it is not master: left by an earlier
        // process of this node, or by a campaign that won after it was given
        // up. Nobody else can lead while it stands: give it back.
        this.logger.warn('the leader key names this node, which is not master; revoking it', { epoch: leader.epoch });
        await this.election.resign();
        await withTimeout(this.election.revokeLeaderLease(this.options.id), 2000).catch(() => false);
        return;
      }
      if (leader) {
        this.leaderSeen = leader;
        await this.follower.follow(leader);
        return;
      }
      // No leader: campaign after a short random delay (fewer collisions).
      await new Promise((r) => setTimeout(r, Math.random() * 100));
      if (this.store.restored) await this.declareRestored();
      const self = { id: this.options.id, incarnation: this.store.incarnation, holds: (pos: { seq: number; epoch: number }) => this.store.holds(pos) };
      const won = await this.election
        .campaign(this.options.id, this.address(), { deadline: performance.now() + 5000, mayLead: (record) => whyNotLeader(record, self) })
        .catch((err: unknown) => {
          this.logger.debug('campaign failed', { err: err as Error });
          return undefined;
        });
      const why = this.election.lastIneligible;
      if (why !== this.ineligible) {
        // Said once per change: a cluster that cannot elect anyone says why.
        if (why) this.logger.warn('not campaigning for master', { why, last: this.store.last, applied: this.store.applied });
        this.ineligible = why;
      }
      if (won) await this.becomeMaster(won);
    } finally {
      this.ticking = false;
      const again = this.again;
      this.again = false;
      // With a working watch, master and replicas hear of a change to the
      // leader key at once and poll only as a backstop. (A master's safety
      // does not rest on this poll: its lease fence stops it first.)
      this.schedule(again ? 0 : !this.stopWatch ? this.options.electionPollMs : this.options.electionPollMs * WATCHED_POLL_FACTOR);
    }
  }

  /**
   * A data directory restored from a backup (`blockstore meta snapshot
   * restore`): before its first campaign the node tells the cluster that the
   * restored position is now the committed one (a sealed synchronous set
   * record naming it), so that it — not a wiped node — leads, and the others
   * bootstrap from it.
   */
  private async declareRestored(): Promise<void> {
    const from = this.store.restored!;
    const id = this.options.id;
    const declared = await this.election.declareRestored({
      epoch: 0, master: id, members: [], incarnations: { [id]: this.store.incarnation }, committed: { ...this.store.applied }, sealed: true,
    });
    if (!declared) return; // a master leads: nothing to overrule; the mark stays for the next look
    await this.store.clearRestored();
    this.logger.warn('restored from a backup: this node\'s state is now the cluster\'s', { position: this.store.applied, takenAt: from.takenAt, file: from.file, backupOf: { seq: from.seq, epoch: from.epoch } });
  }

  private async becomeMaster(leader: LeaderInfo): Promise<void> {
    // Nothing from the old master may land in the log after this term's
    // first entry: wait for an append under way to finish.
    await this.follower.stop();
    this.leaderSeen = leader;
    this.termsWon++;
    void this.store.setPromised(leader.epoch);
    this.logger.info('elected master', { epoch: leader.epoch, applied: this.store.applied, last: this.store.last });
    if (this.options.syncReplicas === 0) this.logger.warn('standalone mode (--sync-replicas 0): acknowledged writes live on this node only');
    const log = this.logger.child({ component: 'master', epoch: leader.epoch });
    let term: MasterTerm | undefined;
    const stepDown = (reason: string) => term?.stop(reason);
    const replicator = new Replicator(
      this.store,
      leader.epoch,
      this.options.id,
      (record) => this.election.publishSyncSet(record),
      stepDown,
      { maxSync: this.options.syncReplicas, syncTimeoutMs: this.options.syncTimeoutMs },
      log,
    );
    term = new MasterTerm(
      leader.epoch,
      this.store,
      replicator,
      () => this.election.leaseRemainingMs(),
      (reason) => this.onTermEnded(term!, reason),
      { writeTimeoutMs: this.options.writeTimeoutMs, fenceMarginMs: Math.min(1000, this.options.leaseTtlSeconds * 250) },
      log,
    );
    this.term = term;
    term.start();
    this.watchFence(term);
  }

  /**
   * A master that can no longer be sure of its lease stops. The check runs
   * when the lease, unless renewed meanwhile, stops being certain (and at
   * least every FENCE_CHECK_MAX_MS), not on a fixed fast tick: an idle master
   * wakes about once a second for it instead of twenty times.
   */
  private watchFence(term: MasterTerm): void {
    const check = () => {
      if (this.term !== term) return;
      if (!term.accepting) {
        term.stop('lease no longer certain (cannot renew with etcd)');
        return;
      }
      setTimeout(check, Math.min(FENCE_CHECK_MAX_MS, Math.max(FENCE_CHECK_MIN_MS, term.acceptingForMs)));
    };
    setTimeout(check, FENCE_CHECK_MIN_MS);
  }

  private onTermEnded(term: MasterTerm, reason: string): void {
    if (this.term !== term) return;
    this.term = undefined;
    this.logger.warn('stepping down to replica', { reason });
    void this.election.resign();
  }

  private notMaster(message: string): BlockstoreError {
    const master = this.follower.masterAddress ?? '';
    return new BlockstoreError('NOT_MASTER', message, { details: { master, 'master-id': this.follower.masterId ?? '' } });
  }

  async write(req: WriteRequest): Promise<WriteResult> {
    if (!this.term) {
      const master = this.follower.masterAddress ?? '';
      throw this.notMaster(master ? `not the master; the master is ${this.follower.masterId} at ${master}` : 'not the master; no master known');
    }
    return this.term.submit(req);
  }

  /** Runs a read that must see every committed write: only on a master whose term has begun (its opening entry applied) and whose lease is certain. */
  async readAsMaster<T>(fn: () => Promise<T>): Promise<T> {
    const term = this.term;
    if (!term || !term.ready || !term.accepting) throw this.notMaster('this read needs the master, whose state holds every committed write');
    const result = await fn();
    if (!term.accepting) throw new BlockstoreError('NOT_MASTER', 'the master lease lapsed during the read; ask the master again');
    return result;
  }

  /** A replica's replication stream arrived. */
  attachReplica(link: ReplicaLink): void {
    const term = this.term;
    if (!term || !term.accepting) {
      link.close();
      return;
    }
    term.replicator.attach(link);
  }

  /** Who leads and who follows, as this node sees it. */
  view() {
    const term = this.term;
    const replicator = term ? term.replicator.status() : { syncReplicas: [], replicas: [] };
    return {
      role: this.role,
      epoch: this.epoch,
      masterId: term ? this.options.id : (this.follower.masterId ?? ''),
      masterAddress: term ? this.address() : (this.follower.masterAddress ?? ''),
      commitSeq: term ? this.store.applied.seq : this.follower.commitSeq,
      syncReplicas: replicator.syncReplicas,
      replicas: replicator.replicas,
      acceptingWrites: this.acceptingWrites,
      termsWon: this.termsWon,
    };
  }

  /** @throws etcd errors. */
  revokeMasterLease(masterId: string): Promise<boolean> {
    return this.election.revokeLeaderLease(masterId);
  }

  /** SIGTERM: stop leading so a replica takes over at once (the term seals its set first), stop following. */
  async retire(reason: string): Promise<void> {
    this.stopped = true;
    this.stopWatch?.();
    clearTimeout(this.timer);
    await this.term?.retire(reason);
    await this.follower.stop();
    await this.election.resign();
  }

  /** Immediate stop (tests). */
  async stop(reason: string): Promise<void> {
    this.stopped = true;
    this.stopWatch?.();
    clearTimeout(this.timer);
    this.term?.stop(reason);
    await this.follower.stop();
    await this.election.resign();
  }
}
