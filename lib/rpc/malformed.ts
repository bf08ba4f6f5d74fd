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

/**
 * Walks the top level of a protobuf message and returns what is wrong with
 * its framing, if anything: protobufjs's Node reader clamps a
 * length-delimited field that runs past the end instead of failing, so a
 * truncated message would otherwise decode as a shorter, different one.
 */
export function wireFormatError(buf: Buffer): string | undefined {
  let pos = 0;
  const varint = (): number | undefined => {
    let v = 0;
    for (let i = 0; i < 10; i++) {
      if (pos >= buf.length) return undefined;
      const b = buf[pos++]!;
      if (i < 7) v += (b & 0x7f) * 2 ** (7 * i);
      if ((b & 0x80) === 0) return v;
    }
    return undefined;
  };
  while (pos < buf.length) {
    const tag = varint();
    if (tag === undefined) return `truncated tag at byte ${pos}`;
    const field = Math.floor(tag / 8);
    const wireType = tag % 8;
    if (field < 1) return `field number 0 at byte ${pos}`;
    if (wireType === 0) {
      if (varint() === undefined) return `truncated varint in field ${field}`;
    } else if (wireType === 1 || wireType === 5) {
      pos += wireType === 1 ? 8 : 4;
      if (pos > buf.length) return `truncated fixed-width field ${field}`;
    } else if (wireType === 2) {
      const len = varint();
      if (len === undefined || pos + len > buf.length) return `field ${field} runs past the end of the message`;
      pos += len;
    } else {
      return `wire type ${wireType} (groups or invalid) in field ${field}`;
    }
  }
  return undefined;
}

export function markMalformed<T>(deserialize: (bytes: Buffer) => T): (bytes: Buffer) => T {
  return (bytes: Buffer) => {
    try {
      const bad = wireFormatError(bytes);
      if (bad) throw new Error(bad);
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
