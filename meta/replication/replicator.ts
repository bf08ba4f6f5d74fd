/**
 * The master's side of log shipping, and the synchronous set.
 *
 * Each replica's stream starts with a hello (its log end, applied position,
 * promised epoch). The master finds where their logs agree: the replica's
 * log end if the master has that entry with the same epoch, else its applied
 * position (applied = committed, which every later master holds) after
 * telling it to truncate; an empty replica, or one whose next entry was
 * compacted away, gets a snapshot. Then entries flow as they are appended,
 * and commits as they happen.
 *
 * A write is acknowledged when every member of the synchronous set has
 * fsync'd it — the set as etcd holds it: members count only once published,
 * and a removal stops counting only once published, so at every ack every
 * node etcd would let lead holds the write. Membership changes are published
 * one at a time, each computed from the latest wanted set when it runs (a
 * change queued behind another never publishes a stale set). Only replicas
 * holding the whole log are added; a member that fails to ack within
 * syncTimeoutMs, or whose stream closes, is removed (removal is always
 * safe: the rest still hold everything). With no member at all, writes
 * wait; they are never acknowledged on the master alone.
 *
 * Each record also names the data-directory incarnation of the master and of
 * every member, and a committed position (exact once sealed by an orderly
 * stop): see the election rule in ../role/eligibility.ts.
 */
import type { Logger } from '../../lib/logger';
import type { SyncSetRecord } from '../../coordination/meta-election';
import type { MetaStore } from '../store/meta-store';
import type { ReplicaLink, ToMaster } from './messages';

export interface ReplicatorOptions {
  /** Most synchronous replicas (≥ 1; 0 is the explicit standalone mode). */
  maxSync: number;
  /** A member that has not acked a pending write within this is dropped. */
  syncTimeoutMs: number;
  /** Entries per message. */
  batchEntries?: number;
}

interface Session {
  id: string;
  address: string;
  incarnation: string;
  link: ReplicaLink;
  next: number;
  acked: number;
  open: boolean;
  wake: (() => void) | undefined;
}

export class Replicator {
  private readonly sessions = new Map<string, Session>();
  /** The set this master wants; etcd follows through publish(). */
  private readonly members = new Set<string>();
  /** Incarnation of each member when it joined. */
  private readonly incarnations = new Map<string, string>();
  /** The set etcd holds, as of the last successful publish (undefined before this term's first). */
  private published: Set<string> | undefined;
  /** Publishes queued or running: while any is, etcd's set is in flux and nothing is acknowledged. */
  private publishes = 0;
  private commitSeq = 0;
  private commitEpoch = 0;
  private sealed = false;
  private closed = false;
  private changed: (() => void) | undefined;
  private publishing: Promise<void> = Promise.resolve();
  private waiting = false;
  /**
   * Set by the write pipeline: called when a caught-up replica could join
   * the synchronous set while no write is in flight (the pipeline then runs
   * a no-op entry, whose wait adds it).
   */
  onCanGrow: () => void = () => {};

  constructor(
    private readonly store: MetaStore,
    private readonly epoch: number,
    private readonly nodeId: string,
    private readonly publish: (record: SyncSetRecord) => Promise<boolean>,
    private readonly onStale: (reason: string) => void,
    private readonly options: ReplicatorOptions,
    private readonly logger: Logger,
  ) {
    this.commitSeq = store.applied.seq;
    this.commitEpoch = store.applied.epoch;
  }

  /** A replica's stream arrived. */
  attach(link: ReplicaLink): void {
    let session: Session | undefined;
    link.onMessage((msg: ToMaster) => {
      if (msg.kind === 'hello') {
        if (session) return;
        session = this.open(link, msg);
        if (session) void this.handshake(session, msg);
      } else if (session) {
        if (msg.seq > session.acked) {
          session.acked = msg.seq;
          this.signal();
          this.maybeGrow(session);
        }
      }
    });
    link.onClose(() => {
      if (!session) return;
      session.open = false;
      session.wake?.();
      if (this.sessions.get(session.id) === session) this.sessions.delete(session.id);
      if (this.members.has(session.id)) void this.removeMember(session.id, 'stream closed');
      this.signal();
    });
  }

  /** A caught-up replica outside a full set while no write waits: let the pipeline run a no-op to add it. */
  private maybeGrow(s: Session): void {
    if (!this.waiting && s.open && this.members.size < this.options.maxSync && !this.members.has(s.id) && s.acked >= this.store.last.seq) {
      this.onCanGrow();
    }
  }

