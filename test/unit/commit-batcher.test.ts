/**
 * CommitBatcher with twin calls: commits that arrive while calls are under
 * way go together, each is answered with its own outcome (errors rebuilt as
 * their own call would have ended), and a node without CommitVersions is
 * sent one call per commit.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as grpc from '@grpc/grpc-js';
import { BlockstoreError } from '../../lib/errors';
import { CommitBatcher } from '../../lib/rpc/clients/commit-batcher';
import type { CommitVersionRequest } from '../../proto/gen/ts/blockstore/internal/v1/CommitVersionRequest';
import type { CommitOutcome__Output } from '../../proto/gen/ts/blockstore/internal/v1/CommitOutcome';

const req = (path: string, blocks = 1): CommitVersionRequest => ({ namespace: 'u', path, blocks: Array.from({ length: blocks }, () => ({ hash: 'a'.repeat(64), size: 1 })) });
const answer = (r: CommitVersionRequest) => ({ version: { path: r.path! } as never, result: { position: 1, epoch: 1 }, replayed: false });

function twin(outcome: (r: CommitVersionRequest) => CommitOutcome__Output = (r) => ({ response: answer(r), errorCode: '', errorMessage: '', errorDetails: {} })) {
  const many: number[] = [];
  const ones: string[] = [];
  let release: () => void = () => {};
  let gate = Promise.resolve();
  const b = new CommitBatcher(
    async (reqs) => {
      many.push(reqs.length);
      await gate;
      return { outcomes: reqs.map(outcome) };
    },
    async (r) => {
      ones.push(r.path!);
      await gate;
      const o = outcome(r);
      if (o.errorCode) throw new BlockstoreError(o.errorCode as never, o.errorMessage);
      return o.response!;
    },
  );
  return { b, many, ones, hold: () => (gate = new Promise<void>((r) => (release = r))), release: () => release() };
}

test('commits arriving while calls are under way go together, each gets its own answer', async () => {
  const t = twin();
  t.hold();
  const all = Array.from({ length: 10 }, (_, i) => t.b.commit(req(`f${i}`)));
  t.release();
  const got = await Promise.all(all);
  got.forEach((r, i) => assert.is(r.version!.path, `f${i}`));
  assert.equal(t.ones, ['f0', 'f1'], 'the first two went at once, alone');
  assert.equal(t.many, [8], 'the eight that waited went as one call');
  assert.is(t.b.calls, 3);
});

test('a commit\'s error is its own: code, message and details (keys as a status carries them), the others succeed', async () => {
  const t = twin((r): CommitOutcome__Output =>
    r.path === 'bad'
      ? { response: null, errorCode: 'VERSION_CONFLICT', errorMessage: 'bad is at version 3', errorDetails: { currentVersion: '3' } }
      : { response: answer(r), errorCode: '', errorMessage: '', errorDetails: {} },
  );
  t.hold();
  const first = [t.b.commit(req('a')), t.b.commit(req('b'))];
  const rest = [t.b.commit(req('c')), t.b.commit(req('bad')), t.b.commit(req('d'))].map((p) => p.then((r) => r, (e: unknown) => e));
  t.release();
  await Promise.all(first);
  const [c, bad, d] = await Promise.all(rest);
  assert.is((c as { version: { path: string } }).version.path, 'c');
  assert.is((d as { version: { path: string } }).version.path, 'd');
  assert.instance(bad, BlockstoreError);
  const e = bad as BlockstoreError;
  assert.is(e.code, 'VERSION_CONFLICT');
  assert.is(e.message, 'bad is at version 3');
  assert.equal({ ...e.details }, { currentversion: '3' });
  assert.not.ok(e.retryable);
});

test('a call that fails fails every commit in it (each caller retries its own); an unknown code is INTERNAL', async () => {
  const down = new CommitBatcher(async () => { throw new BlockstoreError('UNAVAILABLE', 'master gone'); }, async () => { await new Promise((r) => setTimeout(r, 5)); return answer(req('x')); });
  const ps = Array.from({ length: 5 }, (_, i) => down.commit(req(`f${i}`)).then(() => 'ok', (e: BlockstoreError) => e.code));
  assert.equal(await Promise.all(ps), ['ok', 'ok', 'UNAVAILABLE', 'UNAVAILABLE', 'UNAVAILABLE']);
  const odd = twin(() => ({ response: null, errorCode: 'SOMETHING_NEW', errorMessage: 'x', errorDetails: {} }));
  odd.hold();
  const ps2 = Array.from({ length: 4 }, () => odd.b.commit(req('f')).then(() => 'ok', (e: BlockstoreError) => e.code));
  odd.release();
  // (the first two went alone, through the twin's own single call)
  assert.equal((await Promise.all(ps2)).slice(2), ['INTERNAL', 'INTERNAL'], 'a code this side does not know is INTERNAL');
});

test('a node without CommitVersions (UNIMPLEMENTED) is sent one call per commit from then on', async () => {
  let many = 0;
  const ones: string[] = [];
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => (release = r));
  const b = new CommitBatcher(
    async () => {
      many++;
      throw Object.assign(new BlockstoreError('INTERNAL', 'unknown method'), { grpcCode: grpc.status.UNIMPLEMENTED });
    },
    async (r) => {
      ones.push(r.path!);
      await gate;
      return answer(r);
    },
  );
  const ps = Array.from({ length: 6 }, (_, i) => b.commit(req(`f${i}`)));
  release();
  (await Promise.all(ps)).forEach((r, i) => assert.is(r.version!.path, `f${i}`));
  assert.is(many, 1, 'asked once');
  assert.is(ones.length, 6);
  await b.commit(req('later'));
  assert.is(many, 1, 'not asked again');
});

test('a call carries at most 64 commits and about 20,000 block references', async () => {
  const t = twin();
  t.hold();
  const ps = [t.b.commit(req('a')), t.b.commit(req('b'))];
  for (let i = 0; i < 100; i++) ps.push(t.b.commit(req(`s${i}`)));
  ps.push(t.b.commit(req('big1', 15_000)), t.b.commit(req('big2', 15_000)));
  t.release();
  await Promise.all(ps);
  assert.ok(t.many.every((n) => n <= 64), `calls of ${t.many}`);
  assert.is(t.many.reduce((a, b) => a + b, 0) + t.ones.length, 104);
});

test.run();
