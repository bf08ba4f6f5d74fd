/**
 * Size limits every process agrees on, in one place.
 */

/** The largest block: content-defined chunking cuts at most this much, daemons store at most this. */
export const MAX_BLOCK_BYTES = 4 * 1024 * 1024;

/**
 * The largest gRPC message, sent or received: one block plus framing.
 * gRPC's default 4 MiB receive limit applies to the serialized message, so
 * it would refuse a 4 MiB bytes field.
 */
export const MAX_MESSAGE_BYTES = MAX_BLOCK_BYTES + 1024 * 1024;

/** The most blocks one file version may name (50,000 × 4 MiB ≈ 200 GiB). */
export const MAX_BLOCKS_PER_VERSION = 50_000;
