/**
 * gRPC adapter for blockstore.v1.Admin: admin tokens only (a user token is
 * PERMISSION_DENIED).
 */
import type * as grpc from '@grpc/grpc-js';
import type { AdminHandlers } from '../../proto/gen/ts/blockstore/v1/Admin';
import type { NodeInfo } from '../../proto/gen/ts/blockstore/v1/NodeInfo';
import { BlockstoreError } from '../../lib/errors';
import { BlockdClient } from '../../lib/rpc/clients/blockd-client';
import { MetaClient } from '../../lib/rpc/clients/meta-client';
import type { MetaRouter } from '../../lib/rpc/clients/meta-router';
import type { RpcServer } from '../../lib/rpc/server';
import type { Authenticator } from '../auth/authenticator';
import { newToken } from '../../lib/auth/tokens';
import type { ClusterView } from '../cluster-view';

export function adminHandlers(
  server: RpcServer,
  deps: {
    auth: Authenticator;
    meta: MetaRouter;
    view: ClusterView;
    requestDrain: (id: string) => Promise<void>;
    repairStatus: () => Promise<{ underReplicated: number; unavailable: number; leader: string; lastPass: string } | undefined>;
  },
): AdminHandlers {
  const admin = async (md: grpc.Metadata) => {
    const v = md.get('authorization')[0];
    const who = await deps.auth.authenticate(typeof v === 'string' ? v : undefined);
    if (who.scope !== 'admin') throw new BlockstoreError('PERMISSION_DENIED', 'the Admin service needs an admin token');
    return who;
  };
  return {
    GetClusterStatus: server.unary('GetClusterStatus', async (_req, ctx) => {
      await admin(ctx.metadata);
      await deps.view.refresh();
      const nodes: NodeInfo[] = [];
      let masterId = '';
      let epoch = 0;
      let commit = 0;
      let sync: string[] = [];
      const metas = await Promise.all(
        deps.view.metas.map(async (n) => {
          const c = new MetaClient(n.address);
          try {
            return { n, s: await c.status({ timeoutMs: 2000 }).catch(() => undefined) };
          } finally {
            c.close();
          }
        }),
      );
      for (const { s } of metas) {
        if (s?.role === 'master') {
          masterId = s.nodeId;
          epoch = s.epoch;
          commit = s.appliedSeq;
          sync = s.syncReplicas;
        }
      }
      for (const { n, s } of metas) {
        nodes.push({
          id: n.id, kind: 'meta', address: n.address, pid: n.pid, role: s?.role ?? 'unknown', state: s ? 'up' : 'unreachable',
          replicationLag: s && commit > s.appliedSeq ? commit - s.appliedSeq : 0,
          metricsAddress: String(n.info.httpAddress ?? ''),
        });
      }
      let blocks = 0;
      let bytes = 0;
      let capacity = 0;
      let corrupt = 0;
      await Promise.all(
        deps.view.blockds.map(async (n) => {
          const c = new BlockdClient(n.address);
          try {
            const s = await c.getStats({ timeoutMs: 2000 }).catch(() => undefined);
            blocks += s?.blocks ?? 0;
            bytes += s?.bytes ?? 0;
            capacity += s?.capacityBytes ?? 0;
            corrupt += s?.corruptBlocks ?? 0;
            nodes.push({
              id: n.id, kind: 'blockd', address: n.address, pid: n.pid, role: 'blockd', state: s ? 'up' : 'unreachable',
              usedBytes: s?.bytes ?? 0, capacityBytes: s?.capacityBytes ?? 0, blocks: s?.blocks ?? 0, corruptBlocks: s?.corruptBlocks ?? 0,
              metricsAddress: String(n.info.httpAddress ?? ''),
            });
          } finally {
            c.close();
          }
        }),
      );
      for (const g of deps.view.gateways) {
        nodes.push({ id: g.id, kind: 'gateway', address: g.address, pid: g.pid, role: 'gateway', state: String(g.info.state ?? 'up'), metricsAddress: String(g.info.httpAddress ?? '') });
      }
      nodes.sort((a, b) => `${a.kind}/${a.id}`.localeCompare(`${b.kind}/${b.id}`));
      const repair = await deps.repairStatus().catch(() => undefined);
      return {
        nodes, masterId, epoch, commitPosition: commit, syncReplicas: sync, blocks, blockBytes: bytes, capacityBytes: capacity, corruptBlocks: corrupt,
        underReplicatedBlocks: repair?.underReplicated ?? 0, unavailableBlocks: repair?.unavailable ?? 0,
        repairLeader: repair?.leader ?? '', repairLastPass: repair?.lastPass ?? '',
      };
    }),
    CreateUser: server.unary('CreateUser', async (req, ctx) => {
      await admin(ctx.metadata);
      const r = await deps.meta.write((c) => c.createUser(req.userId, req.name, req.quotaBytes));
      return { id: r.user!.id, name: r.user!.name, quotaBytes: r.user!.quotaBytes, usedBytes: r.user!.usedBytes };
    }),
    IssueToken: server.unary('IssueToken', async (req, ctx) => {
      await admin(ctx.metadata);
      const t = newToken();
      const ttl = req.ttlSeconds;
      if (!Number.isSafeInteger(ttl) || ttl < 0 || ttl > 10 * 365 * 86400) throw new BlockstoreError('INVALID_ARGUMENT', `ttl_seconds: 0 (never) to ten years, got ${ttl}`);
      const expiresAtMs = ttl > 0 ? Date.now() + ttl * 1000 : 0;
      await deps.meta.write((c) => c.issueToken(req.userId, t.tokenHash, t.tokenId, req.scope || 'user', { expiresAtMs }));
      return { tokenId: t.tokenId, token: t.token, expiresAt: expiresAtMs ? new Date(expiresAtMs).toISOString() : '' };
    }),
    RevokeToken: server.unary('RevokeToken', async (req, ctx) => {
      await admin(ctx.metadata);
      await deps.meta.write((c) => c.revokeToken(req.tokenId));
      deps.auth.forget();
      return {};
    }),
    DrainNode: server.unary('DrainNode', async (req, ctx) => {
      await admin(ctx.metadata);
      await deps.view.refresh();
      const known = [...deps.view.blockds, ...deps.view.gateways, ...deps.view.metas].some((n) => n.id === req.nodeId);
      if (!known) throw new BlockstoreError('NOT_FOUND', `no live node ${JSON.stringify(req.nodeId)}`);
      await deps.requestDrain(req.nodeId);
      return { accepted: true };
    }),
  };
}
