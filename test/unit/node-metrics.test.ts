/**
 * The console's reading of a node's /metrics: what a real Metrics registry
 * (prom-client) renders is parsed back into calls by method and status,
 * latency buckets summed over methods, CPU and memory.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Metrics } from '../../lib/metrics';
import { parseSample } from '../../gateway/console/node-metrics';

test('calls, latency buckets, CPU and memory parsed from a rendered registry', async () => {
  const m = new Metrics({ node: 'g9', role: 'gateway' });
  m.inc('blockstore_rpc_requests_total', { method: 'StatFile', status: 'OK' }, 5);
  m.inc('blockstore_rpc_requests_total', { method: 'StatFile', status: 'NOT_FOUND' }, 2);
  m.inc('blockstore_rpc_requests_total', { method: 'PutFile', status: 'OK' }, 1);
  for (const ms of [0.5, 3, 40, 2000]) m.observe('blockstore_rpc_latency_seconds', { method: 'StatFile', status: 'OK' }, ms);
  m.observe('blockstore_rpc_latency_seconds', { method: 'PutFile', status: 'OK' }, 40);
  const s = parseSample('g9', 'gateway', await m.render());
  assert.ok(s.ok);
  assert.equal(s.calls, { 'StatFile OK': 5, 'StatFile NOT_FOUND': 2, 'PutFile OK': 1 });
  assert.is(s.buckets['+Inf'], 5, 'every observation in +Inf');
  assert.is(s.buckets['0.001'], 1, '0.5 ms');
  assert.is(s.buckets['0.05'], 4, 'up to 50 ms: 0.5, 3, 40 and 40');
  assert.ok(s.cpuSeconds > 0, 'process CPU');
  assert.ok(s.rssBytes > 1_000_000, 'resident memory');
});

test('garbage and comments are skipped', () => {
  const s = parseSample('x', 'meta', '# HELP a b\nnot a metric line\nblockstore_rpc_requests_total{method="A",status="OK"} NaN\nprocess_resident_memory_bytes 42\n');
  assert.equal(s.calls, {});
  assert.is(s.rssBytes, 42);
});

test.run();
