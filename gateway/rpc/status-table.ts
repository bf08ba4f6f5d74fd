/**
 * The gateway's mapping from domain codes to gRPC statuses (the public
 * contract, listed in the README). MISSING_BLOCKS and VERSION_CONFLICT are
 * FAILED_PRECONDITION; QUOTA_EXCEEDED is RESOURCE_EXHAUSTED; NOT_MASTER and
 * NO_SYNC_REPLICA surface as UNAVAILABLE (retry).
 */
import { BASE_STATUS_TABLE, type StatusTable } from '../../lib/rpc/status';

export const GATEWAY_STATUS_TABLE: StatusTable = { ...BASE_STATUS_TABLE };
