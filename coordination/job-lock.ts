/**
 * One worker in the cluster: whoever holds `<prefix><name>/leader` (created
 * under a lease only if absent) does the work; the others stand by and take
 * over when the lease lapses. For background jobs whose duplication would
 * only waste work (repair), not for safety-critical exclusion.
 */
import type { Lease, Watcher } from 'etcd3';
import { useEtcd, withEtcd, type Etcd3, type EtcdSource } from './etcd';

/**
 * The key is read at most this often while nothing says it changed. A
 * holder's lease keep-alives say whether the key can still be its own (a
 * lost lease ends the hold at once); a stand-by watches the key, and its
 * deletion sends the stand-by to take it. The read is a backstop against a
 * watch that failed silently or a key replaced by hand. (Read at every
 * holds() — every repair tick of every gateway — it was a third of an idle
 * cluster's etcd reads.)
 */
const CONFIRM_MS = 30_000;

export class JobLock {
  private readonly etcd: Etcd3;
  private readonly release: () => void;
  private lease: Lease | undefined;
  private confirmedAt = 0;
  /** A stand-by's watch on the key: no read while another holds it and it stands. */
  private watcher: Watcher | undefined;
  /** When a read last found another holder (0: look again at the next try). */
  private otherSeenAt = 0;
  private readonly key: string;

  constructor(source: EtcdSource, prefix: string, name: string, private readonly id: string, private readonly ttlSeconds = 5) {
    ({ etcd: this.etcd, release: this.release } = useEtcd(source));
    this.key = `${prefix}${name}/leader`;
  }

  /** True while this process holds the key; tries to take it when free. */
  async holds(): Promise<boolean> {
    if (this.lease) {
      if (performance.now() - this.confirmedAt < CONFIRM_MS) return true;
      const cur = await this.etcd.get(this.key).string();
      if (cur === this.id && this.lease) {
        this.confirmedAt = performance.now();
        return true;
      }
      this.lease?.release();
      this.lease = undefined;
    }
    if (this.otherSeenAt && performance.now() - this.otherSeenAt < CONFIRM_MS) return false;
    // Watched before it is read, so a deletion after the read is not missed.
    await this.watchKey();
    // Held by another: one read, not a lease granted and revoked on every try.
    if (await this.etcd.get(this.key).string()) {
      this.otherSeenAt = performance.now();
      return false;
    }
    this.otherSeenAt = 0;
    const lease = this.etcd.lease(this.ttlSeconds, { autoKeepAlive: true });
    const leaseId = await lease.grant();
    const txn = await this.etcd.if(this.key, 'Create', '==', 0).then(this.etcd.put(this.key).value(this.id).lease(leaseId)).commit();
    if (!txn.succeeded) {
      await lease.revoke().catch(() => lease.release());
      return false;
    }
    lease.on('lost', () => {
      if (this.lease === lease) this.lease = undefined;
    });
    this.lease = lease;
    this.confirmedAt = performance.now();
    return true;
  }

  private async watchKey(): Promise<void> {
    if (this.watcher) return;
    const w = await this.etcd.watch().key(this.key).create();
    const lookAgain = () => (this.otherSeenAt = 0);
    w.on('delete', lookAgain);
    w.on('connected', lookAgain); // reconnected: a deletion may have been missed
    w.on('error', () => {}); // the etcd client reconnects it
    this.watcher = w;
  }

  async put(name: string, value: string): Promise<void> {
    await this.etcd.put(name).value(value);
  }

  async close(): Promise<void> {
    const lease = this.lease;
    this.lease = undefined;
    if (lease) await lease.revoke().catch(() => lease.release());
    await this.watcher?.cancel().catch(() => undefined);
    this.watcher = undefined;
    this.release();
  }
}

/** Reads a small JSON document from etcd (status published by a job-lock holder). */
export async function readJson<T>(source: EtcdSource, key: string): Promise<T | undefined> {
  const v = await withEtcd(source, (etcd) => etcd.get(key).string());
  return v ? (JSON.parse(v) as T) : undefined;
}
