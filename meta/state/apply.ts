/**
 * The state machine: how one committed log entry changes the tables. Pure
 * given the view (no clocks, no randomness): every node that applies the
 * same entries in the same order holds the same tables.
 */
import type { Overlay } from './kv-view';
import type { Op } from './ops';
import { TableKeys, type BlockRec, type ChangeRec, type FileRec, type IdemRec, type NsBlockRec, type NsCounterRec, type StagedRec, type TokenRec, type UserRec, type VersionRec } from './records';

async function applyNoop(): Promise<void> {
  // A term's opening entry: it changes no table.
}

async function applyCreateUser(view: Overlay, op: Extract<Op, { type: 'createUser' }>, seq: number): Promise<void> {
  const user: UserRec = { id: op.userId, name: op.name, quotaBytes: op.quotaBytes, usedBytes: 0, createdAt: op.time };
  view.putJson(TableKeys.user(op.userId), user);
}

async function applyIssueToken(view: Overlay, op: Extract<Op, { type: 'issueToken' }>, seq: number): Promise<void> {
  const tok: TokenRec = { tokenId: op.tokenId, tokenHash: op.tokenHash, userId: op.userId, scope: op.scope, createdAt: op.time };
  if (op.expiresAtMs) tok.expiresAtMs = op.expiresAtMs;
  view.putJson(TableKeys.token(op.tokenHash), tok);
  view.putJson(TableKeys.tokenId(op.tokenId), op.tokenHash);
}

async function applyRevokeToken(view: Overlay, op: Extract<Op, { type: 'revokeToken' }>, seq: number): Promise<void> {
  const hash = await view.getJson<string>(TableKeys.tokenId(op.tokenId));
  if (hash) view.del(TableKeys.token(hash));
  view.del(TableKeys.tokenId(op.tokenId));
}

async function applyCommit(view: Overlay, op: Extract<Op, { type: 'commit' }>, seq: number): Promise<void> {
  for (const loc of op.locations) await addLocations(view, loc.hash, loc.nodes, sizeOf(op.blocks, loc.hash));
  const distinct = new Map(op.blocks.map((b) => [b.hash, b.size]));
  for (const [hash, size] of distinct) {
    const wasStaged = (await view.getJson<StagedRec>(TableKeys.staged(op.ns, hash))) !== undefined;
    view.del(TableKeys.staged(op.ns, hash));
    const g = (await view.getJson<BlockRec>(TableKeys.block(hash))) ?? { size, refs: 0, locations: [] };
    g.refs++;
    delete g.freedAt;
    if (wasStaged && g.staged) g.staged--;
    if (!g.staged) delete g.staged;
    view.putJson(TableKeys.block(hash), g);
    const n = (await view.getJson<NsBlockRec>(TableKeys.nsBlock(op.ns, hash))) ?? { size, refs: 0 };
    n.refs++;
    view.putJson(TableKeys.nsBlock(op.ns, hash), n);
  }
  await setHead(view, op.ns, op.path, {
    path: op.path, version: op.version, size: op.size, contentHash: op.contentHash, author: op.author,
    time: op.time, deleted: false, blocks: op.blocks, movedFrom: '', seq,
  });
  await change(view, op.ns, { kind: 'put', path: op.path, version: op.version, size: op.size, fromPath: '', time: op.time });
  if (op.idempotencyKey) view.putJson(TableKeys.idem(op.ns, op.idempotencyKey), { kind: 'commit', path: op.path, version: op.version, seq, time: op.time } satisfies IdemRec);
}

async function applyDelete(view: Overlay, op: Extract<Op, { type: 'delete' }>, seq: number): Promise<void> {
  await setHead(view, op.ns, op.path, {
    path: op.path, version: op.version, size: 0, contentHash: '', author: op.author, time: op.time,
    deleted: true, blocks: [], movedFrom: '', seq,
  });
  await change(view, op.ns, { kind: 'delete', path: op.path, version: op.version, size: 0, fromPath: '', time: op.time });
  if (op.idempotencyKey) view.putJson(TableKeys.idem(op.ns, op.idempotencyKey), { kind: 'delete', path: op.path, version: op.version, seq, time: op.time } satisfies IdemRec);
}

