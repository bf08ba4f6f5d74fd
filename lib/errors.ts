/**
 * The one error type of blockstore.
 *
 * Every domain failure carries a stable string code (the public contract,
 * listed in the README), an optional cause and whether a retry may help.
 * Callers branch on `code`, never on message text. Each server maps codes to
 * gRPC statuses in one table (see lib/rpc/status.ts) and sends the code back
 * in trailing metadata, so clients rebuild the same error on their side.
 */
export const ERROR_CODES = [
  // Input
  'INVALID_ARGUMENT', // a malformed field; the message names it
  'INVALID_HASH', // not 64 lowercase hex characters
  'HASH_MISMATCH', // bytes do not hash to the name given
  'BLOCK_TOO_LARGE', // over the 4 MiB block limit
  'INVALID_PATH',
  // State
  'NOT_FOUND',
  'BLOCK_NOT_FOUND',
  'ALREADY_EXISTS',
  'VERSION_CONFLICT', // compare-and-set failed; details name the current version
  'CURSOR_EXPIRED', // a watch cursor older than the retained change feed
  'MISSING_BLOCKS', // a commit names blocks the namespace does not hold
  'STALE_EPOCH', // a write fenced by a newer metadata term
  'UPLOAD_EXPIRED', // blocks written before garbage collection's cutoff: upload them again
  // Resources
  'CAPACITY_EXCEEDED', // the node's disk budget
  'QUOTA_EXCEEDED', // the user's quota
  'RATE_LIMITED',
  // Availability
  'UNAVAILABLE', // try again, possibly elsewhere
  'NOT_MASTER', // a write reached a metadata replica
  'NO_SYNC_REPLICA', // no synchronous replica acknowledged in time
  'SHUTTING_DOWN',
  'DEADLINE_EXCEEDED',
  'CANCELLED',
  // Integrity
  'CORRUPT_BLOCK', // stored bytes no longer match their hash
  // Access
  'UNAUTHENTICATED',
  'PERMISSION_DENIED',
  // Anything else: a bug, logged once and reported as INTERNAL
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

const RETRYABLE: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'UNAVAILABLE',
  'NOT_MASTER',
  'NO_SYNC_REPLICA',
  'SHUTTING_DOWN',
  'DEADLINE_EXCEEDED',
  'RATE_LIMITED',
]);

/**
 * Codes after which a caller cannot know whether its write took effect (the
 * request may have been applied before the failure reached it). Retryable is
 * a different question: RATE_LIMITED is retryable and known not applied;
 * INTERNAL is not retryable and may have been applied.
 */
const OUTCOME_UNKNOWN: ReadonlySet<string> = new Set<ErrorCode>(['UNAVAILABLE', 'DEADLINE_EXCEEDED', 'CANCELLED', 'INTERNAL', 'NOT_MASTER', 'NO_SYNC_REPLICA', 'SHUTTING_DOWN']);

/** True when a write that failed with `code` may nonetheless have been applied. */
export function outcomeUnknown(code: string): boolean {
  return OUTCOME_UNKNOWN.has(code);
}

export interface BlockstoreErrorOptions {
  cause?: unknown;
  /** Overrides the default retryability of the code. */
  retryable?: boolean;
  /** Small machine-readable facts, e.g. { currentVersion: '7' }. */
  details?: Record<string, string>;
}

export class BlockstoreError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: Readonly<Record<string, string>>;

  constructor(code: ErrorCode, message: string, options: BlockstoreErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BlockstoreError';
    this.code = code;
    this.retryable = options.retryable ?? RETRYABLE.has(code);
    this.details = options.details ?? {};
  }
}

export function isErrorCode(value: string): value is ErrorCode {
  return (ERROR_CODES as readonly string[]).includes(value);
}

/** True when `err` is a BlockstoreError with one of the given codes. */
export function hasCode(err: unknown, ...codes: ErrorCode[]): err is BlockstoreError {
  return err instanceof BlockstoreError && codes.includes(err.code);
}