  private open(link: ReplicaLink, hello: Extract<ToMaster, { kind: 'hello' }>): Session | undefined {
    if (this.closed) {
      link.close();
      return undefined;
    }
    if (hello.promisedEpoch > this.epoch) {
      link.close();
      this.onStale(`replica ${hello.nodeId} follows epoch ${hello.promisedEpoch} > ${this.epoch}`);
      return undefined;
    }
    const prev = this.sessions.get(hello.nodeId);
    if (prev) prev.link.close();
    const s: Session = { id: hello.nodeId, address: hello.address, incarnation: hello.incarnation, link, next: 0, acked: 0, open: true, wake: undefined };
    this.sessions.set(s.id, s);
    return s;
  }

  private async handshake(s: Session, hello: Extract<ToMaster, { kind: 'hello' }>): Promise<void> {
    const link = s.link;
    try {
      const lastEpochHere = hello.last.seq <= this.store.last.seq ? await this.store.epochAt(hello.last.seq) : undefined;
      const appliedEpochHere = await this.store.epochAt(hello.applied.seq);
      if (hello.last.seq === 0 && this.store.applied.seq > 0) {
        await this.sendSnapshot(s);
      } else if (lastEpochHere !== undefined && lastEpochHere === hello.last.epoch) {
        s.next = hello.last.seq + 1;
      } else if (appliedEpochHere !== undefined && appliedEpochHere === hello.applied.epoch && hello.applied.seq <= this.store.last.seq) {
        this.logger.info('replica log diverges; truncating it to its applied position', { replica: s.id, last: hello.last, applied: hello.applied });
        await link.send({ epoch: this.epoch, kind: 'truncate', after: hello.applied.seq });
        s.next = hello.applied.seq + 1;
      } else {
        await this.sendSnapshot(s);
      }
      s.acked = Math.max(s.acked, s.next - 1);
      this.logger.info('replica attached', { replica: s.id, from: s.next });
      void this.pump(s);
      this.signal();
      this.maybeGrow(s);
    } catch (err) {
      this.logger.warn('replica handshake failed', { replica: s.id, err: err as Error });
      link.close();
    }
  }

  private async sendSnapshot(s: Session): Promise<void> {
    this.logger.info('sending snapshot', { replica: s.id });
    let applied = { seq: 0, epoch: 0 };
    let pairs: Array<{ key: string; value: string }> = [];
    let first = true;
    let bytes = 0;
    for await (const item of this.store.snapshot()) {
      if ('applied' in item) {
        applied = item.applied;
        continue;
      }
      pairs.push(item);
      bytes += item.key.length + item.value.length;
      if (bytes > 1024 * 1024) {
        await s.link.send({ epoch: this.epoch, kind: 'snapshot', first, last: false, applied, pairs });
        first = false;
        pairs = [];
        bytes = 0;
      }
    }
    await s.link.send({ epoch: this.epoch, kind: 'snapshot', first, last: true, applied, pairs });
    s.next = applied.seq + 1;
  }

  private async pump(s: Session): Promise<void> {
    const batch = this.options.batchEntries ?? 512;
    let sentCommit = -1;
    while (s.open && !this.closed) {
      if (s.next <= this.store.last.seq) {
        const entries = await this.store.readLog(s.next, batch);
        if (entries[0]?.seq !== s.next) {
          // What this replica needs next was compacted away: it starts over
          // from a snapshot. (A synchronous member never lags that far — it
          // has acked every committed entry — but if one did, it leaves the
          // set first: a snapshot wipes entries it may have acked.)
          this.logger.info('replica is behind the compacted log; sending a snapshot', { replica: s.id, next: s.next, logStart: this.store.logStart });
          if (this.members.has(s.id)) await this.removeMember(s.id, 'behind the compacted log');
          await this.sendSnapshot(s);
          continue;
        }
        await s.link.send({ epoch: this.epoch, kind: 'entries', entries, commitSeq: this.commitSeq });
        sentCommit = this.commitSeq;
        s.next = entries[entries.length - 1]!.seq + 1;
        continue;
      }
      if (sentCommit !== this.commitSeq) {
        sentCommit = this.commitSeq;
        await s.link.send({ epoch: this.epoch, kind: 'commit', commitSeq: sentCommit });
        continue;
      }
      await new Promise<void>((resolve) => (s.wake = resolve));
      s.wake = undefined;
    }
  }

  /** New entries are in the log. */
  notifyAppended(): void {
    for (const s of this.sessions.values()) s.wake?.();
  }

  /** Entries up to `seq` (all of this term's epoch) are committed: tell the replicas. */
  setCommitted(seq: number): void {
    this.commitSeq = seq;
    this.commitEpoch = this.epoch;
    this.notifyAppended();
  }

  private signal(): void {
    this.changed?.();
  }

