/**
 * BlockReader, the gateway's block reads and writes over plain TCP (a
 * read's body straight into the block's buffer): against a real block
 * daemon (many reads and writes at once, ranges, error answers on a
 * kept-alive connection, connections the daemon closed) and against servers that break the protocol or never
 * answer (a clear error, never a hang or a wrong block).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { sha256Hex } from '../../lib/hash';
import { BlockDataClient } from '../../lib/http/block-data-client';
import { BlockReader } from '../../lib/http/block-reader';
import { frameBytesField } from '../../lib/rpc/framed';
import { clusterCredentials, clusterAuthHeaders } from '../../lib/security/cluster-credentials';
import { codeOf } from '../harness/codes';
import { startTestDaemon, type TestDaemon } from '../harness/blockd';

const test = suite('block reader');
let d: TestDaemon;
let writer: BlockDataClient;
let reader: BlockReader;
const blocks: Array<{ hash: string; data: Buffer }> = [];

const hostPort = (a: string) => ({ host: a.slice(0, a.lastIndexOf(':')), port: Number(a.slice(a.lastIndexOf(':') + 1)) });

/** A TCP server that answers every request with `answer` (or never, when it returns undefined). */
async function fakeDaemon(answer: (req: string, s: Socket) => string | Buffer | undefined): Promise<{ server: Server; port: number; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    let got = '';
    s.on('data', (b) => {
      got += b.toString('latin1');
      if (!got.includes('\r\n\r\n')) return;
      const a = answer(got, s);
      got = '';
      if (a !== undefined) s.write(a);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as { port: number }).port, sockets };
}

async function stopFake(f: { server: Server; sockets: Set<Socket> }): Promise<void> {
  for (const s of f.sockets) s.destroy();
  await new Promise((r) => f.server.close(r));
}

test.before(async () => {
  d = await startTestDaemon();
  writer = new BlockDataClient(d.dataAddress!, clusterCredentials());
  const { host, port } = hostPort(d.dataAddress!);
  reader = new BlockReader(host, port, d.dataAddress!, clusterAuthHeaders(clusterCredentials()));
  for (const size of [1, 4095, 65_536, 1 << 20, 3 * (1 << 20) + 17]) {
    const data = randomBytes(size);
    const hash = sha256Hex(data);
    await writer.putBlock(hash, data);
    blocks.push({ hash, data });
  }
});

test.after(async () => {
  reader.close();
  writer.close();
  await d.stop();
});

test('100 reads at once (more than its connections), whole and in ranges: every byte right, whole blocks framed in place', async () => {
  const calls = Array.from({ length: 100 }, (_, i) => {
    const b = blocks[i % blocks.length]!;
    const ranged = i % 3 === 1 && b.data.length > 10;
    const offset = ranged ? 7 : 0;
    const length = ranged ? Math.min(b.data.length - 7, 1000 + i) : 0;
    return reader.getBlock(b.hash, ranged ? { offset, length } : {}).then((r) => ({ r, b, offset, length, ranged }));
  });
  for (const { r, b, offset, length, ranged } of await Promise.all(calls)) {
    assert.ok(r.data.equals(ranged ? b.data.subarray(offset, offset + length) : b.data), `${b.data.length} bytes${ranged ? ` from ${offset}` : ''}`);
    assert.is(r.blockSize, b.data.length);
    // The answer was read into a buffer with room for its frame: no copy to send it.
    assert.is(frameBytesField(2, r.data).frame.buffer, r.data.buffer);
  }
});

test('an error answer keeps the connection usable; a missing block is BLOCK_NOT_FOUND', async () => {
  const missing = sha256Hex(randomBytes(8));
  for (let i = 0; i < 5; i++) {
    assert.is(await codeOf(reader.getBlock(missing)), 'BLOCK_NOT_FOUND');
    assert.ok((await reader.getBlock(blocks[4]!.hash)).data.equals(blocks[4]!.data));
  }
  assert.is(await codeOf(reader.getBlock('not-a-hash')), 'INVALID_HASH');
  assert.is(await codeOf(reader.getBlock(blocks[2]!.hash, { offset: 70_000, length: 1 })), 'INVALID_ARGUMENT');
});

