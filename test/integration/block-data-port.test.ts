/**
 * The block data port (block bodies over HTTP/1.1) of a real block daemon
 * (LevelDB and segment files on disk): the same answers as its gRPC
 * PutBlock/GetBlock, refusals with a BlockstoreError code and nothing
 * stored, and the internal services' credentials (cluster secret; mutual
 * TLS with a cluster CA made by openssl).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { ensureLocalTls } from '../../cluster/local/tls';
import { maybeCompress } from '../../lib/compression';
import { sha256Hex } from '../../lib/hash';
import { BlockDataClient } from '../../lib/http/block-data-client';
import { MAX_BLOCK_BYTES } from '../../lib/limits';
import { clusterCredentials, type ClusterCredentials } from '../../lib/security/cluster-credentials';
import { codeOf } from '../harness/codes';
import { startTestDaemon, type TestDaemon } from '../harness/blockd';
import { makeTempDir, removeDir } from '../harness/temp';
import { waitFor } from '../harness/wait';

const test = suite('block data port');
let d: TestDaemon;
let client: BlockDataClient;

/** One raw HTTP/1.1 request: status, the error code header, the body. */
function raw(address: string, method: string, path: string, headers: Record<string, string | number>, body?: Buffer, sendOnly?: number): Promise<{ status: number; code: string; body: string }> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const req = request({ host, port, method, path, headers }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, code: String(res.headers['x-blockstore-error-code'] ?? ''), body: text }));
    });
    if (sendOnly !== undefined) {
      // A client that dies mid-body: some bytes, then the connection is gone.
      req.on('error', () => resolve({ status: 0, code: 'CLIENT_GONE', body: '' }));
      req.write(body!.subarray(0, sendOnly), () => setImmediate(() => req.destroy()));
    } else {
      req.on('error', reject);
      req.end(body);
    }
  });
}

const secretHeader = () => ({ 'x-blockstore-cluster-auth': clusterCredentials().secret ?? '' });

test.before(async () => {
  d = await startTestDaemon();
  client = new BlockDataClient(d.dataAddress, clusterCredentials());
});

test.after(async () => {
  client.close();
  await d.stop();
});

test('a block put over the data port reads back whole and in ranges, over both transports', async () => {
  assert.ok(d.dataAddress, 'the daemon has a data port');
  const data = randomBytes(1 << 20);
  const hash = sha256Hex(data);
  assert.equal(await client.putBlock(hash, data), { alreadyPresent: false, size: data.length });
  assert.equal(await client.putBlock(hash, data), { alreadyPresent: true, size: data.length });
  const whole = await client.getBlock(hash);
  assert.ok(whole.data.equals(data));
  assert.is(whole.blockSize, data.length);
  const part = await client.getBlock(hash, { offset: 1000, length: 5000 });
  assert.ok(part.data.equals(data.subarray(1000, 6000)));
  assert.is(part.blockSize, data.length);
  // The same block through gRPC: one store behind both.
  assert.ok((await d.client.getBlock(hash)).data.equals(data));
});

test('read buffers are used again only once an answer is on the socket: a slow reader gets its bytes while many reads go on', async () => {
  // One size class (2–4 MiB), so the reads compete for the same buffers.
  const blocks = Array.from({ length: 8 }, (_, i) => randomBytes(2_100_000 + i * 250_001));
  for (const b of blocks) await client.putBlock(sha256Hex(b), b);
  const slowBlock = blocks[7]!;
  // A reader that asks for a block three times over one connection
  // (pipelined) and does not read: the kernel takes about one answer, the
  // others wait in the daemon, their buffers still to be sent.
  const [host, port] = [d.dataAddress.slice(0, d.dataAddress.lastIndexOf(':')), Number(d.dataAddress.slice(d.dataAddress.lastIndexOf(':') + 1))];
  const slow = connect(port, host);
  slow.pause();
  await new Promise<void>((resolve) => slow.once('connect', resolve));
  const ask = `GET /v1/blocks/${sha256Hex(slowBlock)} HTTP/1.1\r\nhost: x\r\nx-blockstore-cluster-auth: ${clusterCredentials().secret ?? ''}\r\n\r\n`;
  slow.write(ask.repeat(3));
  for (let round = 0; round < 3; round++) {
    await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const b = blocks[i % 7]!;
        const ranged = i % 5 === 4;
        const got = await client.getBlock(sha256Hex(b), ranged ? { offset: 1234, length: 40_000 } : {});
        assert.ok(got.data.equals(ranged ? b.subarray(1234, 41_234) : b), `block ${i % 7}${ranged ? ' (range)' : ''}, round ${round}`);
      }),
    );
  }
  const chunks: Buffer[] = [];
  let received = 0;
  slow.on('data', (c: Buffer) => {
    chunks.push(c);
    received += c.length;
  });
  slow.resume();
  await waitFor('the slow answers in full', () => received >= 3 * slowBlock.length, 10_000);
  slow.destroy();
  let rest = Buffer.concat(chunks);
  for (let n = 0; n < 3; n++) {
    const headEnd = rest.indexOf('\r\n\r\n');
    const length = Number(/content-length: (\d+)/i.exec(rest.subarray(0, headEnd).toString('latin1'))?.[1]);
    assert.is(length, slowBlock.length, `answer ${n}: its length`);
    assert.ok(rest.subarray(headEnd + 4, headEnd + 4 + length).equals(slowBlock), `answer ${n}: the bytes asked for`);
    rest = rest.subarray(headEnd + 4 + length);
  }
});

