/**
 * The gateway's file operations for one caller's namespace, over the
 * metadata cluster (MetaRouter) and the block daemons (BlockIo). No gRPC
 * here: gateway/rpc adapts it.
 *
 * PutFile: bytes → content-defined chunking into blocks → per block: known in the
 * namespace? reuse : store on W of R daemons → one metadata commit naming
 * every block and the new locations. The commit is the only thing that makes
 * the version visible, and it happens only after every block is durable on
 * ≥ W daemons; a stream that breaks off commits nothing.
 */
import { createHash } from 'node:crypto';
import { Chunker } from '../../lib/chunking/fastcdc';
import { BlockstoreError, hasCode } from '../../lib/errors';
import { assertBlockHash, sha256Hex } from '../../lib/hash';
import { MAX_BLOCK_BYTES } from '../../lib/limits';
import { normalizePath } from '../../lib/paths';
import type { MetaRouter } from '../../lib/rpc/clients/meta-router';
import { blockBuffers } from '../../lib/rpc/framed';
import type { BlockIo } from '../blocks/block-io';
import { MetaCache } from './meta-cache';
import type { StatFileResponse__Output } from '../../proto/gen/ts/blockstore/internal/v1/StatFileResponse';

export interface FileInfo {
  path: string;
  version: number;
  size: number;
  contentHash: string;
  author: string;
  modified: string;
  deleted: boolean;
  blocks: Array<{ hash: string; size: number }>;
  movedFrom: string;
}

export interface WriteOutcome {
  file: FileInfo | undefined;
  position: number;
  replayed: boolean;
}

interface VersionLike {
  path: string;
  version: number;
  size: number;
  contentHash: string;
  author: string;
  time: string;
  deleted: boolean;
  blocks: Array<{ hash: string; size: number }>;
  movedFrom: string;
}

export function toFileInfo(v: VersionLike | null | undefined): FileInfo | undefined {
  if (!v) return undefined;
  return {
    path: v.path, version: v.version, size: v.size, contentHash: v.contentHash, author: v.author, modified: v.time,
    deleted: v.deleted, blocks: v.blocks.map((b) => ({ hash: b.hash, size: b.size })), movedFrom: v.movedFrom,
  };
}

export interface PutHeader {
  path: string;
  expectedVersion: number | undefined;
  idempotencyKey: string;
  contentHash: string;
}

const MAX_BLOCKS_IN_FLIGHT = 4;
/** Blocks cut from the first this many bytes of an upload skip the dedup lookup. */
const DIRECT_WRITE_BYTES = 4 * 1024 * 1024;
/** Namespaces whose last write position a gateway remembers (the oldest are forgotten first). */
const REMEMBERED_NAMESPACES = 100_000;

/**
 * The log position of the last write this gateway made in each namespace.
 * Reads in a namespace wait for it on the replica that serves them, so a
 * client that carries no position (min_position 0) still reads its own
 * writes through the same gateway. (The SDK carries positions, which covers
 * any gateway.)
 */
class WritePositions {
  private readonly last = new Map<string, number>();

  wrote(ns: string, position: number): void {
    if (!(position > (this.last.get(ns) ?? 0))) return;
    this.last.delete(ns);
    this.last.set(ns, position);
    if (this.last.size > REMEMBERED_NAMESPACES) this.last.delete(this.last.keys().next().value!);
  }

  floor(ns: string, minPosition: number): number {
    return Math.max(minPosition, this.last.get(ns) ?? 0);
  }
}
/** Uploads past this size check the quota as bytes arrive, before storing them all. */
const EARLY_QUOTA_CHECK_BYTES = 8 * 1024 * 1024;

export class FileService {
  private readonly positions = new WritePositions();

  constructor(
    private readonly meta: MetaRouter,
    private readonly blocks: BlockIo,
    /** Longest upload allowed: garbage collection relies on it (see RepairWorker). */
    private readonly maxUploadMs = 30 * 60 * 1000,
    /** File heads kept between reads (see meta-cache.ts); none by default. */
    private readonly cache: MetaCache = new MetaCache(0),
  ) {}

