/**
 * Routes metadata calls across the nodes of the metadata cluster: writes to
 * the master (found by asking, followed on NOT_MASTER, retried with backoff
 * on UNAVAILABLE until a deadline — safe because writes carry idempotency
 * keys), reads to replicas round-robin (any node can serve; positions give
 * read-your-writes), falling over to the next node on UNAVAILABLE.
 */
import { BlockstoreError } from '../../errors';
import { isRetryable, withRetry } from '../../retry';
import { ClientPool } from './client-pool';
import type { ClusterCredentials } from '../../security/cluster-credentials';
import { MetaClient } from './meta-client';

export interface MetaRouterOptions {
  /** Current metadata node addresses (e.g. from etcd membership). */
  discover: () => Promise<string[]>;
  /** How long a write keeps retrying through a failover. */
  writeDeadlineMs?: number;
  readDeadlineMs?: number;
  /** The calling node's cluster credentials (default: the process's, for tools and tests). */
  credentials?: ClusterCredentials;
}

export class MetaRouter {
  private readonly clients: ClientPool<MetaClient>;
  private master: string | undefined;
  private addresses: string[] = [];
  private rr = 0;
  private lastDiscovery = 0;

  constructor(private readonly options: MetaRouterOptions) {
    this.clients = new ClientPool((address) => new MetaClient(address, options.credentials));
  }

  private async refresh(force = false): Promise<void> {
    if (!force && this.addresses.length && Date.now() - this.lastDiscovery < 1000) return;
    this.lastDiscovery = Date.now();
    try {
      const found = await this.options.discover();
      if (found.length) this.addresses = found;
    } catch {
      /* keep what we had */
    }
  }

  private async findMaster(): Promise<string | undefined> {
    await this.refresh(true);
    const statuses = await Promise.all(
      this.addresses.map((a) => this.clients.get(a).status({ timeoutMs: 1000 }).then((s) => ({ a, s }), () => undefined)),
    );
    let best: { a: string; epoch: number } | undefined;
    for (const r of statuses) {
      if (r?.s.role === 'master' && r.s.acceptingWrites && (!best || r.s.epoch > best.epoch)) best = { a: r.a, epoch: r.s.epoch };
    }
    if (best) return best.a;
    // Replicas name the master they follow.
    for (const r of statuses) if (r?.s.masterAddress) return r.s.masterAddress;
    return undefined;
  }

  /**
   * Runs `call` on the master, retrying through failovers until the deadline.
   * @throws BlockstoreError from the master (validation, conflicts), or the
   *   last UNAVAILABLE when no master answered in time.
   */
  write<T>(call: (c: MetaClient) => Promise<T>): Promise<T> {
    return this.onMaster(call, this.options.writeDeadlineMs ?? 15_000);
  }

  /**
   * Runs a read on the master (one that must see every committed write,
   * such as the block index garbage collection trusts), following it
   * through failovers until the read deadline.
   * @throws BlockstoreError from the master, or the last UNAVAILABLE.
   */
  readMaster<T>(call: (c: MetaClient) => Promise<T>): Promise<T> {
    return this.onMaster(call, this.options.readDeadlineMs ?? 10_000);
  }

  private onMaster<T>(call: (c: MetaClient) => Promise<T>, budgetMs: number): Promise<T> {
    return withRetry(
      {
        attempts: Infinity,
        baseDelayMs: 25,
        maxDelayMs: 400,
        budgetMs,
        // Follow the master a NOT_MASTER names; otherwise look for it again.
        onRetry: (err) => {
          const hinted = err instanceof BlockstoreError ? err.details['master'] : undefined;
          this.master = hinted && hinted !== this.master ? hinted : undefined;
        },
      },
      async () => {
        this.master ??= await this.findMaster();
        if (!this.master) throw new BlockstoreError('UNAVAILABLE', 'no metadata master found');
        return call(this.clients.get(this.master));
      },
    );
  }

  /**
   * Runs `call` on some node (replicas first), moving on when one is unavailable.
   * @throws BlockstoreError from the node, or UNAVAILABLE when none answered in time.
   */
  read<T>(call: (c: MetaClient) => Promise<T>): Promise<T> {
    return withRetry({ attempts: Infinity, baseDelayMs: 25, maxDelayMs: 200, budgetMs: this.options.readDeadlineMs ?? 10_000 }, async (attempt) => {
      // After a round where every node failed, ask etcd again.
      await this.refresh(attempt > 1);
      // This round's list: a read running beside it may replace
      // this.addresses with a shorter one (nodes registering again after
      // etcd's leases lapsed) while this one waits on a node.
      const addresses = this.addresses;
      const n = addresses.length;
      const start = this.rr++ % n;
      let lastErr: unknown;
      for (let i = 0; i < n; i++) {
        try {
          return await call(this.clients.get(addresses[(start + i) % n]!));
        } catch (err) {
          if (!isRetryable(err)) throw err;
          lastErr = err;
        }
      }
      // (Built only here: an error captures a stack, too dear for every read.)
      throw lastErr ?? new BlockstoreError('UNAVAILABLE', 'no metadata node reachable');
    });
  }

  /** Runs `call` on the node at `address` (status probes), through the shared connection to it. */
  at<T>(address: string, call: (c: MetaClient) => Promise<T>): Promise<T> {
    return call(this.clients.get(address));
  }

  close(): void {
    this.clients.close();
  }
}
