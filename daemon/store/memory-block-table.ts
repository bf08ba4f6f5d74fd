import { partsOf, type BlockTable, type StoredBlock } from './block-table';

/** In-memory twin of LevelBlockTable, for unit tests. Not durable. */
export class MemoryBlockTable implements BlockTable {
  private readonly blocks = new Map<string, Buffer>();
  private readonly times = new Map<string, number>();
  private bytes = 0;

  async open(): Promise<void> {}
  async close(): Promise<void> {}

  async put(hash: string, data: Uint8Array | readonly Uint8Array[], options: { overwrite?: boolean } = {}): Promise<{ written: boolean; size: number }> {
    const prev = this.blocks.get(hash);
    this.times.set(hash, Date.now());
    if (prev && !options.overwrite) return { written: false, size: prev.length };
    if (prev) this.bytes -= prev.length;
    const { parts, length } = partsOf(data);
    this.blocks.set(hash, Buffer.concat(parts, length));
    this.bytes += length;
    return { written: true, size: length };
  }

  async get(hash: string): Promise<Buffer | undefined> {
    const b = this.blocks.get(hash);
    return b ? Buffer.from(b) : undefined;
  }

  async sizes(hashes: string[]): Promise<Array<number | undefined>> {
    return hashes.map((h) => this.blocks.get(h)?.length);
  }

  async delete(hashes: string[]): Promise<StoredBlock[]> {
    const out: StoredBlock[] = [];
    for (const hash of new Set(hashes)) {
      const b = this.blocks.get(hash);
      if (!b) continue;
      this.blocks.delete(hash);
      this.bytes -= b.length;
      out.push({ hash, size: b.length, touched: this.times.get(hash) ?? 0 });
      this.times.delete(hash);
    }
    return out;
  }

  async list(after: string, limit: number): Promise<StoredBlock[]> {
    return [...this.blocks.keys()]
      .filter((h) => h > after)
      .sort()
      .slice(0, limit)
      .map((hash) => ({ hash, size: this.blocks.get(hash)!.length, touched: this.times.get(hash) ?? 0 }));
  }

  async touch(hash: string): Promise<boolean> {
    if (!this.blocks.has(hash)) return false;
    this.times.set(hash, Date.now());
    return true;
  }

  async touched(hashes: string[]): Promise<Array<number | undefined>> {
    return hashes.map((h) => (this.blocks.has(h) ? (this.times.get(h) ?? 0) : undefined));
  }

  /** Test hook: pretends a block was last put at `ms`. */
  setTouchedForTest(hash: string, ms: number): void {
    this.times.set(hash, ms);
  }

  pendingBytes(): number {
    return 0;
  }

  totals(): { blocks: number; bytes: number } {
    return { blocks: this.blocks.size, bytes: this.bytes };
  }

  /** Test hook: replaces stored bytes without any check (simulated bit rot). */
  corruptForTest(hash: string, data: Buffer): void {
    const prev = this.blocks.get(hash);
    if (prev) this.bytes -= prev.length;
    this.blocks.set(hash, data);
    this.bytes += data.length;
  }
}
