/**
 * gRPC adapter for blockstore.v1.Files: authenticates every call, maps
 * messages to FileService calls, streams bytes with backpressure.
 */
import type * as grpc from '@grpc/grpc-js';
import type { FilesHandlers } from '../../proto/gen/ts/blockstore/v1/Files';
import type { PutFileRequest__Output } from '../../proto/gen/ts/blockstore/v1/PutFileRequest';
import type { PutFileResponse } from '../../proto/gen/ts/blockstore/v1/PutFileResponse';
import type { GetFileRequest__Output } from '../../proto/gen/ts/blockstore/v1/GetFileRequest';
import type { GetFileResponse } from '../../proto/gen/ts/blockstore/v1/GetFileResponse';
import type { PutBlocksRequest__Output } from '../../proto/gen/ts/blockstore/v1/PutBlocksRequest';
import type { PutBlocksResponse } from '../../proto/gen/ts/blockstore/v1/PutBlocksResponse';
import type { WatchRequest__Output } from '../../proto/gen/ts/blockstore/v1/WatchRequest';
import type { WatchEvent } from '../../proto/gen/ts/blockstore/v1/WatchEvent';
import { BlockstoreError } from '../../lib/errors';
import type { MetaRouter } from '../../lib/rpc/clients/meta-router';
import type { RpcServer, StreamContext } from '../../lib/rpc/server';
import { readClientStream } from '../../lib/rpc/stream-reader';
import { blockBuffers, frameBytesField, framedSendInstalled, type FramedMessage } from '../../lib/rpc/framed';
import type { Authenticator, Caller } from '../auth/authenticator';
import type { UserLimits } from '../auth/user-limits';
import { followChanges } from '../files/change-feed';
import type { FileInfo, FileService, WriteOutcome } from '../files/file-service';

const DATA_MESSAGE_BYTES = 1024 * 1024;
/** GetFileResponse's `data` field (proto/blockstore/v1/files.proto). */
const GET_FILE_DATA_FIELD = 2;

/** A GetFile data message: framed here (one copy at most, none for a block read with headroom) where grpc-js allows. */
function dataMessage(bytes: Buffer): GetFileResponse | FramedMessage {
  return framedSendInstalled() ? frameBytesField(GET_FILE_DATA_FIELD, bytes) : { data: bytes };
}

function caller(auth: Authenticator, md: grpc.Metadata): Promise<Caller> {
  const v = md.get('authorization')[0];
  return auth.authenticate(typeof v === 'string' ? v : undefined);
}

const writeResponse = (o: WriteOutcome) => ({ file: o.file ?? null, position: o.position, replayed: o.replayed });
const fileMsg = (f: FileInfo) => f;

export interface FilesDeps {
  auth: Authenticator;
  files: FileService;
  meta: MetaRouter;
  limits: UserLimits;
  /** An upload that sends nothing, or a download/watch whose client reads nothing, this long is closed. */
  streamIdleMs: number;
}

