/**
 * Write requests as the master receives them, and their validation into log
 * operations (`prepare`). Validation reads the tables through an Overlay, so
 * a write sees the effects of the writes before it in the same batch.
 */
import { BlockstoreError } from '../../lib/errors';
import { isBlockHash } from '../../lib/hash';
import { MAX_BLOCK_BYTES, MAX_BLOCKS_PER_VERSION } from '../../lib/limits';
import { normalizePath } from '../../lib/paths';
import { versionKeys } from './apply';
import type { Overlay } from './kv-view';
import type { Op } from './ops';
import { TableKeys, type FileRec, type IdemRec, type NsBlockRec, type StagedRec, type TokenRec, type UserRec, type VersionRec } from './records';

const ID_RE = /^[A-Za-z0-9._-]{1,64}$/;

export type WriteRequest =
  | { kind: 'noop'; reason: string }
  | { kind: 'createUser'; userId: string; name: string; quotaBytes: number }
  | { kind: 'issueToken'; userId: string; tokenHash: string; tokenId: string; scope: string; expiresAtMs?: number }
  | { kind: 'revokeToken'; tokenId: string }
  | {
      kind: 'commit';
      ns: string;
      path: string;
      expectedVersion: number | undefined;
      blocks: Array<{ hash: string; size: number }>;
      contentHash: string;
      author: string;
      idempotencyKey: string;
      locations: Array<{ hash: string; nodes: string[] }>;
      /** When the upload that wrote `locations` began (ms); 0 or absent: it wrote none. */
      uploadStartedMs?: number;
    }
  | { kind: 'delete'; ns: string; path: string; expectedVersion: number | undefined; author: string; idempotencyKey: string }
  | { kind: 'move'; ns: string; from: string; to: string; author: string; idempotencyKey: string }
  | { kind: 'addLocations'; locations: Array<{ hash: string; nodes: string[] }>; remove: Array<{ hash: string; nodes: string[] }> }
  | { kind: 'stageBlocks'; ns: string; blocks: Array<{ hash: string; size: number; nodes: string[] }>; writtenSinceMs?: number }
  /** From garbage collection, before it reads the index. */
  | { kind: 'fenceCollection'; cutoffMs: number }
  /** From the master's pruner only: old versions (never the head, unless it is an old delete marker: dropHead). */
  | { kind: 'pruneVersions'; ns: string; path: string; versions: number[]; dropHead: number | undefined }
  | { kind: 'forgetBlocks'; hashes: string[] }
  | { kind: 'trimHistory'; ns: string; changesBefore: number; changeCursors: number[]; idemKeys: string[] };

/** What a write answers besides its position. */
export type WriteOutcome = { version?: VersionRec; user?: UserRec; replayed?: boolean; replaySeq?: number };

export type Prepared = { op: Op; outcome: WriteOutcome } | { op: undefined; outcome: WriteOutcome };

/**
 * The collection fence: garbage collection announces its cutoff (a write)
 * before it reads the block index, and deletes only copies untouched since
 * then and missing from that index. A commit or stage prepared after the
 * announcement that records blocks written before the cutoff is refused:
 * its copies may be collected; one prepared before is in the log ahead of
 * the announcement, so in the index that collection reads. No referenced
 * block is ever collected, however long a commit is delayed (a stalled
 * replica, a failover, retries).
 * @throws BlockstoreError UPLOAD_EXPIRED when `writtenMs` is older than the fence.
 */
async function checkFence(view: Overlay, writtenMs: number | undefined, what: string): Promise<void> {
  if (!writtenMs) return;
  const fence = await view.getJson<{ cutoffMs: number }>(TableKeys.gcFence);
  if (fence && writtenMs < fence.cutoffMs) {
    throw new BlockstoreError('UPLOAD_EXPIRED', `${what} blocks written at ${new Date(writtenMs).toISOString()}, before garbage collection's cutoff (${new Date(fence.cutoffMs).toISOString()}); nothing was recorded: upload them again`);
  }
}

function invalid(msg: string): never {
  throw new BlockstoreError('INVALID_ARGUMENT', msg);
}

function checkId(value: string, field: string): void {
  if (!ID_RE.test(value)) invalid(`${field}: 1 to 64 of A-Z a-z 0-9 . _ -, got ${JSON.stringify(value.slice(0, 80))}`);
}

function checkIdempotencyKey(key: string): void {
  if (key.length > 128) invalid(`idempotency_key: at most 128 characters, got ${key.length}`);
}

