/**
 * The blockstore SDK: what the installable package (`make sdk`,
 * scripts/build-sdk.sh) exports.
 *
 *   const { BlockstoreClient } = require('@blockstore/sdk');
 *   const client = BlockstoreClient.fromEnv();       // or new BlockstoreClient({ address, token })
 *   await client.put('photos/a.jpg', './a.jpg');
 */
export { BlockstoreClient } from './client';
export type { CallOptions, ClientOptions, FileInfo, PutOptions, ReadOptions, SyncResult, WatchEvent } from './client';
export { resolveConnection } from './connection';
export type { Connection, CredentialsFile, Profile } from './connection';
export { BlockstoreError } from '../lib/errors';
export type { ErrorCode } from '../lib/errors';
