import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { Chunker, chunkBuffer, DEFAULT_CHUNKING } from '../../lib/chunking/fastcdc';
import { sha256Hex } from '../../lib/hash';

const data = randomBytes(24 * 1024 * 1024);

test('chunks respect min/max, cover the input exactly, average near 1 MiB', () => {
  const chunks = chunkBuffer(data);
  assert.ok(Buffer.concat(chunks).equals(data));
  for (const c of chunks.slice(0, -1)) {
    assert.ok(c.length >= DEFAULT_CHUNKING.minSize && c.length <= DEFAULT_CHUNKING.maxSize, `${c.length}`);
  }
  const avg = data.length / chunks.length;
  assert.ok(avg > 512 * 1024 && avg < 2.5 * 1024 * 1024, `average ${avg}`);
});

test('streaming in odd pieces cuts the same chunks as one buffer', () => {
  const whole = chunkBuffer(data).map(sha256Hex);
  const c = new Chunker();
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; ) {
    const n = 1 + Math.floor(Math.random() * 300_000);
    out.push(...c.push(data.subarray(i, i + n)));
    i += n;
  }
  out.push(...c.finish());
  assert.equal(out.map(sha256Hex), whole);
});

test('an edit in the middle changes only the chunks around it', () => {
  const before = chunkBuffer(data).map(sha256Hex);
  const edited = Buffer.from(data);
  randomBytes(1024).copy(edited, 12 * 1024 * 1024);
  const after = chunkBuffer(edited).map(sha256Hex);
  const kept = after.filter((h) => before.includes(h)).length;
  assert.ok(after.length - kept <= 2, `${after.length - kept} of ${after.length} chunks changed`);
});

test('runs of identical bytes still cut at the maximum; empty input has no chunks', () => {
  const zeros = Buffer.alloc(9 * 1024 * 1024);
  const chunks = chunkBuffer(zeros);
  assert.ok(chunks.every((c) => c.length <= DEFAULT_CHUNKING.maxSize));
  assert.is(chunks.reduce((n, c) => n + c.length, 0), zeros.length);
  assert.equal(chunkBuffer(Buffer.alloc(0)), []);
  assert.is(chunkBuffer(Buffer.from('x')).length, 1);
});

test('cut points are part of the stored format: a fixed input cuts exactly as it always has', () => {
  // Changing them would make every block of a re-uploaded file new (no
  // dedup against what is stored) and split SDK and gateway chunking apart.
  const data = Buffer.alloc(16 << 20);
  let x = 42;
  for (let i = 0; i < data.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    data[i] = x >>> 24;
  }
  assert.equal(
    chunkBuffer(data).map((c) => c.length),
    [1307317, 1061420, 1181519, 1947205, 716570, 1355290, 1140362, 1234835, 1405175, 1063218, 286630, 1457205, 1152635, 1355030, 112805],
  );
});

test.run();
