import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Internal services refuse calls without cluster credentials: every process
 * a test starts (and the test process itself, for its own clients) shares
 * one random secret per test process, through the environment.
 */
process.env.BLOCKSTORE_CLUSTER_SECRET ??= randomBytes(24).toString('base64url');

/** A fresh temp dir; remove it with removeDir when the test ends. */
export function makeTempDir(label: string): string {
  return mkdtempSync(join(tmpdir(), `blockstore-${label}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
