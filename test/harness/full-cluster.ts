/**
 * A whole blockstore cluster of real processes on loopback: etcd, three
 * metadata nodes, N block daemons, M gateways. Bootstraps an admin token
 * through the metadata API (what `cluster-up` does) and hands out SDK clients.
 */
import { hashToken, newToken } from '../../lib/auth/tokens';
import { MetaRouter } from '../../lib/rpc/clients/meta-router';
import { BlockdClient } from '../../lib/rpc/clients/blockd-client';
import { BlockstoreClient } from '../../sdk/client';
import { startEtcd, type EtcdHandle } from './etcd';
import { MetaCluster } from './meta-cluster';
import { startBlockstore, waitListening, type Proc } from './process';
import { makeTempDir, removeDir } from './temp';
import { waitFor } from './wait';

export interface NodeProc {
  id: string;
  proc: Proc;
  address: string;
  dataDir: string;
}

export class FullCluster {
  etcd!: EtcdHandle;
  meta!: MetaCluster;
  readonly blockds = new Map<string, NodeProc>();
  readonly gateways = new Map<string, NodeProc>();
  adminToken = '';
  gatewayArgs: string[] = [];
  private readonly dirs: string[] = [];
  private readonly clients: BlockstoreClient[] = [];

  static async start(
    o: { blockds?: number; gateways?: number; gatewayArgs?: string[]; blockdArgs?: string[]; metaArgs?: string[]; metaArgsFor?: (id: string) => string[] } = {},
  ): Promise<FullCluster> {
    const c = new FullCluster();
    c.etcd = await startEtcd();
    c.meta = await MetaCluster.start(c.etcd, { extraArgs: o.metaArgs, argsFor: o.metaArgsFor });
    await Promise.all(Array.from({ length: o.blockds ?? 3 }, (_, i) => c.startBlockd(`b${i + 1}`, o.blockdArgs)));
    c.gatewayArgs = o.gatewayArgs ?? [];
    await Promise.all(Array.from({ length: o.gateways ?? 2 }, (_, i) => c.startGateway(`g${i + 1}`, o.gatewayArgs)));
    await c.bootstrapAdmin();
    return c;
  }

  async startBlockd(id: string, extra: string[] = []): Promise<NodeProc> {
    const dataDir = this.blockds.get(id)?.dataDir ?? makeTempDir(`blockd-${id}`);
    if (!this.dirs.includes(dataDir)) this.dirs.push(dataDir);
    const proc = startBlockstore([
      'blockd', '--id', id, '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--etcd', this.etcd.endpoint,
      '--lease-ttl', '2', '--refresh-ms', '500', '--log-level', 'warn', ...extra,
    ]);
    const { port } = await waitListening(proc);
    const n = { id, proc, address: `127.0.0.1:${port}`, dataDir };
    this.blockds.set(id, n);
    return n;
  }

  async startGateway(id: string, extra: string[] = []): Promise<NodeProc> {
    const proc = startBlockstore(['gateway', '--id', id, '--listen', '127.0.0.1:0', '--etcd', this.etcd.endpoint, '--lease-ttl', '2', '--log-level', 'warn', ...extra]);
    const { port } = await waitListening(proc);
    const n = { id, proc, address: `127.0.0.1:${port}`, dataDir: '' };
    this.gateways.set(id, n);
    return n;
  }

  /** Creates the admin user and token straight through metadata (as cluster-up does). */
  private async bootstrapAdmin(): Promise<void> {
    const router = new MetaRouter({ discover: async () => this.meta.alive().map((n) => n.address) });
    try {
      await router.write((c) => c.createUser('admin', 'Administrator', 0));
      const t = newToken();
      await router.write((c) => c.issueToken('admin', hashToken(t.token), t.tokenId, 'admin'));
      this.adminToken = t.token;
    } finally {
      router.close();
    }
    // Gateways see every block daemon before tests start.
    await waitFor('gateways to see the block daemons', async () => {
      const s = await this.client(this.adminToken).clusterStatus().catch(() => undefined);
      return s && s.nodes.filter((n) => n.kind === 'blockd' && n.state === 'up').length === this.blockds.size;
    }, 15_000);
  }

  gatewayAddresses(): string[] {
    return [...this.gateways.values()].filter((g) => g.proc.alive()).map((g) => g.address);
  }

  /** An SDK client through every live gateway (client-side round robin). */
  client(token: string, address: string | string[] = this.gatewayAddresses()): BlockstoreClient {
    const c = new BlockstoreClient({ address, token, timeoutMs: 20_000 });
    this.clients.push(c);
    return c;
  }

  /** A user with a quota and a token for them. */
  async user(id: string, quotaBytes = 1e12): Promise<{ token: string; tokenId: string; client: BlockstoreClient }> {
    const admin = this.client(this.adminToken);
    await admin.createUser(id, id, quotaBytes);
    const t = await admin.issueToken(id);
    return { ...t, client: this.client(t.token) };
  }

  async blockdStats(): Promise<Array<{ id: string; blocks: number; bytes: number }>> {
    const out = [];
    for (const n of this.blockds.values()) {
      if (!n.proc.alive()) continue;
      const c = new BlockdClient(n.address);
      const s = await c.getStats();
      c.close();
      out.push({ id: n.id, blocks: s.blocks, bytes: s.bytes });
    }
    return out;
  }

  async stop(): Promise<void> {
    for (const c of this.clients) c.close();
    for (const g of this.gateways.values()) await g.proc.stop(3000);
    for (const b of this.blockds.values()) await b.proc.stop(3000);
    await this.meta?.stop();
    await this.etcd?.stop();
    for (const d of this.dirs) removeDir(d);
  }
}
