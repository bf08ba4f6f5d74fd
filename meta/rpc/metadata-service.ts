/**
 * gRPC adapter for blockstore.internal.v1.Metadata: requests become domain
 * write requests or reads; results become messages. No logic of its own.
 */
import type { MetadataHandlers } from '../../proto/gen/ts/blockstore/internal/v1/Metadata';
import type { VersionInfo } from '../../proto/gen/ts/blockstore/internal/v1/VersionInfo';
import type { WatchRequest__Output } from '../../proto/gen/ts/blockstore/internal/v1/WatchRequest';
import type { ChangeEvent } from '../../proto/gen/ts/blockstore/internal/v1/ChangeEvent';
import type { SnapshotPart } from '../../proto/gen/ts/blockstore/internal/v1/SnapshotPart';
import type { CommitOutcome } from '../../proto/gen/ts/blockstore/internal/v1/CommitOutcome';
import type { CommitVersionRequest__Output } from '../../proto/gen/ts/blockstore/internal/v1/CommitVersionRequest';
import { BlockstoreError } from '../../lib/errors';
import { normalizePrefix } from '../../lib/paths';
import type { RpcServer, StreamContext } from '../../lib/rpc/server';
import type { NodeStatus } from '../../proto/gen/ts/blockstore/internal/v1/NodeStatus';
import type { StateReader } from '../state-reader';
import type { AppliedFeed } from '../applied-feed';
import type { VersionRec } from '../state/records';
import type { MetaStore } from '../store/meta-store';
import type { WriteResult } from '../role/master-term';
import type { WritePath } from '../role/role-manager';

/** What the adapter needs of a metadata node: reads, the write path, status (wired by MetaNode). */
export interface MetadataNode extends WritePath {
  readonly reads: StateReader;
  readonly feed: AppliedFeed;
  readonly store: Pick<MetaStore, 'reading' | 'snapshot'>;
  status(): NodeStatus;
  /** A master whose term has begun and whose lease is certain (the feed's condition, checked per message). */
  acceptingWrites(): boolean;
  revokeMasterLease(masterId: string): Promise<boolean>;
}

function versionInfo(v: VersionRec | undefined): VersionInfo | null {
  if (!v) return null;
  return {
    path: v.path, version: v.version, size: v.size, contentHash: v.contentHash, author: v.author, time: v.time,
    deleted: v.deleted, blocks: v.blocks, movedFrom: v.movedFrom,
  };
}

/** Table pairs per SaveSnapshot message. */
const SNAPSHOT_PART = 1000;

const result = (r: WriteResult) => ({ position: r.position, epoch: r.epoch });

/** Commits one CommitVersions call may carry. */
export const MAX_COMMITS_PER_CALL = 256;

/**
 * A commit's error as CommitVersions answers it: what CommitVersion's status
 * would have carried (anything not a BlockstoreError is a bug: logged, and
 * INTERNAL, as the call pipeline treats it).
 */
function failedOutcome(err: unknown, server: RpcServer): CommitOutcome {
  server.toStatus(err, 'CommitVersions'); // logs what would be logged for a call failing this way
  if (err instanceof BlockstoreError) return { errorCode: err.code, errorMessage: err.message, errorDetails: { ...err.details } };
  return { errorCode: 'INTERNAL', errorMessage: 'internal error', errorDetails: {} };
}

function expected(has: boolean, v: number): number | undefined {
  return has ? v : undefined;
}

