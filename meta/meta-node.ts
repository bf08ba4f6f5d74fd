/**
 * Composition root of a metadata node, and its role: replica (following
 * the master, serving reads) or master (taking writes). The role follows the
 * etcd leader key: a node with no leader in sight campaigns (if it is in the
 * synchronous set); a master that sees another leader, a newer epoch, or a
 * lease it can no longer be sure of, steps down and follows.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { BlockstoreError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import { advertisedAddress, withPort } from '../lib/net/address';
import { loadProtos } from '../lib/rpc/proto';
import { RpcServer } from '../lib/rpc/server';
import { SidePort } from '../lib/http/side-port';
import { Metrics } from '../lib/metrics';
import { MetaElection, type LeaderInfo } from '../coordination/meta-election';
import { nodeKey, type NodeRecord } from '../coordination/keys';
import { Registration } from '../coordination/registration';
import type { MetaConfig } from './config';
import { StateReader } from './state-reader';
import { Follower } from './replication/follower';
import type { ReplicaLink } from './replication/messages';
import { Replicator } from './replication/replicator';
import { whyNotLeader } from './role/eligibility';
import { MasterTerm, type WriteResult } from './role/master-term';
import { Pruner } from './role/pruner';
import { dialMaster } from './rpc/follow-dialer';
import { metadataHandlers } from './rpc/metadata-service';
import { replicationHandlers } from './rpc/replication-service';
import type { WriteRequest } from './state/requests';
import { MetaStore } from './store/meta-store';

export const METADATA_SERVICE = 'blockstore.internal.v1.Metadata';
export const REPLICATION_SERVICE = 'blockstore.internal.v1.MetaReplication';

export type Role = 'replica' | 'master';

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`etcd did not answer within ${ms} ms`)), ms))),
  ]);
}

export class MetaNode {
  readonly store: MetaStore;
  readonly reads: StateReader;
  private readonly server: RpcServer;
  private readonly coordinator: MetaElection;
  private readonly follower: Follower;
  private registration: Registration | undefined;
  private term: MasterTerm | undefined;
  private leader: LeaderInfo | undefined;
  private address = '';
  private timer: NodeJS.Timeout | undefined;
  private compactTimer: NodeJS.Timeout | undefined;
  private ticking = false;
  /** Why this node last declined to campaign (undefined: it may lead). */
  private ineligible: string | undefined;
  private closing: Promise<void> | undefined;
  private readonly startedAt = new Date().toISOString();
  /** Counts elections won (status, tests). */
  termsWon = 0;
  private side: SidePort | undefined;
  private readonly metrics: Metrics;
  readonly pruner: Pruner;

  constructor(
    private readonly config: MetaConfig,
    private readonly logger: Logger,
  ) {
    mkdirSync(config.dataDir, { recursive: true });
    this.store = new MetaStore(config.dataDir);
    if (config.faultStallFile) {
      const file = config.faultStallFile;
      this.store.beforeWrite = async () => {
        while (existsSync(file)) await new Promise((r) => setTimeout(r, 20));
      };
    }
    this.reads = new StateReader(this.store, config.readWaitMs, () => this.term !== undefined, () => this.follower.synced);
    this.store.onApplied = (pos) => this.reads.applied(pos);
    this.coordinator = new MetaElection({
      endpoints: config.etcd,
      prefix: config.etcdPrefix,
      ttlSeconds: config.leaseTtlSeconds,
      logger: logger.child({ component: 'election' }),
    });
    this.follower = new Follower(this.store, config.id, () => this.address, dialMaster, logger.child({ component: 'follower' }));
    this.metrics = new Metrics({ node: config.id, role: 'meta' });
    this.server = new RpcServer({ listen: config.listen, logger: logger.child({ component: 'rpc' }), metrics: this.metrics, exposure: 'internal' });
    this.metrics.gauge('blockstore_meta_is_master', () => (this.term ? 1 : 0));
    this.metrics.gauge('blockstore_meta_epoch', () => this.leader?.epoch ?? 0);
    this.metrics.gauge('blockstore_meta_terms_won_total', () => this.termsWon);
    this.metrics.gauge('blockstore_meta_log_seq', () => this.store.last.seq);
    this.metrics.gauge('blockstore_meta_applied_seq', () => this.store.applied.seq);
    this.metrics.gauge('blockstore_meta_log_start', () => this.store.logStart);
    this.metrics.gauge('blockstore_meta_log_entries', () => this.store.last.seq - this.store.logStart + 1);
    this.metrics.gauge('blockstore_meta_log_compacted_total', () => this.store.compacted);
    this.pruner = new Pruner(
      this.store,
      (req) => this.write(req),
      () => this.term?.ready === true && this.term.accepting,
      { retentionMs: config.versionRetentionMs, forgetAfterMs: config.forgetAfterMs, idempotencyWindowMs: config.idempotencyWindowMs, intervalMs: config.pruneIntervalMs },
      logger.child({ component: 'pruner' }),
    );
    this.metrics.gauge('blockstore_meta_versions_pruned_total', () => this.pruner.versionsPruned);
    this.metrics.gauge('blockstore_meta_files_dropped_total', () => this.pruner.filesDropped);
    this.metrics.gauge('blockstore_meta_blocks_forgotten_total', () => this.pruner.blocksForgotten);
    this.metrics.gauge('blockstore_meta_changes_trimmed_total', () => this.pruner.changesTrimmed);
    this.metrics.gauge('blockstore_meta_idempotency_keys_forgotten_total', () => this.pruner.idempotencyKeysForgotten);
    this.metrics.gauge('blockstore_meta_replication_lag', () => (this.term ? 0 : Math.max(0, this.follower.commitSeq - this.store.applied.seq)));
    this.metrics.gauge('blockstore_meta_sync_replicas', () => this.term?.replicator.status().syncReplicas.length ?? 0);
    const { protos } = loadProtos();
    this.server.addService(METADATA_SERVICE, protos.blockstore.internal.v1.Metadata.service, metadataHandlers(this.server, this));
    this.server.addService(REPLICATION_SERVICE, protos.blockstore.internal.v1.MetaReplication.service, replicationHandlers(this));
  }

  async start(): Promise<string> {
    await this.store.open();
    const port = await this.server.start();
    this.address = advertisedAddress(this.config.listen, this.config.advertise, port);
    this.registration = new Registration({
      endpoints: this.config.etcd,
      key: nodeKey(this.config.etcdPrefix, 'meta', this.config.id),
      ttlSeconds: Math.max(2, this.config.leaseTtlSeconds),
      refreshMs: 1000,
      record: () => this.record(),
      logger: this.logger.child({ component: 'registration' }),
    });
    if (this.config.httpListen) {
      this.side = new SidePort({ listen: this.config.httpListen, healthy: () => this.server.health.get('') === 'SERVING', metrics: () => this.metrics.render() });
      await this.side.start();
    }
    this.registration.start();
    this.schedule(0);
    this.scheduleCompaction();
    this.pruner.start();
    this.logger.info('metadata node serving', { address: this.address, applied: this.store.applied, last: this.store.last });
    return this.address;
  }

  get boundPort(): number {
    return this.server.boundPort;
  }

  get role(): Role {
    return this.term ? 'master' : 'replica';
  }

  private record(): NodeRecord {
    return {
      id: this.config.id,
      role: 'meta',
      address: this.address,
      pid: process.pid,
      startedAt: this.startedAt,
      updatedAt: new Date().toISOString(),
      info: {
        metaRole: this.role, appliedSeq: this.store.applied.seq, epoch: this.leader?.epoch ?? 0,
        httpAddress: this.side ? withPort(this.address, this.side.port) : '',
      },
    };
  }

  /** Drops applied log entries older than the retention, now and then. */
  private scheduleCompaction(): void {
    if (this.closing) return;
    this.compactTimer = setTimeout(() => {
      this.store
        .compactLog(this.store.applied.seq - this.config.logRetain + 1)
        .then((n) => {
          if (n > 0) this.logger.info('log compacted', { dropped: n, logStart: this.store.logStart, applied: this.store.applied.seq });
        })
        .catch((err: unknown) => this.logger.warn('log compaction failed', { err: err as Error }))
        .finally(() => this.scheduleCompaction());
    }, this.config.logCompactIntervalMs);
    this.compactTimer.unref();
  }

  private schedule(ms: number): void {
    if (this.closing) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), ms);
  }

  /** One look at the leader key, and what follows from it. */
  private async tick(): Promise<void> {
    if (this.ticking || this.closing) return;
    this.ticking = true;
    try {
      let leader: LeaderInfo | undefined;
      try {
        leader = await withTimeout(this.coordinator.readLeader(), 2000);
      } catch (err) {
        this.logger.debug('etcd unreachable', { err: err as Error });
        return; // a master's fence handles a long outage; a replica keeps following
      }
      if (this.term) {
        if (!leader || leader.id !== this.config.id || leader.epoch !== this.term.epoch) {
          this.term.stop(leader ? `the leader key now names ${leader.id} (epoch ${leader.epoch})` : 'the leader key is gone');
        }
        return;
      }
      if (leader?.id === this.config.id) {
        // A key naming this node while it is not master: left by an earlier
        // process of this node, or by a campaign that won after it was given
        // up. Nobody else can lead while it stands: give it back.
        this.logger.warn('the leader key names this node, which is not master; revoking it', { epoch: leader.epoch });
        await this.coordinator.resign();
        await withTimeout(this.coordinator.revokeLeaderLease(this.config.id), 2000).catch(() => false);
        return;
      }
      if (leader) {
        this.leader = leader;
        await this.follower.follow(leader);
        return;
      }
      // No leader: campaign after a short random delay (fewer collisions).
      await new Promise((r) => setTimeout(r, Math.random() * 100));
      const self = { id: this.config.id, incarnation: this.store.incarnation, holds: (pos: { seq: number; epoch: number }) => this.store.holds(pos) };
      const won = await this.coordinator
        .campaign(this.config.id, this.address, { deadline: performance.now() + 5000, mayLead: (record) => whyNotLeader(record, self) })
        .catch((err: unknown) => {
          this.logger.debug('campaign failed', { err: err as Error });
          return undefined;
        });
      const why = this.coordinator.lastIneligible;
      if (why !== this.ineligible) {
        // Said once per change: a cluster that cannot elect anyone says why.
        if (why) this.logger.warn('not campaigning for master', { why, last: this.store.last, applied: this.store.applied });
        this.ineligible = why;
      }
      if (won) await this.becomeMaster(won);
    } finally {
      this.ticking = false;
      this.schedule(this.config.electionPollMs);
    }
  }

  private async becomeMaster(leader: LeaderInfo): Promise<void> {
    // Nothing from the old master may land in the log after this term's
    // first entry: wait for an append under way to finish.
    await this.follower.stop();
    this.leader = leader;
    this.termsWon++;
    void this.store.setPromised(leader.epoch);
    this.logger.info('elected master', { epoch: leader.epoch, applied: this.store.applied, last: this.store.last });
    if (this.config.syncReplicas === 0) this.logger.warn('standalone mode (--sync-replicas 0): acknowledged writes live on this node only');
    const log = this.logger.child({ component: 'master', epoch: leader.epoch });
    let term: MasterTerm | undefined;
    const stepDown = (reason: string) => term?.stop(reason);
    const replicator = new Replicator(
      this.store,
      leader.epoch,
      this.config.id,
      (record) => this.coordinator.publishSyncSet(record),
      stepDown,
      { maxSync: this.config.syncReplicas, syncTimeoutMs: this.config.syncTimeoutMs },
      log,
    );
    term = new MasterTerm(
      leader.epoch,
      this.store,
      replicator,
      () => this.coordinator.leaseRemainingMs(),
      (reason) => this.onTermEnded(term!, reason),
      { writeTimeoutMs: this.config.writeTimeoutMs, fenceMarginMs: Math.min(1000, this.config.leaseTtlSeconds * 250) },
      log,
    );
    this.term = term;
    term.start();
    this.watchFence(term);
  }

  /** Checks the lease often; a master that can no longer be sure of it stops. */
  private watchFence(term: MasterTerm): void {
    const check = () => {
      if (this.term !== term) return;
      if (!term.accepting) {
        term.stop('lease no longer certain (cannot renew with etcd)');
        return;
      }
      setTimeout(check, 50);
    };
    setTimeout(check, 50);
  }

  private onTermEnded(term: MasterTerm, reason: string): void {
    if (this.term !== term) return;
    this.term = undefined;
    this.logger.warn('stepping down to replica', { reason });
    void this.coordinator.resign();
  }

  /**
   * A write: executed here when master.
   * @throws BlockstoreError NOT_MASTER (with the master's address) on a replica.
   */
  async write(req: WriteRequest): Promise<WriteResult> {
    if (!this.term) {
      const master = this.follower.masterAddress ?? '';
      throw new BlockstoreError('NOT_MASTER', master ? `not the master; the master is ${this.follower.masterId} at ${master}` : 'not the master; no master known', {
        details: { master, 'master-id': this.follower.masterId ?? '' },
      });
    }
    return this.term.submit(req);
  }

  /**
   * Runs a read that must see every committed write: only on a master
   * whose term has begun (its opening entry, and so everything before it,
   * applied) and whose lease is certain.
   * @throws BlockstoreError NOT_MASTER elsewhere (with the master's address).
   */
  async readAsMaster<T>(fn: () => Promise<T>): Promise<T> {
    const term = this.term;
    if (!term || !term.ready || !term.accepting) {
      const master = this.follower.masterAddress ?? '';
      throw new BlockstoreError('NOT_MASTER', 'this read needs the master, whose state holds every committed write', {
        details: { master, 'master-id': this.follower.masterId ?? '' },
      });
    }
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

  status() {
    const term = this.term;
    const replicator = term ? term.replicator.status() : { syncReplicas: [], replicas: [] };
    return {
      nodeId: this.config.id,
      role: this.role,
      epoch: this.leader?.epoch ?? 0,
      masterId: term ? this.config.id : (this.follower.masterId ?? ''),
      masterAddress: term ? this.address : (this.follower.masterAddress ?? ''),
      lastSeq: this.store.last.seq,
      commitSeq: term ? this.store.applied.seq : this.follower.commitSeq,
      appliedSeq: this.store.applied.seq,
      syncReplicas: replicator.syncReplicas,
      replicas: replicator.replicas,
      acceptingWrites: term?.accepting === true && term.ready,
      address: this.address,
      snapshotsInstalled: this.follower.snapshotsInstalled,
      termsWon: this.termsWon,
      logStart: this.store.logStart,
      logEntriesCompacted: this.store.compacted,
    };
  }

  /** @throws etcd errors. */
  revokeMasterLease(masterId: string): Promise<boolean> {
    return this.coordinator.revokeLeaderLease(masterId);
  }

  /** SIGTERM: stop leading (so a replica takes over at once), drain calls, close. Idempotent. */
  drain(): Promise<void> {
    this.closing ??= (async () => {
      clearTimeout(this.timer);
      clearTimeout(this.compactTimer);
      void this.pruner.stop();
      this.server.health.setAll('NOT_SERVING');
      await this.term?.retire('shutting down');
      await this.follower.stop();
      await this.coordinator.resign();
      await this.registration?.close();
      await this.server.drain(0, this.config.drainGraceMs);
      this.side?.close();
      this.coordinator.close();
      await this.store.close();
    })();
    return this.closing;
  }

  /** Immediate stop (tests). Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      clearTimeout(this.timer);
      clearTimeout(this.compactTimer);
      void this.pruner.stop();
      this.server.close();
      this.side?.close();
      this.term?.stop('closing');
      await this.follower.stop();
      await this.coordinator.resign();
      await this.registration?.close();
      this.coordinator.close();
      await this.store.close();
    })();
    return this.closing;
  }
}