test('writes: 60 at once, new then present; refusals (one before the body is read) leave the connections usable; Brotli bodies; every block reads back', async () => {
  const fresh = Array.from({ length: 60 }, (_, i) => randomBytes(1 + ((i * 37_171) % (2 << 20))));
  // The 1-byte block must differ from the 1-byte block stored before the
  // suite: a random byte matched it one run in 256 and was "already present".
  fresh[0] = Buffer.from([(blocks[0]!.data[0]! + 1) % 256]);
  const first = await Promise.all(fresh.map((b) => reader.putBlock(sha256Hex(b), b)));
  first.forEach((r, i) => assert.equal(r, { alreadyPresent: false, size: fresh[i]!.length }));
  const again = await Promise.all(fresh.slice(0, 10).map((b) => reader.putBlock(sha256Hex(b), b)));
  for (const r of again) assert.is(r.alreadyPresent, true);
  for (let i = 0; i < 3; i++) {
    assert.is(await codeOf(reader.putBlock(sha256Hex(randomBytes(8)), randomBytes(1000))), 'HASH_MISMATCH');
    // Refused on its Content-Length: the answer comes while the body is still going out.
    const big = randomBytes(4 * 1024 * 1024 + 1);
    assert.is(await codeOf(reader.putBlock(sha256Hex(big), big)), 'BLOCK_TOO_LARGE');
    const next = randomBytes(50_000 + i);
    assert.equal(await reader.putBlock(sha256Hex(next), next), { alreadyPresent: false, size: next.length });
    assert.ok((await reader.getBlock(sha256Hex(next))).data.equals(next));
  }
  const text = Buffer.from('compressible '.repeat(20_000));
  const { brotliCompressSync } = await import('node:zlib');
  assert.equal(await reader.putBlock(sha256Hex(text), brotliCompressSync(text), { encoding: 'br' }), { alreadyPresent: false, size: text.length });
  assert.ok((await reader.getBlock(sha256Hex(text))).data.equals(text));
  const back = await Promise.all(fresh.map((b) => reader.getBlock(sha256Hex(b))));
  back.forEach((r, i) => assert.ok(r.data.equals(fresh[i]!), `block ${i}`));
});

test('connections the daemon closed while idle are replaced: the next reads succeed', async () => {
  const { host, port } = hostPort(d.dataAddress!);
  const fresh = new BlockReader(host, port, d.dataAddress!, clusterAuthHeaders(clusterCredentials()));
  try {
    await Promise.all(blocks.map((b) => fresh.getBlock(b.hash)));
    // The daemon drops its idle keep-alive connections (as its idle timeout does).
    (d.daemon as unknown as { data: { server: { closeIdleConnections(): void } } }).data.server.closeIdleConnections();
    for (const b of blocks) assert.ok((await fresh.getBlock(b.hash)).data.equals(b.data));
  } finally {
    fresh.close();
  }
});

test('answers out of protocol fail the call with UNAVAILABLE and close the connection; the next call gets a fresh one', async () => {
  const good = (body: Buffer) => Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\nx-blockstore-block-size: ${body.length}\r\n\r\n`), body]);
  let mode = 'chunked';
  const f = await fakeDaemon(() => {
    if (mode === 'chunked') return 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n';
    if (mode === 'garbage') return 'SSH-2.0-OpenSSH\r\n\r\n';
    if (mode === 'extra') return Buffer.concat([good(Buffer.from('abc')), Buffer.from('HTTP/1.1 200 OK\r\n')]);
    if (mode === 'long-head') return `HTTP/1.1 200 OK\r\nx: ${'y'.repeat(20_000)}\r\n\r\n`;
    return good(Buffer.from('right'));
  });
  const r = new BlockReader('127.0.0.1', f.port, 'fake', {});
  try {
    for (mode of ['chunked', 'garbage', 'long-head']) {
      assert.is(await codeOf(r.getBlock('a'.repeat(64), {}, { timeoutMs: 2000 })), 'UNAVAILABLE', mode);
      mode = 'ok';
      assert.is((await r.getBlock('a'.repeat(64))).data.toString(), 'right', `after ${mode}`);
    }
    // Bytes nobody asked for after an answer: that connection is dropped, the answer stands.
    mode = 'extra';
    assert.is((await r.getBlock('a'.repeat(64))).data.toString(), 'abc');
    mode = 'ok';
    assert.is((await r.getBlock('a'.repeat(64))).data.toString(), 'right');
  } finally {
    r.close();
    await stopFake(f);
  }
});

test('a write answered with something that is not the data port\'s JSON: UNAVAILABLE', async () => {
  const f = await fakeDaemon(() => 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello');
  const r = new BlockReader('127.0.0.1', f.port, `127.0.0.1:${f.port}`, {});
  try {
    const b = randomBytes(100);
    assert.is(await codeOf(r.putBlock(sha256Hex(b), b)), 'UNAVAILABLE');
  } finally {
    r.close();
    await stopFake(f);
  }
});

test('a daemon that never answers: DEADLINE_EXCEEDED on time; a cancelled call: CANCELLED; one that closes mid-body: UNAVAILABLE', async () => {
  let mode = 'silent';
  const f = await fakeDaemon((_req, s) => {
    if (mode === 'silent') return undefined;
    s.end('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly forty bytes of the hundred promised');
    return undefined;
  });
  const r = new BlockReader('127.0.0.1', f.port, 'fake', {});
  try {
    const t0 = Date.now();
    assert.is(await codeOf(r.getBlock('a'.repeat(64), {}, { timeoutMs: 300 })), 'DEADLINE_EXCEEDED');
    assert.ok(Date.now() - t0 < 2000, `${Date.now() - t0} ms`);
    const ac = new AbortController();
    const p = codeOf(r.getBlock('a'.repeat(64), {}, { signal: ac.signal }));
    setTimeout(() => ac.abort(), 50);
    assert.is(await p, 'CANCELLED');
    mode = 'short';
    assert.is(await codeOf(r.getBlock('a'.repeat(64), {}, { timeoutMs: 2000 })), 'UNAVAILABLE');
  } finally {
    r.close();
    await stopFake(f);
  }
});

test.run();
