/**
 * The metadata node's configuration: typed, with defaults, flags and
 * environment variables (parsed in main.ts), and a validator whose messages
 * name the field.
 */
import { resolve } from 'node:path';
import { flagReader, invalidConfig, serverFlags, serverIdentityFromFlags, type ServerIdentity } from '../lib/cli/server-flags';
import type { FlagSpec, FlagValues } from '../lib/cli/flags';
import { parseDuration, parseNumber } from '../lib/units';

export interface MetaConfig extends ServerIdentity {
  dataDir: string;
  /**
   * Master lease TTL. Failover without a supervisor takes about this long
   * (the dead master's lease must expire); shorter means faster failover but
   * more sensitivity to etcd hiccups. etcd grants no less than 2 s.
   */
  leaseTtlSeconds: number;
  /** Most synchronous replicas; a write waits for all of them (≥ 1). */
  syncReplicas: number;
  /** A synchronous replica that has not acked within this is dropped from the set. */
  syncTimeoutMs: number;
  /** A write not acknowledged within this fails with UNAVAILABLE. */
  writeTimeoutMs: number;
  /** How long a read waits for its position to be applied here. */
  readWaitMs: number;
  /** How often the node checks the leader key (and campaigns when there is none). */
  electionPollMs: number;
  drainGraceMs: number;
  /**
   * Applied log entries kept behind the applied position; older ones are
   * compacted away (a replica further behind bootstraps from a snapshot).
   */
  logRetain: number;
  /** How often the log is compacted. */
  logCompactIntervalMs: number;
  /**
   * How long a superseded version (or a deleted file) stays readable; then
   * the master prunes it and its blocks become garbage. 0 keeps every
   * version forever.
   */
  versionRetentionMs: number;
  /** How often the master looks for versions to prune. */
  pruneIntervalMs: number;
  /**
   * How long a block no version references stays in the index (reads of a
   * just-pruned version may still be streaming it); then it is forgotten and
   * garbage collection takes its copies.
   */
  forgetAfterMs: number;
  /** How long an idempotency key is remembered (a replay within it returns the first result). */
  idempotencyWindowMs: number;
  /**
   * Fault injection for tests only: while this file exists, every log
   * append and snapshot write waits (a stalled disk). Empty: off.
   */
  faultStallFile: string;
}

const COMMON = serverFlags({ listen: '127.0.0.1:7200', dataDirHelp: 'where the log and tables are kept (required)' });

