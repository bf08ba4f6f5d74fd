import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh temp dir; remove it with removeDir when the test ends. */
export function makeTempDir(label: string): string {
  return mkdtempSync(join(tmpdir(), `blockstore-${label}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
