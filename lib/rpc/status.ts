/**
 * Domain errors ⇄ gRPC statuses: the one table every server applies, and
 * the domain code carried in trailing metadata (`blockstore-error-code`,
 * and as a google.rpc.Status with an ErrorInfo in `grpc-status-details-bin`)
 * so callers never parse message text.
 */
import * as grpc from '@grpc/grpc-js';
import { BlockstoreError, isErrorCode, type ErrorCode } from '../errors';
import type { Logger } from '../logger';
import { encodeRichStatus, ERROR_DOMAIN, STATUS_DETAILS_KEY } from './rich-status';

export type StatusTable = Readonly<Record<ErrorCode, grpc.status>>;

export const ERROR_CODE_KEY = 'blockstore-error-code';
const DETAIL_PREFIX = 'blockstore-detail-';

/** Every domain code's gRPC status (the README's error table). */
export const STATUS_TABLE: StatusTable = {
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  INVALID_HASH: grpc.status.INVALID_ARGUMENT,
  HASH_MISMATCH: grpc.status.INVALID_ARGUMENT,
  BLOCK_TOO_LARGE: grpc.status.INVALID_ARGUMENT,
  INVALID_PATH: grpc.status.INVALID_ARGUMENT,
  NOT_FOUND: grpc.status.NOT_FOUND,
  BLOCK_NOT_FOUND: grpc.status.NOT_FOUND,
  ALREADY_EXISTS: grpc.status.ALREADY_EXISTS,
  VERSION_CONFLICT: grpc.status.FAILED_PRECONDITION,
  CURSOR_EXPIRED: grpc.status.OUT_OF_RANGE,
  MISSING_BLOCKS: grpc.status.FAILED_PRECONDITION,
  UPLOAD_EXPIRED: grpc.status.FAILED_PRECONDITION,
  STALE_EPOCH: grpc.status.FAILED_PRECONDITION,
  CAPACITY_EXCEEDED: grpc.status.RESOURCE_EXHAUSTED,
  QUOTA_EXCEEDED: grpc.status.RESOURCE_EXHAUSTED,
  RATE_LIMITED: grpc.status.RESOURCE_EXHAUSTED,
  UNAVAILABLE: grpc.status.UNAVAILABLE,
  NOT_MASTER: grpc.status.UNAVAILABLE,
  NO_SYNC_REPLICA: grpc.status.UNAVAILABLE,
  SHUTTING_DOWN: grpc.status.UNAVAILABLE,
  DEADLINE_EXCEEDED: grpc.status.DEADLINE_EXCEEDED,
  CANCELLED: grpc.status.CANCELLED,
  CORRUPT_BLOCK: grpc.status.DATA_LOSS,
  UNAUTHENTICATED: grpc.status.UNAUTHENTICATED,
  PERMISSION_DENIED: grpc.status.PERMISSION_DENIED,
  INTERNAL: grpc.status.INTERNAL,
};

/**
 * Turns anything thrown by a handler into a gRPC error. Unknown errors become
 * INTERNAL with a generic message and are logged once, here.
 */
export function toServiceError(err: unknown, logger: Logger, method: string): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  if (err instanceof BlockstoreError) {
    metadata.set(ERROR_CODE_KEY, err.code);
    for (const [k, v] of Object.entries(err.details)) metadata.set(DETAIL_PREFIX + k.toLowerCase(), v);
    // gRPC clients' retry policies honour this hint (gRFC A6).
    if (err.details.retryAfterMs) metadata.set('grpc-retry-pushback-ms', err.details.retryAfterMs);
    if (err.code === 'INTERNAL') logger.error('internal error', { method, err });
    richStatus(metadata, STATUS_TABLE[err.code], err.message, err.code, err.details);
    return { code: STATUS_TABLE[err.code], details: err.message, metadata };
  }
  logger.error('unexpected error', { method, err: err instanceof Error ? err : String(err) });
  metadata.set(ERROR_CODE_KEY, 'INTERNAL');
  richStatus(metadata, grpc.status.INTERNAL, 'internal error', 'INTERNAL', {});
  return { code: grpc.status.INTERNAL, details: 'internal error', metadata };
}

/** The same error as a google.rpc.Status with an ErrorInfo (lib/rpc/rich-status.ts), for clients in other languages. */
function richStatus(metadata: grpc.Metadata, code: grpc.status, message: string, reason: ErrorCode, details: Record<string, string>): void {
  metadata.set(STATUS_DETAILS_KEY, encodeRichStatus({ code, message, errorInfo: { reason, domain: ERROR_DOMAIN, metadata: details } }));
}

const STATUS_TO_CODE: Partial<Record<grpc.status, ErrorCode>> = {
  [grpc.status.INVALID_ARGUMENT]: 'INVALID_ARGUMENT',
  [grpc.status.NOT_FOUND]: 'NOT_FOUND',
  [grpc.status.ALREADY_EXISTS]: 'ALREADY_EXISTS',
  [grpc.status.FAILED_PRECONDITION]: 'VERSION_CONFLICT',
  [grpc.status.OUT_OF_RANGE]: 'CURSOR_EXPIRED',
  [grpc.status.RESOURCE_EXHAUSTED]: 'CAPACITY_EXCEEDED',
  [grpc.status.UNAVAILABLE]: 'UNAVAILABLE',
  [grpc.status.DEADLINE_EXCEEDED]: 'DEADLINE_EXCEEDED',
  [grpc.status.CANCELLED]: 'CANCELLED',
  [grpc.status.DATA_LOSS]: 'CORRUPT_BLOCK',
  [grpc.status.UNAUTHENTICATED]: 'UNAUTHENTICATED',
  [grpc.status.PERMISSION_DENIED]: 'PERMISSION_DENIED',
};

/**
 * Client side: rebuilds the BlockstoreError a server sent. Transport failures
 * without a domain code get one from their status (UNAVAILABLE stays
 * retryable, so the retry policy can read `retryable`).
 */
export function fromServiceError(err: grpc.ServiceError | Error): BlockstoreError {
  const se = err as Partial<grpc.ServiceError>;
  const sent = se.metadata?.get(ERROR_CODE_KEY)[0];
  const details: Record<string, string> = {};
  if (se.metadata) {
    for (const [k, v] of Object.entries(se.metadata.getMap())) {
      if (k.startsWith(DETAIL_PREFIX)) details[k.slice(DETAIL_PREFIX.length)] = String(v);
    }
  }
  // A stream reset by a proxy when a backend died ("Call ended without gRPC
  // status") carries no domain code: it is a transport failure, so retry.
  const transport = se.code === grpc.status.INTERNAL && /RST_STREAM|ended without gRPC status/.test(se.details ?? '');
  const code: ErrorCode =
    typeof sent === 'string' && isErrorCode(sent) ? sent : transport ? 'UNAVAILABLE' : (se.code !== undefined && STATUS_TO_CODE[se.code]) || 'INTERNAL';
  const message = se.details ?? err.message;
  const out = new BlockstoreError(code, message, { cause: err, details });
  (out as { grpcCode?: number }).grpcCode = se.code;
  return out;
}
