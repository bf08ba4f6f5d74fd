/**
 * Where a block daemon keeps bytes: a durable map from block hash to bytes.
 * It does not verify hashes or enforce capacity (daemon/blocks does); it only
 * promises that a resolved put survives a SIGKILL of the process.
 *
 * Two implementations share one conformance suite
 * (test/unit/block-table.conformance.ts): LevelBlockTable on disk and
 * MemoryBlockTable for unit tests.
 */
export interface StoredBlock {
  hash: string;
  size: number;
  /** When the block was last put (written or re-put), ms since the epoch; 0 if unknown. */
  touched: number;
}

/** `data` as a list of buffers (views, no copy) and its total length. */
export function partsOf(data: Uint8Array | readonly Uint8Array[]): { parts: Buffer[]; length: number } {
  const list = data instanceof Uint8Array ? [data] : data;
  const parts = list.map((d) => Buffer.from(d.buffer, d.byteOffset, d.length));
  return { parts, length: parts.reduce((n, b) => n + b.length, 0) };
}

export interface BlockTable {
  /** @throws Error when the store cannot be opened (locked, unreadable). */
  open(): Promise<void>;
  /** Flushes and closes; idempotent. */
  close(): Promise<void>;
  /**
   * Stores bytes under `hash`, resolving once durable. When the hash is
   * already stored and `overwrite` is not set, only its touch time is
   * renewed and `written` is false (the existence check rides in the same batch, so the
   * common path costs no extra lookup). Concurrent puts share one fsync
   * (group commit). `data` may come in parts, stored back to back (a
   * header and a body, without joining them into a new buffer first).
   */
  put(hash: string, data: Uint8Array | readonly Uint8Array[], options?: { overwrite?: boolean }): Promise<{ written: boolean; size: number }>;
  /**
   * The stored bytes; a body kept outside the index is read into memory from
   * `alloc` when given. `passing`: a read that should leave the page cache as
   * it found it (the scrubber's: a body that was not in memory is dropped
   * again once read, so a pass over every block does not fill memory with
   * cold data).
   */
  get(hash: string, alloc?: (size: number) => Buffer, options?: { passing?: boolean }): Promise<Buffer | undefined>;
  /** Size of each stored block, undefined where absent, in input order. */
  sizes(hashes: string[]): Promise<Array<number | undefined>>;
  /** Removes blocks durably; returns the entries that existed. */
  delete(hashes: string[]): Promise<StoredBlock[]>;
  /**
   * Renews a stored block's touch time (durably) without rewriting its
   * bytes; false when the block is absent. Garbage collection keeps what was
   * touched after its cutoff, so every put of a present block must touch it.
   */
  touch(hash: string): Promise<boolean>;
  /** Touch times (ms) of stored blocks, undefined where absent. */
  touched(hashes: string[]): Promise<Array<number | undefined>>;
  /** Up to `limit` entries with hash > `after`, in hash order. */
  list(after: string, limit: number): Promise<StoredBlock[]>;
  /**
   * Bytes of puts accepted but not yet durable (and so not yet in totals).
   * Updated in the same tick as totals, so totals + pending never counts a
   * block twice: the capacity check relies on it.
   */
  pendingBytes(): number;
  /** Totals over every stored block. */
  totals(): { blocks: number; bytes: number };
}
