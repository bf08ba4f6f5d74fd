/**
 * What master and replicas say to each other, in domain terms (the gRPC
 * adapter in meta/rpc translates to and from proto messages).
 */
import type { LogEntry } from '../state/ops';
import type { Position } from '../store/meta-store';

export type ToMaster =
  | { kind: 'hello'; nodeId: string; address: string; last: Position; applied: Position; promisedEpoch: number; incarnation: string }
  | { kind: 'ack'; seq: number };

export type ToReplica = { epoch: number } & (
  | { kind: 'entries'; entries: LogEntry[]; commitSeq: number }
  | { kind: 'commit'; commitSeq: number }
  | { kind: 'truncate'; after: number }
  | { kind: 'snapshot'; first: boolean; last: boolean; applied: Position; pairs: Array<{ key: string; value: string }> }
);

/** The master's end of one replica's stream. */
export interface ReplicaLink {
  /** Resolves when the message is handed to the transport (backpressure). */
  send(msg: ToReplica): Promise<void>;
  onMessage(handler: (msg: ToMaster) => void): void;
  onClose(handler: () => void): void;
  close(): void;
}

/** A replica's end of its stream to the master. */
export interface MasterLink {
  send(msg: ToMaster): void;
  onMessage(handler: (msg: ToReplica) => void): void;
  onClose(handler: (err?: Error) => void): void;
  close(): void;
}

export type DialMaster = (address: string) => MasterLink;
