/**
 * Append-only segment files for block bodies (key-value separation, as in
 * WiscKey and TiKV's Titan): LevelDB keeps each block's record and a pointer,
 * the bytes are written once, here, and never rewritten by LSM compaction.
 *
 * Files are `segments/NNNNNNNN.seg`. One is active: appends reserve their
 * offsets synchronously, write at them in parallel, and are durable once the
 * caller's `sync()` returns (fdatasync covers every write that completed
 * before it, so concurrent batches share fsyncs). A new file's directory
 * entry is fsync'd before anything is written to it. A record must only be
 * written after the bytes it points to are durable; then a crash can leave
 * unreferenced bytes (a torn tail, a file no record names), never a record
 * pointing at nothing. Unreferenced space is reclaimed by segment compaction
 * (LevelBlockTable) and files nothing references are deleted at open.
 *
 * Page cache: once a range is durable it is clean, and the log keeps only
 * the most recent `cacheBytes` of such ranges in the kernel's page cache,
 * dropping older ones (./page-cache.ts says why). Reads of dropped bodies go
 * to the disk and are cached by the kernel as any read.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, statSync } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { PAGE, pageCache } from './page-cache';

export interface SegmentPointer {
  segment: number;
  offset: number;
  length: number;
}

const NAME = /^(\d{8})\.seg$/;

/** Recent durable bytes a daemon keeps in the page cache by default. */
export const DEFAULT_CACHE_BYTES = 64 * 1024 * 1024;

export class SegmentLog {
  readonly dir: string;
  private readonly files = new Map<number, Promise<FileHandle>>();
  /** Read-only handles for passing reads, readahead off (see readPassing). */
  private readonly passing = new Map<number, Promise<FileHandle>>();
  private readonly sizes = new Map<number, number>();
  private active = 0;
  private activeReady: Promise<void> | undefined;
  /** Durable ranges still in the page cache, oldest first (adjacent ones merged). */
  private cached: SegmentPointer[] = [];
  private cachedBytes = 0;
  /** Bytes whose pages were dropped since open (status, tests). */
  droppedBytes = 0;

  constructor(
    dataDir: string,
    /** A segment takes no more appends once it reaches this size. */
    readonly segmentBytes = 256 * 1024 * 1024,
    /** Durable bytes kept in the page cache (the most recent); older ones are dropped. */
    readonly cacheBytes = DEFAULT_CACHE_BYTES,
  ) {
    this.dir = join(dataDir, 'segments');
  }

  /** Finds the existing segments (sizes from the files); appends go to a new one. */
  open(): number[] {
    mkdirSync(this.dir, { recursive: true });
    const ids: number[] = [];
    for (const name of readdirSync(this.dir)) {
      const m = NAME.exec(name);
      if (!m) continue;
      const id = Number(m[1]);
      ids.push(id);
      this.sizes.set(id, statSync(join(this.dir, name)).size);
    }
    ids.sort((a, b) => a - b);
    this.active = (ids.at(-1) ?? 0) + 1;
    return ids;
  }

  private path(id: number): string {
    return join(this.dir, `${String(id).padStart(8, '0')}.seg`);
  }

