/**
 * The metadata election against a real etcd: a campaign that fails after
 * it wrote the leader key leaves no key behind, and the fence clock credits
 * a keepalive reply to the send time of the request it answers.
 */
import type { EventEmitter } from 'node:events';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { silentLogger } from '../../lib/logger';
import { MetaElection, type LeaderInfo } from '../../coordination/meta-election';
import { startEtcd, type EtcdHandle } from '../harness/etcd';
import { waitFor } from '../harness/wait';

const test = suite('metadata election');
let etcd: EtcdHandle;
let n = 0;

test.before(async () => {
  etcd = await startEtcd();
});

test.after(async () => {
  await etcd?.stop();
});

const options = (ttlSeconds: number) => ({ etcd: [etcd.endpoint], prefix: `/t${++n}/`, ttlSeconds, logger: silentLogger });

/** A coordinator whose confirming read (the second readLeader of a campaign) fails. */
class FlakyConfirm extends MetaElection {
  reads = 0;
  override async readLeader(): Promise<LeaderInfo | undefined> {
    if (++this.reads === 2) throw new Error('etcd went away during the confirming read');
    return super.readLeader();
  }
}

test('a campaign whose confirming read throws leaves no leader key behind (someone else can win)', async () => {
  const opts = options(2);
  const flaky = new FlakyConfirm(opts);
  const observer = new MetaElection(opts);
  try {
    const outcome = await flaky.campaign('m1', '127.0.0.1:1').then((r) => (r ? 'won' : 'lost'), () => 'threw');
    assert.is.not(outcome, 'won');
    assert.ok(flaky.leaseRemainingMs() <= 0, 'not fenced in: no lease is held');
    // Without cleanup the key stays, renewed for ever, and nobody can lead.
    await waitFor('the leader key to be gone', async () => (await observer.readLeader()) === undefined, 4000);
    const won = await observer.campaign('m2', '127.0.0.1:2');
    assert.is(won?.id, 'm2');
  } finally {
    await observer.resign();
    flaky.close();
    observer.close();
  }
});

test('a campaign past its deadline gives the key back', async () => {
  const opts = options(2);
  const slow = new MetaElection(opts);
  const observer = new MetaElection(opts);
  try {
    const outcome = await slow.campaign('m1', '127.0.0.1:1', { deadline: performance.now() - 1 }).then((r) => (r ? 'won' : 'lost'), () => 'threw');
    assert.is.not(outcome, 'won');
    assert.ok(slow.leaseRemainingMs() <= 0);
    assert.is(await observer.readLeader(), undefined);
  } finally {
    slow.close();
    observer.close();
  }
});

test('the fence clock credits a late keepalive reply to the send time of the request it answers', async () => {
  const c = new MetaElection(options(30));
  try {
    const won = await c.campaign('m1', '127.0.0.1:1');
    assert.ok(won);
    // Stop the real keepalive stream (etcd keeps the lease for its 30 s TTL);
    // from here on the lease's events are the test's.
    const lease = (c as unknown as { lease: EventEmitter & { teardown(): void } }).lease;
    lease.teardown();
    lease.emit('keepaliveFired');
    const firstSent = performance.now();
    await new Promise((r) => setTimeout(r, 600)); // the gap between two sends (the scenario, not synchronisation)
    lease.emit('keepaliveFired');
    // The reply to the first request arrives only now.
    lease.emit('keepaliveSucceeded', { TTL: '30', ID: won.leaseId });
    const remaining = c.leaseRemainingMs();
    const bound = firstSent + 30_000 - performance.now();
    assert.ok(remaining <= bound + 1, `lease valid for ${remaining.toFixed(0)} ms; the first request allows at most ${bound.toFixed(0)} ms`);
    assert.ok(remaining > 20_000, 'still credited');
  } finally {
    await c.resign();
    c.close();
  }
});

test.run();
