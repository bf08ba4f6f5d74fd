/**
 * An in-process block daemon on port 0 with a temp data dir, for
 * integration tests (real gRPC, real LevelDB, optionally real etcd).
 */
import { BlockDaemon } from '../../daemon/block-daemon';
import type { BlockdConfig } from '../../daemon/config';
import { silentLogger } from '../../lib/logger';
import { BlockdClient } from '../../lib/rpc/clients/blockd-client';
import { makeTempDir, removeDir } from './temp';

export interface TestDaemon {
  daemon: BlockDaemon;
  address: string;
  client: BlockdClient;
  config: BlockdConfig;
  stop(): Promise<void>;
}

export function blockdTestConfig(overrides: Partial<BlockdConfig> = {}): BlockdConfig {
  return {
    id: `b${Math.random().toString(36).slice(2, 8)}`,
    listen: '127.0.0.1:0',
    advertise: undefined,
    dataDir: overrides.dataDir ?? makeTempDir('blockd'),
    etcd: [],
    etcdPrefix: '/blockstore/',
    capacityBytes: 1 << 30,
    leaseTtlSeconds: 2,
    refreshMs: 200,
    scrubBytesPerSecond: 0,
    scrubIntervalMs: 1000,
    drainGraceMs: 2000,
    drainNoticeMs: 0,
    logLevel: 'error',
    httpListen: '',
    ...overrides,
  };
}

export async function startTestDaemon(overrides: Partial<BlockdConfig> = {}): Promise<TestDaemon> {
  const config = blockdTestConfig(overrides);
  const daemon = new BlockDaemon(config, silentLogger);
  const address = await daemon.start();
  const client = new BlockdClient(address);
  return {
    daemon,
    address,
    client,
    config,
    async stop() {
      client.close();
      await daemon.close();
      removeDir(config.dataDir);
    },
  };
}
