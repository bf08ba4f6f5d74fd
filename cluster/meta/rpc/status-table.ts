/**
 * The metadata service's mapping from domain codes to gRPC statuses.
 * NOT_MASTER and NO_SYNC_REPLICA are UNAVAILABLE (retry, at the master);
 * VERSION_CONFLICT and MISSING_BLOCKS are FAILED_PRECONDITION; STALE_EPOCH
 * too (the caller's term is over).
 */
import { BASE_STATUS_TABLE, type StatusTable } from '../../../lib/rpc/status';

export const META_STATUS_TABLE: StatusTable = { ...BASE_STATUS_TABLE };
