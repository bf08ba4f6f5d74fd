/**
 * Who may become metadata master: only a node that holds every committed
 * log entry (Raft's election restriction; Patroni's synchronous mode).
 *
 * The synchronous set record in etcd says who that can be:
 * - a member of the set, or the master that published it, with the same
 *   data directory (incarnation) it had then — each holds every write
 *   acknowledged in that term; a node that lost its disk is not one;
 * - after an orderly stop (a sealed record, whose committed position is
 *   exact), any node whose log holds that position;
 * and in every case the node's log must hold the record's committed
 * position (a lower bound while the master ran), which also stops a wiped
 * or lagging node that an older record still names.
 * With no record at all the cluster is new: anyone may lead.
 */
import type { SyncSetRecord } from '../../coordination/meta-election';
import type { Position } from '../store/meta-store';

export interface Candidate {
  id: string;
  incarnation: string;
  /** True when this node's log holds the committed entry at `pos`. */
  holds(pos: Position): Promise<boolean>;
}

/** Undefined when `self` may lead under `record`, else why not (for logs and status). */
export async function whyNotLeader(record: SyncSetRecord | undefined, self: Candidate): Promise<string | undefined> {
  if (!record) return undefined;
  const committed = record.committed ?? { seq: 0, epoch: 0 };
  if (!(await self.holds(committed))) {
    return `this node's log does not hold committed entry ${committed.seq} (epoch ${committed.epoch}); waiting for a node that does`;
  }
  if (record.sealed) return undefined;
  const named = record.master === self.id || record.members.includes(self.id);
  if (!named) {
    return `not in the synchronous set [${record.members.join(', ')}] of master ${record.master}: only they hold every acknowledged write`;
  }
  const incarnation = record.incarnations?.[self.id];
  if (incarnation !== undefined && incarnation !== self.incarnation) {
    return `the synchronous set names this node's earlier data directory (incarnation ${incarnation}); this one (${self.incarnation}) may lack acknowledged writes`;
  }
  return undefined;
}
