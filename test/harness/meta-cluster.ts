/**
 * A metadata cluster of real `blockstore meta` processes over a real etcd,
 * on free loopback ports in temp dirs (hashicorp/raft's MakeCluster habit:
 * start, find the master, kill, restart, wipe — all by PID).
 */
import { MetaClient } from '../../lib/rpc/clients/meta-client';
import type { EtcdHandle } from './etcd';
import { startBlockstore, waitListening, type Proc } from './process';
import { makeTempDir, removeDir } from './temp';
import { waitFor } from './wait';

export interface MetaNodeHandle {
  id: string;
  dataDir: string;
  proc: Proc;
  address: string;
  client: MetaClient;
}

export interface MetaClusterOptions {
  nodes?: number;
  leaseTtl?: number;
  extraArgs?: string[];
  /** Started with --sync-replicas 0 (benchmark baseline). */
  standalone?: boolean;
  /** etcd endpoint per node (e.g. a blocking proxy for one of them). */
  etcdFor?: (id: string) => string;
  /** Extra flags for one node (e.g. its own --fault-stall-file). */
  argsFor?: (id: string) => string[];
}

export class MetaCluster {
  readonly nodes = new Map<string, MetaNodeHandle>();
  private readonly dirs: string[] = [];

  constructor(
    readonly etcd: EtcdHandle,
    readonly options: MetaClusterOptions = {},
  ) {}

  static async start(etcd: EtcdHandle, options: MetaClusterOptions = {}): Promise<MetaCluster> {
    const c = new MetaCluster(etcd, options);
    const n = options.nodes ?? 3;
    await Promise.all(Array.from({ length: n }, (_, i) => c.startNode(`m${i + 1}`)));
    await c.waitForMaster();
    return c;
  }

  /** Starts (or restarts, keeping its data) node `id`. */
  async startNode(id: string, dataDir?: string): Promise<MetaNodeHandle> {
    const old = this.nodes.get(id);
    const dir = dataDir ?? old?.dataDir ?? makeTempDir(`meta-${id}`);
    if (!this.dirs.includes(dir)) this.dirs.push(dir);
    old?.client.close();
    const proc = startBlockstore([
      'meta', '--id', id, '--data-dir', dir, '--listen', '127.0.0.1:0',
      '--etcd', this.options.etcdFor?.(id) ?? this.etcd.endpoint,
      '--lease-ttl', String(this.options.leaseTtl ?? 2),
      '--log-level', process.env.META_LOG_LEVEL ?? 'warn',
      ...(this.options.extraArgs ?? []),
      ...(this.options.argsFor?.(id) ?? []),
    ]);
    const { port } = await waitListening(proc);
    const address = `127.0.0.1:${port}`;
    const handle: MetaNodeHandle = { id, dataDir: dir, proc, address, client: new MetaClient(address) };
    this.nodes.set(id, handle);
    return handle;
  }

  /** The node that says it is master and accepts writes. */
  async waitForMaster(timeoutMs = 15_000, except?: string): Promise<MetaNodeHandle> {
    return waitFor(
      'a master accepting writes',
      async () => {
        for (const n of this.nodes.values()) {
          if (!n.proc.alive() || n.id === except) continue;
          const s = await n.client.status({ timeoutMs: 500 }).catch(() => undefined);
          if (s?.role === 'master' && s.acceptingWrites && (s.syncReplicas.length > 0 || this.options.standalone)) return n;
        }
        return undefined;
      },
      timeoutMs,
      50,
    );
  }

  alive(): MetaNodeHandle[] {
    return [...this.nodes.values()].filter((n) => n.proc.alive());
  }

  /** Waits until every live node has applied at least `seq`. */
  async waitApplied(seq: number, timeoutMs = 15_000): Promise<void> {
    await waitFor(
      `every live node to apply ${seq}`,
      async () => {
        for (const n of this.alive()) {
          const s = await n.client.status({ timeoutMs: 500 }).catch(() => undefined);
          if (!s || s.appliedSeq < seq) return false;
        }
        return true;
      },
      timeoutMs,
    );
  }

  async stop(): Promise<void> {
    for (const n of this.nodes.values()) {
      n.client.close();
      await n.proc.stop(3000);
    }
    for (const d of this.dirs) removeDir(d);
  }
}