test('a Brotli-encoded body is stored as the block it decodes to', async () => {
  const data = Buffer.from('compressible '.repeat(20_000));
  const { encoding, payload } = maybeCompress(data);
  assert.is(encoding, 'br');
  const hash = sha256Hex(data);
  assert.equal(await client.putBlock(hash, payload, { encoding }), { alreadyPresent: false, size: data.length });
  assert.ok((await client.getBlock(hash)).data.equals(data));
});

test('bytes that do not hash to their name: HASH_MISMATCH, nothing stored', async () => {
  const data = randomBytes(100_000);
  const hash = sha256Hex(randomBytes(10));
  assert.is(await codeOf(client.putBlock(hash, data)), 'HASH_MISMATCH');
  assert.is(await codeOf(client.getBlock(hash)), 'BLOCK_NOT_FOUND');
});

test('bad input gets its code: a bad hash, an unknown path, a bad range, an encoding, an oversized block', async () => {
  assert.is(await codeOf(client.getBlock('nothex')), 'INVALID_HASH');
  const hash = sha256Hex(Buffer.from('x'));
  assert.is(await codeOf(client.getBlock(hash)), 'BLOCK_NOT_FOUND');
  let r = await raw(d.dataAddress, 'GET', `/v1/blocks/${hash}?offset=-1`, secretHeader());
  assert.equal([r.status, r.code], [400, 'INVALID_ARGUMENT']);
  r = await raw(d.dataAddress, 'GET', '/metrics', secretHeader());
  assert.equal([r.status, r.code], [404, 'NOT_FOUND']);
  r = await raw(d.dataAddress, 'PUT', `/v1/blocks/${hash}`, { ...secretHeader(), 'x-blockstore-encoding': 'gzip', 'content-length': 1 }, Buffer.from('x'));
  assert.equal([r.status, r.code], [400, 'INVALID_ARGUMENT']);
  // Refused on its Content-Length, before any of the body is read.
  r = await raw(d.dataAddress, 'PUT', `/v1/blocks/${hash}`, { ...secretHeader(), 'content-length': MAX_BLOCK_BYTES + 1 });
  assert.equal([r.status, r.code], [413, 'BLOCK_TOO_LARGE']);
  assert.match(JSON.parse(r.body).message, String(MAX_BLOCK_BYTES));
  // A body with no length announced.
  r = await raw(d.dataAddress, 'PUT', `/v1/blocks/${hash}`, { ...secretHeader(), 'transfer-encoding': 'chunked' }, Buffer.from('x'));
  assert.equal([r.status, r.code], [400, 'INVALID_ARGUMENT']);
});

test('a body cut off mid-transfer stores nothing and the daemon keeps serving', async () => {
  const data = randomBytes(2 << 20);
  const hash = sha256Hex(data);
  await raw(d.dataAddress, 'PUT', `/v1/blocks/${hash}`, { ...secretHeader(), 'content-length': data.length }, data, 256 * 1024);
  assert.is(await codeOf(client.getBlock(hash)), 'BLOCK_NOT_FOUND');
  assert.equal(await client.putBlock(hash, data), { alreadyPresent: false, size: data.length });
});

test('without the cluster secret: UNAUTHENTICATED, nothing stored', async () => {
  assert.ok(clusterCredentials().secret, 'the test process has a cluster secret');
  const data = randomBytes(1000);
  const hash = sha256Hex(data);
  const stranger = new BlockDataClient(d.dataAddress, {});
  const wrong = new BlockDataClient(d.dataAddress, { secret: 'not-the-cluster-secret-at-all' });
  try {
    assert.is(await codeOf(stranger.putBlock(hash, data)), 'UNAUTHENTICATED');
    assert.is(await codeOf(wrong.putBlock(hash, data)), 'UNAUTHENTICATED');
    assert.is(await codeOf(stranger.getBlock(hash)), 'UNAUTHENTICATED');
  } finally {
    stranger.close();
    wrong.close();
  }
  assert.is(await codeOf(client.getBlock(hash)), 'BLOCK_NOT_FOUND');
});

test('with cluster TLS: a client certificate signed by the cluster CA is required', async () => {
  const dir = makeTempDir('data-port-tls');
  const t = ensureLocalTls(dir, ['127.0.0.1']);
  const tls = { ca: readFileSync(t.ca), cert: readFileSync(t.cert), key: readFileSync(t.key) };
  const credentials: ClusterCredentials = { secret: clusterCredentials().secret, tls };
  const secure = await startTestDaemon({ credentials });
  const member = new BlockDataClient(secure.dataAddress, credentials);
  const plain = new BlockDataClient(secure.dataAddress, { secret: credentials.secret });
  const other = ensureLocalTls(makeTempDir('data-port-other-ca'), ['127.0.0.1']);
  const outsider = new BlockDataClient(secure.dataAddress, { secret: credentials.secret, tls: { ca: tls.ca, cert: readFileSync(other.cert), key: readFileSync(other.key) } });
  try {
    const data = randomBytes(300_000);
    const hash = sha256Hex(data);
    assert.equal(await member.putBlock(hash, data), { alreadyPresent: false, size: data.length });
    assert.ok((await member.getBlock(hash)).data.equals(data));
    // Plain HTTP to a TLS port, and a certificate from another CA: no answer at all.
    assert.is(await codeOf(plain.getBlock(hash)), 'UNAVAILABLE');
    assert.is(await codeOf(outsider.getBlock(hash)), 'UNAVAILABLE');
  } finally {
    member.close();
    plain.close();
    outsider.close();
    await secure.stop();
    removeDir(dir);
    removeDir(other.dir.slice(0, -'/tls'.length));
  }
});

test.run();
