/**
 * The gateways' cache of file heads, on real processes: a file read again
 * through a gateway costs no metadata call, yet a write through the other
 * gateway is never hidden from a read that carries its position, reads
 * never go back to an older version, and a stopped or replaced master turns
 * the cache off (then on again at the new master) without a stale answer.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { FullCluster } from '../harness/full-cluster';
import { waitFor } from '../harness/wait';
import type { BlockstoreClient } from '../../sdk/client';

const test = suite('gateway metadata cache');
let cluster: FullCluster;
const side = new Map<string, number>();
let writer: BlockstoreClient; // through g1 only
let reader: BlockstoreClient; // through g2 only, with no position
let session: BlockstoreClient; // through g2 only, given the writer's positions

async function metric(gateway: string, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${side.get(gateway)}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`));
  if (!line) throw new Error(`${gateway} exports no ${name}`);
  return Number(line.split(' ').pop());
}
const hits = (g: string) => metric(g, 'blockstore_gateway_meta_cache_hits_total');
const live = async (g: string) => (await metric(g, 'blockstore_gateway_meta_cache_live')) === 1;

test.before(async () => {
  cluster = await FullCluster.start();
  for (const [id, g] of cluster.gateways) {
    // The side port (metrics), from the line a server prints once it listens.
    const line = g.proc.output().split('\n').find((l) => l.startsWith('{"event":"listening"'))!;
    side.set(id, (JSON.parse(line) as { httpPort: number }).httpPort);
  }
  const { token } = await cluster.user('cacheuser');
  writer = cluster.client(token, cluster.gateways.get('g1')!.address);
  reader = cluster.client(token, cluster.gateways.get('g2')!.address);
  session = cluster.client(token, cluster.gateways.get('g2')!.address);
  await waitFor('both gateways to follow the master', async () => (await live('g1')) && (await live('g2')), 15_000);
});

test.after(async () => {
  await cluster?.stop();
});

test('a file read again comes from the cache; a write through the other gateway is seen at its position, and no read goes back', async () => {
  await writer.put('c/a', Buffer.from('version 1'));
  await waitFor('g2 to serve c/a from its cache', async () => {
    const before = await hits('g2');
    assert.equal((await reader.get('c/a')).toString(), 'version 1');
    return (await hits('g2')) > before;
  }, 5000);
  let seen = 1;
  for (let i = 2; i <= 40; i++) {
    const w = await writer.put('c/a', Buffer.from(`version ${i}`));
    session.observePosition(w.position);
    // A read that carries the write's position sees it: exactly what a metadata node answers.
    const st = await session.stat('c/a');
    assert.is(st.version, w.file.version, `read at position ${w.position} after the write of version ${w.file.version}`);
    // Reads without it: never older than what this reader saw already.
    for (let k = 0; k < 3; k++) {
      const v = (await reader.stat('c/a')).version;
      assert.ok(v >= seen, `version ${v} read after version ${seen} had been`);
      seen = v;
    }
  }
  // And the bytes of what the cache holds are the newest ones.
  const before = await hits('g2');
  assert.equal((await reader.get('c/a')).toString(), 'version 40');
  assert.equal((await reader.get('c/a')).toString(), 'version 40');
  assert.ok((await hits('g2')) > before, 'the repeated read was a hit');
});

test('the master stopped: the cache goes off within a second; the new master\'s writes are read at their positions; the cache comes back', async () => {
  await writer.put('c/b', Buffer.from('before'));
  await reader.get('c/b');
  const master = await cluster.meta.waitForMaster();
  master.proc.signal('SIGSTOP');
  try {
    await waitFor('g2 to stop trusting the silent master\'s feed', async () => !(await live('g2')), 3000, 50);
    const next = await cluster.meta.waitForMaster(20_000, master.id);
    const w = await writer.put('c/b', Buffer.from('after'));
    session.observePosition(w.position);
    const st = await session.stat('c/b');
    assert.is(st.version, w.file.version);
    await waitFor('g2 to follow the new master', () => live('g2'), 10_000, 50);
    assert.ok(next.id !== master.id);
  } finally {
    master.proc.signal('SIGCONT');
  }
  await waitFor('g2 to read the newest c/b', async () => (await reader.get('c/b')).toString() === 'after', 10_000);
  const before = await hits('g2');
  assert.equal((await reader.get('c/b')).toString(), 'after');
  assert.equal((await reader.get('c/b')).toString(), 'after');
  assert.ok((await hits('g2')) > before, 'reads hit the cache again');
});

test.run();
