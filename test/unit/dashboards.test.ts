/**
 * The shipped Prometheus alert rules and Grafana dashboard query metrics
 * that exist: every metric name in an expression is one a node registers
 * (found in the sources' gauge/inc/observe calls) or a process/runtime
 * metric the exposition carries. The rules are well formed (alert, expr,
 * for, severity, summary; balanced brackets). promtool is not installable
 * here, so this is their check.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { Metrics } from '../../lib/metrics';

const ROOT = join(__dirname, '..', '..');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

async function exported(): Promise<Set<string>> {
  const names = new Set<string>();
  for (const dir of ['gateway', 'meta', 'daemon', 'lib']) {
    for (const f of sources(join(ROOT, dir))) {
      for (const m of readFileSync(f, 'utf8').matchAll(/\.(?:gauge|inc|observe)\('(blockstore_[a-z_]+)'/g)) names.add(m[1]!);
    }
  }
  const text = await new Metrics({ node: 'x', role: 'x' }).render();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) names.add(m[1]!);
  // Histograms are queried through their series.
  for (const n of [...names]) if (n.endsWith('_seconds') && n.startsWith('blockstore_')) ['_bucket', '_sum', '_count'].forEach((s) => names.add(n + s));
  return names;
}

const metricNames = (expr: string) => [...expr.matchAll(/\b((?:blockstore|process|nodejs)_[a-z0-9_]+)\b/g)].map((m) => m[1]!);

function balanced(expr: string): boolean {
  let depth = 0;
  for (const c of expr.replace(/"[^"]*"/g, '')) {
    if ('({['.includes(c)) depth++;
    if (')}]'.includes(c)) depth--;
    if (depth < 0) return false;
  }
  return depth === 0;
}

test('alert rules: well formed, and every metric they query exists', async () => {
  const names = await exported();
  const doc = parse(readFileSync(join(ROOT, 'cluster', 'deploy', 'prometheus', 'alerts.yml'), 'utf8')) as { groups: Array<{ name: string; rules: Array<Record<string, any>> }> };
  const rules = doc.groups.flatMap((g) => g.rules);
  assert.ok(rules.length >= 6);
  const alerts = rules.map((r) => r.alert as string);
  for (const want of ['BlockstoreNoMaster', 'BlockstoreSyncSetEmpty', 'BlockstoreReplicationLag', 'BlockstoreUnderReplicatedBlocks', 'BlockstoreErrorRatio', 'BlockstoreDiskNearCapacity']) assert.ok(alerts.includes(want), want);
  for (const r of rules) {
    assert.ok(r.alert && r.expr && r.for, `${r.alert}: alert, expr and for`);
    assert.ok(['critical', 'warning'].includes(r.labels?.severity), `${r.alert}: severity`);
    assert.ok(r.annotations?.summary, `${r.alert}: summary`);
    assert.ok(balanced(r.expr), `${r.alert}: brackets balance`);
    const used = metricNames(r.expr);
    assert.ok(used.length > 0, `${r.alert} queries a metric`);
    for (const n of used) assert.ok(names.has(n), `${r.alert} queries ${n}, which no node exports`);
  }
});

test('the Grafana dashboard: every panel queries metrics that exist', async () => {
  const names = await exported();
  const dash = JSON.parse(readFileSync(join(ROOT, 'cluster', 'deploy', 'grafana', 'blockstore.json'), 'utf8')) as { panels: Array<{ title: string; targets: Array<{ expr: string }>; fieldConfig: { defaults: { unit: string } } }> };
  assert.ok(dash.panels.length >= 8);
  for (const p of dash.panels) {
    assert.ok(p.fieldConfig.defaults.unit, `${p.title} has a unit`);
    for (const t of p.targets) {
      assert.ok(balanced(t.expr), `${p.title}: brackets balance`);
      for (const n of metricNames(t.expr)) assert.ok(names.has(n), `${p.title} queries ${n}, which no node exports`);
    }
  }
});

test('the check can fail: a misspelt metric is caught', async () => {
  const names = await exported();
  assert.not.ok(metricNames('rate(blockstore_rpc_request_total[1m])').every((n) => names.has(n)));
});

test.run();
