/**
 * Promise-based client for blockstore.internal.v1.Metadata on one node.
 * (Routing writes to the master and reads to replicas is the caller's: see
 * the gateway's metadata router.)
 */
import { internalChannelCredentials, internalChannelOptions } from '../credentials';
import type { ClusterCredentials } from '../../security/cluster-credentials';
import * as grpc from '@grpc/grpc-js';
import type { MetadataClient as Raw } from '../../../proto/gen/ts/blockstore/internal/v1/Metadata';
import type { AppliedBatch__Output } from '../../../proto/gen/ts/blockstore/internal/v1/AppliedBatch';
import type { ChangeEvent__Output } from '../../../proto/gen/ts/blockstore/internal/v1/ChangeEvent';
import type { SnapshotPart__Output } from '../../../proto/gen/ts/blockstore/internal/v1/SnapshotPart';
import type { CommitVersionRequest } from '../../../proto/gen/ts/blockstore/internal/v1/CommitVersionRequest';
import type { CommitVersionResponse__Output } from '../../../proto/gen/ts/blockstore/internal/v1/CommitVersionResponse';
import type { NodeStatus__Output } from '../../../proto/gen/ts/blockstore/internal/v1/NodeStatus';
import type { StatFileResponse__Output } from '../../../proto/gen/ts/blockstore/internal/v1/StatFileResponse';
import type { ListFilesResponse__Output } from '../../../proto/gen/ts/blockstore/internal/v1/ListFilesResponse';
import type { ListVersionsResponse__Output } from '../../../proto/gen/ts/blockstore/internal/v1/ListVersionsResponse';
import type { FindBlocksResponse__Output } from '../../../proto/gen/ts/blockstore/internal/v1/FindBlocksResponse';
import type { CreateUserResponse__Output } from '../../../proto/gen/ts/blockstore/internal/v1/CreateUserResponse';
import type { DeleteFileRequest } from '../../../proto/gen/ts/blockstore/internal/v1/DeleteFileRequest';
import type { DeleteFileResponse__Output } from '../../../proto/gen/ts/blockstore/internal/v1/DeleteFileResponse';
import type { MoveFileRequest } from '../../../proto/gen/ts/blockstore/internal/v1/MoveFileRequest';
import type { MoveFileResponse__Output } from '../../../proto/gen/ts/blockstore/internal/v1/MoveFileResponse';
import type { AuthenticateResponse__Output } from '../../../proto/gen/ts/blockstore/internal/v1/AuthenticateResponse';
import type { GetUserResponse__Output } from '../../../proto/gen/ts/blockstore/internal/v1/GetUserResponse';
import type { ListUsersResponse__Output } from '../../../proto/gen/ts/blockstore/internal/v1/ListUsersResponse';
import type { WriteResult__Output } from '../../../proto/gen/ts/blockstore/internal/v1/WriteResult';
import type { BlockLocations } from '../../../proto/gen/ts/blockstore/internal/v1/BlockLocations';
import { callUnary, CHANNEL_OPTIONS, type CallOpts } from '../client';
import { BlockstoreError } from '../../errors';
import { fromServiceError } from '../status';
import { loadProtos } from '../proto';
import { CommitBatcher } from './commit-batcher';
import type { CommitVersionsResponse__Output } from '../../../proto/gen/ts/blockstore/internal/v1/CommitVersionsResponse';

export class MetaClient {
  readonly raw: Raw;
  readonly batcher = new CommitBatcher(
    (reqs) => this.commitVersions(reqs),
    (req) => this.commitVersion(req),
  );

  /** `credentials`: the calling node's (default: the process's, for tools and tests). */
  constructor(readonly address: string, credentials?: ClusterCredentials) {
    const { protos } = loadProtos();
    this.raw = new protos.blockstore.internal.v1.Metadata(address, internalChannelCredentials(credentials), { ...CHANNEL_OPTIONS, ...internalChannelOptions(credentials) });
  }

  createUser(userId: string, name: string, quotaBytes: number, opts?: CallOpts): Promise<CreateUserResponse__Output> {
    return callUnary(this.raw, this.raw.createUser, { userId, name, quotaBytes }, opts);
  }

  issueToken(userId: string, tokenHash: string, tokenId: string, scope: string, opts?: CallOpts & { expiresAtMs?: number }): Promise<{ result: WriteResult__Output | null }> {
    return callUnary(this.raw, this.raw.issueToken, { userId, tokenHash, tokenId, scope, expiresAtMs: opts?.expiresAtMs ?? 0 }, opts);
  }

  revokeToken(tokenId: string, opts?: CallOpts): Promise<{ result: WriteResult__Output | null }> {
    return callUnary(this.raw, this.raw.revokeToken, { tokenId }, opts);
  }

  commitVersion(req: CommitVersionRequest, opts?: CallOpts): Promise<CommitVersionResponse__Output> {
    return callUnary(this.raw, this.raw.commitVersion, req, opts);
  }

  /** Several commits in one call, each answered on its own (see commit). */
  commitVersions(commits: CommitVersionRequest[], opts?: CallOpts): Promise<CommitVersionsResponse__Output> {
    return callUnary(this.raw, this.raw.commitVersions, { commits }, opts);
  }

  /**
   * A commit, sent with the others waiting on this node (CommitBatcher):
   * resolves or fails as commitVersion would.
   */
  commit(req: CommitVersionRequest): Promise<CommitVersionResponse__Output> {
    return this.batcher.commit(req);
  }

  deleteFile(req: DeleteFileRequest, opts?: CallOpts): Promise<DeleteFileResponse__Output> {
    return callUnary(this.raw, this.raw.deleteFile, req, opts);
  }

  moveFile(req: MoveFileRequest, opts?: CallOpts): Promise<MoveFileResponse__Output> {
    return callUnary(this.raw, this.raw.moveFile, req, opts);
  }

