/**
 * `blockstore cluster up|down` in a temp state directory on a free port
 * range, for tests that exercise the local cluster as operators run it.
 */
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { StateDir } from '../../cluster/local/layout';
import { freeRange } from './ports';
import { BLOCKSTORE_BIN } from './process';
import { makeTempDir, removeDir } from './temp';

const run = promisify(execFile);

/** Brings a cluster up; resolves with its state directory and balancer address. */
export async function localClusterUp(label: string, extra: string[] = []): Promise<{ dir: StateDir; base: number; address: string }> {
  const dir = new StateDir(makeTempDir(label));
  const base = await freeRange();
  try {
    await run(BLOCKSTORE_BIN, ['cluster', 'up', '--state', dir.dir, '--base-port', String(base), '--balancer-port', String(base + 1), '--etcd-port', String(base + 2), ...extra], { timeout: 180_000 });
  } catch (err) {
    // Say why (the command's output and the logs' tails), then stop whatever started.
    const e = err as { stdout?: string; stderr?: string; message: string };
    const logs = existsSync(dir.path('logs'))
      ? readdirSync(dir.path('logs')).map((f) => `--- ${f}\n${readFileSync(dir.path('logs', f), 'utf8').split('\n').slice(-15).join('\n')}`).join('\n')
      : '';
    await localClusterDown(dir).catch(() => undefined);
    throw new Error(`cluster up failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}\n${logs}`);
  }
  return { dir, base, address: `127.0.0.1:${base + 1}` };
}

/**
 * The error lines (level "error": an unexpected error's stack among them)
 * the cluster's processes logged, last `limit` of each log: what a failed
 * assertion prints so a rare failure carries its cause.
 */
export function loggedErrors(dir: StateDir, limit = 5): string {
  if (!existsSync(dir.path('logs'))) return '';
  const out: string[] = [];
  for (const f of readdirSync(dir.path('logs'))) {
    const lines = readFileSync(dir.path('logs', f), 'utf8').split('\n').filter((l) => l.includes('"level":"error"'));
    for (const l of lines.slice(-limit)) out.push(`${f}: ${l.slice(0, 2000)}`);
  }
  return out.join('\n');
}

/** `cluster down`, then asserts every process it ran is gone (by PID) and removes the state. */
export async function localClusterDown(dir: StateDir | undefined): Promise<void> {
  if (!dir) return; // up failed (and cleaned up after itself)
  await run(BLOCKSTORE_BIN, ['cluster', 'down', '--state', dir.dir], { timeout: 120_000 }).catch(() => undefined);
  for (const n of dir.readState()?.nodes ?? []) {
    let alive = true;
    try {
      process.kill(n.pid, 0);
    } catch {
      alive = false;
    }
    assert.not.ok(alive, `${n.id} (pid ${n.pid}) still runs after cluster down`);
  }
  removeDir(dir.dir);
}
