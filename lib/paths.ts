/**
 * File paths inside a namespace: "/"-separated, relative ("a/b.txt"; a
 * leading "/" is accepted and dropped), UTF-8, no empty, "." or ".."
 * segments, no control characters, at most 1,024 bytes.
 */
import { BlockstoreError } from './errors';

export const MAX_PATH_BYTES = 1024;

/**
 * Returns the canonical form of `path`.
 * @throws BlockstoreError INVALID_PATH naming what is wrong.
 */
export function normalizePath(path: string, field = 'path'): string {
  const fail = (why: string): never => {
    const shown = path.length > 80 ? `${path.slice(0, 80)}…` : path;
    throw new BlockstoreError('INVALID_PATH', `${field} ${JSON.stringify(shown)}: ${why}`);
  };
  if (typeof path !== 'string' || path.length === 0) fail('must not be empty');
  if (path.includes('\uFFFD') || !Buffer.from(path, 'utf8').toString('utf8').startsWith(path)) fail('is not valid UTF-8');
  if (/[\u0000-\u001f\u007f]/.test(path)) fail('contains a control character');
  if (Buffer.byteLength(path, 'utf8') > MAX_PATH_BYTES) fail(`is longer than ${MAX_PATH_BYTES} bytes`);
  const p = path.startsWith('/') ? path.slice(1) : path;
  if (p.length === 0) fail('names no file');
  for (const seg of p.split('/')) {
    if (seg === '') fail('has an empty segment');
    if (seg === '.' || seg === '..') fail(`has a "${seg}" segment`);
  }
  if (/[\uD800-\uDFFF]/.test(p.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, ''))) fail('is not valid UTF-8');
  return p;
}

/**
 * A listing prefix: like a path, but may be empty and may end with "/".
 * @throws BlockstoreError INVALID_PATH.
 */
export function normalizePrefix(prefix: string): string {
  if (prefix === '' || prefix === '/') return '';
  const trailing = prefix.endsWith('/');
  const p = normalizePath(trailing ? prefix.slice(0, -1) : prefix, 'prefix');
  return trailing ? `${p}/` : p;
}
