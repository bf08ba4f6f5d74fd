import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { UserLimits } from '../../gateway/auth/user-limits';
import { BlockstoreError } from '../../lib/errors';

const test = suite('per-user limits');

function refused(fn: () => unknown): BlockstoreError | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err as BlockstoreError;
  }
}

test('a burst is admitted, the next call is refused with a retry hint, the bucket refills at the rate', () => {
  let t = 0;
  const l = new UserLimits({ ratePerSecond: 10, burst: 5, maxStreams: 0 }, () => t);
  for (let i = 0; i < 5; i++) l.admit('u');
  const err = refused(() => l.admit('u'));
  assert.ok(err, 'the sixth call at once is refused');
  assert.is(err!.code, 'RATE_LIMITED');
  assert.is(err!.details.retryAfterMs, '100');
  assert.ok(refused(() => l.admit('other')) === undefined, 'another user has their own bucket');
  t = 99;
  assert.ok(refused(() => l.admit('u')), 'not yet refilled');
  t = 101;
  l.admit('u');
  t = 10_000;
  for (let i = 0; i < 5; i++) l.admit('u');
  assert.ok(refused(() => l.admit('u')), 'never more than the burst');
});

test('concurrent streams are capped per user and released once', () => {
  const l = new UserLimits({ ratePerSecond: 0, burst: 0, maxStreams: 2 });
  const a = l.openStream('u');
  const b = l.openStream('u');
  assert.is(refused(() => l.openStream('u'))?.code, 'RATE_LIMITED');
  l.openStream('v')();
  a();
  a();
  assert.is(l.streams('u'), 1, 'a double release counts once');
  const c = l.openStream('u');
  b();
  c();
  assert.is(l.streams('u'), 0);
});

test.run();
