/**
 * Rendezvous (highest-random-weight) hashing: every gateway ranks the live
 * block daemons the same way for a block, so R copies land on the first R
 * and readers know where to look first. Adding a daemon moves only the
 * blocks it now ranks first for.
 */
import { createHash } from 'node:crypto';

export function rankNodes(blockHash: string, nodeIds: string[]): string[] {
  return nodeIds
    .map((id) => ({ id, w: createHash('sha256').update(blockHash).update('\0').update(id).digest().readBigUInt64BE(0) }))
    .sort((a, b) => (a.w === b.w ? (a.id < b.id ? -1 : 1) : a.w > b.w ? -1 : 1))
    .map((x) => x.id);
}
