/**
 * The history of a load: one record per call, and the checker that reads
 * it against the cluster's final state afterwards (QAS-002, and the fault
 * tests' metadata load: no acknowledged write lost; no duplicate; no partial
 * version).
 *
 * Every write in a history targets its own path with its own idempotency
 * key, so the expected final state of a path is known exactly: the one
 * version the client was told about (acknowledged), or — when the client
 * never learned the outcome — that version or nothing.
 */
import { outcomeUnknown } from '../../lib/errors';

export interface CallRecord {
  /** ms since the epoch. */
  start: number;
  end: number;
  method: string;
  /** "OK" or the error code. */
  status: string;
  bytes: number;
  path?: string;
  /** SHA-256 hex of the bytes written (writes) or read (reads). */
  contentHash?: string;
  /** The version the service acknowledged (writes). */
  version?: number;
  error?: string;
}

/** What the cluster holds for a path at the end. */
export interface FinalVersion {
  version: number;
  contentHash: string;
  /** SHA-256 hex of the bytes actually read back (undefined if unreadable). */
  readHash: string | undefined;
}

export type Problem =
  | { kind: 'lost'; path: string; detail: string }
  | { kind: 'duplicate'; path: string; detail: string }
  | { kind: 'partial'; path: string; detail: string };


/**
 * Checks every write of `history` against `finalState(path)` (the versions
 * the cluster holds for it, oldest first).
 */
export async function checkHistory(history: CallRecord[], finalState: (path: string) => Promise<FinalVersion[]>): Promise<Problem[]> {
  const problems: Problem[] = [];
  const writes = new Map<string, CallRecord[]>();
  for (const r of history) {
    if (r.method !== 'PutFile' || !r.path) continue;
    const list = writes.get(r.path) ?? [];
    list.push(r);
    writes.set(r.path, list);
  }
  for (const [path, attempts] of writes) {
    const versions = await finalState(path);
    const acked = attempts.filter((a) => a.status === 'OK');
    const unknown = attempts.filter((a) => outcomeUnknown(a.status));
    const hashes = new Set(attempts.filter((a) => a.status === 'OK' || outcomeUnknown(a.status)).map((a) => a.contentHash));
    for (const a of acked) {
      const v = versions.find((x) => x.version === a.version);
      if (!v || v.contentHash !== a.contentHash) problems.push({ kind: 'lost', path, detail: `acknowledged version ${a.version} (${a.contentHash?.slice(0, 12)}) is not there` });
    }
    const allowed = new Set(acked.map((a) => a.contentHash)).size + (unknown.length && !acked.length ? 1 : 0);
    if (versions.length > Math.max(allowed, acked.length)) {
      problems.push({ kind: 'duplicate', path, detail: `${versions.length} versions for ${attempts.length} attempt(s) with one idempotency key` });
    }
    for (const v of versions) {
      if (!hashes.has(v.contentHash)) problems.push({ kind: 'partial', path, detail: `version ${v.version} holds content no client wrote` });
      else if (v.readHash !== v.contentHash) problems.push({ kind: 'partial', path, detail: `version ${v.version} reads back as ${v.readHash?.slice(0, 12) ?? 'nothing'}, not ${v.contentHash.slice(0, 12)}` });
    }
  }
  return problems;
}
