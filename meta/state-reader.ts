/**
 * Reads served by every metadata node from its applied state. A read may
 * carry a position (from a write's reply): it waits, bounded, until this
 * node has applied it, so a client reads its own writes through any node.
 */
import { timingSafeEqual } from 'node:crypto';
import { BlockstoreError } from '../lib/errors';
import { isBlockHash } from '../lib/hash';
import { normalizePath, normalizePrefix } from '../lib/paths';
import { TableKeys, pathFromFileKey, type BlockRec, type ChangeRec, type FileRec, type NsBlockRec, type NsCounterRec, type StagedRec, type TokenRec, type UserRec, type VersionRec } from './state/records';
import type { MetaStore, Position } from './store/meta-store';

export class StateReader {
  private waiters = new Set<{ seq: number; resolve: () => void }>();
  private changeListeners = new Set<() => void>();

  constructor(
    private readonly store: MetaStore,
    private readonly readWaitMs: number,
    /** True while this node is the master: its log holds every acknowledged position. */
    private readonly isMaster: () => boolean = () => false,
    /**
     * True once this replica has caught up with a master since it started:
     * before that, reads without a position would see whatever old (or
     * empty) state the node came up with.
     */
    private readonly synced: () => boolean = () => true,
  ) {}

  /** The applied position: a read that begins now reflects at least every write up to it. */
  get position(): number {
    return this.store.applied.seq;
  }

  /** True while a snapshot install has the tables half-written. */
  get installing(): boolean {
    return this.store.installing;
  }

  /**
   * Runs a read once `minPosition` is applied here, on a state that stays
   * whole while it runs (a snapshot install waits for it, or it is refused).
   * @throws BlockstoreError UNAVAILABLE when this node is behind, not yet
   *   caught up (reads without a position), or installing a snapshot; the
   *   caller tries another node. Whatever `fn` throws.
   */
  async run<T>(minPosition: number, fn: () => Promise<T>): Promise<T> {
    if (minPosition === 0 && !this.isMaster() && !this.synced()) {
      throw new BlockstoreError('UNAVAILABLE', `this node has not caught up with the master since it started (applied ${this.store.applied.seq}); try another node`);
    }
    await this.waitFor(minPosition);
    return this.store.reading(async () => {
      // An install that began after the wait may have replaced the state.
      if (this.store.applied.seq < minPosition) {
        throw new BlockstoreError('UNAVAILABLE', `this node has applied position ${this.store.applied.seq}, not yet ${minPosition}; try another node`);
      }
      return fn();
    });
  }

  /** Called with each new applied position. */
  applied(pos: Position): void {
    for (const w of this.waiters) {
      if (pos.seq >= w.seq) {
        this.waiters.delete(w);
        w.resolve();
      }
    }
    for (const l of this.changeListeners) l();
  }

  /**
   * Waits until `minPosition` is applied here.
   * @throws BlockstoreError UNAVAILABLE when this node is still behind after the bound.
   */
  async waitFor(minPosition: number): Promise<void> {
    if (minPosition <= this.store.applied.seq) return;
    // Every acknowledged write is in the master's log (synchronous
    // replication), so a position past its end was never handed out.
    if (this.isMaster() && minPosition > this.store.last.seq) {
      throw new BlockstoreError('INVALID_ARGUMENT', `min_position ${minPosition} is past the end of the log (${this.store.last.seq}): no write was acknowledged there`);
    }
    await new Promise<void>((resolve, reject) => {
      const w = { seq: minPosition, resolve: () => (clearTimeout(t), resolve()) };
      const t = setTimeout(() => {
        this.waiters.delete(w);
        reject(new BlockstoreError('UNAVAILABLE', `this node has applied position ${this.store.applied.seq}, not yet ${minPosition}; try another node`));
      }, this.readWaitMs);
      this.waiters.add(w);
    });
  }

