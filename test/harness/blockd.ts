/**
 * An in-process block daemon on port 0 with a temp data dir, for
 * integration tests (real gRPC, real LevelDB, optionally real etcd).
 */
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { BlockDaemon } from '../../daemon/block-daemon';
import { LevelBlockTable } from '../../daemon/store/level-block-table';
import type { BlockdConfig } from '../../daemon/config';
import { silentLogger } from '../../lib/logger';
import { clusterCredentials } from '../../lib/security/cluster-credentials';
import { BlockdClient } from '../../lib/rpc/clients/blockd-client';
import { makeTempDir, removeDir } from './temp';

export interface TestDaemon {
  daemon: BlockDaemon;
  address: string;
  /** The data port's address (block bodies over HTTP/1.1). */
  dataAddress: string;
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
    dataListen: '127.0.0.1:0',
    pageCacheBytes: 64 * 1024 * 1024,
    // The test process's credentials (the harness sets the cluster secret in its environment).
    credentials: clusterCredentials(),
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
    dataAddress: daemon.dataAddress,
    client,
    config,
    async stop() {
      client.close();
      await daemon.close();
      removeDir(config.dataDir);
    },
  };
}

/**
 * Flips one byte of a block's stored body in a stopped daemon's data
 * directory (in its segment file, or inline in LevelDB for small bodies).
 * @throws Error when the daemon does not hold the block.
 */
export async function corruptStoredBlock(dataDir: string, hash: string): Promise<void> {
  const table = new LevelBlockTable(dataDir);
  await table.open();
  try {
    const at = await table.location(hash);
    if (!at) throw new Error(`the daemon in ${dataDir} does not hold ${hash}`);
    if ('inline' in at) throw new Error(`block ${hash} is inline; corrupt a larger one`);
    const fd = openSync(at.file, 'r+');
    try {
      const byte = Buffer.alloc(1);
      const pos = at.offset + (at.length >> 1);
      readSync(fd, byte, 0, 1, pos);
      byte[0]! ^= 0x5a;
      writeSync(fd, byte, 0, 1, pos);
    } finally {
      closeSync(fd);
    }
  } finally {
    await table.close();
  }
}
