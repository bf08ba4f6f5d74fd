/**
 * The block daemon's domain logic over a BlockTable: hash verification on
 * write and read, the capacity budget, corrupt-copy tracking, byte ranges.
 * No gRPC here (daemon/rpc adapts it); errors are BlockstoreErrors.
 */
import { BlockstoreError } from '../../lib/errors';
import { decode, type Encoding } from '../../lib/compression';
import { assertBlockHash, sha256Hex, sha256HexOf } from '../../lib/hash';
import { MAX_BLOCK_BYTES } from '../../lib/limits';
import type { BlockBufferPool } from '../../lib/rpc/framed';
import type { StoredBlock, BlockTable } from '../store/block-table';


/**
 * Stored value: one byte of encoding (0 raw, 1 brotli), then the payload.
 * A value that does not decode, or decodes to other bytes than its name
 * says, is a corrupt copy.
 */
const ENC_BYTE: Record<Encoding, number> = { '': 0, br: 1 };

/** The stored form's first byte, by encoding: [header, payload] is what the table writes (no joined copy). */
const ENC_HEADER: Record<Encoding, Buffer> = { '': Buffer.of(ENC_BYTE['']), br: Buffer.of(ENC_BYTE.br) };

function decodeStored(stored: Buffer): Buffer | undefined {
  if (stored.length < 1) return undefined;
  const enc = stored[0] === 0 ? '' : stored[0] === 1 ? 'br' : undefined;
  if (enc === undefined) return undefined;
  try {
    return decode(enc, stored.subarray(1), MAX_BLOCK_BYTES);
  } catch {
    return undefined;
  }
}
export const MAX_BATCH_HASHES = 10_000;
export const MAX_LIST_LIMIT = 10_000;

export interface BlockStoreOptions {
  /** Bytes the daemon may hold; puts beyond it are CAPACITY_EXCEEDED. */
  capacityBytes: number;
}

export interface PutResult {
  alreadyPresent: boolean;
  size: number;
}

export interface BlockStats {
  blocks: number;
  bytes: number;
  capacityBytes: number;
  corruptBlocks: number;
  corruptHashes: string[];
}

export class BlockStore {
  /** Hashes whose stored copy failed verification; never served, overwritable. */
  private readonly corrupt = new Set<string>();
  /** Copies found corrupt (by a read or the scrubber) since the process started. */
  corruptFound = 0;
  /** Corrupt copies overwritten with a good one since the process started. */
  corruptReplaced = 0;
  /** Puts in progress by hash: a second put of the same block joins the first. */
  private readonly inProgress = new Map<string, Promise<PutResult>>();
  /**
   * Puts and deletes of one hash run one at a time, so a garbage-collection
   * delete can never interleave with a put that found the block present.
   */
  private readonly chains = new Map<string, Promise<unknown>>();

