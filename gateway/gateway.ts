/**
 * Composition root of a gateway: cluster view (etcd), metadata router,
 * block I/O, file service, authenticator, the public gRPC services, and
 * its registration in etcd. Stateless: any number can run.
 */
import type { Logger } from '../lib/logger';
import { advertisedAddress, withPort } from '../lib/net/address';
import { BlockdClient } from '../lib/rpc/clients/blockd-client';
import { ClientPool } from '../lib/rpc/clients/client-pool';
import { BlockDataClient } from '../lib/http/block-data-client';
import { MetaRouter } from '../lib/rpc/clients/meta-router';
import { loadProtos } from '../lib/rpc/proto';
import { RpcServer } from '../lib/rpc/server';
import { SidePort } from '../lib/http/side-port';
import { Metrics } from '../lib/metrics';
import { connectEtcd, type Etcd3 } from '../coordination/etcd';
import { nodeKey, operatorKey, type OperatorStatus } from '../coordination/keys';
import { requestDrain } from '../coordination/membership';
import { readJson, JobLock } from '../coordination/job-lock';
import { blockIndexVia, RepairWorker, type RepairStatus } from './repair/repair-worker';
import { Registration } from '../coordination/registration';
import { Authenticator } from './auth/authenticator';
import { BlockIo } from './blocks/block-io';
import { BlockdTransport } from './blocks/blockd-transport';
import { consoleHandler } from './console/console';
import { drainNode } from './admin/drain';
import { requestDrill } from '../coordination/operator-requests';
import { followChanges } from './files/change-feed';
import { ClusterView } from './cluster-view';
import type { GatewayConfig } from './config';
import { FileService } from './files/file-service';
import { MetaCache, feedMetaCache } from './files/meta-cache';
import { UserLimits } from './auth/user-limits';
import { clusterStatus } from './admin/cluster-status';
import { adminHandlers } from './rpc/admin-service';
import { filesHandlers } from './rpc/files-service';

export const FILES_SERVICE = 'blockstore.v1.Files';
export const ADMIN_SERVICE = 'blockstore.v1.Admin';

export class Gateway {
  private readonly server: RpcServer;
  /** The process's one etcd client: membership, registration, the repair lock, drains. */
  private readonly etcd: Etcd3;
  private readonly view: ClusterView;
  private readonly meta: MetaRouter;
  private readonly blocks: BlockIo;
  private readonly metaCache: MetaCache;
  private readonly stopFeed = new AbortController();
  /** Clients of the block daemons' data ports (bodies of PutBlock/GetBlock). */
  private readonly dataClients: ClientPool<BlockDataClient>;
  private registration: Registration | undefined;
  private repair: RepairWorker | undefined;
  private drainWatch: NodeJS.Timeout | undefined;
  private address = '';
  private state: 'serving' | 'draining' = 'serving';
  private closing: Promise<void> | undefined;
  private readonly startedAt = new Date().toISOString();
  private readonly side: SidePort;
  private readonly metrics: Metrics;
  /** Fault drill: calls fail with UNAVAILABLE until this time. */
  private failUntil = 0;