  stageBlocks(namespace: string, blocks: Array<{ hash: string; size: number; nodes: string[] }>, opts?: CallOpts & { writtenSinceMs?: number }): Promise<{ result: WriteResult__Output | null }> {
    return callUnary(this.raw, this.raw.stageBlocks, { namespace, blocks, writtenSinceMs: opts?.writtenSinceMs ?? 0 }, opts);
  }

  /** Garbage collection's fence (see FenceCollection in meta.proto). */
  fenceCollection(cutoffMs: number, opts?: CallOpts): Promise<{ result: WriteResult__Output | null }> {
    return callUnary(this.raw, this.raw.fenceCollection, { cutoffMs }, opts);
  }

  addBlockLocations(locations: BlockLocations[], opts?: CallOpts & { remove?: BlockLocations[] }): Promise<{ result: WriteResult__Output | null }> {
    return callUnary(this.raw, this.raw.addBlockLocations, { locations, remove: opts?.remove ?? [] }, opts);
  }

  listBlockIndex(after: string, limit: number, opts?: CallOpts): Promise<{ blocks: Array<{ hash: string; size: number; refs: number; nodes: string[] }>; nextAfter: string }> {
    return callUnary(this.raw, this.raw.listBlockIndex, { after, limit, read: { minPosition: 0 } }, opts);
  }

  authenticate(tokenHash: string, minPosition = 0, opts?: CallOpts): Promise<AuthenticateResponse__Output> {
    return callUnary(this.raw, this.raw.authenticate, { tokenHash, read: { minPosition } }, opts);
  }

  getUser(userId: string, minPosition = 0, opts?: CallOpts): Promise<GetUserResponse__Output> {
    return callUnary(this.raw, this.raw.getUser, { userId, read: { minPosition } }, opts);
  }

  listUsers(pageSize = 0, pageToken = '', minPosition = 0, opts?: CallOpts): Promise<ListUsersResponse__Output> {
    return callUnary(this.raw, this.raw.listUsers, { pageSize, pageToken, read: { minPosition } }, opts);
  }

  statFile(namespace: string, path: string, version = 0, minPosition = 0, opts?: CallOpts): Promise<StatFileResponse__Output> {
    return callUnary(this.raw, this.raw.statFile, { namespace, path, version, read: { minPosition } }, opts);
  }

  listFiles(namespace: string, prefix: string, pageSize = 0, pageToken = '', minPosition = 0, opts?: CallOpts): Promise<ListFilesResponse__Output> {
    return callUnary(this.raw, this.raw.listFiles, { namespace, prefix, pageSize, pageToken, read: { minPosition } }, opts);
  }

  listVersions(namespace: string, path: string, minPosition = 0, opts?: CallOpts): Promise<ListVersionsResponse__Output> {
    return callUnary(this.raw, this.raw.listVersions, { namespace, path, read: { minPosition } }, opts);
  }

  findBlocks(namespace: string, hashes: string[], minPosition = 0, opts?: CallOpts): Promise<FindBlocksResponse__Output> {
    return callUnary(this.raw, this.raw.findBlocks, { namespace, hashes, read: { minPosition } }, opts);
  }

  status(opts?: CallOpts): Promise<NodeStatus__Output> {
    return callUnary(this.raw, this.raw.getNodeStatus, {}, opts);
  }

  revokeMasterLease(masterId: string, opts?: CallOpts): Promise<{ revoked: boolean }> {
    return callUnary(this.raw, this.raw.revokeMasterLease, { masterId }, opts);
  }

  /** The change feed as an async iterator; ends when `signal` aborts. */
  async *watch(namespace: string, prefix: string, cursor: number, signal?: AbortSignal): AsyncGenerator<ChangeEvent__Output> {
    const call = this.raw.watch({ namespace, prefix, cursor });
    const onAbort = () => call.cancel();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const ev of call as AsyncIterable<ChangeEvent__Output>) yield ev;
    } catch (err) {
      if (signal?.aborted) return;
      throw fromServiceError(err as grpc.ServiceError);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      call.cancel();
    }
  }

  /**
   * Follows the node's applied positions (FollowApplied), handing each
   * message to `onMessage` as it arrives; settles when the stream ends:
   * resolves when `signal` aborted it or the node ended it cleanly.
   * @throws BlockstoreError with the stream's status otherwise.
   */
  followApplied(onMessage: (m: AppliedBatch__Output) => void, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal.aborted) return resolve();
      const call = this.raw.followApplied({});
      const onAbort = () => call.cancel();
      signal.addEventListener('abort', onAbort, { once: true });
      const done = (err?: grpc.ServiceError) => {
        signal.removeEventListener('abort', onAbort);
        if (!err || signal.aborted) resolve();
        else reject(fromServiceError(err));
      };
      // A message the follower cannot take ends the stream (the caller starts over).
      call.on('data', (m: AppliedBatch__Output) => {
        try {
          onMessage(m);
        } catch (err) {
          signal.removeEventListener('abort', onAbort);
          call.cancel();
          reject(new BlockstoreError('INTERNAL', 'a FollowApplied message could not be taken', { cause: err }));
        }
      });
      call.on('error', done);
      call.on('end', () => done());
    });
  }

  /** A backup copy of the node's tables: the first part carries the applied position, the last is marked. */
  async *saveSnapshot(): AsyncGenerator<SnapshotPart__Output> {
    const call = this.raw.saveSnapshot({});
    try {
      for await (const part of call as AsyncIterable<SnapshotPart__Output>) yield part;
    } catch (err) {
      throw fromServiceError(err as grpc.ServiceError);
    } finally {
      call.cancel();
    }
  }

  close(): void {
    this.raw.close();
  }
}
