/**
 * Log operations. An entry carries everything its effect depends on
 * (version numbers, times, sizes), resolved by the master when it accepted
 * the write, so applying it is deterministic on every node.
 */
import type { BlockRefRec } from './records';

export type Op =
  | { type: 'noop'; reason: string }
  | { type: 'createUser'; userId: string; name: string; quotaBytes: number; time: string }
  | { type: 'issueToken'; tokenId: string; tokenHash: string; userId: string; scope: 'user' | 'admin'; time: string; expiresAtMs?: number }
  | { type: 'revokeToken'; tokenId: string }
  | {
      type: 'commit';
      ns: string;
      path: string;
      version: number;
      blocks: BlockRefRec[];
      size: number;
      contentHash: string;
      author: string;
      time: string;
      idempotencyKey: string;
      /** Locations of blocks new to the cluster or gaining copies. */
      locations: Array<{ hash: string; nodes: string[] }>;
    }
  | { type: 'delete'; ns: string; path: string; version: number; author: string; time: string; idempotencyKey: string }
  | { type: 'move'; ns: string; from: string; to: string; fromVersion: number; toVersion: number; author: string; time: string; idempotencyKey: string }
  | { type: 'addLocations'; locations: Array<{ hash: string; nodes: string[] }>; remove?: Array<{ hash: string; nodes: string[] }> }
  | { type: 'stageBlocks'; ns: string; blocks: Array<{ hash: string; size: number; nodes: string[] }>; time: string }
  /** Old versions past the retention; with dropFile, the file (its head a delete marker) goes too. */
  | { type: 'pruneVersions'; ns: string; path: string; versions: number[]; dropFile: boolean; time: string }
  /** Block index entries no version references any more (their copies are then garbage). */
  | { type: 'forgetBlocks'; hashes: string[] }
  /** Garbage collection's fence: blocks written before cutoffMs may be collected from now on. */
  | { type: 'fenceCollection'; cutoffMs: number }
  /** Change events before a cursor, and idempotency keys past their window, dropped from a namespace. */
  | { type: 'trimHistory'; ns: string; changesBefore: number; changeCursors: number[]; idemKeys: string[] };

export interface LogEntry {
  seq: number;
  epoch: number;
  op: Op;
}

export function encodeOp(op: Op): Buffer {
  return Buffer.from(JSON.stringify(op));
}

export function decodeOp(bytes: Uint8Array): Op {
  return JSON.parse(Buffer.from(bytes).toString('utf8')) as Op;
}