  private changedOrTimeout(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(t);
        if (self.changed === done) self.changed = undefined;
        resolve();
      }
      this.changed = done;
    });
  }

  /**
   * Resolves once every synchronous replica holds `seq` (the log end) and
   * there is at least one; adds caught-up replicas and drops silent members
   * along the way.
   * @throws Error when `alive()` turns false (stepping down).
   */
  async waitForSync(seq: number, alive: () => boolean): Promise<void> {
    // Standalone mode (--sync-replicas 0, chosen explicitly): the master's
    // own fsync is the only copy. For benchmarks and single-node development.
    if (this.options.maxSync === 0) return;
    this.waiting = true;
    try {
      await this.waitForSyncLoop(seq, alive);
    } finally {
      this.waiting = false;
    }
  }

  private async waitForSyncLoop(seq: number, alive: () => boolean): Promise<void> {
    const waitingSince = new Map<string, number>();
    for (;;) {
      await this.publishing;
      if (!alive() || this.closed) throw new Error('no longer master');
      // Grow: replicas holding everything may join.
      for (const s of this.sessions.values()) {
        if (this.members.size >= this.options.maxSync) break;
        if (s.open && s.acked >= seq && !this.members.has(s.id)) await this.addMember(s.id);
      }
      const members = [...this.members];
      // Acknowledge only against the set etcd holds, with no change in flight.
      const held = this.publishes === 0 ? this.published : undefined;
      if (held && held.size > 0 && [...held].every((m) => (this.sessions.get(m)?.acked ?? -1) >= seq)) return;
      // Shrink: members that have not acked within the timeout.
      const now = performance.now();
      for (const m of members) {
        const s = this.sessions.get(m);
        if (s && s.acked >= seq) continue;
        const since = waitingSince.get(m) ?? now;
        waitingSince.set(m, since);
        if (!s || now - since > this.options.syncTimeoutMs) await this.removeMember(m, s ? 'ack timeout' : 'gone');
      }
      await this.changedOrTimeout(50);
    }
  }

  private async addMember(id: string): Promise<void> {
    this.members.add(id);
    this.incarnations.set(id, this.sessions.get(id)?.incarnation ?? '');
    if (await this.publishSet()) this.logger.info('synchronous replica added', { replica: id, members: [...this.members] });
  }

  private async removeMember(id: string, why: string): Promise<void> {
    if (!this.members.has(id)) return;
    this.members.delete(id);
    this.incarnations.delete(id);
    this.logger.warn('synchronous replica removed', { replica: id, why, members: [...this.members] });
    await this.publishSet();
  }

  /**
   * Publishes the wanted set, after every earlier publish, as it stands
   * when this one runs. Resolves whether etcd took it (if not, this term is
   * stale and ends).
   */
  private publishSet(): Promise<boolean> {
    this.publishes++;
    const run = this.publishing.then(async () => {
      const members = [...this.members].sort();
      const incarnations: Record<string, string> = { [this.nodeId]: this.store.incarnation };
      for (const m of members) incarnations[m] = this.incarnations.get(m) ?? '';
      const record: SyncSetRecord = {
        epoch: this.epoch, master: this.nodeId, members, incarnations,
        committed: { seq: this.commitSeq, epoch: this.commitEpoch },
        ...(this.sealed ? { sealed: true } : {}),
      };
      const ok = await this.publish(record).catch((err: unknown) => {
        this.logger.warn('publishing the synchronous set failed', { err: err as Error });
        return false;
      });
      if (ok) this.published = new Set(members);
      else this.onStale('could not publish the synchronous set');
      return ok;
    });
    const done = run.finally(() => {
      this.publishes--;
      this.signal();
    });
    this.publishing = done.then(
      () => {},
      () => {},
    );
    return done;
  }

  /**
   * An orderly stop: no write is in flight or will be acknowledged any
   * more, so the committed position is exact; publishing it lets any node
   * that holds it lead next (the set alone could name only nodes that
   * are stopping too). Resolves whether etcd took it.
   */
  seal(): Promise<boolean> {
    this.sealed = true;
    return this.publishSet();
  }

  status(): { syncReplicas: string[]; replicas: Array<{ nodeId: string; ackedSeq: number; synchronous: boolean }> } {
    return {
      syncReplicas: [...this.members].sort(),
      replicas: [...this.sessions.values()].map((s) => ({ nodeId: s.id, ackedSeq: s.acked, synchronous: this.members.has(s.id) })),
    };
  }

  close(): void {
    this.closed = true;
    for (const s of this.sessions.values()) {
      s.open = false;
      s.wake?.();
      s.link.close();
    }
    this.sessions.clear();
    this.signal();
  }
}