async function applyMove(view: Overlay, op: Extract<Op, { type: 'move' }>, seq: number): Promise<void> {
  const head = await view.getJson<FileRec>(TableKeys.file(op.ns, op.from));
  const src = head ? await view.getJson<VersionRec>(TableKeys.version(op.ns, op.from, head.version)) : undefined;
  if (!src) return; // validated by the master; unreachable in a consistent log
  // The moved content is a new version at the destination that shares the
  // source's blocks (one more reference each), and a delete marker at the source.
  for (const hash of new Set(src.blocks.map((b) => b.hash))) {
    const g = await view.getJson<BlockRec>(TableKeys.block(hash));
    if (g) view.putJson(TableKeys.block(hash), { ...g, refs: g.refs + 1 });
    // (A live version references it: it cannot be freed.)
    const n = await view.getJson<NsBlockRec>(TableKeys.nsBlock(op.ns, hash));
    if (n) view.putJson(TableKeys.nsBlock(op.ns, hash), { ...n, refs: n.refs + 1 });
  }
  await setHead(view, op.ns, op.to, { ...src, path: op.to, version: op.toVersion, author: op.author, time: op.time, movedFrom: op.from, seq });
  await setHead(view, op.ns, op.from, {
    path: op.from, version: op.fromVersion, size: 0, contentHash: '', author: op.author, time: op.time,
    deleted: true, blocks: [], movedFrom: '', seq,
  });
  await change(view, op.ns, { kind: 'move', path: op.to, version: op.toVersion, size: src.size, fromPath: op.from, time: op.time });
  if (op.idempotencyKey) view.putJson(TableKeys.idem(op.ns, op.idempotencyKey), { kind: 'move', path: op.to, version: op.toVersion, seq, time: op.time } satisfies IdemRec);
}

async function applyAddLocations(view: Overlay, op: Extract<Op, { type: 'addLocations' }>, seq: number): Promise<void> {
  for (const loc of op.locations) await addLocations(view, loc.hash, loc.nodes, undefined);
  for (const loc of op.remove ?? []) {
    const g = await view.getJson<BlockRec>(TableKeys.block(loc.hash));
    if (g) view.putJson(TableKeys.block(loc.hash), { ...g, locations: g.locations.filter((n) => !loc.nodes.includes(n)) });
  }
}

async function applyStageBlocks(view: Overlay, op: Extract<Op, { type: 'stageBlocks' }>, seq: number): Promise<void> {
  for (const b of op.blocks) {
    const already = (await view.getJson<StagedRec>(TableKeys.staged(op.ns, b.hash))) !== undefined;
    view.putJson(TableKeys.staged(op.ns, b.hash), { size: b.size, nodes: b.nodes, time: op.time } satisfies StagedRec);
    // In the global index (refs 0 until committed), so garbage collection
    // keeps it; counted, so it is never forgotten while staged anywhere.
    await addLocations(view, b.hash, b.nodes, b.size);
    if (!already) {
      const g = (await view.getJson<BlockRec>(TableKeys.block(b.hash)))!;
      view.putJson(TableKeys.block(b.hash), { ...g, staged: (g.staged ?? 0) + 1 });
    }
  }
}

async function applyPruneVersions(view: Overlay, op: Extract<Op, { type: 'pruneVersions' }>, seq: number): Promise<void> {
  for (const v of op.versions) {
    const rec = await view.getJson<VersionRec>(TableKeys.version(op.ns, op.path, v));
    if (!rec) continue;
    for (const hash of new Set(rec.blocks.map((b) => b.hash))) {
      const n = await view.getJson<NsBlockRec>(TableKeys.nsBlock(op.ns, hash));
      if (n && n.refs > 1) view.putJson(TableKeys.nsBlock(op.ns, hash), { ...n, refs: n.refs - 1 });
      else if (n) view.del(TableKeys.nsBlock(op.ns, hash));
      const g = await view.getJson<BlockRec>(TableKeys.block(hash));
      if (!g) continue;
      const refs = Math.max(0, g.refs - 1);
      view.putJson(TableKeys.block(hash), refs === 0 ? { ...g, refs, freedAt: op.time } : { ...g, refs });
    }
    view.del(TableKeys.version(op.ns, op.path, v));
  }
  if (op.dropFile) view.del(TableKeys.file(op.ns, op.path));
}

async function applyTrimHistory(view: Overlay, op: Extract<Op, { type: 'trimHistory' }>, seq: number): Promise<void> {
  for (const c of op.changeCursors) view.del(TableKeys.change(op.ns, c));
  const counter = await view.getJson<NsCounterRec>(TableKeys.nsCounter(op.ns));
  if (counter && op.changesBefore > (counter.first ?? 1)) view.putJson(TableKeys.nsCounter(op.ns), { ...counter, first: Math.min(op.changesBefore, counter.next) });
  for (const key of op.idemKeys) view.del(TableKeys.idem(op.ns, key));
}

async function applyFenceCollection(view: Overlay, op: Extract<Op, { type: 'fenceCollection' }>, seq: number): Promise<void> {
  const fence = await view.getJson<{ cutoffMs: number }>(TableKeys.gcFence);
  if (!fence || op.cutoffMs > fence.cutoffMs) view.putJson(TableKeys.gcFence, { cutoffMs: op.cutoffMs });
}

