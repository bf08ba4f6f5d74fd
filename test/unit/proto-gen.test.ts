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
});

test.run();