  /**
   * StatFile through the cache: the current version of a file (version 0)
   * comes from it when it may be served, and a metadata answer fills it.
   */
  private async statFile(ns: string, path: string, version: number, minPosition: number): Promise<StatFileResponse__Output> {
    const floor = this.positions.floor(ns, minPosition);
    const cacheable = version === 0 && this.cache.enabled;
    if (cacheable) {
      const hit = this.cache.lookup(ns, path, floor);
      if (hit) return hit;
    }
    const st = await this.meta.read((c) => c.statFile(ns, path, version, floor));
    if (cacheable) this.cache.fill(ns, path, st);
    return st;
  }

  /**
   * Uploads a file from a stream of byte pieces.
   * @throws BlockstoreError INVALID_PATH, QUOTA_EXCEEDED, VERSION_CONFLICT,
   *   INVALID_ARGUMENT (content hash mismatch), UNAVAILABLE, CANCELLED.
   */
  async putFile(ns: string, author: string, header: PutHeader, data: AsyncIterable<Uint8Array>, signal: AbortSignal): Promise<WriteOutcome & { bytesStored: number }> {
    const path = normalizePath(header.path);
    const startedAt = Date.now();
    if (header.contentHash) assertBlockHash(header.contentHash, 'content_hash');
    // Early quota check for large uploads only (the commit checks exactly;
    // small files skip two metadata round trips). Replacing a file frees its
    // current size.
    let budget: { bytes: number; quota: number; used: number } | undefined;
    const loadBudget = async () => {
      const user = (await this.meta.read((c) => c.getUser(ns))).user!;
      const current = await this.meta.read((c) => c.statFile(ns, path, 0, 0)).then((st) => st.version?.size ?? 0, () => 0);
      return { bytes: user.quotaBytes - user.usedBytes + current, quota: user.quotaBytes, used: user.usedBytes };
    };
    // A block that spans the request's messages is assembled in a pooled
    // buffer, given back once stored (and, for the first block, hashed into
    // the whole file's hash): see `release` below.
    const chunker = new Chunker(undefined, (n) => blockBuffers.take(n));
    const whole = createHash('sha256');
    const blocks: Array<{ hash: string; size: number }> = [];
    const locations = new Map<string, string[]>();
    const seen = new Set<string>();
    let size = 0;
    let bytesStored = 0;
    const inFlight = new Set<Promise<void>>();
    let failure: unknown;

    let cutBytes = 0;
    // A pooled block goes back only when nothing will read it again: after a
    // store that succeeded (every daemon's answer is in, so its bytes are
    // written), and — the first block — once the whole-file hash has it. A
    // failed store may leave a write under way: that buffer is not given
    // back (the collector's, as any other).
    const pending = new Map<Buffer, number>();
    const release = (block: Buffer) => {
      const left = (pending.get(block) ?? 1) - 1;
      if (left > 0) pending.set(block, left);
      else {
        pending.delete(block);
        blockBuffers.release(block);
      }
    };
    const storeBlock = async (block: Buffer, hash: string, direct: boolean) => {
      // Blocks of the first DIRECT_WRITE_BYTES go straight to the daemons
      // (a daemon that has one only renews it): a small file costs one
      // metadata call, its commit. Later blocks are looked up first, so a
      // large file uploaded again is not sent again.
      if (!direct) {
        const found = await this.meta.read((c) => c.findBlocks(ns, [hash]));
        if (found.known.length) return release(block);
      }
      const { nodes, fresh } = await this.blocks.store(hash, block, signal);
      locations.set(hash, nodes);
      if (fresh) bytesStored += block.length;
      release(block);
    };
    // The whole-file hash is fed the blocks in order (the same bytes); a
    // one-block file's content hash is its block's hash, computed once.
    let first: Buffer | undefined;
    const take = async (cut: Buffer[]) => {
      for (const block of cut) {
        const hash = sha256Hex(block);
        blocks.push({ hash, size: block.length });
        if (blocks.length === 1) {
          first = block;
          pending.set(block, 2); // its store, and the whole-file hash
        } else {
          if (first) {
            whole.update(first);
            release(first);
          }
          first = undefined;
          whole.update(block);
        }
        const direct = cutBytes < DIRECT_WRITE_BYTES;
        cutBytes += block.length;
        if (seen.has(hash)) {
          release(block); // hashed, and its twin is stored
          continue;
        }
        seen.add(hash);
        const p = storeBlock(block, hash, direct).catch((err: unknown) => {
          failure ??= err;
        });
        inFlight.add(p);
        void p.finally(() => inFlight.delete(p));
        while (inFlight.size >= MAX_BLOCKS_IN_FLIGHT) await Promise.race(inFlight);
        if (failure) throw failure;
      }
    };
    for await (const piece of data) {
      if (signal.aborted) throw new BlockstoreError('CANCELLED', 'the upload was cancelled; nothing was committed');
      size += piece.length;
      if (size > EARLY_QUOTA_CHECK_BYTES) {
        budget ??= await loadBudget();
        if (size > budget.bytes) {
          throw new BlockstoreError('QUOTA_EXCEEDED', `quota of ${budget.quota} bytes exceeded (${budget.used} used); nothing was committed`);
        }
      }
      await take(chunker.push(piece));
    }
    await take(chunker.finish());
    await Promise.all(inFlight);
    if (failure) throw failure;
    if (first) release(first); // a one-block file: its hash is the content hash, no whole-file pass
    if (signal.aborted) throw new BlockstoreError('CANCELLED', 'the upload was cancelled; nothing was committed');
    if (Date.now() - startedAt > this.maxUploadMs) {
      throw new BlockstoreError('DEADLINE_EXCEEDED', `the upload took longer than ${this.maxUploadMs} ms; nothing was committed (retry, or use delta sync for very large files)`, { retryable: false });
    }
    const contentHash = blocks.length === 1 ? blocks[0]!.hash : whole.digest('hex');
    if (header.contentHash && header.contentHash !== contentHash) {
      throw new BlockstoreError('HASH_MISMATCH', `content_hash ${header.contentHash} does not match the uploaded bytes (${contentHash}); nothing was committed`);
    }
    const r = await this.meta
      .write((c) =>
        c.commit({
          namespace: ns, path, blocks, contentHash, author, idempotencyKey: header.idempotencyKey,
          hasExpectedVersion: header.expectedVersion !== undefined, expectedVersion: header.expectedVersion ?? 0,
          locations: [...locations].map(([hash, nodes]) => ({ hash, nodes })),
          // Its blocks were written after this: the collection fence refuses
          // the commit if garbage collection's cutoff has passed it.
          uploadStartedMs: startedAt,
        }),
      )
      .catch((err: unknown) => {
        // A block this upload found in the namespace lost its last reference
        // to version pruning meanwhile: nothing was committed, and a retry
        // uploads it afresh.
        if (hasCode(err, 'MISSING_BLOCKS')) throw new BlockstoreError('UNAVAILABLE', 'a block this upload reused was pruned meanwhile; nothing was committed, retry the upload', { cause: err });
        // The commit was delayed (failover, stalled replicas) past garbage
        // collection's cutoff: the blocks may be gone, so a retry uploads them again.
        if (hasCode(err, 'UPLOAD_EXPIRED')) throw new BlockstoreError('UNAVAILABLE', `${(err as Error).message}; retry the upload`, { cause: err });
        throw err;
      });
    this.positions.wrote(ns, r.result!.position);
    return { file: toFileInfo(r.version), position: r.result!.position, replayed: r.replayed, bytesStored: r.replayed ? 0 : bytesStored };
  }

