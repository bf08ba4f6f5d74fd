/**
 * The /metrics exposition is valid Prometheus text: every family has
 * # HELP and # TYPE, every sample belongs to a declared family, counters are
 * counters (names ending in _total, never going down), latency is a
 * histogram with _bucket, _sum and a _count that counts every call (the
 * hand-written exposition once trimmed its samples and its count fell),
 * status labels are names, and the process and Node runtime metrics are
 * there.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Metrics } from '../../lib/metrics';

interface Family {
  type: string;
  help: boolean;
}

function parse(text: string): { families: Map<string, Family>; samples: Array<{ name: string; labels: string; value: number }> } {
  const families = new Map<string, Family>();
  const samples: Array<{ name: string; labels: string; value: number }> = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    let m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
    if (m) {
      const f = families.get(m[2]!) ?? { type: '', help: false };
      if (m[1] === 'TYPE') f.type = m[3]!;
      else f.help = m[3]!.length > 0;
      families.set(m[2]!, f);
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+-]+|[nN][aA][nN]|[+-]?[iI][nN][fF])$/.exec(line); // Go's ParseFloat: NaN and Inf in any case
    assert.ok(m, `not a valid sample line: ${line}`);
    samples.push({ name: m![1]!, labels: m![2] ?? '', value: Number(m![3]) });
  }
  return { families, samples };
}

function familyOf(name: string, families: Map<string, Family>): string | undefined {
  if (families.has(name)) return name;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    const base = name.slice(0, -suffix.length);
    if (name.endsWith(suffix) && ['histogram', 'summary'].includes(families.get(base)?.type ?? '')) return base;
  }
  return undefined;
}

test('valid exposition: HELP and TYPE for every family, every sample in a family, counters end in _total', async () => {
  const m = new Metrics({ node: 'g1', role: 'gateway' });
  m.inc('blockstore_rpc_requests_total', { method: 'StatFile', status: 'OK' });
  m.inc('blockstore_rpc_requests_total', { method: 'StatFile', status: 'NOT_FOUND' });
  m.observe('blockstore_rpc_latency_seconds', { method: 'StatFile', status: 'OK' }, 3);
  let copies = 4;
  m.gauge('blockstore_repair_copies_total', () => copies);
  m.gauge('blockstore_rpc_in_flight', () => 2);
  const { families, samples } = parse(await m.render());
  for (const [name, f] of families) {
    assert.ok(f.help, `${name} has # HELP`);
    assert.ok(['counter', 'gauge', 'histogram', 'summary'].includes(f.type), `${name} has # TYPE (${f.type})`);
    if (f.type === 'counter') assert.ok(name.endsWith('_total'), `counter ${name} ends in _total`);
  }
  for (const s of samples) assert.ok(familyOf(s.name, families), `${s.name} belongs to a declared family`);
  assert.is(families.get('blockstore_repair_copies_total')?.type, 'counter', 'a _total read at scrape time is a counter');
  assert.is(families.get('blockstore_rpc_in_flight')?.type, 'gauge');
  assert.is(families.get('blockstore_rpc_latency_seconds')?.type, 'histogram');
  for (const s of samples.filter((x) => x.name.startsWith('blockstore_'))) {
    assert.match(s.labels, 'node="g1"');
    assert.match(s.labels, 'role="gateway"');
    const status = /status="([^"]*)"/.exec(s.labels)?.[1];
    if (status !== undefined) assert.match(status, /^[A-Z_]+$/, `status by name, got ${status}`);
  }
  for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) {
    assert.ok(families.has(name), `runtime metric ${name}`);
  }
  copies = 9;
  const again = parse(await m.render()).samples.find((s) => s.name === 'blockstore_repair_copies_total');
  assert.is(again?.value, 9, 'read at each scrape');
});

test('the latency histogram counts every call and its sum adds up (no trimmed samples)', async () => {
  const m = new Metrics({ node: 'g1', role: 'gateway' });
  for (let i = 0; i < 5000; i++) m.observe('blockstore_rpc_latency_seconds', { method: 'GetFile', status: 'OK' }, 2);
  const { samples } = parse(await m.render());
  const count = samples.find((s) => s.name === 'blockstore_rpc_latency_seconds_count')!.value;
  const sum = samples.find((s) => s.name === 'blockstore_rpc_latency_seconds_sum')!.value;
  const inf = samples.find((s) => s.name === 'blockstore_rpc_latency_seconds_bucket' && s.labels.includes('le="+Inf"'))!.value;
  assert.is(count, 5000);
  assert.is(inf, 5000);
  assert.ok(Math.abs(sum - 10) < 1e-6, `sum ${sum} s for 5000 × 2 ms`);
  const le = samples.filter((s) => s.name === 'blockstore_rpc_latency_seconds_bucket').map((s) => s.value);
  for (let i = 1; i < le.length; i++) assert.ok(le[i]! >= le[i - 1]!, 'buckets are cumulative');
});

test.run();
