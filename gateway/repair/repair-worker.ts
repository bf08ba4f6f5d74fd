/**
 * Self-healing blocks (run by one elected worker; every gateway carries one
 * and one of them holds `<prefix>repair/leader`).
 *
 * Each pass walks the metadata block index: a block referenced by some
 * version whose live copies are fewer than R gets new copies on the next
 * daemons in rendezvous order, copied daemon-to-daemon from a surviving copy
 * (CopyBlock re-verifies the hash), and the index learns the new locations
 * and forgets lost ones. A daemon counts as lost only after its lease has
 * been gone for `lostAfterMs` (a restart is not a loss). Corrupt copies found
 * by scrubbers or reads are replaced from good copies. Copies are
 * rate-limited in bytes per second; the pass is resumable (the index is the
 * progress). The last pass's counts are published in etcd for status.
 */
import type { ClusterCredentials } from '../../lib/security/cluster-credentials';
import type { Logger } from '../../lib/logger';
import { rankNodes } from '../../lib/placement';
import { ClientPool } from '../../lib/rpc/clients/client-pool';
import { BlockdClient } from '../../lib/rpc/clients/blockd-client';
import type { MetaRouter } from '../../lib/rpc/clients/meta-router';
import type { NodeRecord } from '../../coordination/keys';
import type { Membership } from '../../coordination/membership';
import type { JobLock } from '../../coordination/job-lock';

/** A block as the index knows it: its size, how many versions refer to it, where its copies are. */
export interface IndexedBlock {
  hash: string;
  size: number;
  refs: number;
  nodes: string[];
}

type Locations = Array<{ hash: string; nodes: string[] }>;

/** The metadata block index as the worker uses it: always the master's. */
export interface BlockIndex {
  /** One page, in hash order, after `after`. */
  list(after: string, limit: number): Promise<{ blocks: IndexedBlock[]; nextAfter: string }>;
  /** Learn new copies and forget old ones, in one write. */
  update(add: Locations, remove: Locations): Promise<void>;
  /** Announce a collection cutoff (see collect()). */
  fenceCollection(cutoffMs: number): Promise<void>;
}

/** The block index through the metadata router: reads from the master only, writes retried through failover. */
export function blockIndexVia(meta: MetaRouter): BlockIndex {
  return {
    // From the master only: garbage collection deletes what the walk does
    // not see, so it must hold every committed version (a replica may be
    // empty, bootstrapping, or cut off).
    list: (after, limit) => meta.readMaster((c) => c.listBlockIndex(after, limit)),
    update: async (add, remove) => {
      await meta.write((c) => c.addBlockLocations(add, { remove }));
    },
    fenceCollection: async (cutoffMs) => {
      await meta.write((c) => c.fenceCollection(cutoffMs));
    },
  };
}

/** What the worker asks of a block daemon. */
export type RepairPeer = Pick<BlockdClient, 'copyBlock' | 'deleteBlocks' | 'listBlocks' | 'getStats' | 'hasBlocks' | 'close'>;

/** Quiet passes back off to at most 2^this × the pass interval (32 s at the default 2 s). */
const QUIET_BACKOFF_EXPONENT = 4;

export interface RepairOptions {
  replicas: number;
  lostAfterMs: number;
  passIntervalMs: number;
  bytesPerSecond: number;
  statusKey: string;
  /**
   * Garbage collection: blocks on daemons that no version references and no
   * upload staged, not put for this long, are deleted (0 disables). Must be
   * longer than the longest upload gateways allow (--max-upload-ms).
   */
  gcGraceMs?: number;
  /** Move blocks onto new daemons (their rendezvous share). */
  rebalance?: boolean;
  rebalanceMovesPerPass?: number;
  /** The gateway's cluster credentials for its calls to daemons (default: the process's). */
  credentials?: ClusterCredentials;
  /** How to reach a daemon (default: a gRPC client with `credentials`). */
  connect?: (address: string) => RepairPeer;
}

