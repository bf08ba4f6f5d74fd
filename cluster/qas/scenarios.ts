/**
 * The seed's three quality scenarios, each reporting its response measure
 * beside the seed's bar. Against the local cluster the faults are real
 * signals (SIGKILL, SIGSTOP) and scale-out goes through `cluster scale`.
 * Against a remote cluster (an address, tokens, the cluster secret) only
 * what the network offers is injected, and said so in the report: a gateway
 * made to fail every call (the side-port fault hook) stands in for a killed
 * or paused one, the metadata master loses its lease (RevokeMasterLease)
 * instead of its process, and scale-out is left to the operator.
 */
import { clusterAuthHeaders } from '../../lib/security/cluster-credentials';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import type { StateDir } from '../local/layout';
import { BlockstoreClient } from '../../sdk/client';
import { MetaClient } from '../../lib/rpc/clients/meta-client';
import { checkHistory, type CallRecord } from './history';
import { LoadGenerator, longestGap, quantile } from './load';
import { BLOCKSTORE_BIN as BIN } from '../../lib/root';

const run = promisify(execFile);

export interface Row {
  [column: string]: string | number;
}

export interface ScenarioResult {
  id: 'QAS-001' | 'QAS-002' | 'QAS-003';
  title: string;
  pass: boolean;
  verdict: string;
  measures: Record<string, number | string>;
  table: Row[];
  /** More of the report, in Markdown (after the table). */
  extra?: string;
  history: CallRecord[];
  /** When each call offered but shed (never started) was due. */
  shedAt: number[];
  events: Array<{ t: number; what: string }>;
  startedAt: number;
  /** Where the plot's time axis begins (default startedAt): the part the history covers. */
  plotFrom?: number;
}

export interface Target {
  /** The local cluster; undefined for a remote one. */
  dir?: StateDir;
  address: string;
  userToken: string;
  adminToken: string;
  /** The balancer's CA (TLS clusters). */
  ca?: Buffer;
}

