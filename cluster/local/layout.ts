/**
 * The local cluster's state directory (default `.cluster/` at the repository
 * root): its configuration (ports and counts), data, logs, PIDs, tokens.
 *
 *   cluster.json        ports, desired counts, replication settings
 *   supervisor.pid      the supervisor, which owns every other process
 *   state.json          what the supervisor runs now (ids, PIDs, addresses) and its recent actions
 *   data/<id>/          each node's data directory (etcd in data/etcd)
 *   logs/<id>.log       each process's output (JSON lines)
 *   admin.token, user.token   bearer tokens (mode 0600)
 *   cluster.secret      the secret internal calls carry (mode 0600)
 *   tls/                with --tls: the local CA, node and balancer certificates
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { installClusterCredentials, loadClusterCredentials } from '../../lib/security/cluster-credentials';
import { ensureLocalTls, localTlsPaths } from './tls';

export interface ClusterConfig {
  host: string;
  balancerPort: number;
  etcdClientPort: number;
  etcdPeerPort: number;
  /**
   * meta i listens on basePort + 200 + i, blockd on + 100 + i, gateway on
   * + 300 + i; their HTTP side ports (/healthz, /metrics) on + 500 + i,
   * + 600 + i and + 400 + i: fixed, so a Prometheus can scrape them.
   */
  basePort: number;
  counts: { meta: number; blockd: number; gateway: number };
  replicas: number;
  writeQuorum: number;
  /** The metadata nodes' master lease TTL in seconds (block daemons and gateways keep their own, longer default). */
  leaseTtl: number;
  /**
   * Gateway slots in the balancer (HAProxy's configured servers). An empty
   * slot still wakes HAProxy at every check interval, so there are not many
   * more than the gateways a cluster runs; more gateways than slots need a
   * new `cluster up`.
   */
  balancerSlots: number;
  blockdCapacity: string;
  /** TLS on every listener (balancer, gateways) and mutual TLS between nodes; certificates under tls/. */
  tls: boolean;
  /**
   * Each metadata node, block daemon and gateway in a simulated host of its
   * own with this many cores (a CPU quota; see hosts.ts); 0: no budgets,
   * every process shares the machine.
   */
  hostCpu: number;
  /** The metadata nodes' budget when it differs from hostCpu (0: hostCpu). */
  metaHostCpu: number;
}

export const DEFAULT_CONFIG: ClusterConfig = {
  host: '127.0.0.1',
  balancerPort: 7000,
  etcdClientPort: 7379,
  etcdPeerPort: 7380,
  basePort: 7000,
  counts: { meta: 3, blockd: 3, gateway: 2 },
  replicas: 3,
  writeQuorum: 2,
  leaseTtl: 2,
  balancerSlots: 16,
  blockdCapacity: '10GiB',
  tls: false,
  hostCpu: 0,
  metaHostCpu: 0,
};

/** A role's CPU budget in cores (0: none). */
export function hostCores(c: ClusterConfig, role: NodeState['role']): number {
  if (!(c.hostCpu > 0) || (role !== 'meta' && role !== 'blockd' && role !== 'gateway')) return 0;
  return role === 'meta' && c.metaHostCpu > 0 ? c.metaHostCpu : c.hostCpu;
}

export interface NodeState {
  id: string;
  role: 'etcd' | 'meta' | 'blockd' | 'gateway' | 'haproxy';
  pid: number;
  address: string;
  httpAddress?: string;
  dataDir?: string;
  /** The node's CPU budget in cores when it runs in a host of its own. */
  hostCpu?: number;
  restarts: number;
  startedAt: string;
}

export interface SupervisorState {
  supervisorPid: number;
  updatedAt: string;
  nodes: NodeState[];
  actions: Array<{ time: string; action: string }>;
  ready: boolean;
}

export class StateDir {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = resolve(dir);
  }

  path(...parts: string[]): string {
    return join(this.dir, ...parts);
  }

  ensure(): void {
    for (const d of [this.dir, this.path('data'), this.path('logs')]) mkdirSync(d, { recursive: true, mode: 0o700 });
  }

  exists(): boolean {
    return existsSync(this.path('cluster.json'));
  }

  readConfig(): ClusterConfig {
    return { ...DEFAULT_CONFIG, ...(JSON.parse(readFileSync(this.path('cluster.json'), 'utf8')) as Partial<ClusterConfig>) };
  }

  writeConfig(c: ClusterConfig): void {
    this.writeAtomic('cluster.json', `${JSON.stringify(c, null, 2)}\n`);
  }

  readState(): SupervisorState | undefined {
    try {
      return JSON.parse(readFileSync(this.path('state.json'), 'utf8')) as SupervisorState;
    } catch {
      return undefined;
    }
  }

  writeState(s: SupervisorState): void {
    this.writeAtomic('state.json', `${JSON.stringify(s, null, 2)}\n`);
  }

  supervisorPid(): number | undefined {
    try {
      const pid = Number(readFileSync(this.path('supervisor.pid'), 'utf8'));
      process.kill(pid, 0);
      return pid;
    } catch {
      return undefined;
    }
  }

  /** The cluster secret, made once (mode 0600). */
  ensureSecret(): string {
    const p = this.path('cluster.secret');
    if (!existsSync(p)) this.writeAtomic('cluster.secret', `${randomBytes(32).toString('base64url')}\n`);
    return p;
  }

  /** Flags every node gets: the secret file, and with TLS the certificates. */
  securityArgs(c: ClusterConfig): string[] {
    const args = ['--cluster-secret-file', this.ensureSecret()];
    if (c.tls) {
      const t = ensureLocalTls(this.dir, [c.host]);
      args.push('--tls-ca', t.ca, '--tls-cert', t.cert, '--tls-key', t.key);
    }
    return args;
  }

  /** Gives this process (CLI, supervisor, qas) the cluster's credentials. */
  installCredentials(c: ClusterConfig): void {
    const t = c.tls ? ensureLocalTls(this.dir, [c.host]) : undefined;
    installClusterCredentials(loadClusterCredentials({ secretFile: this.ensureSecret(), tlsCa: t?.ca, tlsCert: t?.cert, tlsKey: t?.key }));
  }

  /** The CA a client of the balancer needs (TLS clusters). */
  clientCa(c: ClusterConfig): Buffer | undefined {
    return c.tls ? readFileSync(localTlsPaths(this.dir).ca) : undefined;
  }

  writeAtomic(name: string, text: string, mode = 0o600): void {
    const tmp = this.path(`.${name}.tmp`);
    writeFileSync(tmp, text, { mode });
    renameSync(tmp, this.path(name));
  }
}

/** The web console's port on the local balancer (across every gateway's side port). */
export function consolePort(c: ClusterConfig): number {
  return c.basePort + 80;
}

export function nodePort(c: ClusterConfig, role: 'meta' | 'blockd' | 'gateway' | 'gateway-http' | 'meta-http' | 'blockd-http', index: number): number {
  const offset = { blockd: 100, meta: 200, gateway: 300, 'gateway-http': 400, 'meta-http': 500, 'blockd-http': 600 }[role];
  return c.basePort + offset + index;
}