  private fsyncDir(): void {
    const fd = openSync(this.dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  private handle(id: number): Promise<FileHandle> {
    let h = this.files.get(id);
    if (!h) {
      h = open(this.path(id), id === this.active ? 'r+' : 'r');
      this.files.set(id, h);
    }
    return h;
  }

  /** Creates the active file (and makes its name durable) before its first append. */
  private ensureActive(): Promise<void> {
    if (this.sizes.has(this.active)) return Promise.resolve();
    this.activeReady ??= (async () => {
      const id = this.active;
      const h = open(this.path(id), 'wx+');
      this.files.set(id, h);
      await h;
      this.fsyncDir();
      this.sizes.set(id, 0);
      this.activeReady = undefined;
    })();
    return this.activeReady;
  }

  /**
   * Writes `bodies` (each a list of buffers written back to back) to the
   * active segment; resolves with where each landed, once written (not yet
   * durable: call sync() on the segments returned).
   */
  async append(bodies: Buffer[][]): Promise<SegmentPointer[]> {
    await this.ensureActive();
    let id = this.active;
    const total = bodies.reduce((n, b) => n + b.reduce((m, x) => m + x.length, 0), 0);
    if (this.sizes.get(id)! > 0 && this.sizes.get(id)! + total > this.segmentBytes) {
      // Full: later appends go to a new segment (this one stays readable).
      this.active = id + 1;
      await this.ensureActive();
      id = this.active;
    }
    const start = this.sizes.get(id)!;
    this.sizes.set(id, start + total); // reserved synchronously: parallel appends never overlap
    const h = await this.handle(id);
    const out: SegmentPointer[] = [];
    let at = start;
    const parts: Buffer[] = [];
    for (const b of bodies) {
      const length = b.reduce((m, x) => m + x.length, 0);
      out.push({ segment: id, offset: at, length });
      parts.push(...b);
      at += length;
    }
    let written = 0;
    while (written < total) {
      // writev at a position: partial writes continue where they stopped.
      let skip = written;
      const rest: Buffer[] = [];
      for (const p of parts) {
        if (skip >= p.length) {
          skip -= p.length;
          continue;
        }
        rest.push(skip ? p.subarray(skip) : p);
        skip = 0;
      }
      const r = await h.writev(rest, start + written);
      written += r.bytesWritten;
    }
    return out;
  }

  /**
   * Makes these appended ranges (and everything written to their segments
   * before) durable; then they are clean, and join the cached window.
   */
  async sync(ranges: readonly SegmentPointer[]): Promise<void> {
    await Promise.all([...new Set(ranges.map((r) => r.segment))].map(async (id) => (await this.handle(id)).datasync()));
    for (const r of ranges) this.remember(r);
    // Advice only: the bytes are durable, and nothing here may fail the write.
    await this.trimCache().catch(() => undefined);
  }

  private remember(r: SegmentPointer): void {
    const last = this.cached.at(-1);
    if (last && last.segment === r.segment && last.offset + last.length === r.offset) last.length += r.length;
    else this.cached.push({ ...r });
    this.cachedBytes += r.length;
  }

  /** Drops the oldest durable ranges beyond the window from the page cache. */
  private async trimCache(): Promise<void> {
    if (!pageCache.available) {
      this.cached = [];
      this.cachedBytes = 0;
      return;
    }
    // Chosen without a pause, so concurrent syncs never drop a range twice.
    const drops: SegmentPointer[] = [];
    while (this.cachedBytes > this.cacheBytes && this.cached.length) {
      const oldest = this.cached[0]!;
      // Whole ranges go, oldest first; only a range alone over the window is cut.
      const length = this.cached.length > 1 ? oldest.length : this.cachedBytes - this.cacheBytes;
      drops.push({ segment: oldest.segment, offset: oldest.offset, length });
      this.cachedBytes -= length;
      if (length === oldest.length) this.cached.shift();
      else {
        oldest.offset += length;
        oldest.length -= length;
      }
    }
    for (const d of drops) {
      const h = this.files.get(d.segment);
      if (!h) continue; // removed meanwhile
      const err = pageCache.drop((await h).fd, d.offset, d.length);
      if (err === 0) this.droppedBytes += d.length;
    }
  }

  /** Pages of a range now in memory (tests); undefined without the page-cache addon. */
  async resident(r: SegmentPointer): Promise<number | undefined> {
    return pageCache.resident((await this.handle(r.segment)).fd, r.offset, r.length);
  }

  /**
   * Reads a body back and leaves the page cache as it found it: a body none
   * of whose pages were in memory is dropped again (the scrubber's reads).
   */
  async readPassing(p: SegmentPointer): Promise<Buffer> {
    // Through a handle of its own with readahead off: readahead would bring
    // the next body in, which would then not look cold.
    let h = this.passing.get(p.segment);
    if (!h) {
      const id = p.segment;
      h = open(this.path(id), 'r').then(
        (f) => (pageCache.readRandom(f.fd), f),
        (err: unknown) => {
          this.passing.delete(id); // the next pass opens it again
          throw err;
        },
      );
      this.passing.set(id, h);
    }
    const fh = await h;
    const fd = fh.fd;
    // Judged by the pages wholly the body's: a page it shares with a
    // neighbour may be in memory for the neighbour's sake.
    const first = Math.ceil(p.offset / PAGE) * PAGE;
    const end = Math.floor((p.offset + p.length) / PAGE) * PAGE;
    const cold = end > first ? pageCache.resident(fd, first, end - first) === 0 : pageCache.resident(fd, p.offset, p.length) === 0;
    const body = await this.read(p, Buffer.allocUnsafe, fh);
    // Its edge pages go too (at worst a neighbour's next read fetches one page again).
    if (cold) pageCache.drop(fd, p.offset, Math.ceil((p.offset + p.length) / PAGE) * PAGE - p.offset);
    return body;
  }

  /** Reads a block body back, into memory from `alloc` (default: a fresh buffer). */
  async read(p: SegmentPointer, alloc: (size: number) => Buffer = Buffer.allocUnsafe, through?: FileHandle): Promise<Buffer> {
    const h = through ?? (await this.handle(p.segment));
    const buf = alloc(p.length);
    let done = 0;
    while (done < p.length) {
      const r = await h.read(buf, done, p.length - done, p.offset + done);
      if (r.bytesRead === 0) break; // a pointer past the end: the caller's hash check fails
      done += r.bytesRead;
    }
    return done === p.length ? buf : buf.subarray(0, done);
  }

  /** The segment appends go to now (never compacted). */
  get activeSegment(): number {
    return this.active;
  }

  sizeOf(id: number): number {
    return this.sizes.get(id) ?? 0;
  }

  /** Removes a segment file nothing points into any more. */
  async remove(id: number): Promise<void> {
    if (id === this.active) throw new Error('the active segment cannot be removed');
    const h = this.files.get(id);
    this.files.delete(id);
    this.sizes.delete(id);
    const ph = this.passing.get(id);
    this.passing.delete(id);
    if (ph) await (await ph.catch(() => undefined))?.close().catch(() => undefined);
    this.cached = this.cached.filter((r) => {
      if (r.segment !== id) return true;
      this.cachedBytes -= r.length;
      return false;
    });
    if (h) await (await h).close().catch(() => undefined);
    await unlink(this.path(id)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    this.fsyncDir();
  }

  async close(): Promise<void> {
    const hs = [...this.files.values(), ...this.passing.values()];
    this.files.clear();
    this.passing.clear();
    await Promise.all(hs.map(async (h) => (await h.catch(() => undefined))?.close().catch(() => undefined)));
  }
}
