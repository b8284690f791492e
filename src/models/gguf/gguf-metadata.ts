/**
 * GGUF metadata key/value entries: the value type ids, the entry shape shared by the reader and the
 * writer, and the little-endian encoding of a new or changed entry.
 *
 * An entry read from a file keeps its `raw` bytes (key, type and value exactly as stored). The writer
 * copies `raw` when present, so entries nobody touched (the tokenizer, for example) are written back
 * byte for byte. To change an entry, build a new one without `raw` (see `setMetadataEntry`).
 */
import { SpecrouteError } from '../../errors/registry.js';

/** GGUF metadata value type ids (`enum gguf_type`). */
export const GgufValueType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;
export type GgufValueType = (typeof GgufValueType)[keyof typeof GgufValueType];

const typeNames = new Map<number, string>(Object.entries(GgufValueType).map(([name, id]) => [id, name]));

/** Whether `id` is a GGUF value type. */
export function isGgufValueType(id: number): id is GgufValueType {
  return typeNames.has(id);
}

/** `UINT32`, `STRING`… or `type#99` for an unknown id. */
export function ggufValueTypeName(id: number): string {
  return typeNames.get(id) ?? `type#${id}`;
}

/**
 * A decoded value. 64-bit integers are `bigint`, the other numbers `number`; arrays are JS arrays
 * (arrays of arrays are allowed by the format and read as nested arrays).
 */
export type GgufValue = number | bigint | boolean | string | GgufValue[];

/** One metadata key/value pair. */
export interface GgufMetadataEntry {
  /** The key, for example `llama.block_count`. */
  readonly key: string;
  /** The value type. */
  readonly type: GgufValueType;
  /** The element type when `type` is `ARRAY` (the outer one for nested arrays). */
  readonly arrayType?: GgufValueType;
  /** The decoded value. */
  readonly value: GgufValue;
  /**
   * The entry's bytes as stored in the file (key, type, value). When present the writer copies them
   * unchanged and ignores `value`.
   */
  readonly raw?: Uint8Array;
}

/** Fixed byte width of a scalar type, or undefined for strings and arrays. */
export function scalarByteSize(type: number): number | undefined {
  switch (type) {
    case GgufValueType.UINT8:
    case GgufValueType.INT8:
    case GgufValueType.BOOL:
      return 1;
    case GgufValueType.UINT16:
    case GgufValueType.INT16:
      return 2;
    case GgufValueType.UINT32:
    case GgufValueType.INT32:
    case GgufValueType.FLOAT32:
      return 4;
    case GgufValueType.UINT64:
    case GgufValueType.INT64:
    case GgufValueType.FLOAT64:
      return 8;
    default:
      return undefined;
  }
}

const textEncoder = new TextEncoder();

/** Grows a byte buffer as little-endian values are appended to it. */
export class ByteSink {
  private buf = new Uint8Array(256);
  private view = new DataView(this.buf.buffer);
  private len = 0;

