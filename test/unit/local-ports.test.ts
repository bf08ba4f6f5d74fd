/**
 * Where local clusters listen: never inside the kernel's ephemeral ports,
 * where any outgoing connection may take a port between the check that it
 * is free and the bind (a gateway then failed to start with EADDRINUSE).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { candidateBases, ephemeralPorts, freeRange, SINGLE_PORTS_FROM } from '../../cluster/local/ports';
import { freePort } from '../harness/ports';

test('the ephemeral range is read from the kernel, with Linux\'s default when it cannot be', () => {
  assert.equal(ephemeralPorts('32768\t60999\n'), { low: 32768, high: 60999 });
  assert.equal(ephemeralPorts('1024 65000'), { low: 1024, high: 65000 });
  assert.equal(ephemeralPorts('garbage'), { low: 32768, high: 60999 });
});

test('every candidate range lies wholly outside the ephemeral ports and the single ports', () => {
  for (const eph of [{ low: 32768, high: 60999 }, { low: 20000, high: 30000 }, ephemeralPorts()]) {
    const bases = candidateBases(eph);
    assert.ok(bases.length > 50, `${bases.length} ranges for ${JSON.stringify(eph)}`);
    for (const b of bases) assert.ok((b + 605 < eph.low && b + 605 < SINGLE_PORTS_FROM) || b > eph.high, `base ${b} overlaps ${JSON.stringify(eph)}`);
  }
  assert.equal(candidateBases({ low: 1024, high: 65535 }), [], 'no room: none');
});

test('freeRange picks one of them; a single port comes from between the ranges and the ephemeral ports', async () => {
  const b = await freeRange();
  assert.ok(candidateBases().includes(b), String(b));
  const { low } = ephemeralPorts();
  for (let i = 0; i < 20; i++) {
    const p = await freePort();
    assert.ok(p >= SINGLE_PORTS_FROM && p < low, String(p));
  }
});

test.run();
