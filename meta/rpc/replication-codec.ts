/** Replication messages: domain ⇄ proto. */
import type { FollowRequest, FollowRequest__Output } from '../../proto/gen/ts/blockstore/internal/v1/FollowRequest';
import type { FollowResponse, FollowResponse__Output } from '../../proto/gen/ts/blockstore/internal/v1/FollowResponse';
import type { ToMaster, ToReplica } from '../replication/messages';
import { decodeOp, encodeOp } from '../state/ops';

export function encodeToReplica(m: ToReplica): FollowResponse {
  switch (m.kind) {
    case 'entries':
      return {
        epoch: m.epoch,
        entries: { commitSeq: m.commitSeq, entries: m.entries.map((e) => ({ seq: e.seq, epoch: e.epoch, op: encodeOp(e.op) })) },
      };
    case 'commit':
      return { epoch: m.epoch, commitSeq: m.commitSeq };
    case 'truncate':
      return { epoch: m.epoch, truncateAfter: m.after };
    case 'snapshot':
      return {
        epoch: m.epoch,
        snapshot: {
          first: m.first,
          last: m.last,
          appliedSeq: m.applied.seq,
          appliedEpoch: m.applied.epoch,
          pairs: m.pairs.map((p) => ({ key: p.key, value: Buffer.from(p.value) })),
        },
      };
  }
}

/** @throws Error on a message with no known content. */
export function decodeToReplica(r: FollowResponse__Output): ToReplica {
  switch (r.msg) {
    case 'entries':
      return {
        epoch: r.epoch,
        kind: 'entries',
        commitSeq: r.entries!.commitSeq,
        entries: r.entries!.entries.map((e) => ({ seq: e.seq, epoch: e.epoch, op: decodeOp(e.op) })),
      };
    case 'commitSeq':
      return { epoch: r.epoch, kind: 'commit', commitSeq: r.commitSeq! };
    case 'truncateAfter':
      return { epoch: r.epoch, kind: 'truncate', after: r.truncateAfter! };
    case 'snapshot': {
      const s = r.snapshot!;
      return {
        epoch: r.epoch,
        kind: 'snapshot',
        first: s.first,
        last: s.last,
        applied: { seq: s.appliedSeq, epoch: s.appliedEpoch },
        pairs: s.pairs.map((p) => ({ key: p.key, value: Buffer.from(p.value).toString('utf8') })),
      };
    }
    default:
      throw new Error('empty replication message');
  }
}

export function encodeToMaster(m: ToMaster): FollowRequest {
  if (m.kind === 'ack') return { ack: { seq: m.seq } };
  return {
    hello: {
      nodeId: m.nodeId,
      address: m.address,
      lastSeq: m.last.seq,
      lastEpoch: m.last.epoch,
      appliedSeq: m.applied.seq,
      appliedEpoch: m.applied.epoch,
      promisedEpoch: m.promisedEpoch,
      incarnation: m.incarnation,
    },
  };
}

/** @throws Error on a message with no known content. */
export function decodeToMaster(r: FollowRequest__Output): ToMaster {
  if (r.msg === 'ack') return { kind: 'ack', seq: r.ack!.seq };
  if (r.msg === 'hello') {
    const h = r.hello!;
    return {
      kind: 'hello',
      nodeId: h.nodeId,
      address: h.address,
      last: { seq: h.lastSeq, epoch: h.lastEpoch },
      applied: { seq: h.appliedSeq, epoch: h.appliedEpoch },
      promisedEpoch: h.promisedEpoch,
      incarnation: h.incarnation,
    };
  }
  throw new Error('empty replication message');
}
