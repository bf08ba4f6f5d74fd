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

/**
 * What the cluster's operator (the local supervisor; any orchestrator may
 * write the same) reports for people to see: its recent actions and the
 * balancer's view of each gateway. Written on change, read by the console.
 */
export function operatorKey(prefix: string): string {
  return `${prefix}operator/status`;
}

export interface OperatorStatus {
  updatedAt: string;
  source: string;
  actions: Array<{ time: string; action: string }>;
  /** The balancer's view: up (checks pass), down (checks fail), draining (no new calls), maintenance (slot being emptied). */
  balancer: Array<{ id: string; address: string; slot: string; state: 'up' | 'down' | 'draining' | 'maintenance' }>;
  /** The latest QAS-001 drill an admin asked for (an operator that runs drills reports it here). */
  drill?: DrillStatus;
}

/**
 * Requests to the operator, one key each (the console's drill button writes
 * `drill`). An operator that does not run drills leaves them unanswered.
 */
export function operatorRequestsPrefix(prefix: string): string {
  return `${prefix}operator/requests/`;
}

export interface DrillRequest {
  id: string;
  requestedBy: string;
  at: string;
}

export interface DrillStatus {
  id: string;
  requestedBy: string;
  state: 'running' | 'passed' | 'failed';
  startedAt: string;
  finishedAt?: string;
  /** The drill's last lines of output, oldest first. */
  output: string[];
}
