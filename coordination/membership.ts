/**
 * Reading who is in the cluster: the NodeRecords published by Registration.
 */
import { useEtcd, withEtcd, type Etcd3, type EtcdSource } from './etcd';
import { nodesPrefix, type NodeRecord, type NodeRole } from './keys';

export class Membership {
  private readonly etcd: Etcd3;
  private readonly release: () => void;

  constructor(source: EtcdSource, private readonly prefix = '/blockstore/') {
    ({ etcd: this.etcd, release: this.release } = useEtcd(source));
  }

  /** Live nodes of a role (those whose lease still holds), by id. */
  async list(role: NodeRole): Promise<NodeRecord[]> {
    const kvs = await this.etcd.getAll().prefix(nodesPrefix(this.prefix, role)).strings();
    return Object.values(kvs)
      .map((v) => JSON.parse(v) as NodeRecord)
      .sort((a, b) => a.id.localeCompare(b.id));
  }

  /** Ids of nodes an operator asked to drain (Admin.DrainNode). */
  async drains(): Promise<string[]> {
    const keys = await this.etcd.getAll().prefix(`${this.prefix}drain/`).keys();
    return keys.map((k) => k.slice(`${this.prefix}drain/`.length)).sort();
  }

  close(): void {
    this.release();
  }
}

/** Records a drain request for a node (acted on by cluster operations). */
export async function requestDrain(source: EtcdSource, prefix: string, nodeId: string): Promise<void> {
  await withEtcd(source, async (etcd) => {
    await etcd.put(`${prefix}drain/${nodeId}`).value(new Date().toISOString());
  });
}
