/**
 * Beyond one machine: a small cluster spread over three network namespaces,
 * each with its own address on a bridge. Nodes find each other through etcd
 * and use the addresses they advertise; nothing assumes loopback.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { BlockdClient } from '../../lib/rpc/clients/blockd-client';
import { MetaClient } from '../../lib/rpc/clients/meta-client';
import { hashToken, newToken } from '../../lib/auth/tokens';
import { BlockstoreClient } from '../../sdk/client';
import { TestNetwork } from '../harness/netns';
import { BLOCKSTORE_BIN, startProcess, waitListening, type Proc } from '../harness/process';
import { makeTempDir, removeDir } from '../harness/temp';
import { waitFor } from '../harness/wait';
import { ETCD_BIN } from '../harness/etcd';

const test = suite('cluster across network namespaces');
const net = new TestNetwork(3);
const procs: Proc[] = [];
const dirs: string[] = [];

test.before(() => {
  net.up();
});

test.after(async () => {
  for (const p of procs.reverse()) await p.stop(3000);
  for (const d of dirs) removeDir(d);
  net.down();
});

function inNs(ns: string, cmd: string, args: string[]): Proc {
  const p = startProcess('ip', ['netns', 'exec', ns, cmd, ...args]);
  procs.push(p);
  return p;
}

test('etcd, metadata, block daemons and a gateway on three hosts; a client on a fourth', async () => {
  const [a, b, c] = net.hosts as [typeof net.hosts[0], typeof net.hosts[0], typeof net.hosts[0]];
  const etcdDir = makeTempDir('ns-etcd');
  dirs.push(etcdDir);
  const etcdUrl = `http://${a.ip}:2379`;
  const etcd = inNs(a.ns, ETCD_BIN, [
    '--name', 'n1', '--data-dir', etcdDir, '--listen-client-urls', etcdUrl, '--advertise-client-urls', etcdUrl,
    '--listen-peer-urls', `http://${a.ip}:2380`, '--initial-advertise-peer-urls', `http://${a.ip}:2380`,
    '--initial-cluster', `n1=http://${a.ip}:2380`, '--log-level', 'error',
  ]);
  await waitFor('etcd on host a', async () => {
    if (!etcd.alive()) throw new Error(etcd.output());
    return (await fetch(`${etcdUrl}/health`)).ok;
  }, 20_000, 200);
  const hosts = [a, b, c];
  const starts: Array<Promise<unknown>> = [];
  hosts.forEach((h, i) => {
    const md = makeTempDir(`ns-meta${i}`);
    const bd = makeTempDir(`ns-blockd${i}`);
    dirs.push(md, bd);
    starts.push(waitListening(inNs(h.ns, BLOCKSTORE_BIN, ['meta', '--id', `m${i + 1}`, '--listen', `${h.ip}:7200`, '--data-dir', md, '--etcd', etcdUrl, '--log-level', 'warn'])));
    starts.push(waitListening(inNs(h.ns, BLOCKSTORE_BIN, ['blockd', '--id', `b${i + 1}`, '--listen', `${h.ip}:7100`, '--data-dir', bd, '--etcd', etcdUrl, '--lease-ttl', '2', '--refresh-ms', '500', '--log-level', 'warn'])));
  });
  starts.push(waitListening(inNs(c.ns, BLOCKSTORE_BIN, ['gateway', '--id', 'g1', '--listen', `${c.ip}:7300`, '--http-listen', `${c.ip}:7400`, '--etcd', etcdUrl, '--log-level', 'warn'])));
  await Promise.all(starts);

  // The metadata nodes elect a master and replicate across hosts.
  const metas = hosts.map((h) => new MetaClient(`${h.ip}:7200`));
  const master = await waitFor('a master with a synchronous replica', async () => {
    for (const m of metas) {
      const s = await m.status({ timeoutMs: 1000 }).catch(() => undefined);
      if (s?.role === 'master' && s.acceptingWrites && s.syncReplicas.length) return m;
    }
    return undefined;
  }, 30_000, 200);
  const masterStatus = await master.status();
  assert.ok(hosts.some((h) => masterStatus.address === `${h.ip}:7200`), `the master advertises its host address, not loopback: ${masterStatus.address}`);
  await master.createUser('nsuser', 'ns', 1e12);
  const t = newToken();
  await master.issueToken('nsuser', hashToken(t.token), t.tokenId, 'user');

  // A client in the root namespace reaches the gateway over the bridge.
  const client = new BlockstoreClient({ address: `${c.ip}:7300`, token: t.token, timeoutMs: 20_000 });
  const data = randomBytes(2_500_000);
  await waitFor('the gateway to see three block daemons', async () => {
    const r = await client.put('ns/file', data).then(() => true, () => false);
    return r;
  }, 20_000, 300);
  assert.ok((await client.get('ns/file')).equals(data));
  // Every host's daemon holds the blocks (R = 3 over three hosts; a copy the
  // upload could not place at once — W = 2 — is made by the repair worker).
  for (const h of hosts) {
    const bd = new BlockdClient(`${h.ip}:7100`);
    await waitFor(`the block daemon on ${h.ip} to hold blocks`, async () => (await bd.getStats()).blocks > 0, 20_000, 200);
    bd.close();
  }
  // Every metadata host has applied the commit.
  const top = masterStatus.lastSeq;
  for (const m of metas) assert.ok((await m.status()).appliedSeq >= top);
  client.close();
  metas.forEach((m) => m.close());
});

test.run();
