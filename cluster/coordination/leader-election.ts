/**
 * Electing the metadata master through etcd, with epochs and fencing.
 *
 * - The leader key (<prefix>meta/leader) is created in a transaction under
 *   the candidate's lease, only if absent, and only if the synchronous set
 *   (<prefix>meta/sync) is unchanged since the candidate checked that it may
 *   lead (a member of the set, or the master that published it). Only those
 *   nodes hold every acknowledged write (DESIGN.md; Patroni's sync mode).
 * - The epoch of a term is the leader key's create revision: unique and
 *   increasing across terms.
 * - A win is confirmed by reading the key back (FACTS.md: never trust an
 *   "elected" event alone).
 * - Fencing: the lease is valid until (time the last successful keepalive
 *   was sent + TTL). `leaseRemainingMs()` counts down on the monotonic
 *   clock, so a master that was paused or cut off from etcd knows it may no
 *   longer act, before etcd lets anyone else lead.
 */
import type { Lease } from 'etcd3';
import type { Logger } from '../../lib/logger';
import { connectEtcd, type Etcd3 } from './etcd';

export interface LeaderInfo {
  id: string;
  address: string;
  epoch: number;
  leaseId: string;
}

export interface SyncSetRecord {
  epoch: number;
  master: string;
  members: string[];
}

export interface ElectionOptions {
  endpoints: string[];
  prefix: string;
  ttlSeconds: number;
  logger: Logger;
}

export class MetaCoordinator {
  private readonly etcd: Etcd3;
  private lease: Lease | undefined;
  private validUntil = 0;
  private firedAt = 0;
  private ourValue = '';
  private epoch = 0;
  readonly leaderKey: string;
  readonly syncKey: string;

  constructor(private readonly options: ElectionOptions) {
    this.etcd = connectEtcd(options.endpoints);
    this.leaderKey = `${options.prefix}meta/leader`;
    this.syncKey = `${options.prefix}meta/sync`;
  }

  async readLeader(): Promise<LeaderInfo | undefined> {
    const res = await this.etcd.get(this.leaderKey).exec();
    const kv = res.kvs[0];
    if (!kv) return undefined;
    const v = JSON.parse(kv.value.toString()) as { id: string; address: string };
    return { id: v.id, address: v.address, epoch: Number(kv.create_revision), leaseId: kv.lease };
  }

  async readSyncSet(): Promise<{ record: SyncSetRecord | undefined; modRevision: string }> {
    const res = await this.etcd.get(this.syncKey).exec();
    const kv = res.kvs[0];
    if (!kv) return { record: undefined, modRevision: '0' };
    return { record: JSON.parse(kv.value.toString()) as SyncSetRecord, modRevision: kv.mod_revision };
  }

  /**
   * One attempt to become master. Resolves to the confirmed leadership, or
   * undefined when someone else leads or this node may not lead.
   * @throws etcd errors (unreachable etc.); the caller retries later.
   */
  async campaign(id: string, address: string): Promise<LeaderInfo | undefined> {
    const { record, modRevision } = await this.readSyncSet();
    if (record && record.master !== id && !record.members.includes(id)) return undefined;
    if (await this.readLeader()) return undefined;
    const lease = this.etcd.lease(this.options.ttlSeconds, { autoKeepAlive: true });
    const sentAt = performance.now();
    let leaseId: string;
    try {
      leaseId = await lease.grant();
    } catch (err) {
      lease.release();
      throw err;
    }
    const value = JSON.stringify({ id, address });
    const txn = await this.etcd
      .if(this.leaderKey, 'Create', '==', 0)
      .and(this.syncKey, 'Mod', '==', Number(modRevision))
      .then(this.etcd.put(this.leaderKey).value(value).lease(leaseId))
      .commit();
    if (!txn.succeeded) {
      await lease.revoke().catch(() => lease.release());
      return undefined;
    }
    const confirmed = await this.readLeader();
    if (!confirmed || confirmed.id !== id || confirmed.leaseId !== leaseId) {
      await lease.revoke().catch(() => lease.release());
      return undefined;
    }
    this.lease = lease;
    this.ourValue = value;
    this.epoch = confirmed.epoch;
    this.validUntil = sentAt + this.options.ttlSeconds * 1000;
    lease.on('keepaliveFired', () => {
      this.firedAt = performance.now();
    });
    lease.on('keepaliveSucceeded', (res) => {
      if (this.lease === lease) this.validUntil = Math.max(this.validUntil, this.firedAt + Number(res.TTL) * 1000);
    });
    lease.on('lost', (err) => {
      if (this.lease !== lease) return;
      this.options.logger.warn('master lease lost', { err });
      this.validUntil = 0;
    });
    return confirmed;
  }

  /** Milliseconds the master lease is still certainly valid (≤ 0: fenced). */
  leaseRemainingMs(): number {
    return this.lease ? this.validUntil - performance.now() : 0;
  }

  /**
   * Publishes the synchronous set, only while this node still holds the
   * leader key of `epoch`. Resolves false when it no longer does.
   */
  async publishSyncSet(record: SyncSetRecord): Promise<boolean> {
    const txn = await this.etcd
      .if(this.leaderKey, 'Value', '==', this.ourValue)
      .and(this.leaderKey, 'Create', '==', this.epoch)
      .then(this.etcd.put(this.syncKey).value(JSON.stringify(record)))
      .commit();
    return txn.succeeded;
  }

  /** Gives up leadership: revokes the lease (the leader key goes with it). */
  async resign(): Promise<void> {
    const lease = this.lease;
    this.lease = undefined;
    this.validUntil = 0;
    if (lease) await Promise.race([lease.revoke().catch(() => lease.release()), new Promise((r) => setTimeout(r, 1000))]);
  }

  /**
   * Revokes the current master's lease if the master is `expectedId` (a
   * supervisor saw its process exit). Resolves whether it did.
   */
  async revokeLeaderLease(expectedId: string): Promise<boolean> {
    const leader = await this.readLeader();
    if (!leader || leader.id !== expectedId) return false;
    await this.etcd.leaseClient.leaseRevoke({ ID: leader.leaseId });
    return true;
  }

  close(): void {
    this.lease?.release();
    this.lease = undefined;
    this.etcd.close();
  }
}
