/**
 * The block data port: block bodies between gateways and block daemons as
 * plain HTTP/1.1 bodies, beside the daemon's gRPC service (which keeps every
 * other call, and PutBlock/GetBlock for tools and older gateways).
 *
 * Why a second transport: a block is a few KiB to 4 MiB of opaque bytes,
 * and gRPC over Node's HTTP/2 costs about 0.6 ms of CPU per call and
 * 1.4 ms per MiB on each side (16 KiB DATA frames, each a trip through
 * JavaScript, and the message copied whole to frame and to decode it); an
 * HTTP/1.1 body costs a quarter of that (measured with
 * cluster/bench/transport.bench.ts). Control stays in gRPC, bulk bytes go
 * over a plain stream, as in HDFS (DataTransferProtocol beside its RPC) and
 * SeaweedFS (volume servers speak HTTP).
 *
 *   PUT /v1/blocks/<hash>            body: the block (or its Brotli form,
 *                                    x-blockstore-encoding: br); Content-Length required
 *     200 {"alreadyPresent":bool,"size":n}
 *   GET /v1/blocks/<hash>?offset=&length=
 *     200 body: the bytes; x-blockstore-block-size: the whole block's size
 *   errors: a JSON body {"code","message"} with the BlockstoreError code,
 *     the code also in x-blockstore-error-code, HTTP status by kind.
 *
 * Authentication is the internal services': mutual TLS when the cluster has
 * TLS (the listener demands a client certificate signed by the cluster
 * CA) and the cluster secret header when one is set.
 */
import { BlockstoreError, isErrorCode, type ErrorCode } from '../errors';

export const BLOCKS_PATH = '/v1/blocks/';
export const ENCODING_HEADER = 'x-blockstore-encoding';
export const BLOCK_SIZE_HEADER = 'x-blockstore-block-size';

/** Client side: the BlockstoreError an error answer carries. */
export function errorFromAnswer(status: number, headerCode: string | string[] | undefined, body: string): BlockstoreError {
  let code = typeof headerCode === 'string' ? headerCode : '';
  let message = body.trim();
  try {
    const parsed = JSON.parse(body) as { code?: string; message?: string };
    code ||= parsed.code ?? '';
    message = parsed.message ?? message;
  } catch {
    // not JSON: a proxy's or a server's own page; keep the text
  }
  if (!isErrorCode(code)) code = status === 503 ? 'UNAVAILABLE' : 'INTERNAL';
  return new BlockstoreError(code as ErrorCode, `block daemon: ${message.slice(0, 500) || `HTTP ${status}`}`);
}
