/**
 * Request bytes that do not decode. grpc-js answers a deserializer's throw
 * with INTERNAL ("Error deserializing request"), which blames the server;
 * the deserializer is wrapped so the bad message reaches the handler
 * marked, and is refused there as INVALID_ARGUMENT.
 */
import { BlockstoreError } from '../errors';

const MALFORMED = Symbol('malformed request');

interface Marked {
  [MALFORMED]: string;
}

export function markMalformed<T>(deserialize: (bytes: Buffer) => T): (bytes: Buffer) => T {
  return (bytes: Buffer) => {
    try {
      return deserialize(bytes);
    } catch (err) {
      return { [MALFORMED]: (err as Error).message } as unknown as T;
    }
  };
}

/**
 * Returns the request unchanged, or throws for a marked one.
 * @throws BlockstoreError INVALID_ARGUMENT when the bytes were not a valid message.
 */
export function requestOf<T>(request: T): T {
  if (request !== null && typeof request === 'object' && MALFORMED in request) {
    throw new BlockstoreError('INVALID_ARGUMENT', `request is not a valid protobuf message: ${(request as unknown as Marked)[MALFORMED]}`);
  }
  return request;
}
