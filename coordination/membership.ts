/**
 * Reading who is in the cluster: the NodeRecords published by Registration.
 */
import { connectEtcd, type Etcd3 } from './etcd';
import { nodesPrefix, type NodeRecord, type NodeRole } from './keys';

export class Membership {
  private readonly etcd: Etcd3;

  constructor(endpoints: string[], private readonly prefix = '/blockstore/') {
    this.etcd = connectEtcd(endpoints);
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
    this.etcd.close();
  }
}

/** Records a drain request for a node (acted on by cluster operations). */
export async function requestDrain(endpoints: string[], prefix: string, nodeId: string): Promise<void> {
  const etcd = connectEtcd(endpoints);
  try {
    await etcd.put(`${prefix}drain/${nodeId}`).value(new Date().toISOString());
  } finally {
    etcd.close();
  }
}
