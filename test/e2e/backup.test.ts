/**
 * Backing up the metadata and bringing it back, on a real local cluster:
 * `blockstore meta snapshot save` under write load; every metadata data
 * directory lost; `restore` into one; `cluster up` — the restored node
 * declares its position, leads, the other two bootstrap from it — and every
 * file acknowledged before the save reads back byte for byte, and writes
 * go on. A truncated or altered backup is refused.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { StateDir } from '../../cluster/local/layout';
import { BlockstoreClient } from '../../sdk/client';
import { BLOCKSTORE_BIN } from '../harness/process';
import { localClusterDown, localClusterUp } from '../harness/local-cluster';
import { makeTempDir, removeDir } from '../harness/temp';
import { waitFor } from '../harness/wait';

const test = suite('metadata backup and restore');
const exec = promisify(execFile);
let dir: StateDir;
let address = '';
let scratch = '';

async function bin(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await exec(BLOCKSTORE_BIN, args, { timeout: 180_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

test.before(async () => {
  ({ dir, address } = await localClusterUp('backup'));
  scratch = makeTempDir('backup-files');
});

test.after(async () => {
  await localClusterDown(dir);
  if (scratch) removeDir(scratch);
});

test('save under load, lose every metadata disk, restore one: every file acknowledged before the save reads back', async () => {
  const token = readFileSync(dir.path('user.token'), 'utf8').trim();
  const c = dir.readConfig();
  const etcd = `http://${c.host}:${c.etcdClientPort}`;
  const client = new BlockstoreClient({ address, token, timeoutMs: 20_000 });
  const before = new Map<string, Buffer>();
  try {
    for (let i = 0; i < 25; i++) {
      const data = randomBytes(20_000 + i * 3_000);
      await client.put(`backup/before-${i}`, data);
      before.set(`backup/before-${i}`, data);
    }
    // Writes go on while the backup is taken.
    let stop = false;
    let during = 0;
    const writer = (async () => {
      for (let i = 0; !stop && i < 10_000; i++) {
        await client.put(`backup/during-${i}`, randomBytes(5_000));
        during++;
      }
    })();
    await waitFor('writes under way', () => during >= 5, 20_000);
    const file = join(scratch, 'meta.snap');
    const saved = await bin(['meta', 'snapshot', 'save', file, '--etcd', etcd, '--cluster-secret-file', dir.path('cluster.secret')]);
    stop = true;
    await writer;
    assert.is(saved.code, 0, saved.stderr);
    assert.match(saved.stdout, /saved \d+ table entries at position \d+/);
    assert.ok(during >= 5, `${during} writes during the save`);
    const info = await bin(['meta', 'snapshot', 'info', file]);
    assert.is(info.code, 0, info.stderr);
    assert.match(info.stdout, 'whole');

    // A damaged backup is refused, by info and by restore.
    const text = readFileSync(file, 'utf8');
    const cut = join(scratch, 'cut.snap');
    writeFileSync(cut, text.slice(0, Math.floor(text.length / 2)));
    assert.is((await bin(['meta', 'snapshot', 'info', cut])).code, 2, 'truncated');
    const altered = join(scratch, 'altered.snap');
    writeFileSync(altered, text.replace('backup/before-3', 'backup/before-X'));
    const r = await bin(['meta', 'snapshot', 'restore', altered, '--data-dir', join(scratch, 'never')]);
    assert.is(r.code, 2, 'altered');
    assert.match(r.stderr, 'damaged');

    // Every metadata disk lost (block daemons and etcd keep theirs).
    client.close();
    assert.is((await bin(['cluster', 'down', '--state', dir.dir])).code, 0);
    for (const id of ['m1', 'm2', 'm3']) rmSync(dir.path('data', id), { recursive: true, force: true });
    const restored = await bin(['meta', 'snapshot', 'restore', file, '--data-dir', dir.path('data', 'm1')]);
    assert.is(restored.code, 0, restored.stderr);
    const again = await bin(['meta', 'snapshot', 'restore', file, '--data-dir', dir.path('data', 'm1')]);
    assert.is(again.code, 2, 'never over a directory that holds data');
    const up = await bin(['cluster', 'up', '--state', dir.dir]);
    assert.is(up.code, 0, up.stderr + up.stdout);
  } finally {
    client.close();
  }

  const after = new BlockstoreClient({ address, token, timeoutMs: 20_000 });
  try {
    for (const [path, data] of before) {
      const got = await after.get(path);
      assert.ok(got.equals(data), `${path} reads back the same bytes`);
    }
    // The cluster goes on: a write needs a synchronous replica, which bootstrapped from the restored node.
    const fresh = randomBytes(50_000);
    await after.put('backup/after-restore', fresh);
    assert.ok((await after.get('backup/after-restore')).equals(fresh));
    const admin = new BlockstoreClient({ address, token: readFileSync(dir.path('admin.token'), 'utf8').trim(), timeoutMs: 20_000 });
    try {
      await waitFor('three metadata nodes, one master, none lagging', async () => {
        const s = await admin.clusterStatus();
        const metas = s.nodes.filter((n) => n.kind === 'meta');
        return metas.length === 3 && metas.every((n) => n.state === 'up' && n.replicationLag === 0) && metas.filter((n) => n.role === 'master').length === 1;
      }, 30_000);
      const master = (await admin.clusterStatus()).nodes.find((n) => n.kind === 'meta' && n.role === 'master');
      assert.is(master?.id, 'm1', 'the restored node leads');
    } finally {
      admin.close();
    }
  } finally {
    after.close();
  }
});

test.run();
