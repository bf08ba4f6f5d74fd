/** Query parameters of the HTTP APIs (block data port, console). */
import { BlockstoreError } from '../errors';

/**
 * A non-negative integer query parameter; absent or empty is 0.
 * @throws BlockstoreError INVALID_ARGUMENT naming the parameter.
 */
export function intParam(url: URL, name: string): number {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === '') return 0;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new BlockstoreError('INVALID_ARGUMENT', `${name}: a non-negative integer, got ${JSON.stringify(raw.slice(0, 20))}`);
  return n;
}