  /**
   * A version's metadata and an async iterator over its bytes (or a range).
   * @throws BlockstoreError NOT_FOUND, INVALID_PATH, INVALID_ARGUMENT (range), UNAVAILABLE.
   */
  async getFile(ns: string, rawPath: string, version: number, offset: number, length: number, minPosition: number, signal: AbortSignal): Promise<{ info: FileInfo; data: AsyncGenerator<Buffer> }> {
    const path = normalizePath(rawPath);
    const st = await this.statFile(ns, path, version, minPosition);
    const info = toFileInfo(st.version)!;
    if (info.deleted) throw new BlockstoreError('NOT_FOUND', `${path} version ${info.version} is a delete marker`);
    if (offset > info.size) throw new BlockstoreError('INVALID_ARGUMENT', `offset ${offset} is beyond the file's ${info.size} bytes`);
    const end = length === 0 ? info.size : Math.min(info.size, offset + length);
    const where = new Map(st.locations.map((l) => [l.hash, l.nodes]));
    const blocks = this.blocks;
    async function* data(): AsyncGenerator<Buffer> {
      let pos = 0;
      for (const b of info.blocks) {
        const bStart = pos;
        const bEnd = pos + b.size;
        pos = bEnd;
        if (bEnd <= offset || bStart >= end) continue;
        const from = Math.max(offset, bStart) - bStart;
        const to = Math.min(end, bEnd) - bStart;
        const whole = from === 0 && to === b.size;
        const bytes = await blocks.read(b.hash, where.get(b.hash) ?? [], whole ? {} : { offset: from, length: to - from }, signal);
        if (bytes.length !== to - from) throw new BlockstoreError('CORRUPT_BLOCK', `block ${b.hash} returned ${bytes.length} bytes, expected ${to - from}`);
        yield bytes;
      }
    }
    return { info, data: data() };
  }

