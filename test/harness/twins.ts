/**
 * In-memory twins for unit tests: a block daemon (BlockdPeer) that can be
 * told to fail or to serve corrupt copies, and the view of a set of them.
 */
import { BlockstoreError, type ErrorCode } from '../../lib/errors';
import { decode } from '../../lib/compression';
import { sha256Hex } from '../../lib/hash';
import type { BlockdPeer, BlockdView } from '../../gateway/blocks/block-io';

/** An in-memory block daemon that can be told to fail. */
export class TwinDaemon implements BlockdPeer {
  readonly blocks = new Map<string, Buffer>();
  failWith: ErrorCode | undefined;
  corrupt = false;
  puts = 0;
  constructor(readonly id: string) {}
  async putBlock(hash: string, data: Uint8Array, opts?: { encoding?: '' | 'br' }) {
    this.puts++;
    if (this.failWith) throw new BlockstoreError(this.failWith, `${this.id} fails`);
    const bytes = decode(opts?.encoding ?? '', Buffer.from(data), 8 * 1024 * 1024);
    if (sha256Hex(bytes) !== hash) throw new BlockstoreError('HASH_MISMATCH', 'bytes do not match the name');
    const alreadyPresent = this.blocks.has(hash);
    this.blocks.set(hash, bytes);
    return { alreadyPresent, size: bytes.length };
  }
  async getBlock(hash: string, range: { offset?: number; length?: number } = {}) {
    if (this.failWith) throw new BlockstoreError(this.failWith, `${this.id} fails`);
    const b = this.blocks.get(hash);
    if (!b) throw new BlockstoreError('BLOCK_NOT_FOUND', `${this.id} has no ${hash}`);
    if (this.corrupt) throw new BlockstoreError('CORRUPT_BLOCK', `${this.id}: corrupt copy`);
    const offset = range.offset ?? 0;
    const data = b.subarray(offset, range.length ? offset + range.length : undefined);
    return { data, blockSize: b.length };
  }
  async getStats() {
    return { nodeId: this.id, blocks: this.blocks.size, bytes: 0, capacityBytes: 0, corruptBlocks: 0, scrubbedBlocks: 0 } as never;
  }
  close() {}
}


/** `n` twin daemons b1…bn, a view of them, and a connect function for BlockIo. */
export function twinDaemons(n: number): { daemons: TwinDaemon[]; view: BlockdView; connect: (address: string) => BlockdPeer } {
  const daemons = Array.from({ length: n }, (_, i) => new TwinDaemon(`b${i + 1}`));
  const view: BlockdView = {
    blockds: daemons.map((d) => ({ id: d.id, role: 'blockd', address: `${d.id}:1`, pid: 0, startedAt: '', updatedAt: '', info: {} })),
    draining: new Set<string>(),
    blockdAddress: (id: string) => `${id}:1`,
  };
  const byAddress = new Map(daemons.map((d) => [`${d.id}:1`, d]));
  return { daemons, view, connect: (a) => byAddress.get(a)! };
}