async function applyForgetBlocks(view: Overlay, op: Extract<Op, { type: 'forgetBlocks' }>, seq: number): Promise<void> {
  for (const hash of op.hashes) {
    const g = await view.getJson<BlockRec>(TableKeys.block(hash));
    if (g && g.refs === 0 && !g.staged && g.freedAt) view.del(TableKeys.block(hash));
  }
}

const APPLY_BY_TYPE: { [K in Op['type']]: (view: Overlay, op: Extract<Op, { type: K }>, seq: number) => Promise<void> } = {
  noop: applyNoop,
  createUser: applyCreateUser,
  issueToken: applyIssueToken,
  revokeToken: applyRevokeToken,
  commit: applyCommit,
  delete: applyDelete,
  move: applyMove,
  addLocations: applyAddLocations,
  stageBlocks: applyStageBlocks,
  pruneVersions: applyPruneVersions,
  trimHistory: applyTrimHistory,
  fenceCollection: applyFenceCollection,
  forgetBlocks: applyForgetBlocks,
};

/** Applies one committed operation to the tables (one handler per operation type). */
export async function applyOp(view: Overlay, op: Op, seq: number): Promise<void> {
  const handler = APPLY_BY_TYPE[op.type] as (view: Overlay, op: Op, seq: number) => Promise<void>;
  await handler(view, op, seq);
}

function sizeOf(blocks: Array<{ hash: string; size: number }>, hash: string): number | undefined {
  return blocks.find((b) => b.hash === hash)?.size;
}

async function addLocations(view: Overlay, hash: string, nodes: string[], size: number | undefined): Promise<void> {
  const g = await view.getJson<BlockRec>(TableKeys.block(hash));
  if (!g && size === undefined) return; // locations of a block nothing references: ignored
  const rec = g ?? { size: size!, refs: 0, locations: [] };
  rec.locations = [...new Set([...rec.locations, ...nodes])].sort();
  view.putJson(TableKeys.block(hash), rec);
}

/** Writes a version, makes it the file's head, and keeps the owner's usage. */
async function setHead(view: Overlay, ns: string, path: string, v: VersionRec): Promise<void> {
  const prev = await view.getJson<FileRec>(TableKeys.file(ns, path));
  const prevLive = prev && !prev.deleted ? prev.size : 0;
  const nowLive = v.deleted ? 0 : v.size;
  view.putJson(TableKeys.version(ns, path, v.version), v);
  view.putJson(TableKeys.file(ns, path), { path, version: v.version, size: v.size, deleted: v.deleted } satisfies FileRec);
  if (prevLive !== nowLive) {
    const user = await view.getJson<UserRec>(TableKeys.user(ns));
    if (user) view.putJson(TableKeys.user(ns), { ...user, usedBytes: Math.max(0, user.usedBytes - prevLive + nowLive) });
  }
}

async function change(view: Overlay, ns: string, ev: Omit<ChangeRec, 'cursor'>): Promise<void> {
  const counter = (await view.getJson<NsCounterRec>(TableKeys.nsCounter(ns))) ?? { next: 1 };
  view.putJson(TableKeys.change(ns, counter.next), { cursor: counter.next, ...ev } satisfies ChangeRec);
  view.putJson(TableKeys.nsCounter(ns), { ...counter, next: counter.next + 1 });
}

/** What writing a version of `path` (head, usage, change feed) with these blocks reads. */
export function versionKeys(ns: string, path: string, hashes: readonly string[]): string[] {
  const keys = [TableKeys.file(ns, path), TableKeys.user(ns), TableKeys.nsCounter(ns)];
  for (const hash of new Set(hashes)) keys.push(TableKeys.block(hash), TableKeys.staged(ns, hash), TableKeys.nsBlock(ns, hash));
  return keys;
}

/**
 * The table keys applying `op` reads (a superset is harmless): a node loads
 * them for a whole batch of entries with one LevelDB call before applying
 * it, instead of one point read at a time. Operations not listed read their
 * keys as they go.
 */
export function keysReadBy(op: Op): string[] {
  switch (op.type) {
    case 'commit':
      return versionKeys(op.ns, op.path, [...op.locations.map((l) => l.hash), ...op.blocks.map((b) => b.hash)]);
    case 'delete':
      return versionKeys(op.ns, op.path, []);
    case 'addLocations':
      return [...op.locations, ...(op.remove ?? [])].map((l) => TableKeys.block(l.hash));
    case 'stageBlocks':
      return op.blocks.flatMap((b) => [TableKeys.staged(op.ns, b.hash), TableKeys.block(b.hash)]);
    default:
      return [];
  }
}
