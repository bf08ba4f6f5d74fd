/**
 * Composition root of the block daemon: LevelDB block table → BlockStore →
 * gRPC service, plus the scrubber and the etcd registration. start() and an
 * idempotent close(); drain() is the SIGTERM path.
 */
import { mkdirSync } from 'node:fs';
import type { Logger } from '../lib/logger';
import { advertisedAddress, withPort } from '../lib/net/address';
import { ClientPool } from '../lib/rpc/clients/client-pool';
import { BlockdClient } from '../lib/rpc/clients/blockd-client';
import { loadProtos } from '../lib/rpc/proto';
import { RpcServer } from '../lib/rpc/server';
import { SidePort } from '../lib/http/side-port';
import { Metrics } from '../lib/metrics';
import { nodeKey, type NodeRecord } from '../coordination/keys';
import { Registration } from '../coordination/registration';
import { BlockStore } from './blocks/block-store';
import { Scrubber } from './blocks/scrubber';
import type { BlockdConfig } from './config';
import { BlockDataPort } from './rpc/block-data-port';
import { blockServiceHandlers } from './rpc/block-service';
import { ADDON_PATH, pageCache } from './store/page-cache';
import { LevelBlockTable } from './store/level-block-table';

export const BLOCKD_SERVICE = 'blockstore.internal.v1.BlockDaemon';

export class BlockDaemon {
  readonly store: BlockStore;
  readonly scrubber: Scrubber;
  private readonly table: LevelBlockTable;
  private readonly server: RpcServer;
  private registration: Registration | undefined;
  private readonly peers: ClientPool<BlockdClient>;
  private address = '';
  private closing: Promise<void> | undefined;
  private readonly startedAt = new Date().toISOString();
  private side: SidePort | undefined;
  private readonly data: BlockDataPort | undefined;
  readonly metrics: Metrics;

  constructor(
    private readonly config: BlockdConfig,
    private readonly logger: Logger,
  ) {
    mkdirSync(config.dataDir, { recursive: true });
    this.table = new LevelBlockTable(config.dataDir, { pageCacheBytes: config.pageCacheBytes });
    this.store = new BlockStore(this.table, { capacityBytes: config.capacityBytes });
    this.scrubber = new Scrubber(
      this.store,
      { bytesPerSecond: Math.max(1, config.scrubBytesPerSecond), passIntervalMs: config.scrubIntervalMs },
      logger.child({ component: 'scrubber' }),
    );
    this.metrics = new Metrics({ node: config.id, role: 'blockd' });
    this.peers = new ClientPool((address) => new BlockdClient(address, {}, config.credentials));
    this.server = new RpcServer({ listen: config.listen, logger: logger.child({ component: 'rpc' }), metrics: this.metrics, exposure: 'internal', credentials: config.credentials });
    this.metrics.gauge('blockstore_blocks', () => this.store.stats().blocks);
    this.metrics.gauge('blockstore_block_bytes', () => this.store.stats().bytes);
    this.metrics.gauge('blockstore_capacity_bytes', () => this.store.stats().capacityBytes);
    this.metrics.gauge('blockstore_corrupt_blocks', () => this.store.stats().corruptBlocks);
    this.metrics.gauge('blockstore_scrubbed_blocks_total', () => this.scrubber.scrubbedBlocks);
    this.metrics.gauge('blockstore_corrupt_found_total', () => this.store.corruptFound);
    this.metrics.gauge('blockstore_corrupt_replaced_total', () => this.store.corruptReplaced);
    this.metrics.gauge('blockstore_blockd_page_cache_dropped_bytes_total', () => this.table.pageCacheDroppedBytes);
    const handlers = blockServiceHandlers(this.server, {
      store: this.store,
      scrubber: this.scrubber,
      nodeId: config.id,
      fetchFromPeer: async (address, hash, signal) => (await this.peers.get(address).getBlock(hash, {}, { signal, timeoutMs: 30_000 })).data,
    });
    this.server.addService(BLOCKD_SERVICE, loadProtos().protos.blockstore.internal.v1.BlockDaemon.service, handlers);
    if (config.dataListen) {
      this.data = new BlockDataPort({ listen: config.dataListen, store: this.store, credentials: config.credentials, logger: logger.child({ component: 'data-port' }), metrics: this.metrics });
    }
  }

  /** Opens the store, binds, starts the scrubber and registration; resolves to the address. */
  async start(): Promise<string> {
    await this.table.open();
    const port = await this.server.start();
    this.address = advertisedAddress(this.config.listen, this.config.advertise, port);
    await this.data?.start();
    if (this.config.scrubBytesPerSecond > 0) this.scrubber.start();
    if (this.config.httpListen) {
      this.side = new SidePort({ listen: this.config.httpListen, healthy: () => this.server.health.get('') === 'SERVING', metrics: () => this.metrics.render(), credentials: this.config.credentials });
      await this.side.start();
    }
    if (this.config.etcd.length) {
      this.registration = new Registration({
        etcd: this.config.etcd,
        key: nodeKey(this.config.etcdPrefix, 'blockd', this.config.id),
        ttlSeconds: this.config.leaseTtlSeconds,
        refreshMs: this.config.refreshMs,
        record: () => this.record(),
        logger: this.logger.child({ component: 'registration' }),
      });
      this.registration.start();
    }
    this.logger.info('block daemon serving', { address: this.address, dataDir: this.config.dataDir, ...this.table.totals() });
    if (!pageCache.available) this.logger.warn('page-cache advice unavailable (build/native/page_cache.node is not built): durable block bodies stay in the page cache', { addon: ADDON_PATH });
    return this.address;
  }

  get boundPort(): number {
    return this.server.boundPort;
  }

  /** Where the data port listens ('' when disabled or not started). */
  get dataAddress(): string {
    return this.data?.port ? withPort(this.address, this.data.port) : '';
  }

  private record(): NodeRecord {
    const s = this.store.stats();
    return {
      id: this.config.id,
      role: 'blockd',
      address: this.address,
      pid: process.pid,
      startedAt: this.startedAt,
      updatedAt: new Date().toISOString(),
      info: { capacityBytes: s.capacityBytes, usedBytes: s.bytes, blocks: s.blocks, corruptBlocks: s.corruptBlocks, httpAddress: this.side ? withPort(this.address, this.side.port) : '', dataAddress: this.dataAddress },
    };
  }

  /**
   * SIGTERM path: NOT_SERVING, leave etcd, finish in-flight calls, close
   * LevelDB. Idempotent.
   */
  drain(): Promise<void> {
    this.closing ??= (async () => {
      this.logger.info('draining');
      this.server.health.setAll('NOT_SERVING');
      await this.registration?.close();
      this.data?.drain();
      await this.server.drain(this.config.drainNoticeMs, this.config.drainGraceMs);
      await this.shutdownRest();
      this.logger.info('stopped');
    })();
    return this.closing;
  }

  /** Immediate stop (tests); idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.server.close();
      this.data?.close();
      await this.registration?.close();
      await this.shutdownRest();
    })();
    return this.closing;
  }

  private async shutdownRest(): Promise<void> {
    this.side?.close();
    this.data?.close();
    await this.scrubber.close();
    this.peers.close();
    await this.table.close();
  }
}
