/**
 * SDK getToPath against a server that breaks a download off mid-stream:
 * the client resumes with a range read of the same version from the first
 * byte it does not have, and the file on disk is whole. A real gRPC server
 * on loopback playing the Files service.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadProtos } from '../../lib/rpc/proto';
import { BlockstoreClient } from '../../sdk/client';
import { makeTempDir, removeDir } from '../harness/temp';

const test = suite('SDK download resume');
const body = randomBytes(3 * 1024 * 1024 + 777);
const requests: Array<{ version: number; offset: number }> = [];
let server: grpc.Server | undefined;
let port = 0;
let dir = '';

test.before(async () => {
  dir = makeTempDir('sdk-resume');
  const { protos } = loadProtos();
  server = new grpc.Server();
  server.addService(protos.blockstore.v1.Files.service, {
    GetFile: (call: grpc.ServerWritableStream<{ path: string; version: number; offset: number }, unknown>) => {
      const { version, offset } = call.request;
      requests.push({ version: Number(version), offset: Number(offset) });
      call.write({ info: { path: call.request.path, version: 4, size: body.length, contentHash: '' } });
      const first = requests.length === 1;
      // The first answer stops a third of the way in with UNAVAILABLE (a gateway gone); later ones finish.
      const end = first ? Math.floor(body.length / 3) : body.length;
      for (let at = Number(offset); at < end; at += 256 * 1024) call.write({ data: body.subarray(at, Math.min(end, at + 256 * 1024)) });
      if (first) call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'gateway shutting down' });
      else call.end();
    },
  } as grpc.UntypedServiceImplementation);
  port = await new Promise<number>((resolve, reject) => server!.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
});

test.after(async () => {
  await new Promise<void>((r) => (server ? server.tryShutdown(() => r()) : r()));
  if (dir) removeDir(dir);
});

test('a download broken off resumes from the first missing byte, same version, and the file is whole', async () => {
  const client = new BlockstoreClient({ address: `127.0.0.1:${port}`, token: 't', timeoutMs: 5000 });
  try {
    const target = join(dir, 'out.bin');
    let last = 0;
    const info = await client.getToPath('big.bin', target, { onProgress: (n) => (last = n) });
    assert.is(Number(info.version), 4);
    assert.ok(readFileSync(target).equals(body), 'the file on disk is whole');
    assert.is(last, body.length);
    assert.is(requests.length, 2);
    assert.equal(requests[0], { version: 0, offset: 0 });
    assert.is(requests[1]!.version, 4, 'the resumed read names the version the first answer named');
    assert.ok(requests[1]!.offset > 0 && requests[1]!.offset <= Math.floor(body.length / 3), `resumed at ${requests[1]!.offset}, not from 0`);
  } finally {
    client.close();
  }
});

test('download() and downloadStream() report progress: bytes received so far against what the read returns', async () => {
  const client = new BlockstoreClient({ address: `127.0.0.1:${port}`, token: 't', timeoutMs: 5000 });
  try {
    const seen: Array<[number, number]> = [];
    const { data } = await client.download('big.bin', { offset: 1000, onProgress: (n, total) => seen.push([n, total]) });
    let got = 0;
    for await (const piece of data) got += piece.length;
    assert.is(got, body.length - 1000);
    assert.ok(seen.length > 1, 'more than one report');
    assert.ok(seen.every(([, t]) => t === body.length - 1000), 'the total is what this range read returns');
    assert.ok(seen.every(([n], i) => i === 0 || n > seen[i - 1]![0]), 'received only grows');
    assert.is(seen[seen.length - 1]![0], body.length - 1000);
    let last = 0;
    const { stream } = await client.downloadStream('big.bin', { onProgress: (n) => (last = n) });
    for await (const _ of stream) void _;
    assert.is(last, body.length);
  } finally {
    client.close();
  }
});

test.run();
