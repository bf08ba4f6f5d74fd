/**
 * Mirroring a local directory to a prefix (`blockstore mirror`, like
 * `mc mirror`): every regular file under the directory, filtered by
 * include/exclude globs on its relative path, ends up at PREFIX + that path.
 * A file whose remote copy has the same size and SHA-256 is not sent at
 * all; a new or changed one goes by delta sync (only the blocks the service
 * lacks travel). With `remove`, remote files under the prefix that match the
 * filters and are gone locally are deleted (their versions stay restorable).
 */
import { createHash } from 'node:crypto';
import { createReadStream, readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import type { BlockstoreClient, FileInfo } from './client';

export interface MirrorOptions {
  /** Globs on the relative path (`*` within a segment, `**` across, `?` one character); none: everything. */
  include?: string[];
  exclude?: string[];
  /** Delete remote files under the prefix that no longer exist locally. */
  remove?: boolean;
  /** Say what would happen; change nothing. */
  dryRun?: boolean;
  /** Told of every file as it is handled. */
  onFile?: (path: string, what: 'new' | 'changed' | 'unchanged' | 'removed', bytesSent: number) => void;
}

export interface MirrorResult {
  files: number;
  added: number;
  changed: number;
  unchanged: number;
  removed: number;
  bytesSent: number;
}

/** `*` within a path segment, `**` across segments, `?` one character. */
export function pathGlob(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      re += glob[i + 2] === '/' ? '(?:.*/)?' : '.*';
      i += glob[i + 2] === '/' ? 2 : 1;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

function* walk(dir: string, root = dir): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const full = join(dir, e.name);
    if (e.isDirectory()) yield* walk(full, root);
    else if (e.isFile()) yield relative(root, full).split(sep).join('/');
  }
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const piece of createReadStream(path)) h.update(piece as Buffer);
  return h.digest('hex');
}

export async function mirror(client: BlockstoreClient, localDir: string, prefix: string, opts: MirrorOptions = {}): Promise<MirrorResult> {
  const include = (opts.include ?? []).map(pathGlob);
  const exclude = (opts.exclude ?? []).map(pathGlob);
  const wanted = (rel: string) => (include.length === 0 || include.some((r) => r.test(rel))) && !exclude.some((r) => r.test(rel));
  const remote = new Map<string, FileInfo>();
  for await (const f of client.list(prefix, 1000)) remote.set(f.path, f);
  const result: MirrorResult = { files: 0, added: 0, changed: 0, unchanged: 0, removed: 0, bytesSent: 0 };
  const local = new Set<string>();
  for (const rel of walk(localDir)) {
    if (!wanted(rel)) continue;
    const path = prefix + rel;
    local.add(path);
    result.files++;
    const there = remote.get(path);
    const file = join(localDir, ...rel.split('/'));
    if (there && (await sha256File(file)) === there.contentHash) {
      result.unchanged++;
      opts.onFile?.(path, 'unchanged', 0);
      continue;
    }
    const sent = opts.dryRun ? 0 : (await client.sync(path, file)).bytesSent;
    result.bytesSent += sent;
    if (there) result.changed++;
    else result.added++;
    opts.onFile?.(path, there ? 'changed' : 'new', sent);
  }
  if (opts.remove) {
    for (const path of remote.keys()) {
      if (local.has(path) || !wanted(path.slice(prefix.length))) continue;
      if (!opts.dryRun) await client.delete(path);
      result.removed++;
      opts.onFile?.(path, 'removed', 0);
    }
  }
  return result;
}
