/** The QAS history checker on hand-made histories: it must catch each kind of fault. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkHistory, type CallRecord, type FinalVersion } from '../../cluster/qas/history';

const h = (c: string) => c.repeat(64);
const put = (path: string, status: string, hash: string, version?: number): CallRecord => ({ start: 0, end: 1, method: 'PutFile', status, bytes: 10, path, contentHash: hash, version });
const state = (m: Record<string, FinalVersion[]>) => async (path: string) => m[path] ?? [];
const v = (version: number, hash: string, read = hash): FinalVersion => ({ version, contentHash: hash, readHash: read });

test('a clean history has no problems (acknowledged present; unknown present or absent)', async () => {
  const history = [put('a', 'OK', h('a'), 1), put('b', 'UNAVAILABLE', h('b')), put('c', 'UNAVAILABLE', h('c')), put('d', 'VERSION_CONFLICT', h('d'))];
  assert.equal(await checkHistory(history, state({ a: [v(1, h('a'))], b: [v(1, h('b'))] })), []);
});

test('catches a lost acknowledged write', async () => {
  const problems = await checkHistory([put('a', 'OK', h('a'), 1)], state({}));
  assert.equal(problems.map((p) => p.kind), ['lost']);
});

test('catches a duplicate version from a replayed write', async () => {
  const history = [put('a', 'UNAVAILABLE', h('a')), put('a', 'OK', h('a'), 2)];
  const problems = await checkHistory(history, state({ a: [v(1, h('a')), v(2, h('a'))] }));
  assert.equal(problems.map((p) => p.kind), ['duplicate']);
});

test('catches a partial version (short or foreign content)', async () => {
  const short = await checkHistory([put('a', 'OK', h('a'), 1)], state({ a: [v(1, h('a'), h('9'))] }));
  assert.equal(short.map((p) => p.kind), ['partial']);
  const foreign = await checkHistory([put('b', 'UNAVAILABLE', h('b'))], state({ b: [v(1, h('e'))] }));
  assert.equal(foreign.map((p) => p.kind), ['partial']);
});

test.run();
