/**
 * Promise-based client for blockstore.internal.v1.BlockDaemon. Used by peer
 * daemons (CopyBlock), gateways, repair, tests and benchmarks.
 */
import { internalChannelCredentials, internalChannelOptions } from '../credentials';
import * as grpc from '@grpc/grpc-js';
import type { BlockDaemonClient as Raw } from '../../../proto/gen/ts/blockstore/internal/v1/BlockDaemon';
import type { GetStatsResponse__Output } from '../../../proto/gen/ts/blockstore/internal/v1/GetStatsResponse';
import type { BlockEntry__Output } from '../../../proto/gen/ts/blockstore/internal/v1/BlockEntry';
import { callUnary, CHANNEL_OPTIONS, type CallOpts } from '../client';
import { loadProtos } from '../proto';

export class BlockdClient {
  private readonly raw: Raw;

  constructor(readonly address: string, options: grpc.ChannelOptions = {}) {
    const { protos } = loadProtos();
    this.raw = new protos.blockstore.internal.v1.BlockDaemon(address, internalChannelCredentials(), { ...CHANNEL_OPTIONS, ...internalChannelOptions(), ...options });
  }

  /** @throws BlockstoreError as sent by the daemon (HASH_MISMATCH, CAPACITY_EXCEEDED, …). */
  putBlock(hash: string, data: Uint8Array, opts?: CallOpts & { encoding?: '' | 'br' }): Promise<{ alreadyPresent: boolean; size: number }> {
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