  async authenticate(tokenHash: string): Promise<TokenRec> {
    if (!isBlockHash(tokenHash)) throw new BlockstoreError('UNAUTHENTICATED', 'malformed token');
    // The key is the SHA-256 of what the caller sent, so the lookup's timing
    // tells nothing about stored tokens; the final comparison is constant-time.
    const tok = await this.store.getJson<TokenRec>(TableKeys.token(tokenHash));
    if (!tok || !timingSafeEqual(Buffer.from(tok.tokenHash, 'hex'), Buffer.from(tokenHash, 'hex'))) {
      throw new BlockstoreError('UNAUTHENTICATED', 'unknown or revoked token');
    }
    if (tok.expiresAtMs && Date.now() >= tok.expiresAtMs) {
      throw new BlockstoreError('UNAUTHENTICATED', `token ${tok.tokenId} expired at ${new Date(tok.expiresAtMs).toISOString()}`);
    }
    return tok;
  }

  async user(userId: string): Promise<UserRec> {
    const u = await this.store.getJson<UserRec>(TableKeys.user(userId));
    if (!u) throw new BlockstoreError('NOT_FOUND', `user ${userId} does not exist`);
    return u;
  }

  /** Users in id order, a page at a time (the token: the last id, base64url). */
  async users(pageSize: number, pageToken: string): Promise<{ users: UserRec[]; next: string }> {
    const size = pageSize === 0 ? 100 : pageSize;
    if (size > 1000) throw new BlockstoreError('INVALID_ARGUMENT', `page_size: at most 1000, got ${pageSize}`);
    const lo = TableKeys.user('');
    const from = pageToken ? `${TableKeys.user(Buffer.from(pageToken, 'base64url').toString('utf8'))}\u0000` : lo;
    const rows = await this.store.scan(from, `${lo}\uffff`, size + 1);
    const users = rows.slice(0, size).map(([, v]) => JSON.parse(v) as UserRec);
    const next = rows.length > size ? Buffer.from(users[users.length - 1]!.id, 'utf8').toString('base64url') : '';
    return { users, next };
  }

  /** A version (0: the current one) and where its blocks are. */
  async stat(ns: string, rawPath: string, version: number): Promise<{ version: VersionRec; locations: Array<{ hash: string; nodes: string[] }> }> {
    const path = normalizePath(rawPath);
    let v: VersionRec | undefined;
    if (version === 0) {
      const head = await this.store.getJson<FileRec>(TableKeys.file(ns, path));
      if (!head || head.deleted) throw new BlockstoreError('NOT_FOUND', `${path} does not exist`);
      v = await this.store.getJson<VersionRec>(TableKeys.version(ns, path, head.version));
    } else {
      v = await this.store.getJson<VersionRec>(TableKeys.version(ns, path, version));
    }
    if (!v) throw new BlockstoreError('NOT_FOUND', `${path} has no version ${version}`);
    const hashes = [...new Set(v.blocks.map((b) => b.hash))];
    const locations = await Promise.all(
      hashes.map(async (hash) => ({ hash, nodes: (await this.store.getJson<BlockRec>(TableKeys.block(hash)))?.locations ?? [] })),
    );
    return { version: v, locations };
  }

  async listFiles(ns: string, rawPrefix: string, pageSize: number, pageToken: string, includeDeleted: boolean): Promise<{ files: VersionRec[]; next: string }> {
    const prefix = normalizePrefix(rawPrefix);
    const size = pageSize === 0 ? 100 : pageSize;
    if (size > 1000) throw new BlockstoreError('INVALID_ARGUMENT', `page_size: at most 1000, got ${pageSize}`);
    let after = '';
    if (pageToken) {
      after = Buffer.from(pageToken, 'base64url').toString('utf8');
      if (!after.startsWith(prefix)) throw new BlockstoreError('INVALID_ARGUMENT', 'page_token does not belong to this listing');
    }
    const lo = TableKeys.filePrefix(ns, prefix);
    const hi = `${lo}\uffff`;
    const files: VersionRec[] = [];
    let cursor = after ? `${TableKeys.file(ns, after)}\u0000` : lo;
    let last = '';
    while (files.length < size) {
      const rows = await this.store.scan(cursor, hi, size * 2);
      if (!rows.length) break;
      for (const [k, v] of rows) {
        last = pathFromFileKey(k);
        const head = JSON.parse(v) as FileRec;
        if (head.deleted && !includeDeleted) continue;
        const rec = await this.store.getJson<VersionRec>(TableKeys.version(ns, head.path, head.version));
        if (rec) files.push(rec);
        if (files.length === size) break;
      }
      cursor = `${TableKeys.file(ns, last)}\u0000`;
      if (rows.length < size * 2) break;
    }
    const more = files.length === size && (await this.store.scan(`${TableKeys.file(ns, last)}\u0000`, hi, 1)).length > 0;
    return { files, next: more ? Buffer.from(last, 'utf8').toString('base64url') : '' };
  }

