/**
 * Promise-based client for blockstore.internal.v1.BlockDaemon. Used by peer
 * daemons (CopyBlock), gateways, repair, tests and benchmarks.
 */
import { internalChannelCredentials, internalChannelOptions } from '../credentials';
import type { ClusterCredentials } from '../../security/cluster-credentials';
import * as grpc from '@grpc/grpc-js';
import type { BlockDaemonClient as Raw } from '../../../proto/gen/ts/blockstore/internal/v1/BlockDaemon';
import type { GetStatsResponse__Output } from '../../../proto/gen/ts/blockstore/internal/v1/GetStatsResponse';
import type { BlockEntry__Output } from '../../../proto/gen/ts/blockstore/internal/v1/BlockEntry';
import { callUnary, CHANNEL_OPTIONS, type CallOpts } from '../client';
import { loadProtos } from '../proto';

/** Protobuf wire bytes of a PutBlockRequest (hash = 1, data = 2, encoding = 3), made once for every replica. */
export function encodePutBlock(hash: string, data: Uint8Array, encoding: '' | 'br' = ''): Buffer {
  const varint = (n: number, out: number[]) => {
    while (n > 0x7f) {
      out.push((n & 0x7f) | 0x80);
      n = Math.floor(n / 128);
    }
    out.push(n);
  };
  const head: number[] = [0x0a];
  varint(hash.length, head);
  const h = Buffer.from(hash, 'latin1');
  const mid: number[] = [0x12];
  varint(data.length, mid);
  const tail: number[] = encoding ? [0x1a, encoding.length, ...Buffer.from(encoding, 'latin1')] : [];
  const out = Buffer.allocUnsafe(head.length + h.length + mid.length + data.length + tail.length);
  let at = 0;
  for (const part of [Buffer.from(head), h, Buffer.from(mid), data, Buffer.from(tail)]) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

const identity = (b: Buffer) => b;

export class BlockdClient {
  private readonly raw: Raw;

  /** `credentials`: the calling node's (default: the process's, for tools and tests). */
  constructor(readonly address: string, options: grpc.ChannelOptions = {}, credentials?: ClusterCredentials) {
    const { protos } = loadProtos();
    this.raw = new protos.blockstore.internal.v1.BlockDaemon(address, internalChannelCredentials(credentials), { ...CHANNEL_OPTIONS, ...internalChannelOptions(credentials), ...options });
  }

  /**
   * Stores a block. `wire`: makes the same request encoded (encodePutBlock,
   * memoised by the caller), sent as is — a block going to three daemons is
   * encoded once.
   * @throws BlockstoreError as sent by the daemon (HASH_MISMATCH, CAPACITY_EXCEEDED, …).
   */
  putBlock(hash: string, data: Uint8Array, opts?: CallOpts & { encoding?: '' | 'br'; wire?: () => Buffer }): Promise<{ alreadyPresent: boolean; size: number }> {
    if (opts?.wire) {
      const wire = opts.wire();
      const method = (this.raw as unknown as { putBlock: { path: string; responseDeserialize: (b: Buffer) => unknown } }).putBlock;
      const raw = this.raw as unknown as grpc.Client;
      const send = (req: Buffer, md: grpc.Metadata, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: { alreadyPresent: boolean; size: number }) => void) =>
        raw.makeUnaryRequest(method.path, identity, method.responseDeserialize as (b: Buffer) => { alreadyPresent: boolean; size: number }, req, md, options, cb);
      return callUnary(raw, send, wire, opts);
    }
    return callUnary(this.raw, this.raw.putBlock, { hash, data: Buffer.from(data.buffer, data.byteOffset, data.length), encoding: opts?.encoding ?? '' }, opts);
  }

  /** @throws BlockstoreError BLOCK_NOT_FOUND, CORRUPT_BLOCK, … */
  getBlock(hash: string, range: { offset?: number; length?: number } = {}, opts?: CallOpts): Promise<{ data: Buffer; blockSize: number }> {
    return callUnary(this.raw, this.raw.getBlock, { hash, offset: range.offset ?? 0, length: range.length ?? 0 }, opts);
  }

  hasBlocks(hashes: string[], opts?: CallOpts): Promise<{ present: string[]; missing: string[] }> {
    return callUnary(this.raw, this.raw.hasBlocks, { hashes }, opts);
  }

  deleteBlocks(hashes: string[], opts?: CallOpts & { untouchedSinceMs?: number }): Promise<{ deleted: number; bytesFreed: number }> {
    return callUnary(this.raw, this.raw.deleteBlocks, { hashes, untouchedSinceMs: opts?.untouchedSinceMs ?? 0 }, opts);
  }

  listBlocks(after: string, limit: number, opts?: CallOpts): Promise<{ blocks: BlockEntry__Output[]; nextAfter: string }> {
    return callUnary(this.raw, this.raw.listBlocks, { after, limit }, opts);
  }

  copyBlock(hash: string, sourceAddress: string, opts?: CallOpts): Promise<{ alreadyPresent: boolean; size: number }> {
    return callUnary(this.raw, this.raw.copyBlock, { hash, sourceAddress }, opts);
  }

  getStats(opts?: CallOpts): Promise<GetStatsResponse__Output> {
    return callUnary(this.raw, this.raw.getStats, {}, opts);
  }

  close(): void {
    this.raw.close();
  }
}
