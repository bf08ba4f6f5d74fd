/**
 * Who is calling: the bearer token's hash looked up in metadata, cached
 * briefly (a revoked token stops working within cacheMs). No token or an
 * unknown one is UNAUTHENTICATED; a user token on an admin call is
 * PERMISSION_DENIED.
 */
import { BlockstoreError } from '../../lib/errors';
import type { MetaClient } from '../../lib/rpc/clients/meta-client';
import { hashToken } from '../../lib/auth/tokens';
import type { UserLimits } from './user-limits';

export interface Caller {
  userId: string;
  scope: 'user' | 'admin';
  tokenId: string;
}

/** What the authenticator needs of metadata: token lookups on any node (a MetaRouter; a twin in unit tests). */
export interface TokenLookup {
  read<T>(call: (c: Pick<MetaClient, 'authenticate'>) => Promise<T>): Promise<T>;
}

export class Authenticator {
  private readonly cache = new Map<string, { caller: Caller; until: number }>();

  constructor(
    private readonly meta: TokenLookup,
    private readonly cacheMs: number,
    /** Per-user call rate, charged once the caller is known. */
    private readonly limits?: UserLimits,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * @throws BlockstoreError UNAUTHENTICATED (missing, malformed, unknown or revoked token),
   * RATE_LIMITED (the user is over their call rate; details.retryAfterMs).
   */
  async authenticate(authorization: string | undefined): Promise<Caller> {
    const caller = await this.identify(authorization);
    this.limits?.admit(caller.userId);
    return caller;
  }

  private async identify(authorization: string | undefined): Promise<Caller> {
    if (!authorization) throw new BlockstoreError('UNAUTHENTICATED', 'missing "authorization: Bearer <token>" metadata');
    const m = /^Bearer\s+(\S+)$/i.exec(authorization.trim());
    if (!m || m[1]!.length > 512) throw new BlockstoreError('UNAUTHENTICATED', 'malformed authorization header; expected "Bearer <token>"');
    const hash = hashToken(m[1]!);
    const hit = this.cache.get(hash);
    if (hit && hit.until > this.now()) return hit.caller;
    const r = await this.meta.read((c) => c.authenticate(hash, 0, { timeoutMs: 5000 }));
    const caller: Caller = { userId: r.userId, scope: r.scope === 'admin' ? 'admin' : 'user', tokenId: r.tokenId };
    if (this.cache.size > 10_000) this.cache.clear();
    // Never cached past the token's expiry.
    const until = Math.min(this.now() + this.cacheMs, r.expiresAtMs > 0 ? r.expiresAtMs : Infinity);
    this.cache.set(hash, { caller, until });
    return caller;
  }

  /** Forgets cached tokens (after a revocation through this gateway). */
  forget(): void {
    this.cache.clear();
  }
}
