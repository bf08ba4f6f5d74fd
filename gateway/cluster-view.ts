/**
 * The gateway's picture of the cluster from etcd membership: live block
 * daemons (id → address, usage), metadata nodes, gateways and drains.
 * Stateless gateways need nothing else.
 *
 * Kept by watches on the membership and drain prefixes (a daemon that
 * leaves or is drained is seen at once, and an idle cluster costs etcd no
 * reads); listed again every `relistMs` as a backstop, and every `refreshMs`
 * while a watch cannot stand.
 */
import { PrefixMirror } from '../coordination/prefix-mirror';
import type { NodeRecord, NodeRole } from '../coordination/keys';
import type { EtcdSource } from '../coordination/etcd';
import type { Logger } from '../lib/logger';

/** How much slower the backstop listing runs while both watches stand. */
const WATCHED_RELIST_FACTOR = 10;

export class ClusterView {
  private readonly nodes: PrefixMirror;
  private readonly drainMirror: PrefixMirror;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  blockds: NodeRecord[] = [];
  metas: NodeRecord[] = [];
  gateways: NodeRecord[] = [];
  /** Nodes being drained: no new block writes go to them. */
  draining = new Set<string>();
  private readonly ready: Promise<void>;

  constructor(
    etcd: EtcdSource,
    prefix: string,
    private readonly refreshMs: number,
    private readonly logger: Logger,
  ) {
    this.nodes = new PrefixMirror(etcd, `${prefix}nodes/`, () => this.rebuildNodes());
    this.drainMirror = new PrefixMirror(etcd, `${prefix}drain/`, () => this.rebuildDrains());
    this.ready = this.watch();
  }

  /** Resolves after the first look at etcd (successful or not). */
  whenReady(): Promise<void> {
    return this.ready;
  }

  /** Reads membership from etcd now (callers that must not act on a stale view). */
  async refresh(): Promise<void> {
    try {
      await Promise.all([this.nodes.relist(), this.drainMirror.relist()]);
    } catch (err) {
      this.logger.warn('cannot read membership from etcd; keeping the last view', { err: err as Error });
    }
  }

  private async watch(): Promise<void> {
    try {
      await Promise.all([this.nodes.start(), this.drainMirror.start()]);
    } catch (err) {
      this.logger.warn('cannot watch membership in etcd; polling', { err: err as Error });
      await this.refresh();
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.closed) return;
    const watched = this.nodes.watching && this.drainMirror.watching;
    this.timer = setTimeout(() => {
      if (watched) void this.refresh().finally(() => this.schedule());
      else void this.watch(); // lists, watches what it can, schedules again
    }, watched ? this.refreshMs * WATCHED_RELIST_FACTOR : this.refreshMs);
    this.timer.unref();
  }

  private rebuildNodes(): void {
    const by: Record<NodeRole, NodeRecord[]> = { blockd: [], meta: [], gateway: [] };
    for (const [key, value] of this.nodes.entries) {
      const role = key.slice(this.nodes.prefix.length).split('/')[0] as NodeRole;
      if (!(role in by)) continue;
      try {
        by[role].push(JSON.parse(value) as NodeRecord);
      } catch {
        this.logger.warn('unreadable membership record', { key });
      }
    }
    for (const list of Object.values(by)) list.sort((a, b) => a.id.localeCompare(b.id));
    this.blockds = by.blockd;
    this.metas = by.meta;
    this.gateways = by.gateway;
  }

  private rebuildDrains(): void {
    this.draining = new Set([...this.drainMirror.entries.keys()].map((k) => k.slice(this.drainMirror.prefix.length)));
  }

  /** Live nodes of a role, by id, as Membership.list reads them (from the watched view: no etcd read). */
  async list(role: NodeRole): Promise<NodeRecord[]> {
    return { blockd: this.blockds, meta: this.metas, gateway: this.gateways }[role];
  }

  /** Ids of nodes being drained, as Membership.drains reads them (from the watched view). */
  async drains(): Promise<string[]> {
    return [...this.draining].sort();
  }

  blockdAddress(id: string): string | undefined {
    return this.blockds.find((n) => n.id === id)?.address;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.nodes.close();
    this.drainMirror.close();
  }
}
