/**
 * gRPC adapter for blockstore.internal.v1.BlockDaemon: translates messages
 * to BlockStore calls and nothing more.
 */
import type { BlockDaemonHandlers } from '../../proto/gen/ts/blockstore/internal/v1/BlockDaemon';
import { BlockstoreError } from '../../lib/errors';
import { assertBlockHash } from '../../lib/hash';
import { parseHostPort } from '../../lib/units';
import type { RpcServer } from '../../lib/rpc/server';
import type { BlockStore } from '../blocks/block-store';
import type { Scrubber } from '../blocks/scrubber';

function invalidEncoding(e: string): never {
  throw new BlockstoreError('INVALID_ARGUMENT', `encoding: "" or "br", got ${JSON.stringify(e.slice(0, 40))}`);
}

/** Fetches a block's bytes from a peer (CopyBlock). */
export type PeerFetch = (address: string, hash: string, signal: AbortSignal) => Promise<Buffer>;

export function blockServiceHandlers(
  server: RpcServer,
  deps: { store: BlockStore; scrubber: Scrubber; nodeId: string; fetchFromPeer: PeerFetch },
): BlockDaemonHandlers {
  const { store, scrubber } = deps;
  return {
    PutBlock: server.unary('PutBlock', async (req) => store.put(req.hash, req.data, req.encoding === 'br' ? 'br' : req.encoding === '' ? '' : invalidEncoding(req.encoding))),
    GetBlock: server.unary('GetBlock', async (req) => store.get(req.hash, req.offset, req.length)),
    HasBlocks: server.unary('HasBlocks', async (req) => store.has(req.hashes)),
    DeleteBlocks: server.unary('DeleteBlocks', async (req) => store.delete(req.hashes, req.untouchedSinceMs)),
    ListBlocks: server.unary('ListBlocks', async (req) => {
      const blocks = (await store.list(req.after, req.limit)).map((b) => ({ ...b, touchedMs: b.touched }));
      const full = blocks.length === (req.limit === 0 ? 1000 : req.limit);
      return { blocks, nextAfter: full ? blocks[blocks.length - 1]!.hash : '' };
    }),
    CopyBlock: server.unary('CopyBlock', async (req, ctx) => {
      assertBlockHash(req.hash);
      parseHostPort(req.sourceAddress, 'source_address');
      const size = await store.sizeOf(req.hash);
      if (size !== undefined) return { alreadyPresent: true, size };
      let data: Buffer;
      try {
        data = await deps.fetchFromPeer(req.sourceAddress, req.hash, ctx.signal);
      } catch (err) {
        if (err instanceof BlockstoreError && err.code !== 'INTERNAL') throw err;
        throw new BlockstoreError('UNAVAILABLE', `could not fetch ${req.hash} from ${req.sourceAddress}`, { cause: err });
      }
      // put() re-hashes: a corrupt or forged source copy is refused.
      return store.put(req.hash, data);
    }),
    GetStats: server.unary('GetStats', async () => {
      const s = store.stats();
      const last = scrubber.lastPassCompleted;
      return {
        nodeId: deps.nodeId,
        ...s,
        scrubbedBlocks: scrubber.scrubbedBlocks,
        lastScrubPass: last ? { seconds: Math.floor(last.getTime() / 1000), nanos: (last.getTime() % 1000) * 1e6 } : null,
      };
    }),
  };
}