async function requireUser(view: Overlay, ns: string): Promise<UserRec> {
  checkId(ns, 'namespace');
  const user = await view.getJson<UserRec>(TableKeys.user(ns));
  if (!user) throw new BlockstoreError('NOT_FOUND', `namespace ${ns} does not exist`);
  return user;
}

function checkExpected(expected: number | undefined, head: FileRec | undefined, path: string): void {
  if (expected === undefined) return;
  const current = head?.version ?? 0;
  if (expected !== current) {
    throw new BlockstoreError('VERSION_CONFLICT', `${path}: expected version ${expected}, current version is ${current}`, {
      details: { 'current-version': String(current) },
    });
  }
}

async function replayOf(view: Overlay, ns: string, key: string, kind: IdemRec['kind']): Promise<WriteOutcome | undefined> {
  if (!key) return undefined;
  const idem = await view.getJson<IdemRec>(TableKeys.idem(ns, key));
  if (!idem) return undefined;
  if (idem.kind !== kind) invalid(`idempotency_key ${JSON.stringify(key)} was already used for a ${idem.kind}`);
  const version = await view.getJson<VersionRec>(TableKeys.version(ns, idem.path, idem.version));
  return { version, replayed: true, replaySeq: idem.seq };
}

async function prepareNoop(view: Overlay, req: Extract<WriteRequest, { kind: 'noop' }>, time: string): Promise<Prepared> {
  return { op: { type: 'noop', reason: req.reason }, outcome: {} };
}

async function prepareCreateUser(view: Overlay, req: Extract<WriteRequest, { kind: 'createUser' }>, time: string): Promise<Prepared> {
  checkId(req.userId, 'user_id');
  if (req.name.length > 256) invalid('name: at most 256 characters');
  if (!Number.isSafeInteger(req.quotaBytes) || req.quotaBytes < 0) invalid('quota_bytes: a non-negative integer');
  if (await view.get(TableKeys.user(req.userId))) throw new BlockstoreError('ALREADY_EXISTS', `user ${req.userId} already exists`);
  const op: Op = { type: 'createUser', userId: req.userId, name: req.name, quotaBytes: req.quotaBytes, time };
  return { op, outcome: { user: { id: req.userId, name: req.name, quotaBytes: req.quotaBytes, usedBytes: 0, createdAt: time } } };
}

async function prepareIssueToken(view: Overlay, req: Extract<WriteRequest, { kind: 'issueToken' }>, time: string): Promise<Prepared> {
  await requireUser(view, req.userId);
  if (!isBlockHash(req.tokenHash)) invalid('token_hash: the SHA-256 hex of the token');
  checkId(req.tokenId, 'token_id');
  if (req.scope !== 'user' && req.scope !== 'admin') invalid(`scope: "user" or "admin", got ${JSON.stringify(req.scope)}`);
  if (await view.get(TableKeys.tokenId(req.tokenId))) throw new BlockstoreError('ALREADY_EXISTS', `token ${req.tokenId} already exists`);
  if (await view.getJson<TokenRec>(TableKeys.token(req.tokenHash))) throw new BlockstoreError('ALREADY_EXISTS', 'a token with this hash already exists');
  const expiresAtMs = req.expiresAtMs ?? 0;
  if (!Number.isSafeInteger(expiresAtMs) || expiresAtMs < 0) invalid(`expires_at_ms: milliseconds since the epoch or 0, got ${expiresAtMs}`);
  const op: Op = { type: 'issueToken', tokenId: req.tokenId, tokenHash: req.tokenHash, userId: req.userId, scope: req.scope, time };
  if (expiresAtMs > 0) op.expiresAtMs = expiresAtMs;
  return { op, outcome: {} };
}

async function prepareRevokeToken(view: Overlay, req: Extract<WriteRequest, { kind: 'revokeToken' }>, time: string): Promise<Prepared> {
  checkId(req.tokenId, 'token_id');
  if (!(await view.get(TableKeys.tokenId(req.tokenId)))) throw new BlockstoreError('NOT_FOUND', `token ${req.tokenId} does not exist`);
  return { op: { type: 'revokeToken', tokenId: req.tokenId }, outcome: {} };
}

