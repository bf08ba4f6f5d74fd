/**
 * The gateway's picture of the cluster, refreshed from etcd membership:
 * live block daemons (id → address, usage) and metadata nodes. Stateless
 * gateways need nothing else.
 */
import { Membership } from '../coordination/membership';
import type { NodeRecord } from '../coordination/keys';
import type { EtcdSource } from '../coordination/etcd';
import type { Logger } from '../lib/logger';

export class ClusterView {
  private readonly membership: Membership;
  private timer: NodeJS.Timeout | undefined;
  blockds: NodeRecord[] = [];
  metas: NodeRecord[] = [];
  gateways: NodeRecord[] = [];
  /** Nodes being drained: no new block writes go to them. */
  draining = new Set<string>();
  private ready: Promise<void>;

  constructor(
    etcd: EtcdSource,
    prefix: string,
    refreshMs: number,
    private readonly logger: Logger,
  ) {
    this.membership = new Membership(etcd, prefix);
    this.ready = this.refresh();
    this.timer = setInterval(() => void this.refresh(), refreshMs);
  }

  /** Resolves after the first successful look at etcd (or a failed one). */
  whenReady(): Promise<void> {
    return this.ready;
  }

  async refresh(): Promise<void> {
    try {
      const [b, m, g, d] = await Promise.all([this.membership.list('blockd'), this.membership.list('meta'), this.membership.list('gateway'), this.membership.drains()]);
      this.draining = new Set(d);
      this.blockds = b;
      this.metas = m;
      this.gateways = g;
    } catch (err) {
      this.logger.warn('cannot read membership from etcd; keeping the last view', { err: err as Error });
    }
  }

  blockdAddress(id: string): string | undefined {
    return this.blockds.find((n) => n.id === id)?.address;
  }

  close(): void {
    clearInterval(this.timer);
    this.membership.close();
  }
}
