/**
 * Reading protobuf's wire format directly, for the few places that need a
 * message's raw fields without a generated codec (the descriptor set that
 * reflection serves, google.rpc.Status in error trailers).
 */

/**
 * The fields of one message: field number → its values in order (varints
 * as numbers, length-delimited fields as the bytes they hold).
 * @throws Error on truncated input or a wire type other than varint and length-delimited
 */
export function protoFields(buf: Buffer): Map<number, Array<number | Buffer>> {
  const out = new Map<number, Array<number | Buffer>>();
  let i = 0;
  const varint = (): number => {
    let v = 0;
    let shift = 0;
    for (;;) {
      if (i >= buf.length) throw new Error('truncated varint');
      const b = buf[i++]!;
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
      shift += 7;
    }
  };
  while (i < buf.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const type = key & 7;
    let value: number | Buffer;
    if (type === 0) value = varint();
    else if (type === 2) {
      const len = varint();
      if (i + len > buf.length) throw new Error('truncated field');
      value = buf.subarray(i, i + len);
      i += len;
    } else throw new Error(`unexpected wire type ${type}`);
    const list = out.get(field);
    if (list) list.push(value);
    else out.set(field, [value]);
  }
  return out;
}

/** The bytes of every occurrence of a length-delimited field. */
export function bytesFields(buf: Buffer, field: number): Buffer[] {
  return (protoFields(buf).get(field) ?? []).filter((v): v is Buffer => Buffer.isBuffer(v));
}
