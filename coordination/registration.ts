/**
 * A node's presence in etcd: one key under a lease, refreshed periodically
 * with fresh facts (usage, capacity). If etcd goes away the node keeps
 * serving; when the lease is lost it grants a new one and puts the key again
 * (with backoff: re-granting on every error once made hundreds of leases in
 * half a minute of etcd outage).
 * close() revokes the lease, so a clean shutdown removes the key at once; a
 * SIGKILLed node disappears when its lease expires.
 */
import type { Lease } from 'etcd3';
import type { Logger } from '../lib/logger';
import { useEtcd, type Etcd3, type EtcdSource } from './etcd';
import type { NodeRecord } from './keys';

/** A record that did not change is still rewritten this often. */
const MAX_QUIET_MS = 30_000;

export interface RegistrationOptions {
  etcd: EtcdSource;
  key: string;
  ttlSeconds: number;
  /** How often the record is rewritten with fresh facts. */
  refreshMs: number;
  /** Builds the current record (called at every refresh). */
  record: () => NodeRecord;
  logger: Logger;
}

export class Registration {
  private readonly etcd: Etcd3;
  private readonly release: () => void;
  private lease: Lease | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private backoffMs = 250;
  private busy = false;
  /** True once the key has been written under the current lease. */
  registered = false;
  /** The record last written (without its timestamp), and when. */
  private lastFacts = '';
  private lastPutAt = 0;
  /** Writes to etcd so far (tests, status). */
  puts = 0;

  constructor(private readonly options: RegistrationOptions) {
    ({ etcd: this.etcd, release: this.release } = useEtcd(options.etcd));
  }

  /** Starts registering in the background; never throws (etcd may be down). */
  start(): void {
    void this.tick();
  }

  private schedule(ms: number): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), ms);
  }

  private async tick(): Promise<void> {
    if (this.closed || this.busy) return;
    this.busy = true;
    try {
      if (!this.lease) this.lease = this.newLease();
      // Every etcd write is a raft round and an fsync on each member: write
      // only when a fact changed (the lease keeps the key alive meanwhile),
      // and at least every MAX_QUIET_MS so the timestamp stays meaningful.
      const record = this.options.record();
      const facts = JSON.stringify({ ...record, updatedAt: '' });
      if (!this.registered || facts !== this.lastFacts || Date.now() - this.lastPutAt >= MAX_QUIET_MS) {
        await this.lease.put(this.options.key).value(JSON.stringify(record));
        this.puts++;
        this.lastFacts = facts;
        this.lastPutAt = Date.now();
      }
      if (!this.registered) this.options.logger.info('registered in etcd', { key: this.options.key });
      this.registered = true;
      this.backoffMs = 250;
      this.schedule(this.options.refreshMs);
    } catch (err) {
      this.registered = false;
      this.options.logger.warn('etcd registration failed; retrying', { err: err as Error, retryInMs: this.backoffMs });
      this.schedule(this.backoffMs);
      this.backoffMs = Math.min(this.backoffMs * 2, 5000);
    } finally {
      this.busy = false;
    }
  }

  private newLease(): Lease {
    const lease = this.etcd.lease(this.options.ttlSeconds, { autoKeepAlive: true });
    lease.on('lost', (err) => {
      if (this.lease !== lease) return;
      this.options.logger.warn('etcd lease lost; registering again', { err });
      this.lease = undefined;
      this.registered = false;
      this.schedule(0);
    });
    return lease;
  }

  /** Revokes the lease (removing the key) and disconnects; idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    const lease = this.lease;
    this.lease = undefined;
    if (lease) {
      await Promise.race([lease.revoke().catch(() => lease.release()), new Promise((r) => setTimeout(r, 2000))]);
    }
    this.release();
  }
}
