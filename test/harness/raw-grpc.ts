/**
 * Raw gRPC for hostile-input tests: any bytes to any method path, without
 * the SDK's validation or encoding, plus a tiny protobuf writer to build
 * valid, truncated or ill-typed messages by hand.
 */
import * as grpc from '@grpc/grpc-js';

export interface Outcome {
  /** gRPC status name, e.g. "INVALID_ARGUMENT" ("OK" on success). */
  status: string;
  details: string;
  /** The blockstore error code trailer, when the server sent one. */
  code?: string;
  retryAfterMs?: string;
  messages: number;
}

const identity = (b: Buffer) => b;

export function rawClient(address: string, options: grpc.ChannelOptions = {}, creds = grpc.credentials.createInsecure()): grpc.Client {
  return new grpc.Client(address, creds, { 'grpc.max_send_message_length': 64 * 1024 * 1024, 'grpc.max_receive_message_length': 64 * 1024 * 1024, ...options });
}

function outcome(err: grpc.ServiceError | null, messages: number): Outcome {
  if (!err) return { status: 'OK', details: '', messages };
  const code = err.metadata?.get('blockstore-error-code')[0];
  const retry = err.metadata?.get('blockstore-detail-retryafterms')[0];
  return {
    status: grpc.status[err.code] ?? String(err.code),
    details: err.details,
    code: typeof code === 'string' ? code : undefined,
    retryAfterMs: typeof retry === 'string' ? retry : undefined,
    messages,
  };
}

export function metadataWith(headers: Record<string, string>): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(headers)) md.set(k, v);
  return md;
}

export function unaryRaw(client: grpc.Client, path: string, bytes: Buffer, md: grpc.Metadata, timeoutMs = 10_000): Promise<Outcome> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, identity, identity, bytes, md, { deadline: Date.now() + timeoutMs }, (err) => resolve(outcome(err, err ? 0 : 1)));
  });
}

/**
 * A client stream: writes `messages`, then half-closes (`end`), or stops
 * writing and waits (`stall`), or cancels after the last write (`cancel`).
 */
export function clientStreamRaw(
  client: grpc.Client, path: string, messages: Buffer[], md: grpc.Metadata,
  o: { then: 'end' | 'stall' | 'cancel'; timeoutMs?: number },
): Promise<Outcome> {
  return new Promise((resolve) => {
    const call = client.makeClientStreamRequest(path, identity, identity, md, { deadline: Date.now() + (o.timeoutMs ?? 20_000) }, (err) =>
      resolve(outcome(err, err ? 0 : 1)),
    );
    call.on('error', () => {});
    for (const m of messages) call.write(m);
    if (o.then === 'end') call.end();
    if (o.then === 'cancel') setImmediate(() => call.cancel());
  });
}

/** A server stream; `readDelayMs` > 0 stops reading for that long after the first message. */
export function serverStreamRaw(client: grpc.Client, path: string, bytes: Buffer, md: grpc.Metadata, o: { timeoutMs?: number; readDelayMs?: number; cancelAfterFirst?: boolean } = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    const call = client.makeServerStreamRequest(path, identity, identity, bytes, md, { deadline: Date.now() + (o.timeoutMs ?? 20_000) });
    let n = 0;
    let paused = false;
    call.on('data', () => {
      n++;
      if (o.cancelAfterFirst && n === 1) {
        call.cancel();
        return;
      }
      if (o.readDelayMs && !paused) {
        paused = true;
        call.pause();
        setTimeout(() => call.resume(), o.readDelayMs);
      }
    });
    call.on('error', (err: grpc.ServiceError) => resolve(outcome(err, n)));
    call.on('end', () => resolve(outcome(null, n)));
  });
}

/** Protobuf by hand: fields in, bytes out (wire types 0 and 2). */
export const pb = {
  varint(n: bigint | number): Buffer {
    let v = BigInt.asUintN(64, BigInt(n));
    const out: number[] = [];
    do {
      let b = Number(v & 0x7fn);
      v >>= 7n;
      if (v) b |= 0x80;
      out.push(b);
    } while (v);
    return Buffer.from(out);
  },
  tag(field: number, wireType: 0 | 1 | 2 | 5): Buffer {
    return pb.varint((field << 3) | wireType);
  },
  u64(field: number, n: bigint | number): Buffer {
    return Buffer.concat([pb.tag(field, 0), pb.varint(n)]);
  },
  bytes(field: number, v: Buffer | string): Buffer {
    const b = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
    return Buffer.concat([pb.tag(field, 2), pb.varint(b.length), b]);
  },
  msg(...parts: Buffer[]): Buffer {
    return Buffer.concat(parts);
  },
};
