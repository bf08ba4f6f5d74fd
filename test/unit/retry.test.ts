/**
 * The retry policy (lib/retry.ts) with a fake clock: what is retried, how
 * long it waits (jitter within the doubling bound, a server hint as floor),
 * and where it stops (attempts, budget).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BlockstoreError } from '../../lib/errors';
import { withRetry, type RetryPolicy } from '../../lib/retry';

function clock() {
  let t = 0;
  const waits: number[] = [];
  return { waits, now: () => t, sleep: async (ms: number) => { waits.push(ms); t += ms; } };
}

const failing = (codes: string[]) => {
  let n = 0;
  return async () => {
    const code = codes[n++];
    if (code === undefined) return 'ok';
    throw new BlockstoreError(code as never, code, code === 'RATE_LIMITED' ? { details: { retryAfterMs: '700' } } : {});
  };
};

test('retries what the error says is retryable, with waits up to a doubling bound', async () => {
  const c = clock();
  const policy: RetryPolicy = { attempts: 10, baseDelayMs: 100, maxDelayMs: 400, random: () => 1, ...c };
  assert.is(await withRetry(policy, failing(['UNAVAILABLE', 'NOT_MASTER', 'NO_SYNC_REPLICA', 'DEADLINE_EXCEEDED'])), 'ok');
  assert.equal(c.waits, [100, 200, 400, 400]);
});

test('jitter: each wait is a random share of its bound', async () => {
  const c = clock();
  await withRetry({ attempts: 5, baseDelayMs: 100, maxDelayMs: 1000, random: () => 0.25, ...c }, failing(['UNAVAILABLE', 'UNAVAILABLE']));
  assert.equal(c.waits, [25, 50]);
});

test('a non-retryable error passes through at once', async () => {
  const c = clock();
  let calls = 0;
  const err = await withRetry({ attempts: 5, baseDelayMs: 10, maxDelayMs: 10, ...c }, async () => {
    calls++;
    throw new BlockstoreError('VERSION_CONFLICT', 'no');
  }).catch((e: BlockstoreError) => e);
  assert.is((err as BlockstoreError).code, 'VERSION_CONFLICT');
  assert.is(calls, 1);
  assert.equal(c.waits, []);
});

test('a server hint is a floor; attempts and budget bound the call', async () => {
  const c = clock();
  await withRetry({ attempts: 3, baseDelayMs: 10, maxDelayMs: 10, random: () => 1, ...c }, failing(['RATE_LIMITED']));
  assert.equal(c.waits, [700]);
  const d = clock();
  const e1 = await withRetry({ attempts: 3, baseDelayMs: 10, maxDelayMs: 10, random: () => 1, ...d }, failing(['UNAVAILABLE', 'UNAVAILABLE', 'UNAVAILABLE'])).catch((e: Error) => e);
  assert.instance(e1, BlockstoreError);
  assert.is(d.waits.length, 2, 'three attempts, two waits');
  const b = clock();
  const e2 = await withRetry({ attempts: Infinity, baseDelayMs: 100, maxDelayMs: 100, budgetMs: 350, random: () => 1, ...b }, failing(Array(100).fill('UNAVAILABLE'))).catch((e: Error) => e);
  assert.instance(e2, BlockstoreError);
  assert.equal(b.waits, [100, 100, 100], 'no retry would start past the budget');
});

test('plain errors are not retried unless the policy says so', async () => {
  const c = clock();
  let calls = 0;
  const fn = async () => {
    if (calls++ < 2) throw new Error('socket hang up');
    return 'ok';
  };
  assert.instance(await withRetry({ attempts: 5, baseDelayMs: 1, maxDelayMs: 1, ...c }, fn).catch((e: Error) => e), Error);
  calls = 0;
  assert.is(await withRetry({ attempts: 5, baseDelayMs: 1, maxDelayMs: 1, retryable: () => true, ...c }, fn), 'ok');
});

test.run();
