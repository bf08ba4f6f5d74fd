/**
 * The cluster as an operator sees it (Admin.GetClusterStatus): every node
 * by role with its state, the metadata master, epoch and synchronous set,
 * block daemons' usage, and the repair worker's last pass. Nodes come from
 * etcd membership (the gateway's watched view); each is asked for its status over the gateway's shared
 * connections (gateways: their /healthz), with a short timeout (an
 * unreachable node is shown as such).
 */
import type { BlockdPeer } from '../blocks/block-io';
import type { MetaClient } from '../../lib/rpc/clients/meta-client';
import type { NodeInfo } from '../../proto/gen/ts/blockstore/v1/NodeInfo';
import type { ClusterStatus } from '../../proto/gen/ts/blockstore/v1/ClusterStatus';
import type { ClusterView } from '../cluster-view';

export interface RepairSummary {
  underReplicated: number;
  unavailable: number;
  leader: string;
  lastPass: string;
}

export interface ClusterStatusDeps {
  view: ClusterView;
  meta: { at<T>(address: string, call: (c: MetaClient) => Promise<T>): Promise<T> };
  blockds: { at<T>(address: string, call: (c: BlockdPeer) => Promise<T>): Promise<T> };
  repair: () => Promise<RepairSummary | undefined>;
  probeTimeoutMs?: number;
}

/** 'serving' (200), 'draining' (404: the balancer sends it no new calls) or 'unreachable' (no answer in time, or anything else). */
export async function probeGatewayHealth(httpAddress: string, timeoutMs: number): Promise<string> {
  try {
    const r = await fetch(`http://${httpAddress}/healthz`, { signal: AbortSignal.timeout(timeoutMs) });
    await r.arrayBuffer();
    return r.status === 200 ? 'serving' : r.status === 404 ? 'draining' : 'unreachable';
  } catch {
    return 'unreachable';
  }
}

export async function clusterStatus(deps: ClusterStatusDeps): Promise<ClusterStatus> {
  const timeoutMs = deps.probeTimeoutMs ?? 2000;
  const [metas, blockds, gateways, repair] = await Promise.all([
    Promise.all(deps.view.metas.map(async (n) => ({ n, s: await deps.meta.at(n.address, (c) => c.status({ timeoutMs })).catch(() => undefined) }))),
    Promise.all(deps.view.blockds.map(async (n) => ({ n, s: await deps.blockds.at(n.address, (c) => c.getStats({ timeoutMs })).catch(() => undefined) }))),
    // A gateway's registration outlives its process by up to a lease: its /healthz says whether it answers.
    Promise.all(deps.view.gateways.map(async (g) => ({ g, health: g.info.httpAddress ? await probeGatewayHealth(String(g.info.httpAddress), timeoutMs) : 'unknown' }))),
    deps.repair().catch(() => undefined),
  ]);
  const master = metas.find(({ s }) => s?.role === 'master')?.s;
  const commit = master?.appliedSeq ?? 0;
  const nodes: NodeInfo[] = [];
  for (const { n, s } of metas) {
    nodes.push({
      id: n.id, kind: 'meta', address: n.address, pid: n.pid, role: s?.role ?? 'unknown', state: s ? 'up' : 'unreachable',
      replicationLag: s && commit > s.appliedSeq ? commit - s.appliedSeq : 0,
      metricsAddress: String(n.info.httpAddress ?? ''), startedAt: n.startedAt,
    });
  }
  const totals = { blocks: 0, bytes: 0, capacity: 0, corrupt: 0 };
  for (const { n, s } of blockds) {
    totals.blocks += s?.blocks ?? 0;
    totals.bytes += s?.bytes ?? 0;
    totals.capacity += s?.capacityBytes ?? 0;
    totals.corrupt += s?.corruptBlocks ?? 0;
    nodes.push({
      id: n.id, kind: 'blockd', address: n.address, pid: n.pid, role: 'blockd', state: !s ? 'unreachable' : deps.view.draining.has(n.id) ? 'draining' : 'up',
      usedBytes: s?.bytes ?? 0, capacityBytes: s?.capacityBytes ?? 0, blocks: s?.blocks ?? 0, corruptBlocks: s?.corruptBlocks ?? 0,
      metricsAddress: String(n.info.httpAddress ?? ''), startedAt: n.startedAt,
    });
  }
  for (const { g, health } of gateways) {
    // Registered state (serving/draining) unless the gateway does not answer.
    const state = health === 'unreachable' ? 'unreachable' : String(g.info.state ?? 'up');
    nodes.push({ id: g.id, kind: 'gateway', address: g.address, pid: g.pid, role: 'gateway', state, metricsAddress: String(g.info.httpAddress ?? ''), startedAt: g.startedAt });
  }
  nodes.sort((a, b) => `${a.kind}/${a.id}`.localeCompare(`${b.kind}/${b.id}`));
  return {
    nodes, masterId: master?.nodeId ?? '', epoch: master?.epoch ?? 0, commitPosition: commit, syncReplicas: master?.syncReplicas ?? [],
    blocks: totals.blocks, blockBytes: totals.bytes, capacityBytes: totals.capacity, corruptBlocks: totals.corrupt,
    underReplicatedBlocks: repair?.underReplicated ?? 0, unavailableBlocks: repair?.unavailable ?? 0,
    repairLeader: repair?.leader ?? '', repairLastPass: repair?.lastPass ?? '',
  };
}