  async stat(ns: string, path: string, version: number, minPosition: number): Promise<FileInfo> {
    const st = await this.statFile(ns, normalizePath(path), version, minPosition);
    return toFileInfo(st.version)!;
  }

  async list(ns: string, prefix: string, pageSize: number, pageToken: string, minPosition: number): Promise<{ files: FileInfo[]; next: string }> {
    const r = await this.meta.read((c) => c.listFiles(ns, prefix, pageSize, pageToken, this.positions.floor(ns, minPosition)));
    return { files: r.files.map((f) => toFileInfo(f)!), next: r.nextPageToken };
  }

  async versions(ns: string, path: string, minPosition: number): Promise<FileInfo[]> {
    const r = await this.meta.read((c) => c.listVersions(ns, normalizePath(path), this.positions.floor(ns, minPosition)));
    return r.versions.map((v) => toFileInfo(v)!);
  }

  async delete(ns: string, author: string, path: string, expectedVersion: number | undefined, idempotencyKey: string): Promise<WriteOutcome> {
    const r = await this.meta.write((c) =>
      c.deleteFile({ namespace: ns, path: normalizePath(path), author, idempotencyKey, hasExpectedVersion: expectedVersion !== undefined, expectedVersion: expectedVersion ?? 0 }),
    );
    this.positions.wrote(ns, r.result!.position);
    return { file: toFileInfo(r.version), position: r.result!.position, replayed: false };
  }

  async move(ns: string, author: string, from: string, to: string, idempotencyKey: string): Promise<WriteOutcome> {
    const r = await this.meta.write((c) => c.moveFile({ namespace: ns, fromPath: normalizePath(from, 'from_path'), toPath: normalizePath(to, 'to_path'), author, idempotencyKey }));
    this.positions.wrote(ns, r.result!.position);
    return { file: toFileInfo(r.version), position: r.result!.position, replayed: false };
  }