export const META_FLAGS: FlagSpec[] = [
  ...COMMON.head,
  { name: 'lease-ttl', env: 'BLOCKSTORE_LEASE_TTL', type: 'string', value: 'SECONDS', default: '2', help: 'master lease TTL (≥ 2)' },
  { name: 'sync-replicas', env: 'BLOCKSTORE_SYNC_REPLICAS', type: 'string', value: 'N', default: '1', help: 'synchronous replicas each write waits for; 0 = standalone, writes live on the master alone (benchmarks, development)' },
  { name: 'sync-timeout-ms', env: 'BLOCKSTORE_SYNC_TIMEOUT_MS', type: 'string', value: 'MS', default: '1000', help: 'drop a silent synchronous replica after this' },
  { name: 'write-timeout-ms', env: 'BLOCKSTORE_WRITE_TIMEOUT_MS', type: 'string', value: 'MS', default: '5000', help: 'fail a write not acknowledged within this' },
  { name: 'read-wait-ms', env: 'BLOCKSTORE_READ_WAIT_MS', type: 'string', value: 'MS', default: '3000', help: 'how long a read waits for its position' },
  { name: 'election-poll-ms', env: 'BLOCKSTORE_ELECTION_POLL_MS', type: 'string', value: 'MS', default: '200', help: 'leader key check interval' },
  { name: 'drain-grace-ms', env: 'BLOCKSTORE_DRAIN_GRACE_MS', type: 'string', value: 'MS', default: '5000', help: 'SIGTERM: wait this long for in-flight calls' },
  { name: 'log-retain', env: 'BLOCKSTORE_LOG_RETAIN', type: 'string', value: 'N', default: '100000', help: 'applied log entries kept; older ones are compacted away (a replica further behind gets a snapshot)' },
  { name: 'log-compact-interval-ms', env: 'BLOCKSTORE_LOG_COMPACT_INTERVAL_MS', type: 'string', value: 'MS', default: '30000', help: 'how often the log is compacted' },
  { name: 'version-retention', env: 'BLOCKSTORE_VERSION_RETENTION', type: 'string', value: 'DURATION', default: '30d', help: 'how long superseded versions and deleted files stay readable before they are pruned; 0 keeps every version' },
  { name: 'prune-interval-ms', env: 'BLOCKSTORE_PRUNE_INTERVAL_MS', type: 'string', value: 'MS', default: '60000', help: 'how often the master looks for versions to prune' },
  { name: 'forget-after-ms', env: 'BLOCKSTORE_FORGET_AFTER_MS', type: 'string', value: 'MS', default: '3600000', help: 'how long an unreferenced block stays indexed before garbage collection may take it' },
  { name: 'idempotency-window', env: 'BLOCKSTORE_IDEMPOTENCY_WINDOW', type: 'string', value: 'DURATION', default: '24h', help: 'how long an idempotency key is remembered; 0 forever' },
  { name: 'http-listen', env: 'BLOCKSTORE_HTTP_LISTEN', type: 'string', value: 'HOST:PORT', default: '127.0.0.1:0', help: "HTTP side port (/healthz, /metrics); 'none' disables" },
  { name: 'fault-stall-file', env: 'BLOCKSTORE_FAULT_STALL_FILE', type: 'string', value: 'PATH', default: '', help: 'tests only: while PATH exists, log and snapshot writes stall (a slow disk)' },
  ...COMMON.tail,
];

/** @throws BlockstoreError INVALID_ARGUMENT naming the flag at fault. */
export function metaConfigFromFlags(v: FlagValues): MetaConfig {
  const { str, required } = flagReader(v);
  const c: MetaConfig = {
    ...serverIdentityFromFlags(v),
    dataDir: resolve(required('data-dir')),
    leaseTtlSeconds: parseNumber(required('lease-ttl'), '--lease-ttl', 2),
    syncReplicas: parseNumber(required('sync-replicas'), '--sync-replicas', 0),
    syncTimeoutMs: parseNumber(required('sync-timeout-ms'), '--sync-timeout-ms', 50),
    writeTimeoutMs: parseNumber(required('write-timeout-ms'), '--write-timeout-ms', 100),
    readWaitMs: parseNumber(required('read-wait-ms'), '--read-wait-ms', 0),
    electionPollMs: parseNumber(required('election-poll-ms'), '--election-poll-ms', 20),
    drainGraceMs: parseNumber(required('drain-grace-ms'), '--drain-grace-ms'),
    logRetain: parseNumber(required('log-retain'), '--log-retain', 1),
    logCompactIntervalMs: parseNumber(required('log-compact-interval-ms'), '--log-compact-interval-ms', 100),
    versionRetentionMs: parseDuration(required('version-retention'), '--version-retention'),
    pruneIntervalMs: parseNumber(required('prune-interval-ms'), '--prune-interval-ms', 50),
    forgetAfterMs: parseNumber(required('forget-after-ms'), '--forget-after-ms'),
    idempotencyWindowMs: parseDuration(required('idempotency-window'), '--idempotency-window'),
    faultStallFile: str('fault-stall-file') ?? '',
  };
  if (!Number.isInteger(c.syncReplicas)) invalidConfig('--sync-replicas: a whole number ≥ 0');
  if (!Number.isInteger(c.logRetain)) invalidConfig('--log-retain: a whole number ≥ 1');
  if (c.syncTimeoutMs >= c.writeTimeoutMs) invalidConfig(`--sync-timeout-ms (${c.syncTimeoutMs}) must be shorter than --write-timeout-ms (${c.writeTimeoutMs})`);
  return c;
}
