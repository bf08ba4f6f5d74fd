/**
 * QAS-003 on hosts with CPU budgets: a local cluster whose every node has a
 * CPU quota of its own (`cluster up --host-cpu`), so that adding a gateway
 * or block daemon adds capacity as adding a machine does.
 *
 * 1. The scaling curve: for N = 1, 2, 3, … units (a unit is one gateway
 *    host and one block-daemon host, on top of the 2 more block daemons the
 *    3 replicas need: N gateways, N + 2 block daemons; metadata fixed at 3),
 *    the highest offered rate of the
 *    mix the fleet holds — ≥ 99.9 % of offered calls succeed (shed calls
 *    count as failed), achieved within 5 % of offered, p99 ≤ the bound —
 *    found by a rising ramp. Scaling efficiency = rate(N) ÷ (N × rate(1)).
 *    Each role's CPU use against its quota says which saturates first; the
 *    machine's own busy share says when its cores run out.
 * 2. The surge: from the smallest fleet, the offered rate climbs past what
 *    it holds;
 *    an autoscaler in this driver watches p99 and failed or shed calls each
 *    second and scales out (`cluster scale`) while traffic flows; the report
 *    says how long after the surge began the cluster held again, and checks
 *    that from then on p99 ≤ the bound with no refused or failed call.
 * 3. The fleet arithmetic: CPU per call by role (measured in held steps)
 *    gives the cores, and so the hosts, that 480 calls/s need; the metadata
 *    master's CPU per commit gives its ceiling (it does not scale out).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { BlockstoreClient } from '../../sdk/client';
import { localHosts, type CpuHosts } from '../local/hosts';
import type { StateDir } from '../local/layout';
import type { CallRecord } from './history';
import { LoadGenerator, quantile } from './load';
import { markdownTable } from './report';
import { OFFERED_TOLERANCE, wasRefused, type Row, type ScenarioResult, type Target } from './scenarios';
import { BLOCKSTORE_BIN as BIN } from '../../lib/root';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ROLES = ['gateway', 'blockd', 'meta'] as const;
type Role = (typeof ROLES)[number];

export interface ScalingOptions {
  /** Units to measure, in order (e.g. 1, 2, 4, 6). */
  sizes: number[];
  /** First offered rate for one unit (calls/s); later sizes start from what the last held. */
  fromRate: number;
  /** Each step offers this much more than the last (e.g. 1.25). */
  growth: number;
  stepS: number;
  maxSteps: number;
  p99BoundMs: number;
  averageBytes: number;
  /** The surge's length after it begins, in seconds (0: no surge). */
  surgeS: number;
  /** Calls/s the fleet arithmetic sizes for. */
  targetRate: number;
}

interface Snapshot {
  at: number;
  cpu: Record<Role, number>;
  master: number;
  busy: { busy: number; total: number };
}

interface StepResult {
  row: Row;
  held: boolean;
  achieved: number;
  /** Core-seconds used by each role during the step, and by the master. */
  cpu: Record<Role, number>;
  master: number;
  writes: number;
  calls: number;
  /** Share of each role's summed quota used during the step. */
  utilisation: Record<Role, number>;
  machineBusy: number;
}

