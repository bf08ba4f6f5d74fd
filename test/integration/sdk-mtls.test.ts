/**
 * The SDK behind a balancer that requires mutual TLS: with a client
 * certificate the call goes through; without one the TLS handshake is
 * refused. A real gRPC server over TLS on loopback, the local CA's
 * certificates.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { ensureLocalTls } from '../../cluster/local/tls';
import { loadProtos } from '../../lib/rpc/proto';
import { BlockstoreClient } from '../../sdk/client';
import { makeTempDir, removeDir } from '../harness/temp';

const test = suite('SDK with mutual TLS');
let dir = '';
let server: grpc.Server | undefined;
let port = 0;
let tls: { ca: Buffer; cert: Buffer; key: Buffer };

test.before(async () => {
  dir = makeTempDir('sdk-mtls');
  const t = ensureLocalTls(dir, ['127.0.0.1']);
  tls = { ca: readFileSync(t.ca), cert: readFileSync(t.cert), key: readFileSync(t.key) };
  const { protos } = loadProtos();
  server = new grpc.Server();
  server.addService(protos.blockstore.v1.Files.service, {
    GetUsage: (_call: unknown, cb: grpc.sendUnaryData<{ bytesUsed: number; quotaBytes: number }>) => cb(null, { bytesUsed: 7, quotaBytes: 9 }),
  } as grpc.UntypedServiceImplementation);
  // checkClientCertificate: a client without a certificate signed by the CA is refused in the handshake.
  const creds = grpc.ServerCredentials.createSsl(tls.ca, [{ private_key: tls.key, cert_chain: tls.cert }], true);
  port = await new Promise<number>((resolve, reject) => server!.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))));
});

test.after(async () => {
  await new Promise<void>((r) => (server ? server.tryShutdown(() => r()) : r()));
  if (dir) removeDir(dir);
});

test('with the client certificate the call goes through; without it, it does not', async () => {
  const withCert = new BlockstoreClient({ address: `localhost:${port}`, token: 't', ca: tls.ca, cert: tls.cert, key: tls.key, timeoutMs: 5000 });
  try {
    assert.equal(await withCert.usage(), { bytesUsed: 7, quotaBytes: 9 });
  } finally {
    withCert.close();
  }
  const without = new BlockstoreClient({ address: `localhost:${port}`, token: 't', ca: tls.ca, timeoutMs: 2000, retries: 2 });
  try {
    const err = await without.usage().then(() => undefined, (e: { code: string }) => e);
    assert.ok(err, 'refused without a client certificate');
    assert.is(err!.code, 'UNAVAILABLE');
  } finally {
    without.close();
  }
  assert.throws(() => new BlockstoreClient({ address: 'x:1', token: 't', ca: tls.ca, cert: tls.cert }), /needs its key/);
});

test.run();