/** Shape checks of a commit's blocks and locations; the version's size. */
function checkCommitShape(req: Extract<WriteRequest, { kind: 'commit' }>): number {
  if (req.blocks.length > MAX_BLOCKS_PER_VERSION) invalid(`blocks: at most ${MAX_BLOCKS_PER_VERSION} a version, got ${req.blocks.length}`);
  let size = 0;
  req.blocks.forEach((b, i) => {
    if (!isBlockHash(b.hash)) invalid(`blocks[${i}].hash: 64 lowercase hex characters`);
    if (!Number.isSafeInteger(b.size) || b.size < 1 || b.size > MAX_BLOCK_BYTES) invalid(`blocks[${i}].size: 1 to ${MAX_BLOCK_BYTES}, got ${b.size}`);
    size += b.size;
  });
  if (req.contentHash && !isBlockHash(req.contentHash)) invalid('content_hash: 64 lowercase hex characters or empty');
  if (req.author.length > 256) invalid('author: at most 256 characters');
  for (const [i, loc] of req.locations.entries()) {
    if (!isBlockHash(loc.hash)) invalid(`locations[${i}].hash: 64 lowercase hex characters`);
    if (loc.nodes.length === 0 || loc.nodes.length > 16) invalid(`locations[${i}].nodes: 1 to 16 node ids`);
    loc.nodes.forEach((n) => checkId(n, `locations[${i}].nodes`));
  }
  return size;
}

/**
 * Where each of a commit's blocks lives: the locations the commit names,
 * else the namespace already holds it, else it was staged by PutBlocks.
 * @throws BlockstoreError MISSING_BLOCKS, INVALID_ARGUMENT (sizes that disagree).
 */
async function locateCommitBlocks(view: Overlay, req: Extract<WriteRequest, { kind: 'commit' }>): Promise<Map<string, string[]>> {
  const located = new Map<string, string[]>(req.locations.map((loc) => [loc.hash, loc.nodes]));
  const sizes = new Map<string, number>();
  for (const b of req.blocks) {
    const prev = sizes.get(b.hash);
    if (prev !== undefined && prev !== b.size) invalid(`block ${b.hash} is listed with two sizes`);
    sizes.set(b.hash, b.size);
  }
  const missing: string[] = [];
  for (const [hash, s] of sizes) {
    if (located.has(hash)) continue;
    const known = await view.getJson<NsBlockRec>(TableKeys.nsBlock(req.ns, hash));
    if (known) {
      if (known.size !== s) invalid(`block ${hash} has size ${known.size}, not ${s}`);
      continue;
    }
    // Uploaded into this namespace by PutBlocks: its locations come from the stage.
    const staged = await view.getJson<StagedRec>(TableKeys.staged(req.ns, hash));
    if (staged && staged.size === s) located.set(hash, staged.nodes);
    else if (staged) invalid(`block ${hash} was uploaded with size ${staged.size}, not ${s}`);
    else missing.push(hash);
  }
  if (missing.length) {
    throw new BlockstoreError('MISSING_BLOCKS', `${missing.length} block(s) are not stored in this namespace (first: ${missing[0]}); upload them first`, {
      details: { missing: missing.slice(0, 100).join(',') },
    });
  }
  for (const loc of req.locations) if (!sizes.has(loc.hash)) invalid(`locations name block ${loc.hash}, which the version does not use`);
  return located;
}

async function prepareCommit(view: Overlay, req: Extract<WriteRequest, { kind: 'commit' }>, time: string): Promise<Prepared> {
  const user = await requireUser(view, req.ns);
  const path = normalizePath(req.path);
  checkIdempotencyKey(req.idempotencyKey);
  const replay = await replayOf(view, req.ns, req.idempotencyKey, 'commit');
  if (replay) return { op: undefined, outcome: replay };
  const size = checkCommitShape(req);
  const located = await locateCommitBlocks(view, req);
  if (req.locations.length) await checkFence(view, req.uploadStartedMs, 'this upload wrote its');
  const head = await view.getJson<FileRec>(TableKeys.file(req.ns, path));
  checkExpected(req.expectedVersion, head, path);
  const liveBefore = head && !head.deleted ? head.size : 0;
  if (user.usedBytes - liveBefore + size > user.quotaBytes) {
    throw new BlockstoreError('QUOTA_EXCEEDED', `quota of ${user.quotaBytes} bytes exceeded: ${user.usedBytes} used, this version needs ${size - liveBefore} more`);
  }
  const version = (head?.version ?? 0) + 1;
  const op: Op = {
    type: 'commit', ns: req.ns, path, version, blocks: req.blocks, size, contentHash: req.contentHash,
    author: req.author, time, idempotencyKey: req.idempotencyKey, locations: [...located].map(([hash, nodes]) => ({ hash, nodes })),
  };
  return {
    op,
    outcome: { version: { path, version, size, contentHash: req.contentHash, author: req.author, time, deleted: false, blocks: req.blocks, movedFrom: '', seq: 0 } },
  };
}

