/**
 * A minimal protocol-buffers wire-format encoder: just what writing an ONNX `ModelProto` needs (varints,
 * length-delimited fields, packed repeated scalars).
 *
 * An encoded message is a list of byte chunks, not one buffer: large `bytes` fields (tensor data) are kept by
 * reference and nested messages are spliced in without copying, so a model's weights are copied once, when the
 * file is written, however deeply they are nested.
 */

/** An encoded message: its chunks in order and their total length. */
export interface EncodedMessage {
  readonly chunks: readonly Uint8Array[];
  readonly length: number;
}

/** Wire types (the low 3 bits of a field key). */
const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;

/** `bytes` fields at least this long are kept by reference instead of being copied into the scratch buffer. */
const BY_REFERENCE = 4096;

const textEncoder = new TextEncoder();

/** Builds one message. Fields are written in call order (ONNX readers accept any order). */
export class ProtoWriter {
  private readonly chunks: Uint8Array[] = [];
  private length = 0;
  private buf = new Uint8Array(256);
  private view = new DataView(this.buf.buffer);
  private pos = 0;

  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    this.flush();
    if (n > this.buf.length) {
      this.buf = new Uint8Array(Math.max(n, 256));
      this.view = new DataView(this.buf.buffer);
    }
  }

  /** Moves the scratch bytes written so far into the chunk list. */
  private flush(): void {
    if (this.pos === 0) return;
    this.chunks.push(this.buf.slice(0, this.pos));
    this.length += this.pos;
    this.pos = 0;
  }

  private rawVarint(value: bigint | number): void {
    let v = BigInt.asUintN(64, BigInt(value));
    this.reserve(10);
    while (v >= 0x80n) {
      this.buf[this.pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.pos++] = Number(v);
  }

  private key(field: number, wireType: number): void {
    this.rawVarint((field << 3) | wireType);
  }

  private append(bytes: Uint8Array): void {
    if (bytes.length >= BY_REFERENCE) {
      this.flush();
      this.chunks.push(bytes);
      this.length += bytes.length;
      return;
    }
    this.reserve(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** An `int32`, `int64`, `uint64` or enum field (negative numbers as 10-byte two's complement, as protobuf does). */
  int(field: number, value: number | bigint): this {
    this.key(field, WIRE_VARINT);
    this.rawVarint(value);
    return this;
  }

  /** A `float` field. */
  float(field: number, value: number): this {
    this.key(field, WIRE_FIXED32);
    this.reserve(4);
    this.view.setFloat32(this.pos, value, true);
    this.pos += 4;
    return this;
  }

  /** A `double` field. */
  double(field: number, value: number): this {
    this.key(field, WIRE_FIXED64);
    this.reserve(8);
    this.view.setFloat64(this.pos, value, true);
    this.pos += 8;
    return this;
  }

  /** A `bytes` field. Large arrays are referenced, not copied: do not change them before the message is written. */
  bytes(field: number, value: Uint8Array): this {
    this.key(field, WIRE_LENGTH_DELIMITED);
    this.rawVarint(value.length);
    this.append(value);
    return this;
  }

  /** A `string` field (UTF-8). */
  string(field: number, value: string): this {
    return this.bytes(field, textEncoder.encode(value));
  }

  /** An embedded message field. */
  message(field: number, value: EncodedMessage): this {
    this.key(field, WIRE_LENGTH_DELIMITED);
    this.rawVarint(value.length);
    this.flush();
    for (const chunk of value.chunks) this.chunks.push(chunk);
    this.length += value.length;
    return this;
  }

  /** A packed repeated `int64`/`int32` field (omitted when empty). */
  packedInts(field: number, values: readonly (number | bigint)[]): this {
    if (values.length === 0) return this;
    const inner = new ProtoWriter();
    for (const v of values) inner.rawVarint(v);
    return this.message(field, inner.finish());
  }

  /** A packed repeated `float` field (omitted when empty). */
  packedFloats(field: number, values: readonly number[]): this {
    if (values.length === 0) return this;
    const data = new Uint8Array(values.length * 4);
    const view = new DataView(data.buffer);
    values.forEach((v, i) => view.setFloat32(i * 4, v, true));
    return this.bytes(field, data);
  }

  /** The encoded message. The writer must not be used afterwards. */
  finish(): EncodedMessage {
    this.flush();
    return { chunks: this.chunks, length: this.length };
  }
}

/** One buffer holding a whole encoded message (for small messages and tests). */
export function concatMessage(message: EncodedMessage): Uint8Array {
  const out = new Uint8Array(message.length);
  let offset = 0;
  for (const chunk of message.chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}
