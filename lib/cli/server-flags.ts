/**
 * The flags every server role takes the same way (`--id`, `--listen`,
 * `--advertise`, `--data-dir`, `--etcd`, `--etcd-prefix`, `--log-level`), so
 * operators and scripts start any node alike; and a reader for parsed values.
 */
import { BlockstoreError } from '../errors';
import type { FlagSpec, FlagValues } from './flags';
import { installClusterCredentials, loadClusterCredentials, requireClusterCredentials } from '../security/cluster-credentials';

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
 * Installs this process's cluster credentials from the flags above and
 * refuses to go on without any (internal services never listen open).
 * @throws BlockstoreError INVALID_ARGUMENT.
 */
export function installCredentialsFromFlags(v: FlagValues): void {
  const { str } = flagReader(v);
  const c = loadClusterCredentials({ secretFile: str('cluster-secret-file'), tlsCa: str('tls-ca'), tlsCert: str('tls-cert'), tlsKey: str('tls-key') });
  requireClusterCredentials(c);
  installClusterCredentials(c);
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