  constructor(
    private readonly config: GatewayConfig,
    private readonly logger: Logger,
  ) {
    this.etcd = connectEtcd(config.etcd);
    this.view = new ClusterView(this.etcd, config.etcdPrefix, 1000, logger.child({ component: 'cluster-view' }));
    this.meta = new MetaRouter({ discover: async () => this.view.metas.map((n) => n.address), credentials: config.credentials });
    this.dataClients = new ClientPool((address) => new BlockDataClient(address, config.credentials));
    this.blocks = new BlockIo(
      this.view,
      { replicas: config.replicas, writeQuorum: config.writeQuorum, timeoutMs: config.blockTimeoutMs },
      logger.child({ component: 'blocks' }),
      (address) => new BlockdTransport(new BlockdClient(address, {}, config.credentials), () => this.view.blockds.find((n) => n.address === address)?.info.dataAddress as string | undefined, this.dataClients),
    );
    const limits = new UserLimits({ ratePerSecond: config.userRate, burst: config.userBurst, maxStreams: config.userStreams });
    const auth = new Authenticator(this.meta, config.authCacheMs, limits);
    this.metaCache = new MetaCache(config.metaCacheBytes);
    const files = new FileService(this.meta, this.blocks, config.maxUploadMs, this.metaCache);
    this.metrics = new Metrics({ node: config.id, role: 'gateway' });
    this.server = new RpcServer({
      listen: config.listen,
      logger: logger.child({ component: 'rpc' }),
      metrics: this.metrics,
      faulty: () => Date.now() < this.failUntil,
      exposure: 'public',
      credentials: config.credentials,
    });
    this.metrics.gauge('blockstore_rpc_in_flight', () => this.server.callsInFlight);
    this.metrics.gauge('blockstore_gateway_meta_cache_hits_total', () => this.metaCache.stats().hits);
    this.metrics.gauge('blockstore_gateway_meta_cache_misses_total', () => this.metaCache.stats().misses);
    this.metrics.gauge('blockstore_gateway_meta_cache_entries', () => this.metaCache.stats().entries);
    this.metrics.gauge('blockstore_gateway_meta_cache_live', () => (this.metaCache.stats().live ? 1 : 0));
    const askDrain = (id: string) => requestDrain(this.etcd, config.etcdPrefix, id);
    const repairStatus = () => readJson<RepairStatus>(this.etcd, `${config.etcdPrefix}repair/status`);
    const status = () => clusterStatus({ view: this.view, meta: this.meta, blockds: this.blocks, repair: repairStatus });
    this.side = new SidePort({
      listen: config.httpListen,
      routes: consoleHandler({
        // One read of the repair status per poll: the summary and, per draining node, the blocks still to move.
        status: async () => {
          const repair = await repairStatus().catch(() => undefined);
          return { ...(await clusterStatus({ view: this.view, meta: this.meta, blockds: this.blocks, repair: async () => repair })), draining: repair?.draining ?? {} };
        },
        auth, files, reportsDir: config.consoleReports,
        operator: () => readJson<OperatorStatus>(this.etcd, operatorKey(config.etcdPrefix)),
        // As Files.Watch does: within the user's stream limit, from the feed's start.
        watch: (ns, prefix, signal, send) => limits.withStream(ns, () => followChanges(this.meta, ns, prefix, 0, signal, send)),
        drain: (id) => drainNode(this.view, askDrain, id),
        drill: (by) => requestDrill(this.etcd, config.etcdPrefix, by),
        // The view is kept by etcd watches: no read of etcd per poll.
        nodes: async () => {
          return [...this.view.metas.map((n) => ({ n, kind: 'meta' })), ...this.view.blockds.map((n) => ({ n, kind: 'blockd' })), ...this.view.gateways.map((n) => ({ n, kind: 'gateway' }))]
            .map(({ n, kind }) => ({ id: n.id, kind, httpAddress: String(n.info.httpAddress ?? '') }));
        },
      }),
      healthy: () => this.state === 'serving',
      unhealthyStatus: 404, // draining: the balancer stops new calls, in-flight ones finish
      credentials: config.credentials,
      metrics: () => this.metrics.render(),
      fault: (ms) => {
        this.failUntil = Date.now() + ms;
        this.logger.warn('fault drill: failing every call', { ms });
      },
    });
    const { protos } = loadProtos();
    this.server.addService(FILES_SERVICE, protos.blockstore.v1.Files.service, filesHandlers(this.server, { auth, files, meta: this.meta, limits, streamIdleMs: config.streamIdleMs }));
    this.server.addService(
      ADMIN_SERVICE,
      protos.blockstore.v1.Admin.service,
      adminHandlers(this.server, {
        auth, meta: this.meta, view: this.view,
        requestDrain: askDrain,
        status,
      }),
    );
    if (config.repairBytesPerSecond > 0) {
      this.repair = new RepairWorker(
        config.id,
        blockIndexVia(this.meta),
        // Membership from the watched view: a repair tick every 2 s reads no etcd.
        this.view,
        new JobLock(this.etcd, config.etcdPrefix, 'repair', config.id),
        { replicas: config.replicas, lostAfterMs: config.repairLostAfterMs, passIntervalMs: config.repairIntervalMs, bytesPerSecond: config.repairBytesPerSecond, statusKey: `${config.etcdPrefix}repair/status`, rebalance: true, gcGraceMs: config.gcGraceMs, credentials: config.credentials },
        logger.child({ component: 'repair' }),
      );
      this.metrics.gauge('blockstore_repair_copies_total', () => this.repair?.copiesMade ?? 0);
      this.metrics.gauge('blockstore_gc_collected_total', () => this.repair?.collected ?? 0);
      this.metrics.gauge('blockstore_under_replicated_blocks', () => this.repair?.last?.underReplicated ?? 0);
    }
  }

