import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { wireFormatError } from '../../lib/rpc/malformed';
import { encodePutBlock } from '../../lib/rpc/clients/blockd-client';
import { loadProtos } from '../../lib/rpc/proto';
import { allocWithHeadroom, BlockBufferPool, frameBytesField } from '../../lib/rpc/framed';

const test = suite('protobuf wire-format check');

const msg = Buffer.from([
  0x0a, 0x03, 0x61, 0x62, 0x63, // field 1, bytes "abc"
  0x10, 0x96, 0x01, // field 2, varint 150
  0x1d, 0x01, 0x02, 0x03, 0x04, // field 3, fixed32
  0x21, 1, 2, 3, 4, 5, 6, 7, 8, // field 4, fixed64
]);

test('well-formed messages pass, including the empty one', () => {
  assert.is(wireFormatError(msg), undefined);
  assert.is(wireFormatError(Buffer.alloc(0)), undefined);
});

test('every truncation of a well-formed message is caught or is itself well-formed at a field boundary', () => {
  const boundaries = new Set([0, 5, 8, 13, 22]);
  for (let n = 0; n < msg.length; n++) {
    const err = wireFormatError(msg.subarray(0, n));
    assert.is(err === undefined, boundaries.has(n), `prefix of ${n} bytes: ${err}`);
  }
});

test('length past the end, field 0, groups and runaway varints are refused', () => {
  assert.match(wireFormatError(Buffer.from([0x0a, 0x40, 0x61]))!, /past the end/);
  assert.match(wireFormatError(Buffer.from([0x02, 0x01]))!, /field number 0/);
  assert.match(wireFormatError(Buffer.from([0x0b]))!, /wire type 3/);
  assert.match(wireFormatError(Buffer.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]))!, /truncated varint/);
});

test('a PutBlock request encoded once decodes as the protobuf library encodes it (sizes across varint widths)', () => {
  const { protos } = loadProtos();
  const method = protos.blockstore.internal.v1.BlockDaemon.service.PutBlock;
  for (const size of [1, 127, 128, 16_383, 16_384, 1 << 20, 4 << 20]) {
    const data = Buffer.alloc(size, 7);
    for (const encoding of ['', 'br'] as const) {
      const wire = encodePutBlock('ab'.repeat(32), data, encoding);
      const decoded = method.requestDeserialize(wire) as { hash: string; data: Buffer; encoding: string };
      assert.is(decoded.hash, 'ab'.repeat(32));
      assert.ok(Buffer.from(decoded.data).equals(data), `data of ${size}`);
      assert.is(decoded.encoding, encoding);
      // (the library also writes an empty encoding field; proto3 reads both alike)
      if (encoding) assert.ok(wire.equals(method.requestSerialize({ hash: 'ab'.repeat(32), data, encoding })), `same bytes as the library for ${size} ${encoding}`);
    }
  }
});

test('a GetFile data message framed here is grpc-js\'s frame of the library\'s encoding (sizes across varint widths, with and without headroom)', () => {
  const { protos } = loadProtos();
  const method = protos.blockstore.v1.Files.service.GetFile;
  for (const size of [0, 1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152]) {
    const plain = Buffer.alloc(size, 5);
    const roomy = allocWithHeadroom(size).fill(5);
    const message = method.responseSerialize({ data: plain });
    const expected = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), message]);
    expected.writeUInt32BE(message.length, 1);
    assert.ok(frameBytesField(2, plain).frame.equals(expected), `copied frame of ${size}`);
    const inPlace = frameBytesField(2, roomy).frame;
    assert.ok(inPlace.equals(expected), `in-place frame of ${size}`);
    assert.is(inPlace.buffer, roomy.buffer, `the frame of ${size} shares the block's memory`);
  }
});

test('the block buffer pool: a released buffer is handed out again, with headroom; foreign, repeated and oversized releases change nothing', () => {
  const pool = new BlockBufferPool();
  const a = pool.take(100_000);
  assert.is(a.length, 100_000);
  assert.is(frameBytesField(2, a.fill(1)).frame.buffer, a.buffer, 'framed in place');
  pool.release(a);
  pool.release(a); // twice: ignored
  const b = pool.take(120_000);
  assert.is(b.buffer, a.buffer, 'the same memory, again');
  assert.is(pool.reused, 1);
  const c = pool.take(120_000);
  assert.is.not(c.buffer, b.buffer, 'a buffer in use is never handed out twice');
  pool.release(Buffer.alloc(10)); // not the pool's: ignored
  pool.release(b.subarray(1)); // a view of one: ignored
  assert.is(pool.take(100).length, 100);
  assert.is(pool.reused, 1, 'nothing came back but what was released');
  const huge = pool.take(9 * 1024 * 1024);
  assert.is(huge.length, 9 * 1024 * 1024, 'beyond the largest class: a plain buffer with headroom');
  assert.is(frameBytesField(2, huge).frame.buffer, huge.buffer);
});

test.run();