  async listVersions(ns: string, rawPath: string): Promise<VersionRec[]> {
    const path = normalizePath(rawPath);
    const lo = TableKeys.versionPrefix(ns, path);
    const rows = await this.store.scan(lo, `${lo}\uffff`, 10_000);
    if (!rows.length) throw new BlockstoreError('NOT_FOUND', `${path} does not exist`);
    return rows.map(([, v]) => JSON.parse(v) as VersionRec);
  }

  /** Which blocks the namespace holds (dedup is per namespace). */
  async findBlocks(ns: string, hashes: string[]): Promise<{ known: Array<{ hash: string; nodes: string[] }>; missing: string[] }> {
    if (hashes.length > 10_000) throw new BlockstoreError('INVALID_ARGUMENT', `hashes: at most 10,000, got ${hashes.length}`);
    const known: Array<{ hash: string; nodes: string[] }> = [];
    const missing: string[] = [];
    for (const [i, hash] of hashes.entries()) {
      if (!isBlockHash(hash)) throw new BlockstoreError('INVALID_HASH', `hashes[${i}]: 64 lowercase hex characters`);
      const mine = await this.store.getJson<NsBlockRec>(TableKeys.nsBlock(ns, hash));
      if (!mine) {
        const staged = await this.store.getJson<StagedRec>(TableKeys.staged(ns, hash));
        if (staged) known.push({ hash, nodes: staged.nodes });
        else missing.push(hash);
        continue;
      }
      const g = await this.store.getJson<BlockRec>(TableKeys.block(hash));
      known.push({ hash, nodes: g?.locations ?? [] });
    }
    return { known, missing };
  }

  /** Change events after `cursor` whose path (or source path) starts with `prefix`. */
  async changes(ns: string, prefix: string, cursor: number, limit: number): Promise<{ events: ChangeRec[]; scannedTo: number }> {
    const counter = await this.store.getJson<NsCounterRec>(TableKeys.nsCounter(ns));
    if (cursor > 0 && counter?.first !== undefined && cursor + 1 < counter.first) {
      // The events right after this cursor were trimmed: resuming would skip them silently.
      throw new BlockstoreError('CURSOR_EXPIRED', `cursor ${cursor} is older than the retained change feed (oldest kept: ${counter.first}); list again and watch from cursor 0 or a newer one`, {
        details: { 'oldest-cursor': String(counter.first) },
      });
    }
    const lo = TableKeys.change(ns, cursor + 1);
    const hi = `${TableKeys.changePrefix(ns)}\uffff`;
    const all = (await this.store.scan(lo, hi, limit)).map(([, v]) => JSON.parse(v) as ChangeRec);
    const events = all.filter((c) => c.path.startsWith(prefix) || (c.fromPath !== '' && c.fromPath.startsWith(prefix)));
    return { events, scannedTo: all.length ? all[all.length - 1]!.cursor : cursor };
  }

  /** A page of the global block index (repair). */
  async blockIndex(after: string, limit: number): Promise<{ blocks: Array<{ hash: string; size: number; refs: number; nodes: string[] }>; nextAfter: string }> {
    if (after && !isBlockHash(after)) throw new BlockstoreError('INVALID_HASH', 'after: 64 lowercase hex characters or empty');
    const n = limit === 0 ? 1000 : Math.min(limit, 10_000);
    const lo = after ? `${TableKeys.block(after)}\u0000` : TableKeys.block('');
    const rows = await this.store.scan(lo, `${TableKeys.block('')}\uffff`, n);
    const blocks = rows.map(([k, v]) => {
      const rec = JSON.parse(v) as BlockRec;
      return { hash: k.slice(TableKeys.block('').length), size: rec.size, refs: rec.refs, nodes: rec.locations };
    });
    return { blocks, nextAfter: blocks.length === n ? blocks[blocks.length - 1]!.hash : '' };
  }

  /** Registers a callback for every apply (watch streams); returns its remover. */
  onChange(listener: () => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }
}
