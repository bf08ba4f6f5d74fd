/**
 * Compression only where it pays: the probes' decisions on the kinds of
 * data users store, and the encoded form decoding back to the original.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { byteEntropy, decode, maybeCompress } from '../../lib/compression';

const text = Buffer.from(Array.from({ length: 4000 }, (_, i) => `line ${i}: the quick brown fox jumps over the lazy dog\n`).join(''));

test('byte entropy: 0 for one repeated byte, 8 bits at most, near 8 for random bytes', () => {
  assert.is(byteEntropy(Buffer.alloc(4096, 7)), 0);
  assert.ok(byteEntropy(randomBytes(4096)) > 7.9);
  assert.ok(byteEntropy(randomBytes(4096)) <= 8);
  assert.ok(byteEntropy(text.subarray(0, 4096)) < 5, 'English text: about 4–5 bits per byte');
});

test('text is compressed and decodes back; random and already compressed data are sent as they are', () => {
  const c = maybeCompress(text);
  assert.is(c.encoding, 'br');
  assert.ok(c.payload.length < text.length / 5);
  assert.ok(decode(c.encoding, c.payload, text.length).equals(text));
  for (const incompressible of [randomBytes(65536), gzipSync(randomBytes(65536))]) {
    const r = maybeCompress(incompressible);
    assert.is(r.encoding, '');
    assert.is(r.payload, incompressible, 'the same buffer, not a copy');
  }
  assert.is(maybeCompress(Buffer.from('tiny')).encoding, '', 'below 512 bytes: never');
});

test('data that looks random to the byte count but repeats (a 4 KiB random pattern) is still sent as is', () => {
  // The price of the cheap probe, stated: byte entropy cannot see long repeats.
  const pattern = randomBytes(4096);
  const repeated = Buffer.concat(Array.from({ length: 16 }, () => pattern));
  assert.is(maybeCompress(repeated).encoding, '');
});

test.run();