  /** A new version with the blocks of an old one. */
  async restore(ns: string, author: string, path: string, version: number, expectedVersion: number | undefined, idempotencyKey: string): Promise<WriteOutcome> {
    if (version < 1) throw new BlockstoreError('INVALID_ARGUMENT', 'version: the version to restore (≥ 1)');
    const old = await this.stat(ns, path, version, 0);
    if (old.deleted) throw new BlockstoreError('INVALID_ARGUMENT', `version ${version} of ${old.path} is a delete marker`);
    return this.commitBlocks(ns, author, old.path, old.blocks, expectedVersion, idempotencyKey, old.contentHash);
  }

  async findMissing(ns: string, hashes: string[]): Promise<string[]> {
    hashes.forEach((h, i) => assertBlockHash(h, `hashes[${i}]`));
    if (hashes.length > 10_000) throw new BlockstoreError('INVALID_ARGUMENT', `hashes: at most 10,000 a call, got ${hashes.length}`);
    return (await this.meta.read((c) => c.findBlocks(ns, hashes))).missing;
  }

  /**
   * Stores uploaded blocks (verified by the daemons) and stages them for the
   * namespace, so a later CommitFile — on any gateway — may name them.
   */
  async putBlocks(ns: string, blocks: AsyncIterable<{ hash: string; data: Buffer }>, signal: AbortSignal): Promise<{ count: number; bytes: number }> {
    let count = 0;
    let bytes = 0;
    let staged: Array<{ hash: string; size: number; nodes: string[] }> = [];
    // When the first block of the batch was written: the collection fence
    // refuses a stage recorded after garbage collection's cutoff passed it.
    let since = 0;
    const flush = async () => {
      if (!staged.length) return;
      const batch = staged;
      const writtenSinceMs = since;
      staged = [];
      await this.meta.write((c) => c.stageBlocks(ns, batch, { writtenSinceMs })).catch((err: unknown) => {
        if (hasCode(err, 'UPLOAD_EXPIRED')) throw new BlockstoreError('UNAVAILABLE', `${(err as Error).message}; send the blocks again`, { cause: err });
        throw err;
      });
    };
    for await (const b of blocks) {
      assertBlockHash(b.hash);
      if (b.data.length === 0) throw new BlockstoreError('INVALID_ARGUMENT', `block ${b.hash}: empty`);
      if (b.data.length > MAX_BLOCK_BYTES) throw new BlockstoreError('BLOCK_TOO_LARGE', `block ${b.hash}: at most ${MAX_BLOCK_BYTES} bytes, got ${b.data.length}`);
      if (sha256Hex(b.data) !== b.hash) throw new BlockstoreError('HASH_MISMATCH', `block data does not hash to ${b.hash}`);
      if (!staged.length) since = Date.now();
      const nodes = await this.blocks.write(b.hash, b.data, signal);
      staged.push({ hash: b.hash, size: b.data.length, nodes });
      count++;
      bytes += b.data.length;
      if (staged.length >= 64) await flush();
    }
    await flush();
    return { count, bytes };
  }

  /** CommitFile: a version from blocks the namespace holds or staged. */
  commitBlocks(ns: string, author: string, path: string, blocks: Array<{ hash: string; size: number }>, expectedVersion: number | undefined, idempotencyKey: string, contentHash: string): Promise<WriteOutcome> {
    const p = normalizePath(path);
    return this.meta
      .write((c) =>
        c.commit({
          namespace: ns, path: p, blocks, contentHash, author, idempotencyKey,
          hasExpectedVersion: expectedVersion !== undefined, expectedVersion: expectedVersion ?? 0, locations: [],
        }),
      )
      .then((r) => {
        this.positions.wrote(ns, r.result!.position);
        return { file: toFileInfo(r.version), position: r.result!.position, replayed: r.replayed };
      });
  }

  async usage(ns: string): Promise<{ bytesUsed: number; quotaBytes: number }> {
    const u = (await this.meta.read((c) => c.getUser(ns))).user!;
    return { bytesUsed: u.usedBytes, quotaBytes: u.quotaBytes };
  }
}