async function prepareDelete(view: Overlay, req: Extract<WriteRequest, { kind: 'delete' }>, time: string): Promise<Prepared> {
  await requireUser(view, req.ns);
  const path = normalizePath(req.path);
  checkIdempotencyKey(req.idempotencyKey);
  const replay = await replayOf(view, req.ns, req.idempotencyKey, 'delete');
  if (replay) return { op: undefined, outcome: replay };
  const head = await view.getJson<FileRec>(TableKeys.file(req.ns, path));
  if (!head || head.deleted) throw new BlockstoreError('NOT_FOUND', `${path} does not exist`);
  checkExpected(req.expectedVersion, head, path);
  const version = head.version + 1;
  const op: Op = { type: 'delete', ns: req.ns, path, version, author: req.author, time, idempotencyKey: req.idempotencyKey };
  return { op, outcome: { version: { path, version, size: 0, contentHash: '', author: req.author, time, deleted: true, blocks: [], movedFrom: '', seq: 0 } } };
}

async function prepareMove(view: Overlay, req: Extract<WriteRequest, { kind: 'move' }>, time: string): Promise<Prepared> {
  await requireUser(view, req.ns);
  const from = normalizePath(req.from, 'from_path');
  const to = normalizePath(req.to, 'to_path');
  checkIdempotencyKey(req.idempotencyKey);
  const replay = await replayOf(view, req.ns, req.idempotencyKey, 'move');
  if (replay) return { op: undefined, outcome: replay };
  if (from === to) invalid('from_path and to_path are the same');
  const src = await view.getJson<FileRec>(TableKeys.file(req.ns, from));
  if (!src || src.deleted) throw new BlockstoreError('NOT_FOUND', `${from} does not exist`);
  const dst = await view.getJson<FileRec>(TableKeys.file(req.ns, to));
  if (dst && !dst.deleted) throw new BlockstoreError('ALREADY_EXISTS', `${to} already exists`);
  const srcVersion = await view.getJson<VersionRec>(TableKeys.version(req.ns, from, src.version));
  const toVersion = (dst?.version ?? 0) + 1;
  const op: Op = { type: 'move', ns: req.ns, from, to, fromVersion: src.version + 1, toVersion, author: req.author, time, idempotencyKey: req.idempotencyKey };
  return { op, outcome: { version: { ...srcVersion!, path: to, version: toVersion, author: req.author, time, movedFrom: from, seq: 0 } } };
}

async function prepareStageBlocks(view: Overlay, req: Extract<WriteRequest, { kind: 'stageBlocks' }>, time: string): Promise<Prepared> {
  await requireUser(view, req.ns);
  if (req.blocks.length === 0 || req.blocks.length > 10_000) invalid('blocks: 1 to 10,000 entries');
  for (const [i, b] of req.blocks.entries()) {
    if (!isBlockHash(b.hash)) invalid(`blocks[${i}].hash: 64 lowercase hex characters`);
    if (!Number.isSafeInteger(b.size) || b.size < 1 || b.size > MAX_BLOCK_BYTES) invalid(`blocks[${i}].size: 1 to ${MAX_BLOCK_BYTES}`);
    if (b.nodes.length === 0 || b.nodes.length > 16) invalid(`blocks[${i}].nodes: 1 to 16 node ids`);
    b.nodes.forEach((n) => checkId(n, `blocks[${i}].nodes`));
  }
  await checkFence(view, req.writtenSinceMs, 'these are');
  return { op: { type: 'stageBlocks', ns: req.ns, blocks: req.blocks, time }, outcome: {} };
}

async function prepareFenceCollection(view: Overlay, req: Extract<WriteRequest, { kind: 'fenceCollection' }>, time: string): Promise<Prepared> {
  if (!Number.isSafeInteger(req.cutoffMs) || req.cutoffMs <= 0) invalid(`cutoff_ms: milliseconds since the epoch, got ${req.cutoffMs}`);
  return { op: { type: 'fenceCollection', cutoffMs: req.cutoffMs }, outcome: {} };
}

