/**
 * Composition root of a metadata node: wires the store, the reads, the
 * role (election, fencing, the write path: role/role-manager.ts), the
 * pruner, the metrics and the two gRPC services; registers the node in
 * etcd; compacts the log now and then; says its status; shuts down.
 */
import { existsSync, mkdirSync } from 'node:fs';
import type { Logger } from '../lib/logger';
import { advertisedAddress, withPort } from '../lib/net/address';
import { loadProtos } from '../lib/rpc/proto';
import { RpcServer } from '../lib/rpc/server';
import { SidePort } from '../lib/http/side-port';
import { Metrics } from '../lib/metrics';
import { connectEtcd, type Etcd3 } from '../coordination/etcd';
import { MetaElection } from '../coordination/meta-election';
import { nodeKey, type NodeRecord } from '../coordination/keys';
import { Registration } from '../coordination/registration';
import type { MetaConfig } from './config';
import { registerMetaMetrics } from './meta-metrics';
import { AppliedFeed } from './applied-feed';
import { StateReader } from './state-reader';
import { Follower } from './replication/follower';
import { Pruner } from './role/pruner';
import { RoleManager, type Role } from './role/role-manager';
import { dialMaster } from './rpc/follow-dialer';
import { metadataHandlers } from './rpc/metadata-service';
import { replicationHandlers } from './rpc/replication-service';
import { MetaStore } from './store/meta-store';

export const METADATA_SERVICE = 'blockstore.internal.v1.Metadata';
export const REPLICATION_SERVICE = 'blockstore.internal.v1.MetaReplication';

export type { Role };

/** The TTL of a metadata node's membership record in etcd, in seconds. */
const REGISTRATION_TTL_SECONDS = 5;

export class MetaNode {
  readonly store: MetaStore;
  readonly reads: StateReader;
  readonly feed: AppliedFeed;
  readonly roles: RoleManager;
  readonly pruner: Pruner;
  private readonly server: RpcServer;
  /** The process's one etcd client, shared by the election and the registration. */
  private readonly etcd: Etcd3;
  private readonly election: MetaElection;
  private readonly follower: Follower;
  private readonly metrics: Metrics;
  private registration: Registration | undefined;
  private side: SidePort | undefined;
  private address = '';
  private compactTimer: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;
  private readonly startedAt = new Date().toISOString();

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
    this.etcd = connectEtcd(config.etcd);
    this.election = new MetaElection({
      etcd: this.etcd,
      prefix: config.etcdPrefix,
      ttlSeconds: config.leaseTtlSeconds,
      logger: logger.child({ component: 'election' }),
    });
    this.follower = new Follower(this.store, config.id, () => this.address, (address) => dialMaster(address, config.credentials), logger.child({ component: 'follower' }));
    this.roles = new RoleManager(this.store, this.election, this.follower, config, () => this.address, logger);
    this.reads = new StateReader(this.store, config.readWaitMs, () => this.roles.role === 'master', () => this.follower.synced);
    this.feed = new AppliedFeed(() => this.store.applied.seq);
    this.store.onApplied = (pos, changed) => {
      this.reads.applied(pos);
      this.feed.applied(pos, changed);
    };
    this.pruner = new Pruner(
      this.store,
      (req) => this.roles.write(req),
      () => this.roles.acceptingWrites,
      { retentionMs: config.versionRetentionMs, forgetAfterMs: config.forgetAfterMs, idempotencyWindowMs: config.idempotencyWindowMs, intervalMs: config.pruneIntervalMs },
      logger.child({ component: 'pruner' }),
    );
    this.metrics = new Metrics({ node: config.id, role: 'meta' });
    registerMetaMetrics(this.metrics, { store: this.store, roles: this.roles, follower: this.follower, pruner: this.pruner });
    this.server = new RpcServer({ listen: config.listen, logger: logger.child({ component: 'rpc' }), metrics: this.metrics, exposure: 'internal', credentials: config.credentials });
    const { protos } = loadProtos();
    const roles = this.roles;
    this.server.addService(
      METADATA_SERVICE,
      protos.blockstore.internal.v1.Metadata.service,
      metadataHandlers(this.server, {
        reads: this.reads,
        feed: this.feed,
        store: this.store,
        write: (req) => roles.write(req),
        readAsMaster: (fn) => roles.readAsMaster(fn),
        status: () => this.status(),
        acceptingWrites: () => roles.acceptingWrites,
        revokeMasterLease: (id) => roles.revokeMasterLease(id),
      }),
    );
    this.server.addService(REPLICATION_SERVICE, protos.blockstore.internal.v1.MetaReplication.service, replicationHandlers(roles));
  }

  async start(): Promise<string> {
    await this.store.open();
    const port = await this.server.start();
    this.address = advertisedAddress(this.config.listen, this.config.advertise, port);
    this.registration = new Registration({
      etcd: this.etcd,
      key: nodeKey(this.config.etcdPrefix, 'meta', this.config.id),
      // Membership, not mastership: the master's own lease (--lease-ttl) is
      // the election's. A longer one here means fewer keep-alives (one every
      // TTL/3); a dead node's record lingers a little longer, and those who
      // read it (gateways looking for the master) find it refusing calls.
      ttlSeconds: Math.max(REGISTRATION_TTL_SECONDS, this.config.leaseTtlSeconds),
      refreshMs: 1000,
      record: () => this.record(),
      logger: this.logger.child({ component: 'registration' }),
    });
    if (this.config.httpListen) {
      this.side = new SidePort({ listen: this.config.httpListen, healthy: () => this.server.health.get('') === 'SERVING', metrics: () => this.metrics.render(), credentials: this.config.credentials });
      await this.side.start();
    }
    this.registration.start();
    this.roles.start();
    this.scheduleCompaction();
    this.pruner.start();
    this.logger.info('metadata node serving', { address: this.address, applied: this.store.applied, last: this.store.last });
    return this.address;
  }

  get boundPort(): number {
    return this.server.boundPort;
  }

  get role(): Role {
    return this.roles.role;
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
        metaRole: this.role, appliedSeq: this.store.applied.seq, epoch: this.roles.epoch,
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

  status() {
    const view = this.roles.view();
    return {
      nodeId: this.config.id,
      ...view,
      lastSeq: this.store.last.seq,
      appliedSeq: this.store.applied.seq,
      address: this.address,
      snapshotsInstalled: this.follower.snapshotsInstalled,
      logStart: this.store.logStart,
      logEntriesCompacted: this.store.compacted,
    };
  }

  /** SIGTERM: stop leading (so a replica takes over at once), drain calls, close. Idempotent. */
  drain(): Promise<void> {
    this.closing ??= (async () => {
      clearTimeout(this.compactTimer);
      void this.pruner.stop();
      this.server.health.setAll('NOT_SERVING');
      await this.roles.retire('shutting down');
      await this.registration?.close();
      await this.server.drain(0, this.config.drainGraceMs);
      this.side?.close();
      this.election.close();
      this.etcd.close();
      await this.store.close();
    })();
    return this.closing;
  }

  /** Immediate stop (tests). Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      clearTimeout(this.compactTimer);
      void this.pruner.stop();
      this.server.close();
      this.side?.close();
      await this.roles.stop('closing');
      await this.registration?.close();
      this.election.close();
      this.etcd.close();
      await this.store.close();
    })();
    return this.closing;
  }
}
