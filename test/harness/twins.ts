/**
 * In-memory twins for unit tests: a block daemon (what BlockIo and the
 * repair worker call) that can be told to fail or to serve corrupt copies,
 * and the view of a set of them.
 */
import { BlockstoreError, type ErrorCode } from '../../lib/errors';
import { decode } from '../../lib/compression';
import { sha256Hex } from '../../lib/hash';
import type { BlockdPeer, BlockdView } from '../../gateway/blocks/block-io';

/** An in-memory block daemon that can be told to fail. */
export class TwinDaemon implements BlockdPeer {
  readonly blocks = new Map<string, Buffer>();
  /** When each block was last put (ms since the epoch). */
  readonly touched = new Map<string, number>();
  /** Copies this daemon reports corrupt (GetStats); it will not serve them. */
  readonly corruptHashes = new Set<string>();
  /** The other daemons, by address, for CopyBlock. */
  peers = new Map<string, TwinDaemon>();
  failWith: ErrorCode | undefined;
  corrupt = false;
  puts = 0;
  /** Reads a put's bytes only this long after the call (a socket still sending them). */
  putLagMs = 0;
  constructor(readonly id: string) {}
  /** Stores `bytes` as a block put at `touchedMs`; returns its hash. */
  hold(bytes: Buffer, touchedMs = Date.now()): string {
    const hash = sha256Hex(bytes);
    this.blocks.set(hash, bytes);
    this.touched.set(hash, touchedMs);
    return hash;
  }
  async putBlock(hash: string, data: Uint8Array, opts?: { encoding?: '' | 'br' }) {
    this.puts++;
    if (this.failWith) throw new BlockstoreError(this.failWith, `${this.id} fails`);
    if (this.putLagMs) await new Promise((r) => setTimeout(r, this.putLagMs));
    const bytes = decode(opts?.encoding ?? '', Buffer.from(data), 8 * 1024 * 1024);
    if (sha256Hex(bytes) !== hash) throw new BlockstoreError('HASH_MISMATCH', 'bytes do not match the name');
    const alreadyPresent = this.blocks.has(hash);
    this.blocks.set(hash, bytes);
    this.touched.set(hash, Date.now());
    return { alreadyPresent, size: bytes.length };
  }
  async copyBlock(hash: string, sourceAddress: string) {
    if (this.failWith) throw new BlockstoreError(this.failWith, `${this.id} fails`);
    const source = this.peers.get(sourceAddress);
    const bytes = source?.blocks.get(hash);
    if (!source || !bytes) throw new BlockstoreError('BLOCK_NOT_FOUND', `${sourceAddress} has no ${hash}`);
    if (source.corruptHashes.has(hash) || sha256Hex(bytes) !== hash) throw new BlockstoreError('CORRUPT_BLOCK', `${source.id}: corrupt copy`);
    const alreadyPresent = this.blocks.has(hash) && !this.corruptHashes.has(hash);
    this.blocks.set(hash, bytes);
    this.touched.set(hash, Date.now());
    this.corruptHashes.delete(hash);
    return { alreadyPresent, size: bytes.length };
  }
  async hasBlocks(hashes: string[]) {
    return { present: hashes.filter((h) => this.blocks.has(h)), missing: hashes.filter((h) => !this.blocks.has(h)) };
  }
  async listBlocks(after: string, limit: number) {
    const hashes = [...this.blocks.keys()].filter((h) => h > after).sort();
    const page = hashes.slice(0, limit);
    return {
      blocks: page.map((hash) => ({ hash, size: this.blocks.get(hash)!.length, corrupt: this.corruptHashes.has(hash), touchedMs: this.touched.get(hash) ?? 0 })),
      nextAfter: hashes.length > limit ? page[page.length - 1]! : '',
    };
  }
  async deleteBlocks(hashes: string[], opts?: { untouchedSinceMs?: number }) {
    let deleted = 0;
    let bytesFreed = 0;
    for (const h of hashes) {
      const b = this.blocks.get(h);
      if (!b || (opts?.untouchedSinceMs && (this.touched.get(h) ?? 0) >= opts.untouchedSinceMs)) continue;
      this.blocks.delete(h);
      this.touched.delete(h);
      deleted++;
      bytesFreed += b.length;
    }
    return { deleted, bytesFreed };
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
    return { nodeId: this.id, blocks: this.blocks.size, bytes: 0, capacityBytes: 0, corruptBlocks: this.corruptHashes.size, scrubbedBlocks: 0, corruptHashes: [...this.corruptHashes] } as never;
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
  for (const d of daemons) d.peers = byAddress;
  return { daemons, view, connect: (a) => byAddress.get(a)! };
}