export function localTarget(dir: StateDir): Target {
  const c = dir.readConfig();
  dir.installCredentials(c);
  return {
    dir,
    ca: dir.clientCa(c),
    address: `${c.host}:${c.balancerPort}`,
    userToken: readFileSync(dir.path('user.token'), 'utf8').trim(),
    adminToken: readFileSync(dir.path('admin.token'), 'utf8').trim(),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (x: number) => `${(x * 100).toFixed(3)} %`;
const ok = (r: CallRecord) => r.status === 'OK';

/** A remote cluster: its balancer address and the admin's and a user's tokens. */
export function remoteTarget(o: { address: string; userToken: string; adminToken: string; ca?: Buffer }): Target {
  return { ...o };
}

function nodes(t: Target, role: string) {
  return (t.dir?.readState()?.nodes ?? []).filter((n) => n.role === role);
}

async function scale(t: Target, spec: string[]): Promise<void> {
  if (!t.dir) throw new Error('scale-out needs the local cluster');
  await run(BIN, ['cluster', 'scale', ...spec, '--state', t.dir.dir], { timeout: 180_000 });
}

/** Gateways as the Admin API lists them (id, side-port address), for remote fault hooks. */
async function remoteGateways(t: Target): Promise<Array<{ id: string; httpAddress: string }>> {
  const admin = new BlockstoreClient({ address: t.address, token: t.adminToken, timeoutMs: 10_000, ca: t.ca });
  try {
    const s = await admin.clusterStatus();
    return s.nodes.filter((n) => n.kind === 'gateway' && n.state === 'serving' && n.metricsAddress).map((n) => ({ id: n.id, httpAddress: n.metricsAddress })).sort((a, b) => a.id.localeCompare(b.id));
  } finally {
    admin.close();
  }
}

/** Makes a gateway fail every call for `ms` (the fault hook; needs the cluster secret). */
async function failGateway(httpAddress: string, ms: number): Promise<void> {
  const r = await fetch(`http://${httpAddress}/fault/unavailable?ms=${Math.round(ms)}`, { method: 'POST', headers: clusterAuthHeaders() });
  if (!r.ok) throw new Error(`fault hook on ${httpAddress}: HTTP ${r.status} ${(await r.text()).trim()}`);
}

function client(t: Target): BlockstoreClient {
  return new BlockstoreClient({ address: t.address, token: t.userToken, timeoutMs: 20_000, ca: t.ca });
}

/** A call that never reached a gateway: the connection was refused. */
export const wasRefused = (r: CallRecord): boolean => /ECONNREFUSED|connection refused|No connection established/i.test(r.error ?? '');

/** Calls that may fall short of what was offered by this much before a verdict fails. */
export const OFFERED_TOLERANCE = 0.05;

/**
 * One phase [from, to): calls offered (started or shed), achieved (succeeded)
 * per second and their ratio, success counting shed calls as failures.
 */
function phaseRow(name: string, history: CallRecord[], shedAt: number[], from: number, to: number): Row {
  const rs = history.filter((r) => r.start >= from && r.start < to);
  const shed = shedAt.filter((t) => t >= from && t < to).length;
  const offered = rs.length + shed;
  const good = rs.filter(ok).length;
  const secs = Math.max(1, (to - from) / 1000);
  return {
    phase: name,
    offered,
    shed,
    'offered calls/s': Number((offered / secs).toFixed(0)),
    'achieved calls/s': Number((good / secs).toFixed(0)),
    'achieved ÷ offered': offered ? Number((good / offered).toFixed(3)) : '–',
    success: offered ? pct(good / offered) : '–',
    'p50 ms': quantile(rs, 0.5),
    'p99 ms': quantile(rs, 0.99),
  };
}

/** QAS-001: gateways killed, paused and failing under steady load. */
export async function qas001(t: Target, o: { durationS: number; rate: number; say?: (line: string) => void }): Promise<ScenarioResult> {
  if (t.dir && nodes(t, 'gateway').length < 3) await scale(t, ['gateway=3']);
  const remote = t.dir ? [] : await remoteGateways(t);
  if (!t.dir && remote.length === 0) throw new Error('QAS-001: the cluster status lists no serving gateway with a side port');
  const events: ScenarioResult['events'] = [];
  const c = client(t);
  const load = new LoadGenerator(c, { rate: () => o.rate, durationMs: o.durationS * 1000, maxInFlight: 64, writeFraction: 0.5, averageBytes: 100_000, prefix: `qas1-${Date.now()}` });
  const startedAt = Date.now();
  const since = () => `${((Date.now() - startedAt) / 1000).toFixed(0)} s`;
  // Told as it happens (the console's drill shows these lines live).
  const event = (what: string) => {
    events.push({ t: Date.now(), what });
    o.say?.(`QAS-001 ${since()}: ${what}`);
  };
  const ticker = o.say && setInterval(() => {
    const done = load.history.length;
    const good = load.history.filter(ok).length;
    o.say!(`QAS-001 ${since()}: ${done} calls done, ${good} succeeded, ${done - good} failed, ${load.shed} shed`);
  }, 5000);
  o.say?.(`QAS-001: ${o.rate} calls/s for ${o.durationS} s, half uploads of ~100 KB`);
  const running = load.run().finally(() => clearInterval(ticker));
  const D = o.durationS * 1000;
  const pause = Math.min(10_000, D * 0.15);
  const gws = () => nodes(t, 'gateway').sort((a, b) => a.id.localeCompare(b.id));
  await sleep(D * 0.2);
  if (t.dir) {
    const [g1] = gws();
    event(`SIGKILL ${g1!.id}`);
    process.kill(g1!.pid, 'SIGKILL');
    await sleep(D * 0.2);
    const g2 = gws()[1]!;
    event(`SIGSTOP ${g2.id} for ${pause / 1000} s`);
    process.kill(g2.pid, 'SIGSTOP');
    await sleep(pause);
    process.kill(g2.pid, 'SIGCONT');
    event(`SIGCONT ${g2.id}`);
    await sleep(D * 0.1);
    const g3 = gws()[2]!;
    event(`${g3.id} fails every call for ${pause / 1000} s`);
    await failGateway(g3.httpAddress!, pause);
  } else {
    // Remote: no signals reach the processes; each fault is a gateway made
    // to fail every call (three in turn, fewer if the cluster has fewer).
    const short = Math.min(pause, D * 0.2);
    for (const [i, g] of remote.slice(0, 3).entries()) {
      if (i > 0) await sleep(D * 0.1);
      event(`${g.id} fails every call for ${(short / 1000).toFixed(1)} s (remote: fault hook in place of ${['SIGKILL', 'SIGSTOP', 'errors'][i]})`);
      await failGateway(g.httpAddress, short);
      await sleep(short);
    }
  }
  const faultsEnd = Date.now() + pause + 2000;
  await running;
  c.close();
  const h = load.history;
  const firstFault = events[0]!.t;
  const end = Math.max(...h.map((r) => r.end));
  // Offered = every call the schedule asked for; a shed one did not succeed.
  const offered = h.length + load.shed;
  const success = h.filter(ok).length / Math.max(1, offered);
  const causes: Record<string, number> = {};
  for (const r of h) if (!ok(r)) causes[r.status] = (causes[r.status] ?? 0) + 1;
  if (load.shed) causes.SHED = load.shed;
  const outage = longestGap(h, startedAt + 2000, end);
  const table = [
    phaseRow('before the faults', h, load.shedAt, startedAt, firstFault),
    phaseRow('during the faults', h, load.shedAt, firstFault, faultsEnd),
    phaseRow('after', h, load.shedAt, faultsEnd, end),
  ];
  const shortfall = table.filter((r) => typeof r['achieved ÷ offered'] === 'number' && r['achieved ÷ offered'] < 1 - OFFERED_TOLERANCE).map((r) => r.phase);
  const pass = success >= 0.999 && outage <= 1000 && shortfall.length === 0;
  return {
    id: 'QAS-001', title: 'a gateway killed, one paused, one failing, under steady load', startedAt, events, history: h, shedAt: load.shedAt,
    pass,
    verdict: `${pass ? 'PASS' : 'FAIL'}: ${pct(success)} of ${offered} calls offered succeeded, ${load.shed} of them shed by the generator and counted as failed (bar ≥ 99.9 %); longest stretch without a success ${outage} ms (bar ≤ 1,000 ms); ${shortfall.length ? `achieved fell more than ${OFFERED_TOLERANCE * 100} % short of offered in: ${shortfall.join(', ')}` : `achieved within ${OFFERED_TOLERANCE * 100} % of offered in every phase`}`,
    measures: { offered, calls: h.length, success, failedByCause: JSON.stringify(causes), longestGapMs: outage, shed: load.shed, offeredRate: o.rate },
    table,
  };
}

/** QAS-002: the metadata master SIGKILLed under write-heavy load. */
export async function qas002(t: Target, o: { durationS: number; rate: number }): Promise<ScenarioResult> {
  const admin = new BlockstoreClient({ address: t.address, token: t.adminToken, timeoutMs: 10_000, ca: t.ca });
  const events: ScenarioResult['events'] = [];
  const c = client(t);
  const load = new LoadGenerator(c, { rate: () => o.rate, durationMs: o.durationS * 1000, maxInFlight: 64, writeFraction: 0.8, averageBytes: 50_000, prefix: `qas2-${Date.now()}` });
  const startedAt = Date.now();
  const running = load.run();
  await sleep(o.durationS * 300);
  const before = await admin.clusterStatus();
  const metasBefore = new Set(before.nodes.filter((n) => n.kind === 'meta').map((n) => n.id));
  const killedAt = Date.now();
  const master = { id: before.masterId };
  if (t.dir) {
    const proc = nodes(t, 'meta').find((n) => n.id === before.masterId)!;
    events.push({ t: killedAt, what: `SIGKILL metadata master ${proc.id} (epoch ${before.epoch})` });
    process.kill(proc.pid, 'SIGKILL');
  } else {
    // Remote: the master loses its etcd lease (what a dead process's lease
    // does after its TTL); it is fenced at once and a replica takes over.
    const addr = before.nodes.find((n) => n.kind === 'meta' && n.id === before.masterId)?.address;
    if (!addr) throw new Error(`QAS-002: the master ${before.masterId} is not in the cluster status`);
    events.push({ t: killedAt, what: `metadata master ${before.masterId} (epoch ${before.epoch}) loses its lease (remote: RevokeMasterLease in place of SIGKILL)` });
    const m = new MetaClient(addr);
    try {
      await m.revokeMasterLease(before.masterId, { timeoutMs: 5000 });
    } finally {
      m.close();
    }
  }
  let replacementMs = -1;
  let newMaster = '';
  const deadline = killedAt + (t.dir ? 60_000 : 15_000);
  while (Date.now() < deadline) {
    const s = await admin.clusterStatus().catch(() => undefined);
    if (s && s.masterId && s.masterId !== master.id) newMaster = s.masterId;
    // The replacement (a new id) is provisioned, bootstraps from a snapshot
    // and catches up; it joins the synchronous set when a member is needed.
    const fresh = t.dir ? s?.nodes.find((n) => n.kind === 'meta' && !metasBefore.has(n.id) && n.state === 'up' && n.role === 'replica' && n.replicationLag === 0) : undefined;
    if (!t.dir && newMaster) break; // remote: no node died, none is replaced
    if (s && fresh) {
      replacementMs = Date.now() - killedAt;
      events.push({ t: Date.now(), what: `replacement ${fresh.id} caught up${s.syncReplicas.includes(fresh.id) ? ' and synchronous' : ' (eligible for the synchronous set)'}` });
      break;
    }
    await sleep(200);
  }
  await running;
  const h = load.history;
  const writes = h.filter((r) => r.method === 'PutFile');
  const lastBefore = Math.max(...writes.filter((r) => ok(r) && r.end <= killedAt).map((r) => r.end));
  const firstAfter = Math.min(...writes.filter((r) => ok(r) && r.start >= killedAt).map((r) => r.end));
  const gap = Number.isFinite(firstAfter) && Number.isFinite(lastBefore) ? firstAfter - lastBefore : -1;
  const reads = h.filter((r) => r.method !== 'PutFile');
  const failedReads = reads.filter((r) => !ok(r) && r.start >= killedAt - 1000 && r.start <= killedAt + 30_000).length;
  const problems = await checkHistory(h, async (path) => {
    try {
      const versions = await c.versions(path);
      return await Promise.all(
        versions.map(async (v) => {
          const data = await c.get(path, { version: v.version }).catch(() => undefined);
          return { version: v.version, contentHash: v.contentHash, readHash: data ? createHash('sha256').update(data).digest('hex') : undefined };
        }),
      );
    } catch {
      return [];
    }
  });
  c.close();
  admin.close();
  const lost = problems.filter((p) => p.kind === 'lost').length;
  const shedInFailover = load.shedAt.filter((x) => x >= killedAt && x < killedAt + 10_000).length;
  const pass = lost === 0 && failedReads === 0 && gap >= 0 && gap <= 5000 && problems.length === 0;
  return {
    id: 'QAS-002', title: 'the metadata master SIGKILLed during writes', startedAt, events, history: h, shedAt: load.shedAt, pass,
    verdict: `${pass ? 'PASS' : 'FAIL'}: write gap ${gap} ms (bar: within seconds, ≤ 5,000 ms); ${failedReads} failed reads during the failover (bar 0); ${lost} acknowledged writes lost (bar 0); ${problems.length - lost} duplicates or partial versions (bar 0); ${shedInFailover} calls shed by the generator in the 10 s after the kill (its in-flight cap was full); new master ${newMaster || 'not seen'}; ${t.dir ? `replacement replica provisioned and caught up after ${replacementMs < 0 ? 'more than 60 s' : `${replacementMs} ms`}` : 'no replacement (remote: the old master stays, as a replica)'}`,
    measures: { writeGapMs: gap, failedReads, shedInFailover, shed: load.shed, acknowledgedWrites: writes.filter(ok).length, lostWrites: lost, otherProblems: problems.length - lost, replacementCaughtUpMs: replacementMs, newMaster },
    table: [
      phaseRow('before the kill', h, load.shedAt, startedAt, killedAt),
      phaseRow('failover (kill … +10 s)', h, load.shedAt, killedAt, killedAt + 10_000),
      phaseRow('after', h, load.shedAt, killedAt + 10_000, Math.max(killedAt + 10_001, ...h.map((r) => r.end))),
    ],
  };
}

/** QAS-003: a ramp of offered load, scaling out while it flows. */
export async function qas003(t: Target, o: { fromRate: number; toRate: number; stepS: number; p99BoundMs: number }): Promise<ScenarioResult> {
  const events: ScenarioResult['events'] = [];
  const c = client(t);
  let rate = o.fromRate;
  const steps: number[] = [];
  for (let r = o.fromRate; r <= o.toRate; r += Math.max(1, Math.round((o.toRate - o.fromRate) / 9) || o.fromRate)) steps.push(r);
  const load = new LoadGenerator(c, { rate: () => rate, durationMs: steps.length * o.stepS * 1000, maxInFlight: 256, writeFraction: 0.5, averageBytes: 100_000, prefix: `qas3-${Date.now()}` });
  const startedAt = Date.now();
  let stop!: () => void;
  const stopped = new Promise<void>((r) => (stop = r));
  const running = load.run(stopped);
  const boundaries: Array<{ rate: number; from: number; to: number }> = [];
  // Scale out early in the ramp, while traffic flows and before saturation.
  const scaleAt = Math.min(1, steps.length - 1);
  for (const [i, r] of steps.entries()) {
    rate = r;
    const from = Date.now();
    if (i === scaleAt && !t.dir) {
      events.push({ t: Date.now(), what: 'scale-out is the operator\'s here (remote cluster): add gateways and block daemons now to test it' });
    } else if (i === scaleAt) {
      const g = nodes(t, 'gateway').length + 1;
      const b = nodes(t, 'blockd').length + 1;
      events.push({ t: Date.now(), what: `scale out to ${g} gateways, ${b} block daemons` });
      void scale(t, [`gateway=${g}`, `blockd=${b}`]).then(() => events.push({ t: Date.now(), what: 'scale-out done' }));
    }
    await sleep(o.stepS * 1000);
    boundaries.push({ rate: r, from, to: Date.now() });
    const inStep = load.history.filter((x) => x.start >= from);
    if (quantile(inStep, 0.99) > o.p99BoundMs * 3 && i > 0) {
      events.push({ t: Date.now(), what: `stopping the ramp: p99 ${quantile(inStep, 0.99)} ms` });
      break;
    }
  }
  stop();
  await running;
  c.close();
  const h = load.history;
  const refused = h.filter(wasRefused).length;
  const failed = h.filter((r) => !ok(r)).length;
  const table = boundaries.map((b): Row => {
    const row = phaseRow(`${b.rate} calls/s`, h, load.shedAt, b.from, b.to);
    return { ...row, 'p95 ms': quantile(h.filter((r) => r.start >= b.from && r.start < b.to), 0.95) };
  });
  // A step is held when ≥ 99.9 % of what was offered succeeded (shed calls
  // count as failed), within the tolerance of the offered rate, p99 in bound.
  const held = table.filter((r) => Number.parseFloat(String(r.success)) >= 99.9 && Number(r['achieved ÷ offered']) >= 1 - OFFERED_TOLERANCE && Number(r['p99 ms']) <= o.p99BoundMs);
  const best = held.reduce((m, r) => Math.max(m, Number(r['achieved calls/s'])), 0);
  const reached480 = table.find((r) => Number(r['achieved calls/s']) >= 480);
  const pass = refused === 0 && best >= Math.min(480, o.toRate * 0.9);
  return {
    id: 'QAS-003', title: 'a surge ramp with scale-out while traffic flows', startedAt, events, history: h, shedAt: load.shedAt, pass,
    verdict: `${pass ? 'PASS' : 'FAIL'}: ${refused} refused connections (bar 0), ${failed} failed calls and ${load.shed} shed by the generator; highest offered rate held (≥ 99.9 % of offered calls succeeded, achieved within ${OFFERED_TOLERANCE * 100} % of offered, p99 ≤ ${o.p99BoundMs} ms): ${best} calls/s (bar: ${Math.min(480, Math.round(o.toRate * 0.9))}); 480 calls/s ${reached480 ? `reached at an offered ${reached480['offered calls/s']} calls/s` : 'not reached'}`,
    measures: { refused, failed, shed: load.shed, bestSustainedRate: best, reached480At: reached480 ? Number(reached480['offered calls/s']) : -1 },
    table,
  };
}