  get length(): number {
    return this.len;
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  bytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  u8(v: number): void {
    this.reserve(1);
    this.view.setUint8(this.len, v);
    this.len += 1;
  }
  i8(v: number): void {
    this.reserve(1);
    this.view.setInt8(this.len, v);
    this.len += 1;
  }
  u16(v: number): void {
    this.reserve(2);
    this.view.setUint16(this.len, v, true);
    this.len += 2;
  }
  i16(v: number): void {
    this.reserve(2);
    this.view.setInt16(this.len, v, true);
    this.len += 2;
  }
  u32(v: number): void {
    this.reserve(4);
    this.view.setUint32(this.len, v, true);
    this.len += 4;
  }
  i32(v: number): void {
    this.reserve(4);
    this.view.setInt32(this.len, v, true);
    this.len += 4;
  }
  f32(v: number): void {
    this.reserve(4);
    this.view.setFloat32(this.len, v, true);
    this.len += 4;
  }
  f64(v: number): void {
    this.reserve(8);
    this.view.setFloat64(this.len, v, true);
    this.len += 8;
  }
  u64(v: bigint): void {
    this.reserve(8);
    this.view.setBigUint64(this.len, v, true);
    this.len += 8;
  }
  i64(v: bigint): void {
    this.reserve(8);
    this.view.setBigInt64(this.len, v, true);
    this.len += 8;
  }
  /** A GGUF string: u64 byte length, then UTF-8 bytes. */
  string(s: string): void {
    const b = textEncoder.encode(s);
    this.u64(BigInt(b.length));
    this.bytes(b);
  }
  zeros(n: number): void {
    this.reserve(n);
    this.buf.fill(0, this.len, this.len + n);
    this.len += n;
  }
  /** The bytes written so far (a copy). */
  toBytes(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

function badValue(key: string, message: string): SpecrouteError {
  return new SpecrouteError('invalid_argument', `Metadata ${key}: ${message}`, { param: key });
}

function integer(key: string, value: GgufValue, min: number, max: number): number {
  const n = typeof value === 'bigint' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    throw badValue(key, `${String(value)} is not an integer in [${min}, ${max}].`);
  }
  return n;
}

function bigInteger(key: string, value: GgufValue, signed: boolean): bigint {
  let v: bigint;
  if (typeof value === 'bigint') v = value;
  else if (typeof value === 'number' && Number.isSafeInteger(value)) v = BigInt(value);
  else throw badValue(key, `${String(value)} is not a 64-bit integer.`);
  const ok = signed ? v >= -(1n << 63n) && v < 1n << 63n : v >= 0n && v < 1n << 64n;
  if (!ok) throw badValue(key, `${v} is out of range for ${signed ? 'INT64' : 'UINT64'}.`);
  return v;
}

function encodeScalar(sink: ByteSink, key: string, type: number, value: GgufValue): void {
  switch (type) {
    case GgufValueType.UINT8:
      return sink.u8(integer(key, value, 0, 0xff));
    case GgufValueType.INT8:
      return sink.i8(integer(key, value, -0x80, 0x7f));
    case GgufValueType.UINT16:
      return sink.u16(integer(key, value, 0, 0xffff));
    case GgufValueType.INT16:
      return sink.i16(integer(key, value, -0x8000, 0x7fff));
    case GgufValueType.UINT32:
      return sink.u32(integer(key, value, 0, 0xffffffff));
    case GgufValueType.INT32:
      return sink.i32(integer(key, value, -0x80000000, 0x7fffffff));
    case GgufValueType.UINT64:
      return sink.u64(bigInteger(key, value, false));
    case GgufValueType.INT64:
      return sink.i64(bigInteger(key, value, true));
    case GgufValueType.FLOAT32:
    case GgufValueType.FLOAT64:
      if (typeof value !== 'number') throw badValue(key, `${String(value)} is not a number.`);
      return type === GgufValueType.FLOAT32 ? sink.f32(value) : sink.f64(value);
    case GgufValueType.BOOL:
      if (typeof value !== 'boolean') throw badValue(key, `${String(value)} is not a boolean.`);
      return sink.u8(value ? 1 : 0);
    case GgufValueType.STRING:
      if (typeof value !== 'string') throw badValue(key, `${String(value)} is not a string.`);
      return sink.string(value);
    default:
      throw badValue(key, `cannot encode a value of type ${ggufValueTypeName(type)} here.`);
  }
}

/**
 * Appends the bytes of `entry` to `sink`: its `raw` bytes when present, otherwise the encoded key,
 * type and value. Arrays of arrays can only be written from `raw`.
 */
export function encodeMetadataEntry(sink: ByteSink, entry: GgufMetadataEntry): void {
  if (entry.raw !== undefined) {
    sink.bytes(entry.raw);
    return;
  }
  sink.string(entry.key);
  sink.u32(entry.type);
  if (entry.type !== GgufValueType.ARRAY) {
    encodeScalar(sink, entry.key, entry.type, entry.value);
    return;
  }
  const itemType = entry.arrayType;
  if (itemType === undefined || !isGgufValueType(itemType)) {
    throw badValue(entry.key, 'an ARRAY entry needs a valid arrayType.');
  }
  if (itemType === GgufValueType.ARRAY) throw badValue(entry.key, 'nested arrays can only be copied from raw bytes.');
  if (!Array.isArray(entry.value)) throw badValue(entry.key, 'an ARRAY entry needs an array value.');
  sink.u32(itemType);
  sink.u64(BigInt(entry.value.length));
  for (const item of entry.value) encodeScalar(sink, entry.key, itemType, item);
}

/** The encoded bytes of one entry (its `raw` bytes when present). */
export function encodeMetadataEntryBytes(entry: GgufMetadataEntry): Uint8Array {
  const sink = new ByteSink();
  encodeMetadataEntry(sink, entry);
  return sink.toBytes();
}

/** The entry for `key`, or undefined. */
export function findMetadataEntry(entries: readonly GgufMetadataEntry[], key: string): GgufMetadataEntry | undefined {
  return entries.find((e) => e.key === key);
}

/**
 * A copy of `entries` with `key` set to a new value (without raw bytes, so it is re-encoded). An
 * existing entry is replaced in place, keeping its position; a new one is appended. When `type` is
 * omitted the existing entry's type (and array type) is kept.
 */
export function setMetadataEntry(
  entries: readonly GgufMetadataEntry[],
  key: string,
  value: GgufValue,
  type?: GgufValueType,
  arrayType?: GgufValueType,
): GgufMetadataEntry[] {
  const index = entries.findIndex((e) => e.key === key);
  const existing = index >= 0 ? entries[index] : undefined;
  const finalType = type ?? existing?.type;
  if (finalType === undefined) throw badValue(key, 'a new entry needs a type.');
  const finalArrayType = finalType === GgufValueType.ARRAY ? (arrayType ?? existing?.arrayType) : undefined;
  const entry: GgufMetadataEntry =
    finalArrayType === undefined
      ? { key, type: finalType, value }
      : { key, type: finalType, arrayType: finalArrayType, value };
  // Encode now so that a bad value fails here, not halfway through writing a file.
  encodeMetadataEntryBytes(entry);
  const next = entries.slice();
  if (index >= 0) next[index] = entry;
  else next.push(entry);
  return next;
}