export function metadataHandlers(server: RpcServer, node: MetadataNode): MetadataHandlers {
  const reads = node.reads;
  const read = <T>(opts: { minPosition: number } | null | undefined, fn: () => Promise<T>) => reads.run(opts?.minPosition ?? 0, fn);
  const commit = async (req: CommitVersionRequest__Output) => {
    const r = await node.write({
      kind: 'commit',
      ns: req.namespace,
      path: req.path,
      expectedVersion: expected(req.hasExpectedVersion, req.expectedVersion),
      blocks: req.blocks.map((b) => ({ hash: b.hash, size: b.size })),
      contentHash: req.contentHash,
      author: req.author,
      idempotencyKey: req.idempotencyKey,
      locations: req.locations.map((l) => ({ hash: l.hash, nodes: l.nodes })),
      uploadStartedMs: req.uploadStartedMs,
    });
    return { version: versionInfo(r.outcome.version), result: result(r), replayed: r.outcome.replayed === true };
  };
  return {
    CreateUser: server.unary('CreateUser', async (req) => {
      const r = await node.write({ kind: 'createUser', userId: req.userId, name: req.name, quotaBytes: req.quotaBytes });
      return { user: r.outcome.user ?? null, result: result(r) };
    }),
    IssueToken: server.unary('IssueToken', async (req) => {
      const r = await node.write({ kind: 'issueToken', userId: req.userId, tokenHash: req.tokenHash, tokenId: req.tokenId, scope: req.scope, expiresAtMs: req.expiresAtMs });
      return { result: result(r) };
    }),
    RevokeToken: server.unary('RevokeToken', async (req) => ({ result: result(await node.write({ kind: 'revokeToken', tokenId: req.tokenId })) })),
    CommitVersion: server.unary('CommitVersion', (req) => commit(req)),
    CommitVersions: server.unary('CommitVersions', async (req) => {
      if (req.commits.length > MAX_COMMITS_PER_CALL) throw new BlockstoreError('INVALID_ARGUMENT', `commits: at most ${MAX_COMMITS_PER_CALL} a call, got ${req.commits.length}`);
      // All at once: the master writes commits that wait together as one log batch.
      const settled = await Promise.allSettled(req.commits.map((c) => commit(c)));
      return { outcomes: settled.map((s) => (s.status === 'fulfilled' ? { response: s.value } : failedOutcome(s.reason, server))) };
    }),
    DeleteFile: server.unary('DeleteFile', async (req) => {
      const r = await node.write({
        kind: 'delete', ns: req.namespace, path: req.path, expectedVersion: expected(req.hasExpectedVersion, req.expectedVersion),
        author: req.author, idempotencyKey: req.idempotencyKey,
      });
      return { version: versionInfo(r.outcome.version), result: result(r) };
    }),
    MoveFile: server.unary('MoveFile', async (req) => {
      const r = await node.write({ kind: 'move', ns: req.namespace, from: req.fromPath, to: req.toPath, author: req.author, idempotencyKey: req.idempotencyKey });
      return { version: versionInfo(r.outcome.version), result: result(r) };
    }),
    StageBlocks: server.unary('StageBlocks', async (req) => ({
      result: result(
        await node.write({ kind: 'stageBlocks', ns: req.namespace, blocks: req.blocks.map((b) => ({ hash: b.hash, size: b.size, nodes: b.nodes })), writtenSinceMs: req.writtenSinceMs }),
      ),
    })),
    FenceCollection: server.unary('FenceCollection', async (req) => ({ result: result(await node.write({ kind: 'fenceCollection', cutoffMs: req.cutoffMs })) })),
    AddBlockLocations: server.unary('AddBlockLocations', async (req) => ({
      result: result(
        await node.write({
          kind: 'addLocations',
          locations: req.locations.map((l) => ({ hash: l.hash, nodes: l.nodes })),
          remove: req.remove.map((l) => ({ hash: l.hash, nodes: l.nodes })),
        }),
      ),
    })),

    Authenticate: server.unary('Authenticate', (req) =>
      read(req.read, async () => {
        const tok = await reads.authenticate(req.tokenHash);
        return { userId: tok.userId, scope: tok.scope, tokenId: tok.tokenId, expiresAtMs: tok.expiresAtMs ?? 0 };
      }),
    ),
    GetUser: server.unary('GetUser', (req) => read(req.read, async () => ({ user: await reads.user(req.userId) }))),
    ListUsers: server.unary('ListUsers', (req) =>
      read(req.read, async () => {
        const { users, next } = await reads.users(req.pageSize, req.pageToken);
        return { users, nextPageToken: next };
      }),
    ),
    StatFile: server.unary('StatFile', (req) =>
      read(req.read, async () => {
        const readPosition = reads.position;
        const { version, locations } = await reads.stat(req.namespace, req.path, req.version);
        return { version: versionInfo(version), locations, readPosition };
      }),
    ),
    ListFiles: server.unary('ListFiles', (req) =>
      read(req.read, async () => {
        const { files, next } = await reads.listFiles(req.namespace, req.prefix, req.pageSize, req.pageToken, req.includeDeleted);
        return { files: files.map((f) => versionInfo(f)!), nextPageToken: next };
      }),
    ),
    ListVersions: server.unary('ListVersions', (req) => read(req.read, async () => ({ versions: (await reads.listVersions(req.namespace, req.path)).map((v) => versionInfo(v)!) }))),
    FindBlocks: server.unary('FindBlocks', (req) => read(req.read, () => reads.findBlocks(req.namespace, req.hashes))),
    // The block index decides what garbage collection may delete: only a
    // master whose term has begun (every committed entry applied) and whose
    // lease is certain can say it is complete; anyone else answers NOT_MASTER.
    ListBlockIndex: server.unary('ListBlockIndex', (req) => node.readAsMaster(() => read(req.read, () => reads.blockIndex(req.after, req.limit)))),
    // A gateway that reads nothing for this long (its own client stopped) is let go.
    Watch: server.serverStream('Watch', watch, { idleMs: 10 * 60_000 }),
    // A gateway's metadata cache follows the master only (NOT_MASTER names
    // it), and its stream ends once this node stops being a master whose
    // lease is certain: a replica may lag or install a snapshot, and a
    // fenced master may already have a successor taking writes.
    FollowApplied: server.serverStream(
      'FollowApplied',
      async (_req, { signal, send }) => {
        await node.readAsMaster(async () => undefined);
        await node.feed.follow(signal, (m) =>
          send({
            position: m.position,
            reset: m.reset,
            files: m.files.map((f) => ({ namespace: f.namespace, path: f.path, head: f.head ? { version: versionInfo(f.head.version), locations: f.head.locations, readPosition: f.head.readPosition } : null })),
          }),
          () => node.acceptingWrites(),
        );
      },
      { idleMs: 60_000 },
    ),

    GetNodeStatus: server.unary('GetNodeStatus', async () => node.status()),
    SaveSnapshot: server.serverStream('SaveSnapshot', saveSnapshot, { idleMs: 60_000 }),
    RevokeMasterLease: server.unary('RevokeMasterLease', async (req) => {
      if (!req.masterId) throw new BlockstoreError('INVALID_ARGUMENT', 'master_id is required');
      return { revoked: await node.revokeMasterLease(req.masterId) };
    }),
  };

  /** The tables as of one applied position (a LevelDB snapshot), in parts of SNAPSHOT_PART pairs. */
  async function saveSnapshot(_req: unknown, { send }: StreamContext<SnapshotPart>): Promise<void> {
    await node.store.reading(async () => {
      let pairs: SnapshotPart['pairs'] = [];
      for await (const item of node.store.snapshot()) {
        if ('applied' in item) {
          await send({ first: true, appliedSeq: item.applied.seq, appliedEpoch: item.applied.epoch });
          continue;
        }
        pairs.push({ key: item.key, value: Buffer.from(item.value) });
        if (pairs.length >= SNAPSHOT_PART) {
          await send({ pairs });
          pairs = [];
        }
      }
      await send({ pairs, last: true });
    });
  }

  async function watch(req: WatchRequest__Output, { signal, send }: StreamContext<ChangeEvent>): Promise<void> {
    let cursor = req.cursor;
    const prefix = normalizePrefix(req.prefix);
    if (!req.namespace) throw new BlockstoreError('INVALID_ARGUMENT', 'namespace is required');
    let wake: (() => void) | undefined;
    const stop = reads.onChange(() => wake?.());
    const onAbort = () => wake?.();
    signal.addEventListener('abort', onAbort);
    try {
      while (!signal.aborted) {
        // Mid-install the change table is partial: wait for the whole one.
        const page = reads.installing ? undefined : await node.store.reading(() => reads.changes(req.namespace, prefix, cursor, 500)).catch((err: unknown) => {
          if (reads.installing) return undefined;
          throw err; // e.g. CURSOR_EXPIRED: the stream ends with the status
        });
        const { events, scannedTo } = page ?? { events: [], scannedTo: cursor };
        for (const e of events) await send({ cursor: e.cursor, kind: e.kind, path: e.path, version: e.version, size: e.size, fromPath: e.fromPath, time: e.time });
        if (scannedTo > cursor) {
          cursor = scannedTo;
          continue;
        }
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 5000);
        });
        wake = undefined;
      }
    } finally {
      stop();
      signal.removeEventListener('abort', onAbort);
    }
  }
}
