/**
 * The block daemon's configuration: one typed object, defaults, flags and
 * environment variables (parsed in main.ts), and a validator whose messages
 * name the field.
 */
import { resolve } from 'node:path';
import { flagReader, invalidConfig, serverFlags, serverIdentityFromFlags, type ServerIdentity } from '../lib/cli/server-flags';
import type { FlagSpec, FlagValues } from '../lib/cli/flags';
import { parseBytes, parseHostPort, parseNumber } from '../lib/units';

export interface BlockdConfig extends ServerIdentity {
  dataDir: string;
  /** Disk budget for block bytes. */
  capacityBytes: number;
  /** Lease TTL of the etcd registration; the node vanishes this long after a crash. */
  leaseTtlSeconds: number;
  /** How often usage is republished in etcd. */
  refreshMs: number;
  /** Scrubber re-hash rate; 0 turns it off. */
  scrubBytesPerSecond: number;
  scrubIntervalMs: number;
  /** How long SIGTERM waits for in-flight calls. */
  drainGraceMs: number;
  /** How long NOT_SERVING is shown before the listener closes (balancer notice). */
  drainNoticeMs: number;
  /** HOST:PORT of the block data port (block bodies over HTTP/1.1); '' when disabled. */
  dataListen: string;
  /** Recent durable body bytes kept in the kernel's page cache; older ones are dropped. */
  pageCacheBytes: number;
}

const COMMON = serverFlags({ listen: '127.0.0.1:7100', dataDirHelp: 'where blocks are kept (required)', etcdHelp: "etcd endpoints; 'none' disables registration" });

export const BLOCKD_FLAGS: FlagSpec[] = [
  ...COMMON.head,
  { name: 'capacity', env: 'BLOCKSTORE_CAPACITY', type: 'string', value: 'SIZE', default: '10GiB', help: 'disk budget for blocks (e.g. 500MiB, 2TB)' },
  { name: 'lease-ttl', env: 'BLOCKSTORE_LEASE_TTL', type: 'string', value: 'SECONDS', default: '5', help: 'etcd lease TTL (≥ 2)' },
  { name: 'refresh-ms', env: 'BLOCKSTORE_REFRESH_MS', type: 'string', value: 'MS', default: '2000', help: 'how often usage is republished' },
  { name: 'scrub-rate', env: 'BLOCKSTORE_SCRUB_RATE', type: 'string', value: 'SIZE', default: '4MiB', help: 'scrubber bytes per second (4 MiB/s re-reads 1 TB in about 3 days); 0 disables' },
  { name: 'scrub-interval-ms', env: 'BLOCKSTORE_SCRUB_INTERVAL_MS', type: 'string', value: 'MS', default: '60000', help: 'pause between scrub passes' },
  { name: 'drain-grace-ms', env: 'BLOCKSTORE_DRAIN_GRACE_MS', type: 'string', value: 'MS', default: '10000', help: 'SIGTERM: wait this long for in-flight calls' },
  { name: 'drain-notice-ms', env: 'BLOCKSTORE_DRAIN_NOTICE_MS', type: 'string', value: 'MS', default: '0', help: 'SIGTERM: report NOT_SERVING this long before closing' },
  { name: 'page-cache', env: 'BLOCKSTORE_PAGE_CACHE', type: 'string', value: 'SIZE', default: '64MiB', help: 'the most recent durable block bytes kept in the kernel\'s page cache; older ones are dropped (reads of them go to the disk)' },
  { name: 'data-listen', env: 'BLOCKSTORE_DATA_LISTEN', type: 'string', value: 'HOST:PORT', default: '', help: "block data port (block bodies over HTTP/1.1 for gateways; default: --listen's host, any free port); 'none' disables" },
  { name: 'http-listen', env: 'BLOCKSTORE_HTTP_LISTEN', type: 'string', value: 'HOST:PORT', default: '127.0.0.1:0', help: "HTTP side port (/healthz, /metrics); 'none' disables" },
  ...COMMON.tail,
];

/** @throws BlockstoreError INVALID_ARGUMENT naming the flag at fault. */
export function blockdConfigFromFlags(v: FlagValues): BlockdConfig {
  const { required } = flagReader(v);
  const c: BlockdConfig = {
    ...serverIdentityFromFlags(v, { etcdOptional: true }),
    dataDir: resolve(required('data-dir')),
    capacityBytes: parseBytes(required('capacity'), '--capacity'),
    leaseTtlSeconds: parseNumber(required('lease-ttl'), '--lease-ttl', 2),
    refreshMs: parseNumber(required('refresh-ms'), '--refresh-ms', 100),
    scrubBytesPerSecond: parseBytes(required('scrub-rate'), '--scrub-rate'),
    scrubIntervalMs: parseNumber(required('scrub-interval-ms'), '--scrub-interval-ms'),
    drainGraceMs: parseNumber(required('drain-grace-ms'), '--drain-grace-ms'),
    drainNoticeMs: parseNumber(required('drain-notice-ms'), '--drain-notice-ms'),
    dataListen: '',
    pageCacheBytes: parseBytes(required('page-cache'), '--page-cache'),
  };
  const data = String(v['data-listen'] ?? '');
  if (data !== 'none') c.dataListen = data || `${c.listen.slice(0, c.listen.lastIndexOf(':'))}:0`;
  if (c.dataListen) parseHostPort(c.dataListen, '--data-listen');
  if (c.capacityBytes < 1) invalidConfig('--capacity: must be at least 1 byte');
  if (c.refreshMs >= c.leaseTtlSeconds * 1000) invalidConfig(`--refresh-ms (${c.refreshMs}) must be shorter than --lease-ttl (${c.leaseTtlSeconds} s)`);
  return c;
}
