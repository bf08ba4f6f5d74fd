/**
 * Content-defined chunking (FastCDC with normalized chunking, Xia et al.,
 * USENIX ATC 2016). Boundaries depend on content, not offsets, so an edit in
 * the middle of a file changes only the chunks around it. Used by the
 * gateway (PutFile) and the SDK (delta sync) with the same parameters and
 * the same gear table, so both paths cut identical blocks and dedup works
 * across them.
 */
export interface ChunkerOptions {
  minSize: number;
  avgSize: number;
  maxSize: number;
}

import { MAX_BLOCK_BYTES } from '../limits';

/** Average about 1 MiB; never more than 4 MiB (the block limit). */
export const DEFAULT_CHUNKING: ChunkerOptions = { minSize: 256 * 1024, avgSize: 1024 * 1024, maxSize: MAX_BLOCK_BYTES };

/** Deterministic gear table (mulberry32, fixed seed): part of the format. */
const GEAR: Uint32Array = (() => {
  const t = new Uint32Array(256);
  let a = 0x9e3779b9;
  for (let i = 0; i < 256; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    t[i] = (x ^ (x >>> 14)) >>> 0;
  }
  return t;
})();

/** The same table read as signed 32-bit words: the rolling hash stays a small integer in V8 (same bits, same cuts). */
const GEAR_I32 = new Int32Array(GEAR.buffer);

function topBits(n: number): number {
  return n >= 32 ? 0xffffffff : ((((1 << n) - 1) << (32 - n)) >>> 0);
}

/** Streaming chunker: push bytes as they arrive, take chunks as they complete. */
export class Chunker {
  private parts: Buffer[] = [];
  private length = 0;
  /** Bytes of the current chunk already scanned. */
  private scanned = 0;
  private hash = 0;
  private readonly maskS: number;
  private readonly maskL: number;

  constructor(
    private readonly o: ChunkerOptions = DEFAULT_CHUNKING,
    /** Memory for a chunk that spans pushed pieces (a pool's, say); default: a fresh buffer. */
    private readonly alloc: (size: number) => Buffer = Buffer.allocUnsafe,
  ) {
    const bits = Math.round(Math.log2(o.avgSize));
    this.maskS = topBits(bits + 2) | 0;
    this.maskL = topBits(bits - 2) | 0;
  }

  /** Adds bytes; returns the chunks completed by them. */
  push(data: Uint8Array): Buffer[] {
    if (data.length) {
      this.parts.push(Buffer.from(data.buffer, data.byteOffset, data.length));
      this.length += data.length;
    }
    const out: Buffer[] = [];
    for (;;) {
      const cut = this.findCut();
      if (cut < 0) break;
      out.push(this.take(cut));
    }
    return out;
  }

  /** The last, possibly short, chunk (none for empty input). */
  finish(): Buffer[] {
    const out: Buffer[] = [];
    if (this.length > 0) out.push(this.take(this.length));
    return out;
  }

  /** Length of the next chunk if its boundary is known yet, else -1. */
  private findCut(): number {
    const { minSize, avgSize, maxSize } = this.o;
    if (this.length < minSize) return -1;
    let pos = Math.max(this.scanned, minSize);
    if (pos === minSize && this.scanned < minSize) this.hash = 0;
    let hash = this.hash;
    // Walk the parts from the byte at `pos`.
    let partIndex = 0;
    let offset = pos;
    while (partIndex < this.parts.length && offset >= this.parts[partIndex]!.length) {
      offset -= this.parts[partIndex]!.length;
      partIndex++;
    }
    const limit = Math.min(this.length, maxSize);
    const gear = GEAR_I32;
    while (pos < limit) {
      const part = this.parts[partIndex]!;
      const end = Math.min(part.length, offset + (limit - pos));
      // Two tight loops (no per-byte choice of mask): the stricter mask
      // before the average size, the looser one after it.
      const split = Math.min(end, offset + Math.max(0, avgSize - pos - 1));
      const maskS = this.maskS;
      let i = offset;
      for (; i < split; i++) {
        hash = ((hash << 1) + gear[part[i]!]!) | 0;
        if ((hash & maskS) === 0) return this.cutAt(pos + (i - offset) + 1);
      }
      const maskL = this.maskL;
      for (; i < end; i++) {
        hash = ((hash << 1) + gear[part[i]!]!) | 0;
        if ((hash & maskL) === 0) return this.cutAt(pos + (i - offset) + 1);
      }
      pos += end - offset;
      partIndex++;
      offset = 0;
    }
    if (pos >= maxSize) return this.cutAt(maxSize);
    this.hash = hash;
    this.scanned = pos;
    return -1;
  }

  private cutAt(n: number): number {
    this.hash = 0;
    this.scanned = 0;
    return n;
  }

  /**
   * The first n bytes as one buffer: no copy when they lie in one part
   * (the chunk then shares memory with the bytes pushed), one copy otherwise.
   */
  private take(n: number): Buffer {
    const first = this.parts[0]!;
    let chunk: Buffer;
    if (first.length >= n) {
      chunk = first.subarray(0, n);
      if (first.length === n) this.parts.shift();
      else this.parts[0] = first.subarray(n);
    } else {
      chunk = this.alloc(n);
      let at = 0;
      while (at < n) {
        const p = this.parts[0]!;
        const take = Math.min(p.length, n - at);
        chunk.set(take === p.length ? p : p.subarray(0, take), at);
        at += take;
        if (take === p.length) this.parts.shift();
        else this.parts[0] = p.subarray(take);
      }
    }
    this.length -= n;
    return chunk;
  }
}

/** Chunks a whole buffer. */
export function chunkBuffer(data: Uint8Array, o: ChunkerOptions = DEFAULT_CHUNKING): Buffer[] {
  const c = new Chunker(o);
  return [...c.push(data), ...c.finish()];
}
