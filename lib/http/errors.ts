/**
 * BlockstoreErrors over plain HTTP (the block data port, the web console's
 * API): an HTTP status by kind, the stable code in a header and in a JSON
 * body `{"code","message"}`.
 */
import type { ServerResponse } from 'node:http';
import { BlockstoreError, type ErrorCode } from '../errors';

export const ERROR_CODE_HEADER = 'x-blockstore-error-code';

/** HTTP status for an error code (the code itself travels in the body and a header). */
export function httpStatusOf(code: ErrorCode): number {
  switch (code) {
    case 'INVALID_ARGUMENT':
    case 'INVALID_HASH':
    case 'INVALID_PATH':
    case 'HASH_MISMATCH':
      return 400;
    case 'UNAUTHENTICATED':
      return 401;
    case 'PERMISSION_DENIED':
      return 403;
    case 'BLOCK_NOT_FOUND':
    case 'NOT_FOUND':
      return 404;
    case 'VERSION_CONFLICT':
    case 'ALREADY_EXISTS':
      return 409;
    case 'BLOCK_TOO_LARGE':
      return 413;
    case 'CORRUPT_BLOCK':
      return 422;
    case 'RATE_LIMITED':
      return 429;
    case 'CAPACITY_EXCEEDED':
    case 'QUOTA_EXCEEDED':
      return 507;
    case 'UNAVAILABLE':
    case 'SHUTTING_DOWN':
    case 'NOT_MASTER':
    case 'NO_SYNC_REPLICA':
      return 503;
    case 'DEADLINE_EXCEEDED':
      return 504;
    default:
      return 500;
  }
}

/**
 * Answers `err` (anything thrown; not a BlockstoreError: INTERNAL) unless
 * the answer has started, in which case the connection is cut. A request
 * whose body was left unread ends its connection. Returns the code sent.
 */
export function sendError(res: ServerResponse, err: unknown, requestComplete: boolean, extraHeaders: Record<string, string> = {}): BlockstoreError {
  const e = err instanceof BlockstoreError ? err : new BlockstoreError('INTERNAL', 'internal error', { cause: err });
  if (res.headersSent) {
    res.destroy();
    return e;
  }
  const body = JSON.stringify({ code: e.code, message: e.message });
  if (!requestComplete) res.setHeader('connection', 'close');
  res.writeHead(httpStatusOf(e.code), { ...extraHeaders, 'content-type': 'application/json', [ERROR_CODE_HEADER]: e.code, 'content-length': Buffer.byteLength(body) }).end(body);
  return e;
}
