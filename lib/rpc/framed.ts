/**
 * Server messages sent as gRPC frames built by the caller: a bytes field
 * (GetFile's data, up to a megabyte a message) goes out with at most one
 * copy, where protobuf's encoder and grpc-js's framing would each copy it
 * into a fresh buffer of its size.
 *
 * A frame is grpc-js's own wire format: one flag byte (0: not compressed),
 * the message length (4 bytes, big-endian), then the message; here the
 * message is one length-delimited field. grpc-js frames a server's messages
 * in BaseServerInterceptingCall.serializeMessage (1.10 and later); it is
 * taught, once, to send a FramedMessage's bytes as they are. Every other
 * message takes grpc-js's path unchanged.
 *
 * Buffers allocated with `allocWithHeadroom` keep spare bytes in front of
 * their data, so the frame's header is written there and nothing is copied.
 */
/** Flag, length, tag and the field's length as a varint (≤ 5 bytes for < 4 GiB). */
export const FRAME_HEADROOM = 5 + 1 + 5;

/** A message already framed for the wire (flag, length, message). */
export class FramedMessage {
  constructor(readonly frame: Buffer) {}
}

/** Buffers whose FRAME_HEADROOM bytes in front are spare (this exact object: a subarray of one is not). */
const withHeadroom = new WeakSet<Buffer>();

/** `size` bytes (uninitialised) with spare room in front for a frame's header. */
export function allocWithHeadroom(size: number): Buffer {
  const b = Buffer.allocUnsafeSlow(FRAME_HEADROOM + size).subarray(FRAME_HEADROOM);
  withHeadroom.add(b);
  return b;
}

/** Smallest and largest memory a pooled block buffer has (powers of two). */
const POOL_MIN_BYTES = 64 * 1024;
const POOL_MAX_BYTES = 8 * 1024 * 1024;
/** Memory the pool keeps while nobody uses it. */
const POOL_KEPT_BYTES = 32 * 1024 * 1024;

/**
 * Block-sized buffers with headroom, used again once what was read into
 * them has been written out. A block read lives for tens of milliseconds
 * (the daemon's answer, then the client's HTTP/2 window): long enough for
 * a fresh buffer to outlive a young-generation collection, so under GET
 * every block's memory ended in the old generation and a gateway ran a full
 * collection several times a second. A buffer comes back only through
 * `release`, called by whoever took it once nothing refers to its bytes any
 * more (for GetFile: grpc-js's callback that the frame was written to the
 * socket); one that is never released is the garbage collector's, as before.
 */
export class BlockBufferPool {
  private readonly free = new Map<number, ArrayBuffer[]>();
  /** Spare bytes in front of every buffer: a frame's header (the gateway), or none (the block daemon). */
  constructor(private readonly headroom: number = FRAME_HEADROOM) {}
  /** Views handed out and not yet released: view → its memory. */
  private readonly out = new WeakMap<Buffer, ArrayBuffer>();
  private kept = 0;
  /** Buffers handed out that came from the pool (tests, status). */
  reused = 0;

  /** `size` bytes (uninitialised) with the pool's headroom, from the pool when a buffer of its class is free. */
  take(size: number): Buffer {
    const cls = classOf(this.headroom + size);
    if (cls === undefined) return this.headroom === FRAME_HEADROOM ? allocWithHeadroom(size) : Buffer.allocUnsafeSlow(size);
    let mem = this.free.get(cls)?.pop();
    if (mem) {
      this.kept -= cls;
      this.reused++;
    } else mem = new ArrayBuffer(cls);
    const b = Buffer.from(mem, this.headroom, size);
    if (this.headroom === FRAME_HEADROOM) withHeadroom.add(b);
    this.out.set(b, mem);
    return b;
  }

  /** Gives back a buffer `take` returned, once nothing refers to its bytes; anything else is ignored. */
  release(b: Buffer): void {
    const mem = this.out.get(b);
    if (!mem) return;
    this.out.delete(b);
    if (this.kept + mem.byteLength > POOL_KEPT_BYTES) return;
    let list = this.free.get(mem.byteLength);
    if (!list) this.free.set(mem.byteLength, (list = []));
    list.push(mem);
    this.kept += mem.byteLength;
  }
}

function classOf(bytes: number): number | undefined {
  if (bytes > POOL_MAX_BYTES) return undefined;
  let c = POOL_MIN_BYTES;
  while (c < bytes) c *= 2;
  return c;
}

/** The gateway's pool of block buffers (reads fill them, GetFile releases them once written). */
export const blockBuffers = new BlockBufferPool();

function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

function writeVarint(into: Buffer, at: number, n: number): number {
  while (n >= 0x80) {
    into[at++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  into[at++] = n;
  return at;
}

/**
 * The frame of a message whose only field is `field` (wire type 2: bytes)
 * holding `data`: written in front of `data` when it has headroom, else one
 * copy into a new buffer.
 */
export function frameBytesField(field: number, data: Buffer): FramedMessage {
  const tag = (field << 3) | 2;
  if (tag >= 0x80) throw new RangeError(`field ${field}: only fields 1–15 are framed here`);
  const messageLength = 1 + varintLength(data.length) + data.length;
  const header = 5 + 1 + varintLength(data.length);
  let frame: Buffer;
  let at: number;
  if (withHeadroom.has(data)) {
    frame = Buffer.from(data.buffer, data.byteOffset - header, header + data.length);
    at = 0;
  } else {
    frame = Buffer.allocUnsafe(header + data.length);
    data.copy(frame, header);
    at = 0;
  }
  frame[at++] = 0;
  frame.writeUInt32BE(messageLength, at);
  at += 4;
  frame[at++] = tag;
  writeVarint(frame, at, data.length);
  return new FramedMessage(frame);
}

interface SerializingCall {
  serializeMessage(value: unknown): Buffer;
}

let installed: boolean | undefined;

/**
 * Teaches grpc-js's server calls to send a FramedMessage as it is (once per
 * process). False when this grpc-js frames messages elsewhere: callers then
 * send plain messages (`framedSendInstalled` tells them; a test checks it is
 * true for the grpc-js this project pins).
 */
export function installFramedSend(): boolean {
  if (installed !== undefined) return installed;
  installed = false;
  try {
    const mod = require('@grpc/grpc-js/build/src/server-interceptors') as { BaseServerInterceptingCall?: { prototype: SerializingCall } };
    const proto = mod.BaseServerInterceptingCall?.prototype;
    if (!proto || typeof proto.serializeMessage !== 'function') return installed;
    const original = proto.serializeMessage;
    proto.serializeMessage = function (this: SerializingCall, value: unknown): Buffer {
      return value instanceof FramedMessage ? value.frame : original.call(this, value);
    };
    installed = true;
  } catch {
    installed = false;
  }
  return installed;
}

export function framedSendInstalled(): boolean {
  return installed === true;
}
