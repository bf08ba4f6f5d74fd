/**
 * The error model other gRPC ecosystems read: every error a server sends
 * carries, beside `blockstore-error-code` and `blockstore-detail-*`, the
 * trailer `grpc-status-details-bin` holding a `google.rpc.Status` whose one
 * detail is a `google.rpc.ErrorInfo` (reason = the stable blockstore code,
 * domain = "blockstore", metadata = the details). Go's `status.FromError`,
 * Python's `grpc_status.rpc_status.from_call` and grpc-web read it as is
 * (proto/google/rpc/ holds the two messages for code generators).
 *
 * Written with a few lines of protobuf wire format rather than a generated
 * codec: three small messages, strings and one varint.
 */
import { protoFields } from './wire';

export const STATUS_DETAILS_KEY = 'grpc-status-details-bin';
export const ERROR_INFO_TYPE = 'type.googleapis.com/google.rpc.ErrorInfo';
export const ERROR_DOMAIN = 'blockstore';

export interface RichStatus {
  code: number;
  message: string;
  errorInfo?: { reason: string; domain: string; metadata: Record<string, string> };
}

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n >>> 0;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return Buffer.from(out);
}

/** A length-delimited field (wire type 2). */
function bytesField(field: number, value: Buffer | string): Buffer {
  const b = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  return Buffer.concat([varint((field << 3) | 2), varint(b.length), b]);
}

/** google.rpc.Status{code, message, details: [Any(ErrorInfo{reason, domain, metadata})]}, encoded. */
export function encodeRichStatus(s: RichStatus): Buffer {
  const parts: Buffer[] = [];
  if (s.code) parts.push(varint(1 << 3), varint(s.code));
  if (s.message) parts.push(bytesField(2, s.message));
  if (s.errorInfo) {
    const info = Buffer.concat([
      bytesField(1, s.errorInfo.reason),
      bytesField(2, s.errorInfo.domain),
      ...Object.entries(s.errorInfo.metadata).map(([k, v]) => bytesField(3, Buffer.concat([bytesField(1, k), bytesField(2, v)]))),
    ]);
    parts.push(bytesField(3, Buffer.concat([bytesField(1, ERROR_INFO_TYPE), bytesField(2, info)])));
  }
  return Buffer.concat(parts);
}

const str = (v: number | Buffer | undefined) => (Buffer.isBuffer(v) ? v.toString('utf8') : '');

/** Reads a google.rpc.Status and its ErrorInfo detail, if any. @throws Error on malformed input */
export function decodeRichStatus(buf: Buffer): RichStatus {
  const f = protoFields(buf);
  const s: RichStatus = { code: Number(f.get(1)?.[0] ?? 0), message: str(f.get(2)?.[0]) };
  for (const any of f.get(3) ?? []) {
    if (!Buffer.isBuffer(any)) continue;
    const a = protoFields(any);
    if (str(a.get(1)?.[0]) !== ERROR_INFO_TYPE) continue;
    const info = protoFields(a.get(2)?.[0] as Buffer);
    const metadata: Record<string, string> = {};
    for (const entry of info.get(3) ?? []) {
      const e = protoFields(entry as Buffer);
      metadata[str(e.get(1)?.[0])] = str(e.get(2)?.[0]);
    }
    s.errorInfo = { reason: str(info.get(1)?.[0]), domain: str(info.get(2)?.[0]), metadata };
  }
  return s;
}
