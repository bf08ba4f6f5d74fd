/**
 * Blocks in LevelDB (classic-level), durable and group-committed.
 *
 * Layout: "d!<hash>" → bytes, "s!<hash>" → size (6-byte big-endian). The
 * size keys keep `sizes`, `list` and the startup count cheap without reading
 * block bytes. Both go in one batch, so they never disagree.
 *
 * Durability: a put resolves only after a `sync: true` batch containing it
 * has returned (LevelDB's log is fsync'd). Puts arriving while a batch is
 * being written wait for the next one, so N concurrent puts cost about one
 * fsync instead of N (FACTS.md: group commit is the way to both durability
 * and throughput).
 *
 * Tuning (FACTS.md): 64 MiB write buffer and table files, no compression —
 * about 4× faster than the defaults for multi-MiB values. Blocks that pay to
 * compress are compressed above this layer.
 */
import { Level } from 'level';
import type { ChunkEntry, ChunkStore } from './chunk-store';

const DATA = 'd!';
const SIZE = 's!';
/** Caps one group-commit batch so a flood of puts cannot build a giant batch. */
const MAX_BATCH_BYTES = 64 * 1024 * 1024;

interface Pending {
  hash: string;
  data: Uint8Array;
  resolve: () => void;
  reject: (err: Error) => void;
}

export interface LevelChunkStoreOptions {
  /** Test and benchmark switch only: skip fsync. Never set in production. */
  unsafeNoSync?: boolean;
}

export class LevelChunkStore implements ChunkStore {
  private readonly db: Level<string, Buffer>;
  private queue: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private pending = 0;
  private blocks = 0;
  private bytes = 0;
  private opened = false;
  private readonly sync: boolean;

  constructor(readonly dir: string, options: LevelChunkStoreOptions = {}) {
    this.db = new Level<string, Buffer>(dir, {
      keyEncoding: 'utf8',
      valueEncoding: 'buffer',
      writeBufferSize: 64 * 1024 * 1024,
      maxFileSize: 64 * 1024 * 1024,
      compression: false,
      cacheSize: 32 * 1024 * 1024,
    });
    this.sync = !options.unsafeNoSync;
  }

  async open(): Promise<void> {
    await this.db.open();
    this.opened = true;
    let blocks = 0;
    let bytes = 0;
    for await (const [, v] of this.db.iterator({ gt: SIZE, lt: SIZE + '\xff' })) {
      blocks++;
      bytes += v.readUIntBE(0, 6);
    }
    this.blocks = blocks;
    this.bytes = bytes;
  }

  async close(): Promise<void> {
    if (!this.opened) return;
    this.opened = false;
    while (this.flushing) await this.flushing;
    await this.db.close();
  }

  put(hash: string, data: Uint8Array): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ hash, data, resolve, reject });
      this.pending += data.length;
      if (!this.flushing) this.flushing = this.flush();
    });
  }

  private async flush(): Promise<void> {
    try {
      while (this.queue.length) {
        let size = 0;
        let n = 0;
        while (n < this.queue.length && (n === 0 || size + this.queue[n]!.data.length <= MAX_BATCH_BYTES)) {
          size += this.queue[n]!.data.length;
          n++;
        }
        const batch = this.queue.splice(0, n);
        // Last write of a hash within a batch wins; sizes are counted once.
        const unique = new Map<string, Pending>();
        for (const p of batch) unique.set(p.hash, p);
        const hashes = [...unique.keys()];
        try {
          const before = await this.db.getMany(hashes.map((h) => SIZE + h));
          const ops: Array<{ type: 'put'; key: string; value: Buffer }> = [];
          for (const p of unique.values()) {
            const sizeBuf = Buffer.alloc(6);
            sizeBuf.writeUIntBE(p.data.length, 0, 6);
            ops.push({ type: 'put', key: DATA + p.hash, value: Buffer.from(p.data.buffer, p.data.byteOffset, p.data.length) });
            ops.push({ type: 'put', key: SIZE + p.hash, value: sizeBuf });
          }
          await this.db.batch(ops, { sync: this.sync });
          hashes.forEach((h, i) => {
            const prev = before[i];
            if (prev) {
              this.bytes -= prev.readUIntBE(0, 6);
            } else {
              this.blocks++;
            }
            this.bytes += unique.get(h)!.data.length;
          });
          for (const p of batch) this.pending -= p.data.length;
          for (const p of batch) p.resolve();
        } catch (err) {
          for (const p of batch) this.pending -= p.data.length;
          for (const p of batch) p.reject(err as Error);
        }
      }
    } finally {
      this.flushing = undefined;
    }
  }

  async get(hash: string): Promise<Buffer | undefined> {
    return (await this.db.get(DATA + hash)) ?? undefined;
  }

  async sizes(hashes: string[]): Promise<Array<number | undefined>> {
    if (hashes.length === 0) return [];
    const values = await this.db.getMany(hashes.map((h) => SIZE + h));
    return values.map((v) => (v ? v.readUIntBE(0, 6) : undefined));
  }

  async delete(hashes: string[]): Promise<ChunkEntry[]> {
    const unique = [...new Set(hashes)];
    const sizes = await this.sizes(unique);
    const gone: ChunkEntry[] = [];
    const ops: Array<{ type: 'del'; key: string }> = [];
    unique.forEach((hash, i) => {
      const size = sizes[i];
      if (size === undefined) return;
      gone.push({ hash, size });
      ops.push({ type: 'del', key: DATA + hash }, { type: 'del', key: SIZE + hash });
    });
    if (ops.length) await this.db.batch(ops, { sync: this.sync });
    for (const g of gone) {
      this.blocks--;
      this.bytes -= g.size;
    }
    return gone;
  }

  async list(after: string, limit: number): Promise<ChunkEntry[]> {
    const out: ChunkEntry[] = [];
    for await (const [k, v] of this.db.iterator({ gt: SIZE + after, lt: SIZE + '\xff', limit })) {
      out.push({ hash: k.slice(SIZE.length), size: v.readUIntBE(0, 6) });
    }
    return out;
  }

  pendingBytes(): number {
    return this.pending;
  }

  totals(): { blocks: number; bytes: number } {
    return { blocks: this.blocks, bytes: this.bytes };
  }
}
