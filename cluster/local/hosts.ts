/**
 * Simulated hosts with a CPU budget of their own: each node of the local
 * cluster in a control group of its own with a CPU quota, so that adding a
 * node adds capacity as adding a machine to a fleet does (on one machine,
 * without budgets, every process shares the same cores and adding nodes
 * adds only processes).
 *
 * cgroup v1 (a `cpu` hierarchy with cpu.cfs_quota_us; CPU use from the
 * `cpuacct` hierarchy when it is mounted) or cgroup v2 (cpu.max, cpu.stat),
 * whichever the machine offers; `detectCpuControl` says plainly when it
 * offers neither (no silent fallback to unlimited).
 *
 * A node enters its group before it runs anything: it is started through
 * `sh -c 'echo $$ > …/cgroup.procs && exec node …'`, so every thread and
 * child is accounted from the first instruction. Restarted and newly
 * provisioned nodes go through the same path.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const PERIOD_US = 100_000;

export interface CpuControl {
  kind: 'cgroup-v1' | 'cgroup-v2';
  /** Where groups for the quota are made. */
  cpuRoot: string;
  /** Where groups for CPU accounting are made (v1 cpuacct; v2: the same as cpuRoot). */
  acctRoot?: string;
}

/** The machine's CPU controller, or why there is none usable. */
export function detectCpuControl(fsRoot = '/sys/fs/cgroup'): CpuControl | { unavailable: string } {
  const v1 = join(fsRoot, 'cpu');
  if (existsSync(join(v1, 'cpu.cfs_quota_us'))) {
    if (!writable(v1)) return { unavailable: `${v1} (cgroup v1 cpu) is not writable by this user; run as root or delegate it` };
    const acct = join(fsRoot, 'cpuacct');
    return { kind: 'cgroup-v1', cpuRoot: v1, acctRoot: existsSync(join(acct, 'cpuacct.usage')) && writable(acct) ? acct : undefined };
  }
  for (const root of [fsRoot, join(fsRoot, 'unified')]) {
    const controllers = join(root, 'cgroup.controllers');
    if (!existsSync(controllers)) continue;
    if (!readFileSync(controllers, 'utf8').split(/\s+/).includes('cpu')) continue;
    if (!writable(root)) return { unavailable: `${root} (cgroup v2) is not writable by this user` };
    // Children get the cpu controller only when the parent enables it.
    try {
      writeFileSync(join(root, 'cgroup.subtree_control'), '+cpu');
    } catch (err) {
      return { unavailable: `cgroup v2 at ${root}: cannot enable the cpu controller for child groups (${(err as Error).message})` };
    }
    return { kind: 'cgroup-v2', cpuRoot: root, acctRoot: root };
  }
  return { unavailable: `no CPU controller: neither ${v1}/cpu.cfs_quota_us (cgroup v1) nor a cgroup v2 hierarchy with the cpu controller under ${fsRoot}` };
}

function writable(dir: string): boolean {
  const probe = join(dir, `blockstore-probe-${process.pid}`);
  try {
    mkdirSync(probe);
    rmdirSync(probe);
    return true;
  } catch {
    return false;
  }
}

export interface HostUsage {
  /** The budget, in cores. */
  quotaCores: number;
  /** CPU time used by the host's processes since it was made, in seconds (undefined when not accounted). */
  cpuSeconds: number | undefined;
  /** Scheduler periods in which the host hit its quota. */
  throttledPeriods: number;
}

/** One group per node under `<root>/<cluster>/`, each with its CPU budget. */
export class CpuHosts {
  constructor(
    private readonly control: CpuControl,
    /** Unique per local cluster (several may run at once). */
    private readonly cluster: string,
  ) {}

  private dir(root: string, id: string): string {
    return join(root, this.cluster, id);
  }

