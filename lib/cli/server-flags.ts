/**
 * The flags every server role takes the same way (`--id`, `--listen`,
 * `--advertise`, `--data-dir`, `--etcd`, `--etcd-prefix`, `--log-level`), so
 * operators and scripts start any node alike; and a reader for parsed values.
 */
import { BlockstoreError } from '../errors';
import type { FlagSpec, FlagValues } from './flags';
import type { LogLevel } from '../logger';
import { parseHostPort } from '../units';
import { loadClusterCredentials, requireClusterCredentials, type ClusterCredentials } from '../security/cluster-credentials';

export function serverFlags(o: { listen: string; listenHelp?: string; dataDirHelp: string; etcdHelp?: string; advertiseHelp?: string }): {
  head: FlagSpec[];
  tail: FlagSpec[];
} {
  return {
    head: [
      { name: 'id', env: 'BLOCKSTORE_ID', type: 'string', value: 'NAME', help: 'node id, unique in the cluster (required)' },
      { name: 'listen', env: 'BLOCKSTORE_LISTEN', type: 'string', value: 'HOST:PORT', default: o.listen, help: o.listenHelp ?? 'gRPC address to bind' },
      { name: 'advertise', env: 'BLOCKSTORE_ADVERTISE', type: 'string', value: 'HOST:PORT', help: o.advertiseHelp ?? 'address others dial (default: the bound address)' },
      { name: 'data-dir', env: 'BLOCKSTORE_DATA_DIR', type: 'string', value: 'DIR', help: o.dataDirHelp },
      { name: 'etcd', env: 'BLOCKSTORE_ETCD', type: 'string', value: 'URL[,URL…]', default: 'http://127.0.0.1:2379', help: o.etcdHelp ?? 'etcd endpoints' },
      { name: 'etcd-prefix', env: 'BLOCKSTORE_ETCD_PREFIX', type: 'string', value: 'PREFIX', default: '/blockstore/', help: 'etcd key prefix of this cluster' },
    ],
    tail: [
      { name: 'cluster-secret-file', env: 'BLOCKSTORE_CLUSTER_SECRET_FILE', type: 'string', value: 'FILE', help: 'shared secret internal calls carry (or BLOCKSTORE_CLUSTER_SECRET); needed unless mTLS is on' },
      { name: 'tls-ca', env: 'BLOCKSTORE_TLS_CA', type: 'string', value: 'PEM', help: 'cluster CA: turns on TLS, mutual TLS between nodes' },
      { name: 'tls-cert', env: 'BLOCKSTORE_TLS_CERT', type: 'string', value: 'PEM', help: "this node's certificate (with --tls-ca)" },
      { name: 'tls-key', env: 'BLOCKSTORE_TLS_KEY', type: 'string', value: 'PEM', help: "this node's private key (with --tls-ca)" },
      { name: 'log-level', env: 'BLOCKSTORE_LOG_LEVEL', type: 'string', value: 'LEVEL', default: 'info', help: 'debug, info, warn or error' },
    ],
  };
}

/**
 * The cluster credentials the flags above name (the environment filling
 * in what they leave out); a node refuses to go on without any (internal
 * services never listen open).
 * @throws BlockstoreError INVALID_ARGUMENT.
 */
export function credentialsFromFlags(v: FlagValues): ClusterCredentials {
  const { str } = flagReader(v);
  const c = loadClusterCredentials({ secretFile: str('cluster-secret-file'), tlsCa: str('tls-ca'), tlsCert: str('tls-cert'), tlsKey: str('tls-key') });
  requireClusterCredentials(c);
  return c;
}

/** Typed access to parsed flag values. */
export function flagReader(v: FlagValues): { str(name: string): string | undefined; required(name: string): string } {
  const str = (name: string): string | undefined => (typeof v[name] === 'string' ? (v[name] as string) : undefined);
  return {
    str,
    /** @throws BlockstoreError INVALID_ARGUMENT naming the missing flag. */
    required(name: string): string {
      const s = str(name);
      if (!s) throw new BlockstoreError('INVALID_ARGUMENT', `--${name} is required`);
      return s;
    },
  };
}

/** What every server role is configured with alike. */
export interface ServerIdentity {
  id: string;
  /** Address to bind, HOST:PORT (port 0: any free port). */
  listen: string;
  /** Address others dial; defaults to the bound listen address. */
  advertise: string | undefined;
  /** etcd endpoints (empty only where the role allows running without etcd). */
  etcd: string[];
  /** Key prefix in etcd, shared by every node of one cluster. */
  etcdPrefix: string;
  /** HTTP side port (/healthz, /metrics); empty: off. */
  httpListen: string;
  logLevel: LogLevel;
  /** This node's cluster credentials (secret and/or mTLS), handed to its server and every internal client it opens. */
  credentials: ClusterCredentials;
}

/** @throws BlockstoreError INVALID_ARGUMENT with `message`. */
export function invalidConfig(message: string): never {
  throw new BlockstoreError('INVALID_ARGUMENT', message);
}

/**
 * Reads and checks the shared flags; messages name the flag at fault.
 * `etcdOptional`: 'none' (or empty) runs without etcd. `httpRequired`:
 * the side port cannot be turned off (a gateway's balancer checks it).
 * @throws BlockstoreError INVALID_ARGUMENT.
 */
export function serverIdentityFromFlags(v: FlagValues, o: { etcdOptional?: boolean; httpRequired?: boolean } = {}): ServerIdentity {
  const { str, required } = flagReader(v);
  const etcdRaw = o.etcdOptional ? (str('etcd') ?? '') : required('etcd');
  const http = str('http-listen') ?? '127.0.0.1:0';
  const c: ServerIdentity = {
    id: required('id'),
    listen: required('listen'),
    advertise: str('advertise'),
    etcd: etcdRaw === 'none' || etcdRaw === '' ? [] : etcdRaw.split(',').map((s) => s.trim()),
    etcdPrefix: str('etcd-prefix') ?? '/blockstore/',
    httpListen: http === 'none' ? '' : http,
    logLevel: (str('log-level') ?? 'info') as LogLevel,
    credentials: credentialsFromFlags(v),
  };
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(c.id)) invalidConfig(`--id: 1 to 64 of A-Z a-z 0-9 . _ -, got ${JSON.stringify(c.id)}`);
  parseHostPort(c.listen, '--listen');
  if (c.advertise !== undefined && parseHostPort(c.advertise, '--advertise').port === 0) invalidConfig('--advertise: needs a real port, not 0');
  if (!o.etcdOptional && c.etcd.length === 0) invalidConfig('--etcd: at least one endpoint');
  for (const e of c.etcd) if (!/^https?:\/\/[^\s/]+(:\d+)?\/?$/.test(e)) invalidConfig(`--etcd: expected http://HOST:PORT, got ${JSON.stringify(e)}`);
  if (!c.etcdPrefix.startsWith('/') || !c.etcdPrefix.endsWith('/')) invalidConfig(`--etcd-prefix: must start and end with "/", got ${JSON.stringify(c.etcdPrefix)}`);
  if (c.httpListen) parseHostPort(c.httpListen, '--http-listen');
  else if (o.httpRequired) invalidConfig('--http-listen: required here (the balancer checks /healthz on it)');
  if (!['debug', 'info', 'warn', 'error'].includes(c.logLevel)) invalidConfig(`--log-level: debug, info, warn or error, got ${JSON.stringify(c.logLevel)}`);
  return c;
}