async function preparePruneVersions(view: Overlay, req: Extract<WriteRequest, { kind: 'pruneVersions' }>, time: string): Promise<Prepared> {
  // Re-checked against the state now (the pruner's scan may be stale):
  // the head stays unless it is still the delete marker named.
  const head = await view.getJson<FileRec>(TableKeys.file(req.ns, req.path));
  if (!head) return { op: undefined, outcome: {} };
  const dropFile = req.dropHead !== undefined && head.deleted && head.version === req.dropHead;
  const versions = req.versions.filter((v) => v < head.version || (dropFile && v === head.version));
  if (versions.length === 0) return { op: undefined, outcome: {} };
  return { op: { type: 'pruneVersions', ns: req.ns, path: req.path, versions, dropFile, time }, outcome: {} };
}

async function prepareTrimHistory(view: Overlay, req: Extract<WriteRequest, { kind: 'trimHistory' }>, time: string): Promise<Prepared> {
  if (req.changeCursors.length === 0 && req.idemKeys.length === 0) return { op: undefined, outcome: {} };
  return { op: { type: 'trimHistory', ns: req.ns, changesBefore: req.changesBefore, changeCursors: req.changeCursors, idemKeys: req.idemKeys }, outcome: {} };
}

async function prepareForgetBlocks(view: Overlay, req: Extract<WriteRequest, { kind: 'forgetBlocks' }>, time: string): Promise<Prepared> {
  if (req.hashes.length === 0) return { op: undefined, outcome: {} };
  return { op: { type: 'forgetBlocks', hashes: req.hashes }, outcome: {} };
}

async function prepareAddLocations(view: Overlay, req: Extract<WriteRequest, { kind: 'addLocations' }>, time: string): Promise<Prepared> {
  if (req.locations.length + req.remove.length === 0 || req.locations.length + req.remove.length > 10_000) invalid('locations and remove: 1 to 10,000 entries');
  for (const [i, loc] of [...req.locations, ...req.remove].entries()) {
    if (!isBlockHash(loc.hash)) invalid(`locations[${i}].hash: 64 lowercase hex characters`);
    if (loc.nodes.length === 0 || loc.nodes.length > 16) invalid(`locations[${i}].nodes: 1 to 16 node ids`);
    loc.nodes.forEach((n) => checkId(n, `locations[${i}].nodes`));
  }
  return { op: { type: 'addLocations', locations: req.locations, remove: req.remove }, outcome: {} };
}

const PREPARE_BY_KIND: { [K in WriteRequest['kind']]: (view: Overlay, req: Extract<WriteRequest, { kind: K }>, time: string) => Promise<Prepared> } = {
  noop: prepareNoop,
  createUser: prepareCreateUser,
  issueToken: prepareIssueToken,
  revokeToken: prepareRevokeToken,
  commit: prepareCommit,
  delete: prepareDelete,
  move: prepareMove,
  stageBlocks: prepareStageBlocks,
  fenceCollection: prepareFenceCollection,
  pruneVersions: preparePruneVersions,
  trimHistory: prepareTrimHistory,
  forgetBlocks: prepareForgetBlocks,
  addLocations: prepareAddLocations,
};

/**
 * Validates a write against the current state and turns it into a log op.
 * @throws BlockstoreError INVALID_ARGUMENT / INVALID_PATH / INVALID_HASH,
 *   NOT_FOUND (namespace, file, token), ALREADY_EXISTS (user),
 *   VERSION_CONFLICT, MISSING_BLOCKS, QUOTA_EXCEEDED.
 */
/**
 * The table keys validating and applying `req` reads (a superset is
 * harmless; a path that does not normalise is left to `prepare` to refuse):
 * the master loads them for a whole batch with one LevelDB call.
 */
export function keysReadBy(req: WriteRequest): string[] {
  if (req.kind !== 'commit' && req.kind !== 'delete') return [];
  let path: string;
  try {
    path = normalizePath(req.path);
  } catch {
    return [];
  }
  const hashes = req.kind === 'commit' ? [...req.locations.map((l) => l.hash), ...req.blocks.map((b) => b.hash)] : [];
  const keys = versionKeys(req.ns, path, hashes);
  if (req.idempotencyKey) keys.push(TableKeys.idem(req.ns, req.idempotencyKey));
  if (req.kind === 'commit') keys.push(TableKeys.gcFence);
  return keys;
}

export async function prepare(view: Overlay, req: WriteRequest, time: string): Promise<Prepared> {
  const handler = PREPARE_BY_KIND[req.kind] as (view: Overlay, req: WriteRequest, time: string) => Promise<Prepared>;
  return handler(view, req, time);
}
