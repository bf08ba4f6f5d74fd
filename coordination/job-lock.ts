/**
 * One worker in the cluster: whoever holds `<prefix><name>/leader` (created
 * under a lease only if absent) does the work; the others stand by and take
 * over when the lease lapses. For background jobs whose duplication would
 * only waste work (repair), not for safety-critical exclusion.
 */
import type { Lease } from 'etcd3';
import { useEtcd, withEtcd, type Etcd3, type EtcdSource } from './etcd';

export class JobLock {
  private readonly etcd: Etcd3;
  private readonly release: () => void;
  private lease: Lease | undefined;
  private readonly key: string;

  constructor(source: EtcdSource, prefix: string, name: string, private readonly id: string, private readonly ttlSeconds = 5) {
    ({ etcd: this.etcd, release: this.release } = useEtcd(source));
    this.key = `${prefix}${name}/leader`;
  }

  /** True while this process holds the key; tries to take it when free. */
  async holds(): Promise<boolean> {
    if (this.lease) {
      const cur = await this.etcd.get(this.key).string();
      if (cur === this.id) return true;
      this.lease.release();
      this.lease = undefined;
    }
    // Held by another: one read, not a lease granted and revoked on every try.
    if (await this.etcd.get(this.key).string()) return false;
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
    return true;
  }

  async put(name: string, value: string): Promise<void> {
    await this.etcd.put(name).value(value);
  }

  async close(): Promise<void> {
    const lease = this.lease;
    this.lease = undefined;
    if (lease) await lease.revoke().catch(() => lease.release());
    this.release();
  }
}

/** Reads a small JSON document from etcd (status published by a job-lock holder). */
export async function readJson<T>(source: EtcdSource, key: string): Promise<T | undefined> {
  const v = await withEtcd(source, (etcd) => etcd.get(key).string());
  return v ? (JSON.parse(v) as T) : undefined;
}
