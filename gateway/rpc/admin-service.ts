/**
 * gRPC adapter for blockstore.v1.Admin: admin tokens only (a user token is
 * PERMISSION_DENIED).
 */
import type * as grpc from '@grpc/grpc-js';
import type { AdminHandlers } from '../../proto/gen/ts/blockstore/v1/Admin';
import type { ClusterStatus } from '../../proto/gen/ts/blockstore/v1/ClusterStatus';
import { BlockstoreError } from '../../lib/errors';
import type { MetaRouter } from '../../lib/rpc/clients/meta-router';
import type { RpcServer } from '../../lib/rpc/server';
import type { Authenticator } from '../auth/authenticator';
import { newToken } from '../../lib/auth/tokens';
import type { ClusterView } from '../cluster-view';
import { drainNode } from '../admin/drain';

export function adminHandlers(
  server: RpcServer,
  deps: {
    auth: Authenticator;
    meta: MetaRouter;
    view: ClusterView;
    requestDrain: (id: string) => Promise<void>;
    status: () => Promise<ClusterStatus>;
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
      return deps.status();
    }),
    CreateUser: server.unary('CreateUser', async (req, ctx) => {
      await admin(ctx.metadata);
      const r = await deps.meta.write((c) => c.createUser(req.userId, req.name, req.quotaBytes));
      return { id: r.user!.id, name: r.user!.name, quotaBytes: r.user!.quotaBytes, usedBytes: r.user!.usedBytes };
    }),
    // From the master: a user created a moment ago is listed.
    ListUsers: server.unary('ListUsers', async (req, ctx) => {
      await admin(ctx.metadata);
      const r = await deps.meta.readMaster((c) => c.listUsers(req.pageSize, req.pageToken));
      return { users: r.users.map((u) => ({ id: u.id, name: u.name, quotaBytes: u.quotaBytes, usedBytes: u.usedBytes, createdAt: u.createdAt })), nextPageToken: r.nextPageToken };
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
      await drainNode(deps.view, deps.requestDrain, req.nodeId);
      return { accepted: true };
    }),
  };
}