/** Machine-wide CPU jiffies (busy and total) from /proc/stat. */
function machineCpu(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

class Fleet {
  readonly hosts: CpuHosts;
  masterId = '';
  constructor(readonly t: Target & { dir: StateDir }) {
    this.hosts = localHosts(t.dir.dir);
  }
  nodes(role: Role) {
    return (this.t.dir.readState()?.nodes ?? []).filter((n) => n.role === role);
  }
  quota(role: Role): number {
    return this.nodes(role).reduce((a, n) => a + (n.hostCpu ?? 0), 0);
  }
  snapshot(): Snapshot {
    const cpu = { gateway: 0, blockd: 0, meta: 0 };
    let master = 0;
    for (const role of ROLES) {
      for (const n of this.nodes(role)) {
        const used = this.hosts.usage(n.id)?.cpuSeconds ?? 0;
        cpu[role] += used;
        if (n.id === this.masterId) master = used;
      }
    }
    return { at: Date.now(), cpu, master, busy: machineCpu() };
  }
  async refreshMaster(): Promise<void> {
    const admin = new BlockstoreClient({ address: this.t.address, token: this.t.adminToken, timeoutMs: 10_000, ca: this.t.ca });
    try {
      this.masterId = (await admin.clusterStatus()).masterId;
    } finally {
      admin.close();
    }
  }
  async scale(gateways: number, blockds: number): Promise<void> {
    await run(BIN, ['cluster', 'scale', `gateway=${gateways}`, `blockd=${blockds}`, '--state', this.t.dir.dir], { timeout: 300_000 });
    await this.refreshMaster();
  }
}

function evaluate(name: string, h: CallRecord[], shedAt: number[], from: number, to: number, a: Snapshot, b: Snapshot, fleet: Fleet, p99BoundMs: number): StepResult {
  const rs = h.filter((r) => r.start >= from && r.start < to);
  const shed = shedAt.filter((x) => x >= from && x < to).length;
  const offered = rs.length + shed;
  const good = rs.filter((r) => r.status === 'OK').length;
  const secs = Math.max(0.001, (to - from) / 1000);
  const p99 = quantile(rs, 0.99);
  const ratio = offered ? good / offered : 0;
  const held = offered > 0 && ratio >= 0.999 && good / secs >= (offered / secs) * (1 - OFFERED_TOLERANCE) && p99 <= p99BoundMs;
  const span = (b.at - a.at) / 1000;
  const cpu = { gateway: b.cpu.gateway - a.cpu.gateway, blockd: b.cpu.blockd - a.cpu.blockd, meta: b.cpu.meta - a.cpu.meta };
  const utilisation = Object.fromEntries(ROLES.map((r) => [r, fleet.quota(r) ? cpu[r] / (fleet.quota(r) * span) : 0])) as Record<Role, number>;
  const machineBusy = (b.busy.busy - a.busy.busy) / Math.max(1, b.busy.total - a.busy.total);
  return {
    held, achieved: good / secs, cpu, master: b.master - a.master, calls: good, writes: rs.filter((r) => r.method === 'PutFile' && r.status === 'OK').length,
    utilisation, machineBusy,
    row: {
      step: name,
      'offered calls/s': Number((offered / secs).toFixed(1)),
      'achieved calls/s': Number((good / secs).toFixed(1)),
      success: offered ? `${(ratio * 100).toFixed(2)} %` : '–',
      shed,
      'p99 ms': p99,
      'gateway CPU': `${(utilisation.gateway * 100).toFixed(0)} %`,
      'blockd CPU': `${(utilisation.blockd * 100).toFixed(0)} %`,
      'meta CPU': `${(utilisation.meta * 100).toFixed(0)} %`,
      'machine busy': `${(machineBusy * 100).toFixed(0)} %`,
      held: held ? 'yes' : 'no',
    },
  };
}

/**
 * The rising ramp for one fleet size. A warm-up step (not judged: new
 * nodes start cold, and rebalancing moves blocks onto new daemons) comes
 * first. A step not held is tried once more at the same rate before the ramp
 * ends (p99 over a step of a few dozen calls is noisy); until a first step
 * is held the rate steps down instead.
 */
async function ramp(fleet: Fleet, units: number, startRate: number, o: ScalingOptions, client: BlockstoreClient): Promise<{ steps: StepResult[]; best: number; saturated: string }> {
  let rate = startRate * 0.5;
  const load = new LoadGenerator(client, { rate: () => rate, durationMs: (o.maxSteps + 2) * o.stepS * 1000, maxInFlight: 512, writeFraction: 0.5, averageBytes: o.averageBytes, prefix: `scale-${units}-${Date.now()}` });
  let stop!: () => void;
  const running = load.run(new Promise<void>((r) => (stop = r)));
  await sleep(o.stepS * 1000);
  rate = startRate;
  const steps: StepResult[] = [];
  let snap = fleet.snapshot();
  let misses = 0;
  let downs = 0;
  for (let i = 0; i < o.maxSteps; i++) {
    const from = Date.now();
    await sleep(o.stepS * 1000);
    const to = Date.now();
    const next = fleet.snapshot();
    // Calls started in the step's last moments may still run: judge the
    // step on calls that had time to finish within the bound.
    const step = evaluate(`${units} × ${rate.toFixed(1)} calls/s`, load.history, load.shedAt, from, to - Math.min(o.p99BoundMs, o.stepS * 500), snap, next, fleet, o.p99BoundMs);
    snap = next;
    steps.push(step);
    if (step.held) {
      misses = 0;
      rate *= o.growth;
    } else if (!steps.some((s) => s.held) && downs < 3) {
      downs++;
      rate *= 0.75;
    } else if (++misses >= 2) {
      break;
    }
  }
  stop();
  await running;
  const held = steps.filter((s) => s.held);
  const best = held.reduce((m, s) => Math.max(m, s.achieved), 0);
  const last = steps[steps.length - 1]!;
  const top = [...ROLES].sort((x, y) => last.utilisation[y] - last.utilisation[x])[0]!;
  const saturated = last.machineBusy >= 0.9
    ? `the machine (${(last.machineBusy * 100).toFixed(0)} % of its cores busy; ${top} hosts at ${(last.utilisation[top] * 100).toFixed(0)} % of their quota)`
    : `${top} (${(last.utilisation[top] * 100).toFixed(0)} % of its quota; machine ${(last.machineBusy * 100).toFixed(0)} % busy)`;
  return { steps, best, saturated };
}

/**
 * Block daemons for N units: the 3 a block's replicas need, and one more
 * per unit beyond the first (a block daemon host per gateway host).
 */
const daemonsFor = (units: number) => units + 2;

export async function qas003Hosts(t: Target & { dir: StateDir }, o: ScalingOptions): Promise<ScenarioResult> {
  const fleet = new Fleet(t);
  const c = t.dir.readConfig();
  const events: ScenarioResult['events'] = [];
  const client = new BlockstoreClient({ address: t.address, token: t.userToken, timeoutMs: 20_000, ca: t.ca });
  const startedAt = Date.now();
  const curve: Row[] = [];
  const table: Row[] = [];
  const held: StepResult[] = [];
  const rates = new Map<number, number>();
  const saturation = new Map<number, string>();
  let surge: { result: SurgeResult; rate: number; from: number; to: number } | undefined;
  try {
    for (const units of o.sizes) {
      await fleet.scale(units, daemonsFor(units));
      events.push({ t: Date.now(), what: `${units} gateway${units > 1 ? 's' : ''}, ${daemonsFor(units)} block daemons` });
      const base = rates.get(1);
      // Larger fleets start at half their linear share, so the first judged
      // step is one they hold even when scaling falls well short of linear.
      const start = base ? Math.max(o.fromRate, base * units * 0.5) : o.fromRate;
      const r = await ramp(fleet, units, start, o, client);
      rates.set(units, r.best);
      saturation.set(units, r.saturated);
      held.push(...r.steps.filter((s) => s.held));
      table.push(...r.steps.map((s) => s.row));
      // The surge starts from the smallest fleet, right after its curve
      // point, and scales out to the next size (which the curve measures next).
      const next = o.sizes[o.sizes.indexOf(units) + 1];
      if (!surge && next && o.surgeS > 0 && r.best > 0) surge = { result: await runSurge(fleet, r.best, next, o, client, events), rate: r.best, from: units, to: next };
    }
  } finally {
    client.close();
  }
  const r1 = rates.get(o.sizes[0]!) ?? 0;
  const u1 = o.sizes[0]!;
  for (const units of o.sizes) {
    const rate = rates.get(units) ?? 0;
    const efficiency = r1 > 0 ? rate / ((units / u1) * r1) : 0;
    curve.push({ units, gateways: units, 'block daemons': daemonsFor(units), 'held calls/s': Number(rate.toFixed(1)), efficiency: `${(efficiency * 100).toFixed(0)} %`, 'what saturated first': saturation.get(units) ?? '' });
  }
  // Fleet arithmetic from the held steps: CPU per successful call by role.
  const calls = held.reduce((a, s) => a + s.calls, 0);
  const writes = held.reduce((a, s) => a + s.writes, 0);
  const perCall = Object.fromEntries(ROLES.map((r) => [r, calls ? held.reduce((a, s) => a + s.cpu[r], 0) / calls : 0])) as Record<Role, number>;
  const masterPerWrite = writes ? held.reduce((a, s) => a + s.master, 0) / writes : 0;
  const arithmetic = fleetArithmetic(perCall, masterPerWrite, o.targetRate, c.hostCpu, r1 / u1);
  const efficiencies = o.sizes.map((u) => (r1 > 0 ? (rates.get(u) ?? 0) / ((u / u1) * r1) : 0));
  const machineBound = (u: number) => /the machine/.test(saturation.get(u) ?? '');
  const scaledWell = o.sizes.every((u, i) => efficiencies[i]! >= 0.85 || machineBound(u) || o.sizes.slice(0, i).some(machineBound));
  const surgeOk = !surge || surge.result.heldAgainMs >= 0 && surge.result.afterFailed === 0 && surge.result.afterRefused === 0;
  const pass = r1 > 0 && scaledWell && surgeOk;
  const effText = o.sizes.map((u, i) => `${u}: ${(rates.get(u) ?? 0).toFixed(1)} calls/s (${(efficiencies[i]! * 100).toFixed(0)} %)`).join(', ');
  return {
    id: 'QAS-003', title: `a surge absorbed by scale-out, on hosts of ${c.hostCpu} core each (metadata ${c.metaHostCpu || c.hostCpu})`, startedAt, events,
    history: surge?.result.history ?? [], shedAt: surge?.result.shedAt ?? [], pass,
    ...(surge ? { plotFrom: Math.min(...surge.result.history.map((r) => r.start)) } : {}),
    verdict: `${pass ? 'PASS' : 'FAIL'}: held rate by units ${effText} (bar: efficiency ≥ 85 % until the machine's cores run out)${surge ? `; surge from ${surge.from} unit${surge.from > 1 ? 's' : ''} to 1.6 × the ${surge.rate.toFixed(1)} calls/s ${surge.from > 1 ? 'they' : 'it'} held, scale-out to ${surge.to}: ${surge.result.summary}` : ''}`,
    measures: {
      ...Object.fromEntries(o.sizes.map((u) => [`heldRate${u}`, Number((rates.get(u) ?? 0).toFixed(2))])),
      ...Object.fromEntries(o.sizes.map((u, i) => [`efficiency${u}`, Number(efficiencies[i]!.toFixed(3))])),
      refused: surge?.result.refused ?? 0,
      surgeHeldAgainMs: surge?.result.heldAgainMs ?? -1,
      surgeFailedAfter: surge?.result.afterFailed ?? -1,
      masterCommitsPerCore: Number(arithmetic.masterCommitsPerCore.toFixed(0)),
      hostCpu: c.hostCpu,
    },
    table: curve,
    extra: [`### Every step of the ramps\n\nA step is held when ≥ 99.9 % of the calls offered succeeded (shed ones count as failed), achieved was within ${OFFERED_TOLERANCE * 100} % of offered and p99 ≤ ${o.p99BoundMs} ms. CPU is each role's use against the sum of its hosts' quotas.\n\n${markdownTable(table)}`, arithmetic.text, surge ? `### The surge\n\n${surge.result.detail}\n` : ''].join('\n\n'),
  };
}

interface SurgeResult {
  history: CallRecord[];
  shedAt: number[];
  heldAgainMs: number;
  afterFailed: number;
  afterRefused: number;
  refused: number;
  summary: string;
  detail: string;
}

/**
 * From a fleet holding `base` calls/s: offer 0.7 × base, then 1.6 × base
 * (past what it holds). The autoscaler checks the last 2 s every second:
 * p99 over the bound, or any failed or shed call, scales out to `toUnits`,
 * once. Held again: the first second from which 5 in a row each have p99 ≤
 * the bound, no failed or shed call and achieved ≥ 95 % of offered.
 */
async function runSurge(fleet: Fleet, base: number, toUnits: number, o: ScalingOptions, client: BlockstoreClient, events: ScenarioResult['events']): Promise<SurgeResult> {
  const calm = Math.max(1, base * 0.7);
  const high = Math.max(2, base * 1.6);
  let rate = calm;
  // Clients with bounded concurrency (a queue of 48): an overloaded fleet
  // sheds calls rather than queueing minutes of them.
  const load = new LoadGenerator(client, { rate: () => rate, durationMs: (o.surgeS + 20) * 1000, maxInFlight: 48, writeFraction: 0.5, averageBytes: o.averageBytes, prefix: `surge-${Date.now()}` });
  let stop!: () => void;
  const running = load.run(new Promise<void>((r) => (stop = r)));
  await sleep(5000);
  const surgeAt = Date.now();
  rate = high;
  events.push({ t: surgeAt, what: `surge: offered ${calm.toFixed(1)} → ${high.toFixed(1)} calls/s` });
  let scaledAt = -1;
  let scaling: Promise<void> | undefined;
  while (Date.now() - surgeAt < o.surgeS * 1000) {
    await sleep(1000);
    if (scaling) continue;
    const now = Date.now();
    const recent = load.history.filter((r) => r.end >= now - 2000);
    const p99 = quantile(recent, 0.99);
    const bad = recent.filter((r) => r.status !== 'OK').length + load.shedAt.filter((x) => x >= now - 2000).length;
    if (p99 > o.p99BoundMs || bad > 0) {
      events.push({ t: now, what: `autoscaler: p99 ${p99} ms, ${bad} failed or shed in 2 s → scale out to ${toUnits} units` });
      scaling = fleet.scale(toUnits, daemonsFor(toUnits)).then(() => {
        scaledAt = Date.now();
        events.push({ t: scaledAt, what: `scale-out done (${toUnits} gateways, ${daemonsFor(toUnits)} block daemons serving)` });
      });
    }
  }
  stop();
  await running;
  await scaling;
  const h = load.history;
  const end = Math.max(Date.now(), ...h.map((r) => r.end));
  const secs = Math.floor((end - surgeAt) / 1000);
  const good = (from: number, to: number) => {
    const rs = h.filter((r) => r.start >= from && r.start < to);
    const shed = load.shedAt.filter((x) => x >= from && x < to).length;
    const ok = rs.filter((r) => r.status === 'OK').length;
    return rs.length + shed > 0 && shed === 0 && ok === rs.length && quantile(rs, 0.99) <= o.p99BoundMs && ok >= (rs.length + shed) * (1 - OFFERED_TOLERANCE);
  };
  let heldAgain = -1;
  for (let s = 0; s + 5 <= secs && surgeAt + (s + 5) * 1000 <= surgeAt + o.surgeS * 1000; s++) {
    const from = surgeAt + s * 1000;
    if ([0, 1, 2, 3, 4].every((k) => good(from + k * 1000, from + (k + 1) * 1000)) && (scaledAt < 0 || from >= scaledAt - 5000)) {
      heldAgain = s * 1000;
      break;
    }
  }
  const after = heldAgain >= 0 ? h.filter((r) => r.start >= surgeAt + heldAgain && r.start < surgeAt + o.surgeS * 1000) : [];
  const afterFailed = after.filter((r) => r.status !== 'OK').length + (heldAgain >= 0 ? load.shedAt.filter((x) => x >= surgeAt + heldAgain && x < surgeAt + o.surgeS * 1000).length : 0);
  const afterRefused = after.filter((r) => wasRefused(r)).length;
  const refused = h.filter((r) => wasRefused(r)).length;
  const during = h.filter((r) => r.start >= surgeAt && (heldAgain < 0 || r.start < surgeAt + heldAgain));
  const summary = heldAgain >= 0
    ? `held again ${(heldAgain / 1000).toFixed(0)} s after the surge began (scale-out ${scaledAt > 0 ? `done at +${((scaledAt - surgeAt) / 1000).toFixed(0)} s` : 'not needed'}); from then on p99 ${quantile(after, 0.99)} ms, ${afterFailed} failed or shed, ${afterRefused} refused (bars: ≤ ${o.p99BoundMs} ms, 0, 0)`
    : `not held again within ${o.surgeS} s`;
  const detail = [
    `Offered ${calm.toFixed(1)} calls/s for 5 s, then ${high.toFixed(1)} calls/s (1.6 × what the fleet held) for ${o.surgeS} s.`,
    `The autoscaler (in the QAS driver, standing in for an operator's or orchestrator's policy) read p99 and failed or shed calls over the last 2 s each second and scaled out to ${toUnits} units (\`cluster scale\`, while the traffic flowed) once either crossed its bar.`,
    `Before it held again: ${during.length} calls started, ${during.filter((r) => r.status !== 'OK').length} failed, ${load.shedAt.filter((x) => x >= surgeAt && (heldAgain < 0 || x < surgeAt + heldAgain)).length} shed (the client's queue of 48 was full), p99 ${quantile(during, 0.99)} ms. ${summary}.`,
  ].join('\n\n');
  return { history: h, shedAt: load.shedAt, heldAgainMs: heldAgain, afterFailed, afterRefused, refused, summary, detail };
}

/** Hosts needed for `target` calls/s from CPU per call by role; the master's ceiling. */
function fleetArithmetic(perCall: Record<Role, number>, masterPerWrite: number, target: number, hostCpu: number, perUnitRate: number): { text: string; masterCommitsPerCore: number } {
  const headroom = 0.75;
  const lines = [
    '### The fleet for the target rate',
    '',
    `CPU per successful call of the mix, measured in the held steps above (core-seconds per call): gateways ${perCall.gateway.toFixed(4)}, block daemons ${perCall.blockd.toFixed(4)}, metadata nodes (all three) ${perCall.meta.toFixed(4)}.`,
    `Sized to run at ${headroom * 100} % of each host's CPU (headroom for a host's loss and for bursts):`,
    '',
    '| role | cores for ' + target + ' calls/s | hosts of 1 core | hosts of 2 cores | hosts of 4 cores |',
    '|---|---|---|---|---|',
  ];
  for (const r of ['gateway', 'blockd'] as const) {
    const cores = (target * perCall[r]) / headroom;
    lines.push(`| ${r === 'gateway' ? 'gateways' : 'block daemons'} | ${target} × ${perCall[r].toFixed(4)} ÷ ${headroom} = ${cores.toFixed(2)} | ${Math.max(r === 'blockd' ? 3 : 2, Math.ceil(cores))} | ${Math.max(r === 'blockd' ? 3 : 2, Math.ceil(cores / 2))} | ${Math.max(r === 'blockd' ? 3 : 2, Math.ceil(cores / 4))} |`);
  }
  const masterCommitsPerCore = masterPerWrite > 0 ? 1 / masterPerWrite : 0;
  const writesAtTarget = target * 0.5;
  const masterCores = writesAtTarget * masterPerWrite;
  lines.push(
    '',
    `(Block daemons never fewer than 3, the replicas a block needs; gateways never fewer than 2, so one can fail.)`,
    '',
    `The metadata master does not scale out: every write is one commit on it. Measured: ${masterPerWrite.toFixed(4)} core-seconds of the master per successful write (reads included, which it also serves), a ceiling of about ${masterCommitsPerCore.toFixed(0)} writes/s per core. At ${target} calls/s of the half-write mix (${writesAtTarget} writes/s) the master needs ${masterCores.toFixed(2)} cores${hostCpu > 0 && perUnitRate > 0 ? `; one unit (a ${hostCpu}-core gateway and block daemon) held ${perUnitRate.toFixed(1)} calls/s here, so a master of 1 core becomes the limit at about ${Math.floor(masterCommitsPerCore / 0.5 / perUnitRate)} such units` : ''}.`,
  );
  return { text: lines.join('\n'), masterCommitsPerCore };
}

