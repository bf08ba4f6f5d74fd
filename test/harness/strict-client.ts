/**
 * Runs the independent Python client (Debian's python3-grpcio) against a
 * server: reflection must satisfy a strict descriptor pool, and calls are
 * made with messages built from reflection alone.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir, removeDir } from './temp';

const ROOT = join(__dirname, '..', '..');
export const SYSTEM_PYTHON = process.env.BLOCKSTORE_PYTHON ?? '/usr/bin/python3';

export interface StrictResult {
  services: string[];
  files: string[];
  methods: string[];
  results: Array<Record<string, unknown>>;
}

/** Async: the server under test may live in this very process. */
export async function strictReflectionCall(address: string, service: string, calls: Array<{ method: string; request: object }>, token = ''): Promise<StrictResult> {
  const dir = makeTempDir('pystubs');
  try {
    const src = join(dir, 'src');
    mkdirSync(src);
    copyFileSync(join(ROOT, 'proto', 'grpc', 'reflection', 'v1', 'reflection.proto'), join(src, 'reflection.proto'));
    execFileSync(SYSTEM_PYTHON, ['-m', 'grpc_tools.protoc', '-I', src, `--python_out=${dir}`, join(src, 'reflection.proto')]);
    const run = promisify(execFile)(SYSTEM_PYTHON, [join(ROOT, 'test', 'integration', 'strict_reflection_client.py'), address, service, dir, token], {
      timeout: 30_000,
    });
    run.child.stdin!.end(JSON.stringify(calls));
    const { stdout } = await run;
    return JSON.parse(stdout) as StrictResult;
  } finally {
    removeDir(dir);
  }
}