export interface RepairStatus {
  leader: string;
  lastPass: string;
  blocks: number;
  underReplicated: number;
  unavailable: number;
  corrupt: number;
  copiesMade: number;
  moved: number;
  /** Unreferenced blocks deleted since this worker started. */
  collected: number;
  /** Draining daemons and how many referenced blocks the index still places on them. */
  draining: Record<string, number>;
}

export class RepairWorker {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private closed = false;
  private readonly missingSince = new Map<string, number>();
  private readonly clients: ClientPool<RepairPeer>;
  copiesMade = 0;
  moved = 0;
  collected = 0;
  private lastCollect = 0;
  /** Rebalance moves allowed in the current pass (bounded so repair comes first). */
  private rebalanceBudget = 0;
  last: RepairStatus | undefined;
  /** Daemons, their corrupt flags and drains at the last pass. */
  private signature = '';
  private quietPasses = 0;
  private nextPassAt = 0;

  constructor(
    private readonly id: string,
    private readonly index: BlockIndex,
    private readonly membership: Pick<Membership, 'list' | 'drains'>,
    private readonly lock: Pick<JobLock, 'holds' | 'put' | 'close'>,
    private readonly options: RepairOptions,
    private readonly logger: Logger,
  ) {
    this.clients = new ClientPool(options.connect ?? ((address) => new BlockdClient(address, {}, options.credentials)));
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.options.passIntervalMs);
  }

  /**
   * Every passIntervalMs: a full pass when something may need work — the
   * daemons, their block counts or corrupt counts, or drains changed (so
   * under write load every interval, as blocks written short of R copies
   * need), the last
   * pass found or did work, collection is due — and otherwise only after a
   * quiet backoff (doubling, up to 2^QUIET_BACKOFF_EXPONENT × the interval). A pass
   * reads the whole block index, so an idle cluster must not pay for one
   * every interval.
   */
  private async tick(): Promise<void> {
    if (this.running || this.closed) return;
    this.running = true;
    try {
      if (!(await this.lock.holds())) return;
      const [live, drains] = await Promise.all([this.membership.list('blockd'), this.membership.drains()]);
      // Any change a daemon reports (blocks written or deleted, corrupt copies) counts.
      const signature = JSON.stringify([live.map((n) => [n.id, n.info.blocks, n.info.corruptBlocks]), drains]);
      const grace = this.options.gcGraceMs ?? 0;
      const collectDue = grace > 0 && Date.now() - this.lastCollect >= grace / 4;
      if (signature === this.signature && !collectDue && Date.now() < this.nextPassAt) return;
      const before = this.copiesMade + this.moved + this.collected;
      const st = await this.pass({ live, drains });
      const busy = st.underReplicated + st.unavailable + st.corrupt > 0 || this.missingSince.size > 0 || Object.keys(st.draining).length > 0 || this.copiesMade + this.moved + this.collected > before;
      this.signature = signature;
      this.quietPasses = busy ? 0 : this.quietPasses + 1;
      this.nextPassAt = Date.now() + this.options.passIntervalMs * 2 ** Math.min(this.quietPasses, QUIET_BACKOFF_EXPONENT);
    } catch (err) {
      this.logger.warn('repair pass failed', { err: err as Error });
    } finally {
      this.running = false;
    }
  }

  /** One pass over the block index. */
  async pass(seen?: { live: NodeRecord[]; drains: string[] }): Promise<RepairStatus> {
    // Membership as the caller just read it, else read now.
    const live = seen?.live ?? (await this.membership.list('blockd'));
    const drains = new Set(seen?.drains ?? (await this.membership.drains()));
    const byId = new Map(live.map((n) => [n.id, n]));
    // Draining daemons still serve as copy sources but do not count toward R
    // and receive no new copies; they leave a block's locations only once
    // R other copies exist, so no block ever drops below R.
    const placeable = [...byId.keys()].filter((id) => !drains.has(id));
    const now = Date.now();
    for (const id of byId.keys()) this.missingSince.delete(id);
    const status: RepairStatus = { leader: this.id, lastPass: '', blocks: 0, underReplicated: 0, unavailable: 0, corrupt: 0, copiesMade: 0, moved: 0, collected: 0, draining: {} };
    const indexed = new Set<string>();
    // Listing every daemon's blocks is the costly part: collect a few times
    // per grace period, not every pass. A collecting pass announces its
    // cutoff (the collection fence, a metadata write) before it reads the
    // index: see collect().
    const grace = this.options.gcGraceMs ?? 0;
    const passStart = Date.now();
    const collecting = grace > 0 && passStart - this.lastCollect >= grace / 4;
    const cutoff = passStart - grace;
    if (collecting) await this.index.fenceCollection(cutoff);
    for (const d of drains) if (byId.has(d)) status.draining[d] = 0;
    this.rebalanceBudget = this.options.rebalanceMovesPerPass ?? 64;
    let after = '';
    for (;;) {
      // A failed page ends the pass before anything is collected.
      const page = await this.index.list(after, 1000);
      for (const b of page.blocks) {
        indexed.add(b.hash);
        if (b.refs === 0) continue;
        status.blocks++;
        const holders = b.nodes.filter((n) => byId.has(n));
        const alive = holders.filter((n) => !drains.has(n));
        const leaving = holders.filter((n) => drains.has(n));
        const gone = b.nodes.filter((n) => !byId.has(n));
        for (const n of gone) if (!this.missingSince.has(n)) this.missingSince.set(n, now);
        const lost = gone.filter((n) => now - this.missingSince.get(n)! >= this.options.lostAfterMs);
        const waiting = gone.length - lost.length;
        if (holders.length < this.options.replicas) status.underReplicated++;
        if (holders.length === 0) {
          status.unavailable++;
          continue;
        }
        const need = this.options.replicas - alive.length - waiting;
        if (need <= 0 && lost.length === 0 && leaving.length === 0) {
          if (this.options.rebalance && gone.length === 0) await this.rebalance(b, alive, placeable, byId);
          continue;
        }
        const targets = rankNodes(b.hash, placeable).filter((n) => !b.nodes.includes(n)).slice(0, Math.max(0, need));
        const added: string[] = [];
        for (const t of targets) {
          const ok = await this.copy(b.hash, b.size, byId.get(t)!, [...alive, ...leaving].map((n) => byId.get(n)!));
          if (ok) added.push(t);
        }
        const enough = alive.length + added.length >= this.options.replicas;
        const remove = [...lost, ...(enough ? leaving : [])];
        for (const d of leaving) if (!enough) status.draining[d] = (status.draining[d] ?? 0) + 1;
        if (added.length || remove.length) {
          await this.index.update(added.length ? [{ hash: b.hash, nodes: added }] : [], remove.length ? [{ hash: b.hash, nodes: remove }] : []);
          if (holders.length < this.options.replicas && holders.length + added.length >= this.options.replicas) status.underReplicated--;
        }
      }
      if (!page.nextAfter) break;
      after = page.nextAfter;
    }
    status.corrupt = await this.replaceCorrupt(live);
    if (collecting) {
      this.lastCollect = passStart;
      await this.collect(live, indexed, cutoff);
    }
    status.collected = this.collected;
    status.copiesMade = this.copiesMade;
    status.moved = this.moved;
    status.lastPass = new Date().toISOString();
    this.last = status;
    await this.lock.put(this.options.statusKey, JSON.stringify(status)).catch(() => {});
    return status;
  }

  /**
   * Rebalance: when a block's rendezvous top R (over placeable daemons)
   * names a daemon that lacks it — a new daemon — copy it there first, then
   * drop the copy on the lowest-ranked holder outside the top R. Never fewer
   * than R copies: the new one is durable and indexed before the old goes.
   */
  private async rebalance(b: { hash: string; size: number }, alive: string[], placeable: string[], byId: Map<string, NodeRecord>): Promise<void> {
    if (this.rebalanceBudget <= 0) return;
    const ranked = rankNodes(b.hash, placeable);
    const top = ranked.slice(0, this.options.replicas);
    const newcomer = top.find((n) => !alive.includes(n));
    const extra = alive.filter((n) => !top.includes(n)).sort((x, y) => ranked.indexOf(y) - ranked.indexOf(x))[0];
    if (!newcomer || !extra) return;
    this.rebalanceBudget--;
    if (!(await this.copy(b.hash, b.size, byId.get(newcomer)!, alive.map((n) => byId.get(n)!)))) return;
    await this.index.update([{ hash: b.hash, nodes: [newcomer] }], [{ hash: b.hash, nodes: [extra] }]);
    await this.clients.get(byId.get(extra)!.address).deleteBlocks([b.hash], { timeoutMs: 10_000 }).catch(() => {});
    this.moved++;
    this.logger.info('block rebalanced', { hash: b.hash, to: newcomer, from: extra });
  }

  /** Copies a block onto `target` from the first source that has a good copy. */
  private async copy(hash: string, size: number, target: NodeRecord, sources: NodeRecord[]): Promise<boolean> {
    for (const s of sources) {
      try {
        await this.clients.get(target.address).copyBlock(hash, s.address, { timeoutMs: 30_000 });
        this.copiesMade++;
        this.logger.info('block re-replicated', { hash, to: target.id, from: s.id });
        // Rate limit: this copy may take size/rate seconds in all.
        await new Promise((r) => setTimeout(r, (size / this.options.bytesPerSecond) * 1000));
        return true;
      } catch (err) {
        this.logger.debug('copy failed; trying another source', { hash, from: s.id, err: err as Error });
      }
    }
    return false;
  }

  /**
   * Deletes blocks the index does not know (no version, no staged upload)
   * and nobody has put since `cutoff`. Why no referenced block goes: the
   * cutoff was announced (FenceCollection) before the index was read, from
   * the master. A commit or stage logged before the announcement is in that
   * index. One prepared after it is refused if its blocks were written
   * before the cutoff (UPLOAD_EXPIRED: the client uploads again); if they
   * were written after, their copies are newer than the cutoff and kept —
   * the daemon re-checks the time under the block's lock, which also orders
   * the delete with puts. A put of a block already present renews its time.
   */
  private async collect(live: NodeRecord[], indexed: Set<string>, cutoff: number): Promise<void> {
    for (const d of live) {
      let after = '';
      for (;;) {
        const page = await this.clients.get(d.address).listBlocks(after, 1000, { timeoutMs: 10_000 }).catch(() => undefined);
        if (!page) break;
        const doomed = page.blocks.filter((b) => !indexed.has(b.hash) && Number(b.touchedMs) < cutoff).map((b) => b.hash);
        if (doomed.length) {
          const r = await this.clients.get(d.address).deleteBlocks(doomed, { timeoutMs: 30_000, untouchedSinceMs: cutoff }).catch(() => ({ deleted: 0 }));
          this.collected += r.deleted;
          if (r.deleted) this.logger.info('unreferenced blocks collected', { node: d.id, count: r.deleted });
        }
        if (!page.nextAfter) break;
        after = page.nextAfter;
      }
    }
  }

  /** Replaces corrupt copies reported by daemons with good ones; returns how many remain. */
  private async replaceCorrupt(live: NodeRecord[]): Promise<number> {
    let remaining = 0;
    for (const d of live) {
      const stats = await this.clients.get(d.address).getStats({ timeoutMs: 5000 }).catch(() => undefined);
      for (const hash of stats?.corruptHashes ?? []) {
        const others = live.filter((n) => n.id !== d.id);
        let fixed = false;
        for (const o of others) {
          const has = await this.clients.get(o.address).hasBlocks([hash], { timeoutMs: 5000 }).catch(() => ({ present: [] as string[] }));
          if (!has.present.length) continue;
          fixed = await this.clients.get(d.address).copyBlock(hash, o.address, { timeoutMs: 30_000 }).then(() => true, () => false);
          if (fixed) {
            this.copiesMade++;
            this.logger.info('corrupt copy replaced', { hash, on: d.id, from: o.id });
            break;
          }
        }
        if (!fixed) remaining++;
      }
    }
    return remaining;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    this.clients.close();
    await this.lock.close();
  }
}
