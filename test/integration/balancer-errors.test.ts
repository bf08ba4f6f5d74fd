/**
 * The local balancer's own answers are gRPC: HAProxy with the generated
 * configuration and no gateway in any slot answers a gRPC client with
 * UNAVAILABLE (content-type application/grpc, grpc-status 14) and a
 * message saying it was the balancer — not an HTML page — and logs the
 * abnormal call with its termination state.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as grpc from '@grpc/grpc-js';
import { existsSync, writeFileSync } from 'node:fs';
import { connect } from 'node:http2';
import { join } from 'node:path';
import { haproxyConfig, writeGrpcErrorFiles } from '../../cluster/local/haproxy';
import { freePort } from '../harness/ports';
import { startProcess, type Proc } from '../harness/process';
import { makeTempDir, removeDir } from '../harness/temp';
import { waitFor } from '../harness/wait';

let dir = '';
let proxy: Proc | undefined;
let port = 0;

test.before(async () => {
  dir = makeTempDir('balancer-errors');
  port = await freePort();
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(cfg, haproxyConfig({ bind: `127.0.0.1:${port}`, socket: join(dir, 'haproxy.sock'), pidFile: join(dir, 'haproxy.pid'), errorFiles: writeGrpcErrorFiles(dir), slots: 2 }));
  proxy = startProcess(existsSync('/usr/sbin/haproxy') ? '/usr/sbin/haproxy' : 'haproxy', ['-W', '-db', '-f', cfg]);
  await waitFor('haproxy listening', () => existsSync(join(dir, 'haproxy.sock')) || !proxy!.alive(), 10_000);
  assert.ok(proxy.alive(), proxy.output());
});

test.after(async () => {
  await proxy?.stop();
  if (dir) removeDir(dir);
});

test('no gateway: a gRPC client gets UNAVAILABLE from the balancer, as a gRPC status', async () => {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const err = await new Promise<grpc.ServiceError | null>((resolve) =>
    client.makeUnaryRequest('/blockstore.v1.Files/StatFile', (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), (e) => resolve(e)),
  );
  client.close();
  assert.ok(err, 'the call fails');
  assert.is(err!.code, grpc.status.UNAVAILABLE);
  assert.match(err!.details, 'balancer: 503', err!.details);
});

test('the raw answer: content-type application/grpc and grpc-status 14, no HTML body', async () => {
  const session = connect(`http://127.0.0.1:${port}`);
  try {
    const { headers, body } = await new Promise<{ headers: Record<string, unknown>; body: string }>((resolve, reject) => {
      const req = session.request({ ':method': 'POST', ':path': '/blockstore.v1.Files/StatFile', 'content-type': 'application/grpc', te: 'trailers' });
      let headers: Record<string, unknown> = {};
      let body = '';
      req.on('response', (h) => (headers = h));
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => resolve({ headers, body }));
      req.on('error', reject);
      req.end();
    });
    assert.is(headers['content-type'], 'application/grpc');
    assert.is(headers['grpc-status'], '14');
    assert.is(body, '');
  } finally {
    session.close();
  }
});

test('a call the balancer answered itself is logged, with its termination state', async () => {
  // The calls above were refused for want of a gateway: HAProxy's httplog
  // line names the backend, the 503 and a termination state starting with
  // S (server side) or P (proxy side), not "----" (normal).
  await waitFor('an abnormal call in the log', () => /grpc gateways\/<NOSRV> .* 503 .*StatFile/.test(proxy!.output()), 5_000);
  const line = proxy!.output().split('\n').find((l) => / 503 .*StatFile/.test(l))!;
  assert.not.match(line, ' ---- ', line);
});

test.run();