  async start(): Promise<string> {
    await this.view.whenReady();
    const port = await this.server.start();
    const httpPort = await this.side.start();
    this.address = advertisedAddress(this.config.listen, this.config.advertise, port);
    this.registration = new Registration({
      etcd: this.etcd,
      key: nodeKey(this.config.etcdPrefix, 'gateway', this.config.id),
      ttlSeconds: this.config.leaseTtlSeconds,
      refreshMs: Math.min(2000, (this.config.leaseTtlSeconds * 1000) / 3),
      record: () => ({
        id: this.config.id, role: 'gateway', address: this.address, pid: process.pid, startedAt: this.startedAt,
        updatedAt: new Date().toISOString(),
        info: { state: this.state, inFlight: this.server.callsInFlight, httpAddress: withPort(this.address, httpPort) },
      }),
      logger: this.logger.child({ component: 'registration' }),
    });
    this.registration.start();
    this.repair?.start();
    if (this.metaCache.enabled) void feedMetaCache(this.meta, this.metaCache, this.stopFeed.signal, this.logger.child({ component: 'meta-cache' }));
    // Admin.DrainNode on this gateway: stop taking new calls, let in-flight ones finish.
    this.drainWatch = setInterval(() => {
      if (this.state === 'serving' && this.view.draining.has(this.config.id)) void this.softDrain();
    }, 500);
    this.logger.info('gateway serving', { address: this.address });
    return this.address;
  }

  get boundPort(): number {
    return this.server.boundPort;
  }

  get httpPort(): number {
    return this.side.port;
  }

  /**
   * DrainNode: NOT_SERVING and 'draining' in etcd (balancers stop sending),
   * then, after the notice, new calls fail with UNAVAILABLE (clients retry
   * elsewhere) while in-flight ones finish. The process stays up, idle.
   */
  private async softDrain(): Promise<void> {
    this.state = 'draining';
    this.logger.info('drain requested: no new calls');
    this.server.health.setAll('NOT_SERVING');
    await new Promise((r) => setTimeout(r, this.config.drainNoticeMs));
    this.failUntil = Number.MAX_SAFE_INTEGER;
  }

  /** SIGTERM: NOT_SERVING, leave etcd, let the balancer notice, finish in-flight calls, stop. */
  drain(): Promise<void> {
    this.closing ??= (async () => {
      this.state = 'draining';
      this.logger.info('draining');
      this.server.health.setAll('NOT_SERVING');
      await this.registration?.close();
      await this.server.drain(this.config.drainNoticeMs, this.config.drainGraceMs);
      await this.shutdownRest();
      this.logger.info('stopped');
    })();
    return this.closing;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.server.close();
      await this.registration?.close();
      await this.shutdownRest();
    })();
    return this.closing;
  }

  private async shutdownRest(): Promise<void> {
    clearInterval(this.drainWatch);
    this.stopFeed.abort();
    this.side.close();
    this.view.close();
    // The repair lock's lease is revoked (bounded) before the etcd client goes.
    await Promise.race([this.repair?.close(), new Promise((r) => setTimeout(r, 2000))]).catch(() => undefined);
    this.etcd.close();
    this.meta.close();
    this.blocks.close();
    this.dataClients.close();
  }
}
