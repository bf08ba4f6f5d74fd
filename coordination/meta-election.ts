/**
 * Electing the metadata master through etcd, with epochs and fencing.
 *
 * - The leader key (<prefix>meta/leader) is created in a transaction under
 *   the candidate's lease, only if absent, and only if the synchronous set
 *   record (<prefix>meta/sync) is unchanged since the candidate checked that
 *   it may lead. Who may lead is the metadata node's rule (`mayLead`: a node
 *   holding every committed entry); this module only makes the check and
 *   the write one atomic step.
 * - The epoch of a term is the leader key's create revision: unique and
 *   increasing across terms.
 * - A win is confirmed by reading the key back (an "elected" event alone is
 *   not proof: etcd clients have emitted it for campaigns that lost). A
 *   campaign that fails or overruns its deadline after writing the key gives
 *   it back, so no key outlives a candidate that did not become master.
 * - Fencing: see fence-clock.ts. A master that was paused or cut off from
 *   etcd knows it may no longer act before etcd lets anyone else lead.
 */
import type { Lease } from 'etcd3';
import type { Logger } from '../lib/logger';
import { useEtcd, type Etcd3, type EtcdSource } from './etcd';
import { FenceClock } from './fence-clock';

export interface LeaderInfo {
  id: string;
  address: string;
  epoch: number;
  leaseId: string;
}

export interface SyncSetRecord {
  epoch: number;
  master: string;
  /** Synchronous replicas: each holds every acknowledged write. */
  members: string[];
  /**
   * The data-directory identity of the master and of each member when it
   * joined: a node that lost its disk comes back with another one and is no
   * longer the member that acknowledged writes.
   */
  incarnations?: Record<string, string>;
  /** A committed log position: a lower bound while the master runs, exact once sealed. */
  committed?: { seq: number; epoch: number };
  /** The master stopped taking writes before writing this record: `committed` is the last one. */
  sealed?: boolean;
}

/**
 * Whether this node may lead, given the synchronous set record: undefined
 * when it may, else why not.
 */
export type MayLead = (record: SyncSetRecord | undefined) => Promise<string | undefined>;

/** The membership rule alone (the record's master or a member). */
export const membersOnly =
  (id: string): MayLead =>
  async (record) =>
    !record || record.master === id || record.members.includes(id) ? undefined : `not in the synchronous set ${JSON.stringify(record.members)}`;

export interface CampaignOptions {
  /** The leadership rule; default: membersOnly. */
  mayLead?: MayLead;
  /** performance.now() after which the campaign gives up (and gives the key back); default now + 5 s. */
  deadline?: number;
}

export interface ElectionOptions {
  etcd: EtcdSource;
  prefix: string;
  ttlSeconds: number;
  logger: Logger;
}

export class MetaElection {
  private readonly etcd: Etcd3;
  private readonly release: () => void;
  private lease: Lease | undefined;
  private clock = new FenceClock();
  private ourValue = '';
  private epoch = 0;
  /** Why the last campaign did not start (status, logs). */
  lastIneligible: string | undefined;
  readonly leaderKey: string;
  readonly syncKey: string;

  constructor(private readonly options: ElectionOptions) {
    ({ etcd: this.etcd, release: this.release } = useEtcd(options.etcd));
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
   * undefined when someone else leads or this node may not lead (the reason
   * is in lastIneligible).
   * @throws etcd errors (unreachable etc.), or Error when the deadline
   *   passed; either way no leader key of this campaign is left behind
   *   (revoked, or released to expire when etcd cannot be reached).
   */
  async campaign(id: string, address: string, opts: CampaignOptions = {}): Promise<LeaderInfo | undefined> {
    const deadline = opts.deadline ?? performance.now() + 5000;
    const { record, modRevision } = await this.readSyncSet();
    this.lastIneligible = await (opts.mayLead ?? membersOnly(id))(record);
    if (this.lastIneligible) return undefined;
    if (await this.readLeader()) return undefined;
    const lease = this.etcd.lease(this.options.ttlSeconds, { autoKeepAlive: true });
    const clock = new FenceClock();
    lease.on('keepaliveEstablished', () => clock.streamChanged());
    lease.on('keepaliveFailed', () => clock.streamChanged());
    lease.on('keepaliveFired', () => clock.fired());
    lease.on('keepaliveSucceeded', (res) => clock.answered(Number(res.TTL)));
    lease.on('lost', (err) => {
      clock.lost();
      if (this.lease === lease) this.options.logger.warn('master lease lost', { err });
    });
    const giveBack = async () => {
      clock.lost();
      await Promise.race([lease.revoke(), new Promise((_, reject) => setTimeout(() => reject(new Error('revoke timed out')), 1000))]).catch(() => lease.release());
    };
    const inTime = () => {
      if (performance.now() > deadline) throw new Error('the campaign overran its deadline');
    };
    let confirmed: LeaderInfo | undefined;
    try {
      const sentAt = performance.now();
      const leaseId = await lease.grant();
      clock.granted(sentAt, this.options.ttlSeconds);
      inTime();
      const value = JSON.stringify({ id, address });
      const txn = await this.etcd
        .if(this.leaderKey, 'Create', '==', 0)
        .and(this.syncKey, 'Mod', '==', Number(modRevision))
        .then(this.etcd.put(this.leaderKey).value(value).lease(leaseId))
        .commit();
      if (!txn.succeeded) {
        await giveBack();
        return undefined;
      }
      inTime();
      confirmed = await this.readLeader();
      inTime();
      if (!confirmed || confirmed.id !== id || confirmed.leaseId !== leaseId) {
        await giveBack();
        return undefined;
      }
      this.ourValue = value;
    } catch (err) {
      await giveBack();
      throw err;
    }
    this.lease = lease;
    this.clock = clock;
    this.epoch = confirmed.epoch;
    return confirmed;
  }

  /** Milliseconds the master lease is still certainly valid (≤ 0: fenced). */
  leaseRemainingMs(): number {
    return this.lease ? this.clock.remainingMs() : 0;
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

  /**
   * A metadata node restored from a backup declares its state the cluster's:
   * the synchronous set record is replaced by `record` (sealed, naming the
   * restored position), so that only a node holding that position may lead.
   * Only while no master leads: a running cluster is never overruled.
   * Resolves whether the record was written.
   */
  async declareRestored(record: SyncSetRecord): Promise<boolean> {
    const txn = await this.etcd
      .if(this.leaderKey, 'Create', '==', 0)
      .then(this.etcd.put(this.syncKey).value(JSON.stringify(record)))
      .commit();
    return txn.succeeded;
  }

  /** Gives up leadership: revokes the lease (the leader key goes with it). */
  async resign(): Promise<void> {
    const lease = this.lease;
    this.lease = undefined;
    this.clock.lost();
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

  /**
   * Calls `onChange` whenever the leader key is written or deleted (an etcd
   * watch; reconnects by itself). Resolves to a stop function. Callers keep
   * a slower poll as well: a watch is a shortcut, not the source of truth.
   */
  async watchLeader(onChange: () => void): Promise<() => void> {
    const w = await this.etcd.watch().key(this.leaderKey).create();
    w.on('put', onChange);
    w.on('delete', onChange);
    w.on('connected', onChange); // (re)connected: something may have changed meanwhile
    w.on('error', () => {});
    return () => void w.cancel().catch(() => undefined);
  }

  close(): void {
    this.lease?.release();
    this.lease = undefined;
    this.release();
  }
}
