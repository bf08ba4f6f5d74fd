/**
 * The block daemon's one mapping from domain codes to gRPC statuses.
 * CAPACITY_EXCEEDED → RESOURCE_EXHAUSTED; CORRUPT_BLOCK → DATA_LOSS (the
 * caller reads another replica); HASH_MISMATCH → INVALID_ARGUMENT.
 */
import { BASE_STATUS_TABLE, type StatusTable } from '../../lib/rpc/status';

export const BLOCKD_STATUS_TABLE: StatusTable = { ...BASE_STATUS_TABLE };