export function filesHandlers(server: RpcServer, deps: FilesDeps): FilesHandlers {
  const { auth, files, limits, streamIdleMs } = deps;
  return {
    PutFile: server.clientStream('PutFile', async (call: grpc.ServerReadableStream<PutFileRequest__Output, PutFileResponse>, { metadata, signal }) => {
      const who = await caller(auth, metadata);
      return limits.withStream(who.userId, async () => {
        const messages = readClientStream(call, signal, streamIdleMs);
        const first = await messages.next();
        if (first.done || first.value.msg !== 'header') throw new BlockstoreError('INVALID_ARGUMENT', 'the first PutFile message must be the header');
        const h = first.value.header!;
        async function* data(): AsyncGenerator<Buffer> {
          for await (const m of messages) {
            if (m.msg !== 'data') throw new BlockstoreError('INVALID_ARGUMENT', 'only data messages may follow the header');
            yield m.data!;
          }
        }
        const r = await files.putFile(who.userId, who.tokenId, { path: h.path, expectedVersion: h.expectedVersion, idempotencyKey: h.idempotencyKey, contentHash: h.contentHash }, data(), signal);
        return { file: r.file ?? null, position: r.position, bytesStored: r.bytesStored, replayed: r.replayed };
      });
    }),
    GetFile: server.serverStream(
      'GetFile',
      async (req: GetFileRequest__Output, { metadata, signal, send }: StreamContext<GetFileResponse>) => {
        const who = await caller(auth, metadata);
        await limits.withStream(who.userId, async () => {
          const { info, data } = await files.getFile(who.userId, req.path, req.version, req.offset, req.length, req.minPosition, signal);
          await send({ info: fileMsg(info) });
          for await (const piece of data) {
            // A piece that fits one message is sent as it is (its headroom, if
            // any, holds the frame), and its buffer goes back to the pool once
            // written; a larger one is sent a copy at a time.
            if (piece.length === 0) continue;
            if (piece.length <= DATA_MESSAGE_BYTES) await send(dataMessage(piece), () => blockBuffers.release(piece));
            else for (let i = 0; i < piece.length; i += DATA_MESSAGE_BYTES) await send(dataMessage(piece.subarray(i, i + DATA_MESSAGE_BYTES)));
          }
        });
      },
      { idleMs: streamIdleMs },
    ),
    StatFile: server.unary('StatFile', async (req, ctx) => {
      const who = await caller(auth, ctx.metadata);
      return fileMsg(await files.stat(who.userId, req.path, req.version, req.minPosition));
    }),
    ListFiles: server.unary('ListFiles', async (req, ctx) => {
      const who = await caller(auth, ctx.metadata);
      const r = await files.list(who.userId, req.prefix, req.pageSize, req.pageToken, req.minPosition);
      return { files: r.files, nextPageToken: r.next };
    }),
    DeleteFile: server.unary('DeleteFile', async (req, ctx) => {
      const who = await caller(auth, ctx.metadata);
      return writeResponse(await files.delete(who.userId, who.tokenId, req.path, req.expectedVersion, req.idempotencyKey));
    }),
    MoveFile: server.unary('MoveFile', async (req, ctx) => {
      const who = await caller(auth, ctx.metadata);
      return writeResponse(await files.move(who.userId, who.tokenId, req.fromPath, req.toPath, req.idempotencyKey));
    }),
    ListVersions: server.unary('ListVersions', async (req, ctx) => {
      const who = await caller(auth, ctx.metadata);
      return { versions: await files.versions(who.userId, req.path, req.minPosition) };
    }),
    RestoreVersion: server.unary('RestoreVersion', async (req, ctx) => {
      const who = await caller(auth, ctx.metadata);
      return writeResponse(await files.restore(who.userId, who.tokenId, req.path, req.version, req.expectedVersion, req.idempotencyKey));
    }),
    FindMissingBlocks: server.unary('FindMissingBlocks', async (req, ctx) => {
      const who = await caller(auth, ctx.metadata);
      return { missing: await files.findMissing(who.userId, req.hashes) };
    }),
    PutBlocks: server.clientStream('PutBlocks', async (call: grpc.ServerReadableStream<PutBlocksRequest__Output, PutBlocksResponse>, { metadata, signal }) => {
      const who = await caller(auth, metadata);
      return limits.withStream(who.userId, async () => {
        async function* blocks() {
          for await (const m of readClientStream(call, signal, streamIdleMs)) yield { hash: m.hash, data: m.data };
        }
        const r = await files.putBlocks(who.userId, blocks(), signal);
        return { blocksStored: r.count, bytesStored: r.bytes };
      });
    }),
    CommitFile: server.unary('CommitFile', async (req, ctx) => {
      const who = await caller(auth, ctx.metadata);
      return writeResponse(
        await files.commitBlocks(who.userId, who.tokenId, req.path, req.blocks.map((b) => ({ hash: b.hash, size: b.size })), req.expectedVersion, req.idempotencyKey, req.contentHash),
      );
    }),
    Watch: server.serverStream(
      'Watch',
      async (req: WatchRequest__Output, { metadata, signal, send }: StreamContext<WatchEvent>) => {
        const who = await caller(auth, metadata);
        await limits.withStream(who.userId, () => followChanges(deps.meta, who.userId, req.prefix, req.cursor, signal, send));
      },
      { idleMs: streamIdleMs },
    ),
    GetUsage: server.unary('GetUsage', async (_req, ctx) => {
      const who = await caller(auth, ctx.metadata);
      return files.usage(who.userId);
    }),
  };
}
