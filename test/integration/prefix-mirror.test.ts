/**
 * Membership by list-then-watch against a real etcd: the copy follows puts,
 * deletes and multi-key transactions without listing again, survives an
 * etcd restart, and the gateway's cluster view sees a drain or a departed
 * daemon at once although its backstop listing is a minute away.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Etcd3 } from '../../coordination/etcd';
import { PrefixMirror } from '../../coordination/prefix-mirror';
import { nodeKey } from '../../coordination/keys';
import { ClusterView } from '../../gateway/cluster-view';
import { silentLogger } from '../../lib/logger';
import { startEtcd, type EtcdHandle } from '../harness/etcd';
import { waitFor } from '../harness/wait';

const test = suite('prefix mirror');
let etcd: EtcdHandle;
let client: Etcd3;

class CountingMirror extends PrefixMirror {
  lists = 0;
  override async relist(): Promise<void> {
    this.lists++;
    return super.relist();
  }
}

test.before(async () => {
  etcd = await startEtcd();
  client = new Etcd3({ hosts: [etcd.endpoint] });
});

test.after(async () => {
  client?.close();
  await etcd?.stop();
});

test('listed once, then kept by the watch: puts, deletes and one transaction of two keys', async () => {
  await client.put('/m1/a').value('1');
  await client.put('/m1/b').value('2');
  await client.put('/m1x/other').value('not under the prefix');
  const m = new CountingMirror([etcd.endpoint], '/m1/');
  try {
    await m.start();
    assert.equal(Object.fromEntries(m.entries), { '/m1/a': '1', '/m1/b': '2' });
    await client.put('/m1/a').value('1b');
    await client.delete().key('/m1/b');
    await client.if('/m1/c', 'Create', '==', 0).then(client.put('/m1/c').value('3'), client.put('/m1/d').value('4')).commit();
    await waitFor('the watched changes', () => m.entries.get('/m1/d') === '4', 5000);
    assert.equal(Object.fromEntries(m.entries), { '/m1/a': '1b', '/m1/c': '3', '/m1/d': '4' });
    assert.is(m.lists, 1, 'no listing after the first');
    const rev = m.revision;
    await m.relist();
    assert.ok(m.revision >= rev);
    assert.equal(Object.fromEntries(m.entries), { '/m1/a': '1b', '/m1/c': '3', '/m1/d': '4' });
  } finally {
    m.close();
  }
});

test('the watch resumes after etcd restarts', async () => {
  const m = new PrefixMirror([etcd.endpoint], '/m2/');
  try {
    await m.start();
    await etcd.kill();
    await etcd.restart();
    const c = new Etcd3({ hosts: [etcd.endpoint] });
    try {
      await waitFor('etcd back', () => c.put('/m2/after').value('yes').then(() => true, () => false), 15_000);
    } finally {
      c.close();
    }
    await waitFor('the change made after the restart', () => m.entries.get('/m2/after') === 'yes', 15_000);
  } finally {
    m.close();
  }
});

test('the cluster view sees a new daemon, a drain and a departure at once (its backstop listing a minute away)', async () => {
  const prefix = '/v1/';
  const view = new ClusterView([etcd.endpoint], prefix, 60_000, silentLogger);
  try {
    await view.whenReady();
    assert.is(view.blockds.length, 0);
    const rec = (id: string) => JSON.stringify({ id, role: 'blockd', address: `127.0.0.1:${id === 'b1' ? 1 : 2}`, info: {} });
    await client.put(nodeKey(prefix, 'blockd', 'b1')).value(rec('b1'));
    await client.put(nodeKey(prefix, 'blockd', 'b2')).value(rec('b2'));
    await client.put(nodeKey(prefix, 'meta', 'm1')).value(JSON.stringify({ id: 'm1', role: 'meta', address: 'x', info: {} }));
    await waitFor('two daemons and a metadata node', () => view.blockds.length === 2 && view.metas.length === 1, 5000);
    assert.equal(view.blockds.map((n) => n.id), ['b1', 'b2']);
    await client.put(`${prefix}drain/b2`).value('now');
    await waitFor('the drain', () => view.draining.has('b2'), 5000);
    await client.delete().key(nodeKey(prefix, 'blockd', 'b1'));
    await waitFor('b1 gone', () => view.blockds.length === 1, 5000);
    assert.is(view.blockdAddress('b1'), undefined);
    assert.is(view.blockdAddress('b2'), '127.0.0.1:2');
  } finally {
    view.close();
  }
});

test.run();
