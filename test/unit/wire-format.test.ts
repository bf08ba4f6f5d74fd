import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { wireFormatError } from '../../lib/rpc/malformed';

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

test.run();
