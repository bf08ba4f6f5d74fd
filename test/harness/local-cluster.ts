/**
 * `blockstore cluster up|down` in a temp state directory on a free port
 * range, for tests that exercise the local cluster as operators run it.
 */
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
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
  await run(BLOCKSTORE_BIN, ['cluster', 'up', '--state', dir.dir, '--base-port', String(base), '--balancer-port', String(base + 1), '--etcd-port', String(base + 2), ...extra], { timeout: 180_000 });
  return { dir, base, address: `127.0.0.1:${base + 1}` };
}

/** `cluster down`, then asserts every process it ran is gone (by PID) and removes the state. */
export async function localClusterDown(dir: StateDir): Promise<void> {
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
