/**
 * The gateway's configuration: typed, defaults, flags and environment
 * variables (parsed in main.ts), validated with messages naming the field.
 */
import { flagReader, invalidConfig, serverFlags, serverIdentityFromFlags, type ServerIdentity } from '../lib/cli/server-flags';
import type { FlagSpec, FlagValues } from '../lib/cli/flags';
import { parseBytes, parseNumber } from '../lib/units';

export interface GatewayConfig extends ServerIdentity {
  /** Gateways keep no state; the flag exists so every role starts alike (unused). */
  dataDir: string | undefined;
  /** Copies of each block (R). */
  replicas: number;
  /** Copies that must be durable before a write succeeds (W ≤ R). */
  writeQuorum: number;
  /** Per block-daemon call. */
  blockTimeoutMs: number;
  /** A revoked token keeps working at most this long on a gateway that cached it. */
  authCacheMs: number;
  leaseTtlSeconds: number;
  /** Repair: bytes per second copied (0 turns the worker off on this gateway). */
  repairBytesPerSecond: number;
  /** A block daemon whose lease is gone this long is lost: its copies are re-made. */
  repairLostAfterMs: number;
  repairIntervalMs: number;
  /** Garbage collection grace for unreferenced blocks; 0 disables collection. */
  gcGraceMs: number;
  /** PutFile fails (nothing committed) when it takes longer than this; must be < gcGraceMs. */
  maxUploadMs: number;
  /** Per-user calls per second on this gateway (0: unlimited) and the burst allowed after idling. */
  userRate: number;
  userBurst: number;
  /** Per-user concurrent streams (uploads, downloads, watches) on this gateway (0: unlimited). */
  userStreams: number;
  /** A stream whose client sends (upload) or reads (download, watch) nothing this long is closed. */
  streamIdleMs: number;
  /** SIGTERM: report NOT_SERVING this long before refusing new calls (balancer notice). */
  drainNoticeMs: number;
  drainGraceMs: number;
  /** Bytes of file heads kept between reads (0: every read asks a metadata node). */
  metaCacheBytes: number;
  /** Where `blockstore qas` writes its reports, shown by the console ('' : none). */
  consoleReports: string;
}

const COMMON = serverFlags({ listen: '127.0.0.1:7300', dataDirHelp: 'unused: gateways are stateless', advertiseHelp: 'address the balancer dials (default: the bound address)', listenHelp: 'gRPC address to bind (public API)' });

export const GATEWAY_FLAGS: FlagSpec[] = [
  ...COMMON.head,
  { name: 'replicas', env: 'BLOCKSTORE_REPLICAS', type: 'string', value: 'R', default: '3', help: 'copies of each block' },
  { name: 'write-quorum', env: 'BLOCKSTORE_WRITE_QUORUM', type: 'string', value: 'W', default: '2', help: 'durable copies before a write succeeds (≤ R)' },
  { name: 'block-timeout-ms', env: 'BLOCKSTORE_BLOCK_TIMEOUT_MS', type: 'string', value: 'MS', default: '10000', help: 'per block-daemon call' },
  { name: 'auth-cache-ms', env: 'BLOCKSTORE_AUTH_CACHE_MS', type: 'string', value: 'MS', default: '2000', help: 'token cache lifetime (revocation delay)' },
  { name: 'lease-ttl', env: 'BLOCKSTORE_LEASE_TTL', type: 'string', value: 'SECONDS', default: '5', help: 'etcd registration lease TTL' },
  { name: 'repair-rate', env: 'BLOCKSTORE_REPAIR_RATE', type: 'string', value: 'SIZE', default: '64MiB', help: 'repair copy rate per second; 0 disables the repair worker here' },
  { name: 'repair-lost-after-ms', env: 'BLOCKSTORE_REPAIR_LOST_AFTER_MS', type: 'string', value: 'MS', default: '10000', help: 'grace before a vanished block daemon counts as lost' },
  { name: 'repair-interval-ms', env: 'BLOCKSTORE_REPAIR_INTERVAL_MS', type: 'string', value: 'MS', default: '2000', help: 'pause between repair passes' },
  { name: 'gc-grace-ms', env: 'BLOCKSTORE_GC_GRACE_MS', type: 'string', value: 'MS', default: '3600000', help: 'collect unreferenced blocks not put for this long; 0 disables' },
  { name: 'max-upload-ms', env: 'BLOCKSTORE_MAX_UPLOAD_MS', type: 'string', value: 'MS', default: '1800000', help: 'longest PutFile (must be shorter than the GC grace)' },
  { name: 'http-listen', env: 'BLOCKSTORE_HTTP_LISTEN', type: 'string', value: 'HOST:PORT', default: '127.0.0.1:0', help: 'HTTP side port: /healthz, /metrics' },
  { name: 'user-rate', env: 'BLOCKSTORE_USER_RATE', type: 'string', value: 'CALLS/S', default: '2000', help: 'per-user calls per second on this gateway; 0: unlimited' },
  { name: 'user-burst', env: 'BLOCKSTORE_USER_BURST', type: 'string', value: 'CALLS', default: '4000', help: 'per-user burst after idling' },
  { name: 'user-streams', env: 'BLOCKSTORE_USER_STREAMS', type: 'string', value: 'N', default: '256', help: 'per-user concurrent uploads, downloads and watches on this gateway; 0: unlimited' },
  { name: 'stream-idle-ms', env: 'BLOCKSTORE_STREAM_IDLE_MS', type: 'string', value: 'MS', default: '60000', help: 'close an upload that sends, or a download/watch that reads, nothing this long' },
  { name: 'drain-notice-ms', env: 'BLOCKSTORE_DRAIN_NOTICE_MS', type: 'string', value: 'MS', default: '0', help: 'SIGTERM: NOT_SERVING this long before closing' },
  { name: 'drain-grace-ms', env: 'BLOCKSTORE_DRAIN_GRACE_MS', type: 'string', value: 'MS', default: '15000', help: 'SIGTERM: wait this long for in-flight calls' },
  { name: 'meta-cache', env: 'BLOCKSTORE_META_CACHE', type: 'string', value: 'SIZE', default: '64MiB', help: 'file heads kept between reads, kept exact by a metadata node\'s applied feed; 0: none' },
  { name: 'console-reports', env: 'BLOCKSTORE_CONSOLE_REPORTS', type: 'string', value: 'DIR', default: '', help: 'the directory `blockstore qas` writes its reports to; the console shows the latest (admins)' },
  ...COMMON.tail,
];

