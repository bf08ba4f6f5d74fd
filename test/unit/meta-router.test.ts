/**
 * MetaRouter's reads while the membership it discovers changes under them.
 * The clients are real (lazy) channels to addresses nothing listens on; the
 * calls never use them, they only answer by address.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BlockstoreError } from '../../lib/errors';
import { MetaRouter } from '../../lib/rpc/clients/meta-router';

const unavailable = () => new BlockstoreError('UNAVAILABLE', 'node down');

test('a read that moves on to the next node while the membership shrinks reaches a node, never an address past the new list', async () => {
  // Three nodes, then (as after etcd's leases lapsed and only one has registered again) one.
  let members = ['127.0.0.1:1', '127.0.0.1:2', '127.0.0.1:3'];
  const router = new MetaRouter({ discover: async () => members, readDeadlineMs: 5000 });
  try {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let started!: () => void;
    const onFirst = new Promise<void>((r) => (started = r));
    // Read A: its first node answers UNAVAILABLE once the membership has shrunk; any other node answers.
    const a = router.read(async (c) => {
      if (c.address === '127.0.0.1:1') {
        started();
        await gate;
        throw unavailable();
      }
      return c.address;
    });
    await onFirst;
    // Read B: every node fails its first round, so its second asks discovery again and sees one node.
    members = ['127.0.0.1:1'];
    let round = 0;
    const seen: string[] = [];
    const b = await router.read(async (c) => {
      seen.push(c.address);
      if (seen.length <= 3) throw unavailable();
      round++;
      return c.address;
    });
    assert.equal(round, 1);
    assert.equal(b, '127.0.0.1:1', 'the second round used the new membership');
    release();
    const got = await a;
    assert.ok(['127.0.0.1:2', '127.0.0.1:3'].includes(got), `read A answered from ${got}`);
  } finally {
    router.close();
  }
});

test('reads spread over the nodes and skip one that is down', async () => {
  const router = new MetaRouter({ discover: async () => ['127.0.0.1:1', '127.0.0.1:2', '127.0.0.1:3'], readDeadlineMs: 5000 });
  try {
    const got: string[] = [];
    for (let i = 0; i < 6; i++) {
      got.push(
        await router.read(async (c) => {
          if (c.address === '127.0.0.1:2') throw unavailable();
          return c.address;
        }),
      );
    }
    assert.not.ok(got.includes('127.0.0.1:2'));
    assert.ok(got.includes('127.0.0.1:1') && got.includes('127.0.0.1:3'), got.join(','));
  } finally {
    router.close();
  }
});

test('a read fails at once on an error that is not worth retrying, and with UNAVAILABLE once every node has failed for its budget', async () => {
  const router = new MetaRouter({ discover: async () => ['127.0.0.1:1', '127.0.0.1:2'], readDeadlineMs: 300 });
  try {
    let calls = 0;
    try {
      await router.read(async () => {
        calls++;
        throw new BlockstoreError('NOT_FOUND', 'no such file');
      });
      assert.unreachable();
    } catch (err) {
      assert.instance(err, BlockstoreError);
      assert.is((err as BlockstoreError).code, 'NOT_FOUND');
      assert.is(calls, 1);
    }
    try {
      await router.read(async () => {
        throw unavailable();
      });
      assert.unreachable();
    } catch (err) {
      assert.instance(err, BlockstoreError);
      assert.is((err as BlockstoreError).code, 'UNAVAILABLE');
    }
  } finally {
    router.close();
  }
});

test.run();
