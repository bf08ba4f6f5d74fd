/**
 * The gateway's authenticator on an in-memory token table (a TokenLookup
 * twin) and a hand-driven clock: header forms, unknown and revoked tokens,
 * the cache window a revocation may take to bite, expiry, admin scope, and
 * the per-user rate charged once the caller is known.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BlockstoreError, type ErrorCode } from '../../lib/errors';
import { hashToken } from '../../lib/auth/tokens';
import { Authenticator, type TokenLookup } from '../../gateway/auth/authenticator';
import { UserLimits } from '../../gateway/auth/user-limits';

function world() {
  let t = 1_000_000;
  const tokens = new Map<string, { userId: string; scope: string; tokenId: string; expiresAtMs: number }>();
  let lookups = 0;
  const meta: TokenLookup = {
    read: (call) =>
      call({
        authenticate: async (hash: string) => {
          lookups++;
          const r = tokens.get(hash);
          if (!r || (r.expiresAtMs > 0 && r.expiresAtMs <= t)) throw new BlockstoreError('UNAUTHENTICATED', 'unknown or revoked token');
          return r;
        },
      }),
  };
  const issue = (token: string, userId: string, scope = 'user', expiresAtMs = 0) => tokens.set(hashToken(token), { userId, scope, tokenId: `id-${token}`, expiresAtMs });
  return {
    meta, tokens, issue,
    clock: { now: () => t, advance: (ms: number) => (t += ms) },
    lookups: () => lookups,
    revoke: (token: string) => tokens.delete(hashToken(token)),
  };
}

async function code(p: Promise<unknown>): Promise<ErrorCode | 'OK'> {
  try {
    await p;
    return 'OK';
  } catch (err) {
    assert.instance(err, BlockstoreError);
    return (err as BlockstoreError).code;
  }
}

test('bearer tokens in, callers out; missing, malformed and unknown tokens are UNAUTHENTICATED', async () => {
  const w = world();
  const auth = new Authenticator(w.meta, 2000, undefined, w.clock.now);
  w.issue('tok-alice', 'alice');
  w.issue('tok-root', 'root', 'admin');
  assert.equal(await auth.authenticate('Bearer tok-alice'), { userId: 'alice', scope: 'user', tokenId: 'id-tok-alice' });
  assert.is((await auth.authenticate('bearer   tok-root ')).scope, 'admin');
  assert.is(await code(auth.authenticate(undefined)), 'UNAUTHENTICATED');
  assert.is(await code(auth.authenticate('tok-alice')), 'UNAUTHENTICATED');
  assert.is(await code(auth.authenticate('Basic dXNlcjpwYXNz')), 'UNAUTHENTICATED');
  assert.is(await code(auth.authenticate(`Bearer ${'x'.repeat(513)}`)), 'UNAUTHENTICATED');
  assert.is(await code(auth.authenticate('Bearer nobody')), 'UNAUTHENTICATED');
});

test('answers are cached for the window; a revoked token stops working when it ends (or at once after forget())', async () => {
  const w = world();
  const auth = new Authenticator(w.meta, 2000, undefined, w.clock.now);
  w.issue('t1', 'alice');
  await auth.authenticate('Bearer t1');
  await auth.authenticate('Bearer t1');
  assert.is(w.lookups(), 1, 'the second call was served from the cache');
  w.revoke('t1');
  w.clock.advance(1999);
  assert.is(await code(auth.authenticate('Bearer t1')), 'OK');
  w.clock.advance(2);
  assert.is(await code(auth.authenticate('Bearer t1')), 'UNAUTHENTICATED');
  w.issue('t2', 'bob');
  await auth.authenticate('Bearer t2');
  w.revoke('t2');
  auth.forget();
  assert.is(await code(auth.authenticate('Bearer t2')), 'UNAUTHENTICATED');
});

test('a cached token is never honoured past its expiry', async () => {
  const w = world();
  const auth = new Authenticator(w.meta, 60_000, undefined, w.clock.now);
  w.issue('short', 'alice', 'user', w.clock.now() + 500);
  assert.is(await code(auth.authenticate('Bearer short')), 'OK');
  w.clock.advance(501);
  assert.is(await code(auth.authenticate('Bearer short')), 'UNAUTHENTICATED');
});

test('the per-user rate is charged after the caller is known, cached or not', async () => {
  const w = world();
  let t = 0;
  const limits = new UserLimits({ ratePerSecond: 1, burst: 2, maxStreams: 0 }, () => t);
  const auth = new Authenticator(w.meta, 60_000, limits, w.clock.now);
  w.issue('t', 'alice');
  assert.is(await code(auth.authenticate('Bearer t')), 'OK');
  assert.is(await code(auth.authenticate('Bearer t')), 'OK');
  assert.is(await code(auth.authenticate('Bearer t')), 'RATE_LIMITED');
  assert.is(await code(auth.authenticate('Bearer nobody')), 'UNAUTHENTICATED', 'an unknown caller is refused before any bucket');
  t += 1000;
  assert.is(await code(auth.authenticate('Bearer t')), 'OK');
});

test.run();
