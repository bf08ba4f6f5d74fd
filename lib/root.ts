/**
 * Where the project's files are: the repository root (the directory holding
 * package.json), the same whether this code runs from its TypeScript
 * sources or from the JavaScript compiled into build/ (scripts/build.sh).
 * Files that are not code (protos, the console's page, the Envoy bootstrap,
 * bin/blockstore itself) are always read from the root.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

function findRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

export const ROOT = findRoot(__dirname);

/** bin/blockstore: the one entry point every node and tool is started through. */
export const BLOCKSTORE_BIN = join(ROOT, 'bin', 'blockstore');
