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

  constructor(private readonly o: ChunkerOptions = DEFAULT_CHUNKING) {
    const bits = Math.round(Math.log2(o.avgSize));
    this.maskS = topBits(bits + 2);
    this.maskL = topBits(bits - 2);
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
    while (pos < limit) {
      const part = this.parts[partIndex]!;
      const end = Math.min(part.length, offset + (limit - pos));
      for (let i = offset; i < end; i++) {
        hash = ((hash << 1) + GEAR[part[i]!]!) >>> 0;
        pos++;
        if ((hash & (pos < avgSize ? this.maskS : this.maskL)) === 0) {
          this.hash = 0;
          this.scanned = 0;
          return pos;
        }
      }
      partIndex++;
      offset = 0;
    }
    if (pos >= maxSize) {
      this.hash = 0;
      this.scanned = 0;
      return maxSize;
    }
    this.hash = hash;
    this.scanned = pos;
    return -1;
  }

  private take(n: number): Buffer {
    const all = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.length);
    const chunk = Buffer.from(all.subarray(0, n));
    const rest = all.subarray(n);
    this.parts = rest.length ? [rest] : [];
    this.length = rest.length;
    return chunk;
  }
}

/** Chunks a whole buffer. */
export function chunkBuffer(data: Uint8Array, o: ChunkerOptions = DEFAULT_CHUNKING): Buffer[] {
  const c = new Chunker(o);
  return [...c.push(data), ...c.finish()];
}
