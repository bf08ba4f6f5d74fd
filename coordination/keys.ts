/**
 * The etcd key space of a blockstore cluster. Everything lives under one
 * prefix (default "/blockstore/") so several clusters can share an etcd.
 *
 *   <prefix>nodes/<role>/<id>   JSON NodeRecord, under the node's lease
 */
export type NodeRole = 'blockd' | 'meta' | 'gateway';

export function nodeKey(prefix: string, role: NodeRole, id: string): string {
  return `${prefix}nodes/${role}/${id}`;
}

export function nodesPrefix(prefix: string, role: NodeRole): string {
  return `${prefix}nodes/${role}/`;
}

/** What a node publishes about itself. */
export interface NodeRecord {
  id: string;
  role: NodeRole;
  /** host:port others should dial (never assumed to be loopback). */
  address: string;
  pid: number;
  startedAt: string;
  updatedAt: string;
  /** Role-specific facts (capacity, usage, …). */
  info: Record<string, number | string | boolean>;
}
