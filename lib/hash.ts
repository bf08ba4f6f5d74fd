import { createHash } from 'node:crypto';
import { BlockstoreError } from './errors';

/** The name of a block: lowercase hex SHA-256 of its bytes. */
export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** sha256Hex of the concatenation of `parts`, without joining them. */
export function sha256HexOf(parts: readonly Uint8Array[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
}

const HASH_RE = /^[0-9a-f]{64}$/;

export function isBlockHash(value: string): boolean {
  return HASH_RE.test(value);
}

/**
 * @throws BlockstoreError INVALID_HASH when `value` is not 64 lowercase hex characters.
 */
export function assertBlockHash(value: string, field = 'hash'): void {
  if (!HASH_RE.test(value)) {
    const shown = value.length > 80 ? `${value.slice(0, 80)}…` : value;
    throw new BlockstoreError('INVALID_HASH', `${field} must be 64 lowercase hex characters (SHA-256), got ${JSON.stringify(shown)}`);
  }
}
