/**
 * What benchmarks read from /proc about the cluster's processes: CPU time
 * and bytes written to storage, and the processes of a local cluster by
 * role (HAProxy runs master–worker: its workers do the work).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { NodeState } from '../local/layout';

const CLOCK_TICK_MS = 1000 / Number(execFileSync('getconf', ['CLK_TCK']).toString().trim() || 100);

/** User + system CPU of a process, in ms (0 once it is gone); `system`: the kernel's part only. */
export function cpuMs(pid: number, which: 'all' | 'system' = 'all'): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((which === 'all' ? Number(f[11]) : 0) + Number(f[12])) * CLOCK_TICK_MS;
  } catch {
    return 0;
  }
}

/** Bytes a process caused to be written to storage. */
export function writeBytes(pid: number): number {
  try {
    const m = /write_bytes: (\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Every process of a local cluster with its role, HAProxy's workers included. */
export function clusterProcesses(nodes: NodeState[]): Array<{ role: string; pid: number }> {
  const out = nodes.filter((n) => n.pid > 0).map((n) => ({ role: n.role, pid: n.pid }));
  for (const n of nodes.filter((x) => x.role === 'haproxy')) {
    const kids = execFileSync('pgrep', ['-P', String(n.pid)]).toString().trim().split('\n').filter(Boolean);
    for (const k of kids) out.push({ role: 'haproxy', pid: Number(k) });
  }
  return out;
}
