import { BlockstoreError } from './errors';

const UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12,
  kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40,
};

/**
 * Parses "1048576", "64MiB", "10GB" into bytes.
 * @throws BlockstoreError INVALID_ARGUMENT naming `field` when malformed.
 */
export function parseBytes(text: string, field: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new BlockstoreError('INVALID_ARGUMENT', `${field}: expected a size like 4096, 64MiB or 10GB, got ${JSON.stringify(text)}`);
  return Math.floor(Number(m[1]) * unit);
}

const DURATIONS: Record<string, number> = { '': 1, ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses "500ms", "10s", "15m", "12h", "30d" (a bare number is milliseconds) into milliseconds.
 * @throws BlockstoreError INVALID_ARGUMENT naming `field` when malformed.
 */
export function parseDuration(text: string, field: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = m ? DURATIONS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new BlockstoreError('INVALID_ARGUMENT', `${field}: expected a duration like 500ms, 10s, 15m, 12h or 30d, got ${JSON.stringify(text)}`);
  return Math.floor(Number(m[1]) * unit);
}

/**
 * Parses a non-negative number.
 * @throws BlockstoreError INVALID_ARGUMENT naming `field`.
 */
export function parseNumber(text: string, field: string, min = 0): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < min) throw new BlockstoreError('INVALID_ARGUMENT', `${field}: expected a number ≥ ${min}, got ${JSON.stringify(text)}`);
  return n;
}

/**
 * Checks "host:port" (port 0 allowed: pick a free one).
 * @throws BlockstoreError INVALID_ARGUMENT naming `field`.
 */
export function parseHostPort(text: string, field: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:]+\]|[^:\s]+):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new BlockstoreError('INVALID_ARGUMENT', `${field}: expected HOST:PORT, got ${JSON.stringify(text)}`);
  return { host: m[1]!, port };
}