  private serial<T>(hash: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.chains.get(hash) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => {});
    this.chains.set(hash, tail);
    void tail.then(() => {
      if (this.chains.get(hash) === tail) this.chains.delete(hash);
    });
    return run;
  }

  constructor(
    private readonly table: BlockTable,
    private readonly options: BlockStoreOptions,
  ) {}

  /**
   * Verifies and stores a block; resolves once it is durable.
   * @throws BlockstoreError INVALID_HASH, BLOCK_TOO_LARGE, INVALID_ARGUMENT (empty),
   *   HASH_MISMATCH (nothing stored), CAPACITY_EXCEEDED (nothing stored).
   */
  async put(hash: string, data: Uint8Array | readonly Uint8Array[], encoding: Encoding = ''): Promise<PutResult> {
    assertBlockHash(hash);
    // One buffer, or the pieces it arrived in (kept apart: hashed one by
    // one, written with one writev).
    let payload = (Array.isArray(data) ? data : [data]).map((p) => Buffer.from(p.buffer, p.byteOffset, p.length));
    // An encoded block is decoded whole (rare: only blocks compression pays for).
    if (encoding !== '') payload = [Buffer.concat(payload)];
    const plain = encoding !== '' ? [decode(encoding, payload[0]!, MAX_BLOCK_BYTES)] : payload;
    const size = plain.reduce((n, p) => n + p.length, 0);
    if (size === 0) throw new BlockstoreError('INVALID_ARGUMENT', 'data: a block holds 1 byte to 4 MiB, got 0 bytes');
    if (size > MAX_BLOCK_BYTES) {
      throw new BlockstoreError('BLOCK_TOO_LARGE', `data: a block holds at most ${MAX_BLOCK_BYTES} bytes, got ${size}`);
    }
    const actual = sha256HexOf(plain);
    if (actual !== hash) throw new BlockstoreError('HASH_MISMATCH', `data hashes to ${actual}, not ${hash}; nothing stored`);
    const running = this.inProgress.get(hash);
    if (running) return running.then((r) => ({ ...r, alreadyPresent: true }));
    const stored = [ENC_HEADER[encoding], ...payload];
    const p = this.serial(hash, () => this.store(hash, size, stored)).finally(() => this.inProgress.delete(hash));
    this.inProgress.set(hash, p);
    return p;
  }

  private async store(hash: string, originalSize: number, body: Buffer[]): Promise<PutResult> {
    const bytes = body.reduce((n, b) => n + b.length, 0);
    // A known-corrupt copy is replaced; otherwise an existing block is kept
    // and reported (the block table checks existence inside its batch).
    const overwrite = this.corrupt.has(hash);
    let growth = bytes;
    if (this.wouldExceed(growth)) {
      // Slow path, only near capacity: a duplicate must not be refused.
      // A present block is still touched: garbage collection spares what was
      // put after its cutoff, and this put may precede a commit of it.
      if (!overwrite && (await this.table.touch(hash))) return { alreadyPresent: true, size: originalSize };
      const [size] = await this.table.sizes([hash]);
      growth = bytes - (size ?? 0);
      if (this.wouldExceed(growth)) {
        const used = this.table.totals().bytes;
        throw new BlockstoreError(
          'CAPACITY_EXCEEDED',
          `capacity ${this.options.capacityBytes} bytes would be exceeded (${used} used, ${this.table.pendingBytes()} pending, block ${bytes}); nothing stored`,
        );
      }
    }
    // No await between the capacity check and put(): the block table counts
    // the bytes as pending synchronously, so parallel puts cannot overshoot.
    const r = await this.table.put(hash, body, { overwrite });
    if (r.written && this.corrupt.delete(hash)) this.corruptReplaced++;
    return { alreadyPresent: !r.written, size: originalSize };
  }

  private wouldExceed(growth: number): boolean {
    return this.table.totals().bytes + this.table.pendingBytes() + growth > this.options.capacityBytes;
  }

  /**
   * Reads a block (or `length` bytes from `offset`; length 0 = to the end),
   * re-hashing the whole block first. With a pool, a body kept in a segment
   * file is read into one of its buffers: `release` gives it back, to be
   * called once nothing reads `data` any more (never called: the
   * collector's, as a fresh buffer would be).
   * @throws BlockstoreError INVALID_HASH, BLOCK_NOT_FOUND, CORRUPT_BLOCK (the copy
   *   is recorded as corrupt and not served), INVALID_ARGUMENT (range beyond the block).
   */
  async get(hash: string, offset = 0, length = 0, pool?: BlockBufferPool): Promise<{ data: Buffer; blockSize: number; release: () => void }> {
    assertBlockHash(hash);
    if (this.corrupt.has(hash)) throw corruptError(hash);
    const stored = await this.table.get(hash, pool && ((n) => pool.take(n)));
    if (!stored) throw new BlockstoreError('BLOCK_NOT_FOUND', `block ${hash} is not stored here`);
    const release = () => pool?.release(stored);
    const data = decodeStored(stored);
    if (!data || sha256Hex(data) !== hash) {
      release();
      this.markCorrupt(hash);
      throw corruptError(hash);
    }
    if (offset > data.length || offset < 0 || length < 0) {
      release();
      throw new BlockstoreError('INVALID_ARGUMENT', `range: offset ${offset} is beyond the block's ${data.length} bytes`);
    }
    const end = length === 0 ? data.length : Math.min(data.length, offset + length);
    return { data: offset === 0 && end === data.length ? data : data.subarray(offset, end), blockSize: data.length, release };
  }

  /**
   * Splits `hashes` into present and missing (known-corrupt counts as missing).
   * @throws BlockstoreError INVALID_HASH, INVALID_ARGUMENT (too many).
   */
  async has(hashes: string[]): Promise<{ present: string[]; missing: string[] }> {
    if (hashes.length > MAX_BATCH_HASHES) {
      throw new BlockstoreError('INVALID_ARGUMENT', `hashes: at most ${MAX_BATCH_HASHES} a call, got ${hashes.length}`);
    }
    hashes.forEach((h, i) => assertBlockHash(h, `hashes[${i}]`));
    const sizes = await this.table.sizes(hashes);
    const present: string[] = [];
    const missing: string[] = [];
    hashes.forEach((h, i) => (sizes[i] !== undefined && !this.corrupt.has(h) ? present : missing).push(h));
    return { present, missing };
  }

  /** Size of a good stored copy; undefined when absent or known corrupt. */
  async sizeOf(hash: string): Promise<number | undefined> {
    if (this.corrupt.has(hash)) return undefined;
    const [size] = await this.table.sizes([hash]);
    return size;
  }

  /**
   * Removes blocks; absent ones are ignored. With `untouchedSinceMs`, only
   * blocks not put since that time are removed (garbage collection: a block
   * an upload just wrote or re-put is kept).
   * @throws BlockstoreError INVALID_HASH, INVALID_ARGUMENT (too many).
   */
  async delete(hashes: string[], untouchedSinceMs = 0): Promise<{ deleted: number; bytesFreed: number }> {
    if (hashes.length > MAX_BATCH_HASHES) {
      throw new BlockstoreError('INVALID_ARGUMENT', `hashes: at most ${MAX_BATCH_HASHES} a call, got ${hashes.length}`);
    }
    hashes.forEach((h, i) => assertBlockHash(h, `hashes[${i}]`));
    const results = await Promise.all(
      [...new Set(hashes)].map((hash) =>
        this.serial(hash, async () => {
          if (untouchedSinceMs > 0) {
            const [t] = await this.table.touched([hash]);
            if (t === undefined || t >= untouchedSinceMs) return [];
          }
          return this.table.delete([hash]);
        }),
      ),
    );
    const gone = results.flat();
    for (const g of gone) this.corrupt.delete(g.hash);
    return { deleted: gone.length, bytesFreed: gone.reduce((n, g) => n + g.size, 0) };
  }

  /**
   * A page of stored blocks in hash order.
   * @throws BlockstoreError INVALID_ARGUMENT for a malformed cursor or limit.
   */
  async list(after: string, limit: number): Promise<Array<StoredBlock & { corrupt: boolean }>> {
    if (after !== '') assertBlockHash(after, 'after');
    if (limit < 0 || limit > MAX_LIST_LIMIT) throw new BlockstoreError('INVALID_ARGUMENT', `limit: 0 to ${MAX_LIST_LIMIT}, got ${limit}`);
    const entries = await this.table.list(after, limit === 0 ? 1000 : limit);
    return entries.map((e) => ({ ...e, corrupt: this.corrupt.has(e.hash) }));
  }

  /**
   * Re-hashes one stored block (the scrubber's step). Returns false and
   * records the copy when it is corrupt; true when good or gone. The read
   * leaves the page cache as it found it.
   */
  async verify(hash: string): Promise<{ ok: boolean; size: number }> {
    const stored = await this.table.get(hash, undefined, { passing: true });
    if (!stored) return { ok: true, size: 0 };
    const data = decodeStored(stored);
    if (data && sha256Hex(data) === hash) return { ok: true, size: stored.length };
    this.markCorrupt(hash);
    return { ok: false, size: stored.length };
  }

  private markCorrupt(hash: string): void {
    if (this.corrupt.has(hash)) return;
    this.corrupt.add(hash);
    this.corruptFound++;
  }

  stats(): BlockStats {
    const { blocks, bytes } = this.table.totals();
    return {
      blocks,
      bytes,
      capacityBytes: this.options.capacityBytes,
      corruptBlocks: this.corrupt.size,
      corruptHashes: [...this.corrupt].slice(0, 1000),
    };
  }
}

function corruptError(hash: string): BlockstoreError {
  return new BlockstoreError('CORRUPT_BLOCK', `the stored copy of block ${hash} is corrupt; read another replica`);
}