  /** Makes (or resets) a node's host with `cores` of CPU; returns the files its process joins through. */
  prepare(id: string, cores: number): string[] {
    if (!(cores > 0)) throw new Error(`a host's CPU budget must be positive, got ${cores}`);
    const cpu = this.dir(this.control.cpuRoot, id);
    mkdirSync(cpu, { recursive: true });
    const quota = Math.max(1000, Math.round(cores * PERIOD_US));
    if (this.control.kind === 'cgroup-v1') {
      writeFileSync(join(cpu, 'cpu.cfs_period_us'), String(PERIOD_US));
      writeFileSync(join(cpu, 'cpu.cfs_quota_us'), String(quota));
    } else {
      writeFileSync(join(cpu, 'cpu.max'), `${quota} ${PERIOD_US}`);
    }
    const procs = [join(cpu, 'cgroup.procs')];
    if (this.control.kind === 'cgroup-v1' && this.control.acctRoot) {
      const acct = this.dir(this.control.acctRoot, id);
      mkdirSync(acct, { recursive: true });
      procs.push(join(acct, 'cgroup.procs'));
    }
    return procs;
  }

  /** The command that starts `cmd args` inside node `id`'s host of `cores`. */
  wrap(id: string, cores: number, cmd: string, args: string[]): { cmd: string; args: string[] } {
    const joins = this.prepare(id, cores).map((f) => `echo $$ > '${f}'`).join(' && ');
    return { cmd: '/bin/sh', args: ['-c', `${joins} && exec "$0" "$@"`, cmd, ...args] };
  }

  usage(id: string): HostUsage | undefined {
    const cpu = this.dir(this.control.cpuRoot, id);
    if (!existsSync(cpu)) return undefined;
    const stat = parseStat(readOr(join(cpu, 'cpu.stat')));
    let cpuSeconds: number | undefined;
    if (this.control.kind === 'cgroup-v2') cpuSeconds = stat.usage_usec !== undefined ? stat.usage_usec / 1e6 : undefined;
    else if (this.control.acctRoot) {
      const ns = Number(readOr(join(this.dir(this.control.acctRoot, id), 'cpuacct.usage')));
      cpuSeconds = Number.isFinite(ns) ? ns / 1e9 : undefined;
    }
    let quotaCores = 0;
    if (this.control.kind === 'cgroup-v1') quotaCores = Number(readOr(join(cpu, 'cpu.cfs_quota_us'))) / Number(readOr(join(cpu, 'cpu.cfs_period_us')));
    else {
      const [q, p] = readOr(join(cpu, 'cpu.max')).trim().split(' ');
      quotaCores = Number(q) / Number(p);
    }
    return { quotaCores: Number(quotaCores.toFixed(4)), cpuSeconds, throttledPeriods: stat.nr_throttled ?? 0 };
  }

  /** Removes a node's (empty) host. */
  remove(id: string): void {
    for (const root of [this.control.cpuRoot, this.control.acctRoot]) {
      if (!root) continue;
      try {
        rmdirSync(this.dir(root, id));
      } catch {
        /* gone, or a process still in it */
      }
    }
  }

  /** Removes every host of this cluster (their processes have exited). */
  removeAll(): void {
    for (const root of [this.control.cpuRoot, this.control.acctRoot]) {
      if (!root) continue;
      const base = join(root, this.cluster);
      if (!existsSync(base)) continue;
      for (const id of readdirSync(base, { withFileTypes: true }).filter((e) => e.isDirectory())) {
        try {
          rmdirSync(join(base, id.name));
        } catch {
          /* still busy */
        }
      }
      try {
        rmdirSync(base);
      } catch {
        /* still busy */
      }
    }
  }
}

function readOr(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function parseStat(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined) out[k] = Number(v);
  }
  return out;
}

/** The control-group folder of the local cluster whose state lives in `stateDir`. */
export function clusterGroup(stateDir: string): string {
  return `blockstore-${createHash('sha256').update(stateDir).digest('hex').slice(0, 12)}`;
}

/** The hosts of a local cluster; throws, saying why, when the machine cannot give CPU budgets. */
export function localHosts(stateDir: string): CpuHosts {
  const control = detectCpuControl();
  if ('unavailable' in control) throw new Error(`--host-cpu: this machine cannot give nodes a CPU budget: ${control.unavailable}`);
  return new CpuHosts(control, clusterGroup(stateDir));
}
