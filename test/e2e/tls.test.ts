/**
 * `cluster up --tls`: TLS on the balancer and gateways, mutual TLS between
 * nodes, and internal services closed to anyone without the cluster's
 * credentials (certificate and secret) — tried with real handshakes against
 * real processes.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { StateDir } from '../../cluster/local/layout';
import { BlockstoreError } from '../../lib/errors';
import { BlockdClient } from '../../lib/rpc/clients/blockd-client';
import { MetaClient } from '../../lib/rpc/clients/meta-client';
import { CLUSTER_AUTH_HEADER, installClusterCredentials, loadClusterCredentials, type ClusterCredentials } from '../../lib/security/cluster-credentials';
import { BlockstoreClient } from '../../sdk/client';
import { localClusterDown, localClusterUp } from '../harness/local-cluster';
import { makeTempDir, removeDir } from '../harness/temp';

const test = suite('TLS and closed internal services');
let dir: StateDir;
let address = '';

const node = (role: string) => dir.readState()!.nodes.find((n) => n.role === role)!;
const token = (name: string) => readFileSync(dir.path(`${name}.token`), 'utf8').trim();
const tlsFile = (f: string) => readFileSync(dir.path('tls', f));

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'OK';
  } catch (err) {
    return err instanceof BlockstoreError ? err.code : String(err);
  }
}

/** A call to an internal service made with the given credentials (restored after). */
async function asCaller<T>(c: ClusterCredentials, fn: () => Promise<T>): Promise<string> {
  installClusterCredentials(c);
  try {
    return await codeOf(fn());
  } finally {
    installClusterCredentials(loadClusterCredentials());
  }
}

test.before(async () => {
  ({ dir, address } = await localClusterUp('tls', ['--tls']));
});

test.after(async () => {
  await localClusterDown(dir);
});

test('secrets and keys are readable only by the owner', () => {
  for (const f of ['cluster.secret', join('tls', 'node.key'), join('tls', 'ca.key'), join('tls', 'balancer.pem')]) {
    assert.is(statSync(dir.path(f)).mode & 0o777, 0o600, f);
  }
});

test('clients reach the balancer over TLS with the CA; plaintext and a foreign CA are refused', async () => {
  const ca = tlsFile('ca.pem');
  const client = new BlockstoreClient({ address, token: token('user'), ca, timeoutMs: 20_000 });
  const body = randomBytes(300_000);
  try {
    await client.put('tls/a.bin', body);
    assert.ok((await client.get('tls/a.bin')).equals(body), 'round trip over TLS');
  } finally {
    client.close();
  }
  const plain = new BlockstoreClient({ address, token: token('user'), timeoutMs: 3000, retries: 0 });
  assert.is(await codeOf(plain.usage()), 'UNAVAILABLE');
  plain.close();
  const other = makeTempDir('foreign-ca');
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(other, 'k'), '-out', join(other, 'ca.pem'), '-days', '1', '-subj', '/CN=someone else'], { stdio: 'ignore' });
    const foreign = new BlockstoreClient({ address, token: token('user'), ca: readFileSync(join(other, 'ca.pem')), timeoutMs: 3000, retries: 0 });
    assert.is(await codeOf(foreign.usage()), 'UNAVAILABLE', 'a server the client cannot verify');
    foreign.close();
  } finally {
    removeDir(other);
  }
});

test('block daemons and metadata nodes refuse callers without the cluster certificate and secret', async () => {
  const tls = { ca: tlsFile('ca.pem'), cert: tlsFile('node.pem'), key: tlsFile('node.key') };
  const secret = readFileSync(dir.path('cluster.secret'), 'utf8').trim();
  const blockd = node('blockd').address;
  const meta = node('meta').address;
  const hash = 'a'.repeat(64);
  const tries: Array<[string, ClusterCredentials, string]> = [
    ['plaintext, no secret', {}, 'UNAVAILABLE'],
    ['plaintext, right secret', { secret }, 'UNAVAILABLE'],
    ['mTLS, no secret', { tls }, 'UNAUTHENTICATED'],
    ['mTLS, wrong secret', { tls, secret: randomBytes(24).toString('base64url') }, 'UNAUTHENTICATED'],
    ['mTLS, right secret', { tls, secret }, 'OK'],
  ];
  for (const [label, creds, want] of tries) {
    const b = await asCaller(creds, async () => {
      const c = new BlockdClient(blockd);
      try {
        return await c.getBlock(hash, {}, { timeoutMs: 3000 }).catch((err: BlockstoreError) => {
          // With credentials the daemon answers; an unknown block is its answer.
          if (err.code === 'BLOCK_NOT_FOUND') return undefined;
          throw err;
        });
      } finally {
        c.close();
      }
    });
    assert.is(b, want, `blockd, ${label}`);
    const m = await asCaller(creds, async () => {
      const c = new MetaClient(meta);
      try {
        return await c.createUser(`intruder-${randomBytes(3).toString('hex')}`, 'x', 0, { timeoutMs: 3000 }).catch((err: BlockstoreError) => {
          if (err.code === 'NOT_MASTER') return undefined; // reached a replica: it answered
          throw err;
        });
      } finally {
        c.close();
      }
    });
    assert.is(m, want, `meta, ${label}`);
  }
  // A TLS client that verifies the server but shows no certificate fails the handshake.
  const noCert = await asCaller({ secret }, async () => {
    const grpc = await import('@grpc/grpc-js');
    const { loadProtos } = await import('../../lib/rpc/proto');
    const raw = new (loadProtos().protos.blockstore.internal.v1.BlockDaemon)(blockd, grpc.credentials.createSsl(tls.ca), {});
    try {
      await new Promise((resolve, reject) => {
        const md = new grpc.Metadata();
        md.set(CLUSTER_AUTH_HEADER, secret);
        raw.getStats({}, md, { deadline: Date.now() + 3000 }, (err, res) => (err ? reject(err) : resolve(res)));
      });
    } finally {
      raw.close();
    }
  });
  assert.is.not(noCert, 'OK', 'a client without a certificate is refused');
});

test('fault hooks on the side port need the cluster secret', async () => {
  const g = node('gateway');
  const denied = await fetch(`http://${g.httpAddress}/fault/unavailable?ms=1`, { method: 'POST' });
  assert.is(denied.status, 403);
  const wrong = await fetch(`http://${g.httpAddress}/fault/unavailable?ms=1`, { method: 'POST', headers: { [CLUSTER_AUTH_HEADER]: 'not-the-secret-at-all' } });
  assert.is(wrong.status, 403);
});

test.run();