/** @throws BlockstoreError INVALID_ARGUMENT naming the flag at fault. */
export function gatewayConfigFromFlags(v: FlagValues): GatewayConfig {
  const { str, required } = flagReader(v);
  const c: GatewayConfig = {
    ...serverIdentityFromFlags(v, { httpRequired: true }),
    dataDir: str('data-dir'),
    replicas: parseNumber(required('replicas'), '--replicas', 1),
    writeQuorum: parseNumber(required('write-quorum'), '--write-quorum', 1),
    blockTimeoutMs: parseNumber(required('block-timeout-ms'), '--block-timeout-ms', 100),
    authCacheMs: parseNumber(required('auth-cache-ms'), '--auth-cache-ms'),
    leaseTtlSeconds: parseNumber(required('lease-ttl'), '--lease-ttl', 2),
    repairBytesPerSecond: parseBytes(required('repair-rate'), '--repair-rate'),
    repairLostAfterMs: parseNumber(required('repair-lost-after-ms'), '--repair-lost-after-ms'),
    repairIntervalMs: parseNumber(required('repair-interval-ms'), '--repair-interval-ms', 100),
    gcGraceMs: parseNumber(required('gc-grace-ms'), '--gc-grace-ms'),
    maxUploadMs: parseNumber(required('max-upload-ms'), '--max-upload-ms', 100),
    userRate: parseNumber(required('user-rate'), '--user-rate'),
    userBurst: parseNumber(required('user-burst'), '--user-burst', 1),
    userStreams: parseNumber(required('user-streams'), '--user-streams'),
    streamIdleMs: parseNumber(required('stream-idle-ms'), '--stream-idle-ms', 100),
    drainNoticeMs: parseNumber(required('drain-notice-ms'), '--drain-notice-ms'),
    drainGraceMs: parseNumber(required('drain-grace-ms'), '--drain-grace-ms'),
    metaCacheBytes: parseBytes(required('meta-cache'), '--meta-cache'),
    consoleReports: str('console-reports') ?? '',
  };
  if (c.gcGraceMs > 0 && c.maxUploadMs >= c.gcGraceMs) {
    invalidConfig(`--max-upload-ms (${c.maxUploadMs}) must be shorter than --gc-grace-ms (${c.gcGraceMs}), or collection could take an upload's blocks`);
  }
  if (c.writeQuorum > c.replicas) invalidConfig(`--write-quorum (${c.writeQuorum}) must not exceed --replicas (${c.replicas})`);
  if (!Number.isInteger(c.replicas) || !Number.isInteger(c.writeQuorum)) invalidConfig('--replicas and --write-quorum: whole numbers');
  return c;
}
