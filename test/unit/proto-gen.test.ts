/** Generated types and the descriptor set match the .proto files. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

test('proto/gen is what proto/gen.sh makes (proto/check.sh)', async () => {
  const run = promisify(execFile);
  let ok = true;
  let output = '';
  try {
    const r = await run(join(__dirname, '..', '..', 'proto', 'check.sh'));
    output = r.stdout + r.stderr;
  } catch (err) {
    ok = false;
    output = String((err as { stderr?: string }).stderr ?? err);
  }
  assert.ok(ok, output);
  assert.match(output, 'up to date');
  assert.match(output, 'buf: lint clean', 'buf is a dev dependency: the checks ran');
});

test('buf breaking catches a change that breaks clients (a field renumbered)', async () => {
  const { cpSync, readFileSync, writeFileSync } = await import('node:fs');
  const { makeTempDir, removeDir } = await import('../harness/temp');
  const root = join(__dirname, '..', '..');
  const dir = makeTempDir('buf-breaking');
  try {
    cpSync(join(root, 'proto'), dir, { recursive: true });
    const files = join(dir, 'blockstore', 'v1', 'files.proto');
    writeFileSync(files, readFileSync(files, 'utf8').replace('  string path = 1;\n  // Compare-and-set', '  string path = 9;\n  // Compare-and-set'));
    const run = promisify(execFile);
    const r = await run(join(root, 'node_modules', '.bin', 'buf'), ['breaking', '--against', 'buf-baseline.binpb'], { cwd: dir }).then(() => undefined, (e: { stdout: string }) => e);
    assert.ok(r, 'the renumbered field was not reported');
    assert.match(r!.stdout, 'PutFileHeader');
  } finally {
    removeDir(dir);
  }
});

test.run();
