/**
 * Reads GGUF v2/v3 files (little-endian): the header (magic, version, metadata, tensor infos) is parsed
 * up front; tensor data is read on demand by file offset, so a multi-gigabyte model is never loaded whole.
 *
 * Layout (ggml/docs/gguf.md):
 * ```
 * "GGUF" u32 version  u64 tensor_count  u64 kv_count
 * kv_count × (string key, u32 type, value)
 * tensor_count × (string name, u32 n_dims, n_dims × u64 dim, u32 ggml_type, u64 offset)
 * padding to `general.alignment` (default 32)
 * tensor data; each tensor at data_offset + offset (offsets are multiples of the alignment)
 * ```
 * Every malformed file raises `SpecrouteError('invalid_model_file')`.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { SpecrouteError, isSpecrouteError } from '../../errors/registry.js';
import { ggmlTensorByteSize, findGgmlType } from './ggml-types.js';
import {
  GgufValueType,
  ggufValueTypeName,
  isGgufValueType,
  scalarByteSize,
  type GgufMetadataEntry,
  type GgufValue,
} from './gguf-metadata.js';

/** `"GGUF"` read as a little-endian u32. */
export const GGUF_MAGIC = 0x46554747;
/** The alignment of tensor data when `general.alignment` is absent. */
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** ggml tensors have at most 4 dimensions. */
export const GGML_MAX_DIMS = 4;

/** One tensor's description from the header. */
export interface GgufTensorInfo {
  /** For example `blk.0.attn_q.weight`. */
  readonly name: string;
  /** Dimensions in ggml order: `dims[0]` is the row length (the fastest-varying one). */
  readonly dims: readonly number[];
  /** ggml type id (see `ggml-types.ts`); may be an id this code does not know. */
  readonly type: number;
  /** Offset of the data from the start of the data section, as stored. */
  readonly offset: number;
  /** Absolute offset of the data in the file (`dataOffset + offset`). */
  readonly fileOffset: number;
  /** Bytes of data, or undefined when the ggml type is unknown. */
  readonly byteSize: number | undefined;
  /** Number of elements (the product of `dims`). */
  readonly elementCount: number;
}

/** Everything before the tensor data. */
export interface GgufHeader {
  /** 2 or 3. */
  readonly version: number;
  /** Metadata entries in file order, each with its raw bytes. */
  readonly metadata: readonly GgufMetadataEntry[];
  /** Tensor infos in file order. */
  readonly tensors: readonly GgufTensorInfo[];
  /** `general.alignment`, or 32 when absent. */
  readonly alignment: number;
  /** Where the tensor infos end (the header size before padding). */
  readonly headerSize: number;
  /** Absolute file offset of the data section (`headerSize` rounded up to `alignment`). */
  readonly dataOffset: number;
  /** Size of the file in bytes. */
  readonly fileSize: number;
}

/** Thrown inside the parser when the bytes read so far end before the header does. */
class NeedMore {
  constructor(readonly upTo: number) {}
}

function invalid(path: string, message: string): SpecrouteError {
  return new SpecrouteError('invalid_model_file', `${path}: ${message}`);
}

/**
 * `ignoreBOM`: a token that *is* U+FEFF (Llama's vocabulary has one) must not be stripped. Invalid UTF-8
 * decodes to U+FFFD; such entries survive a rewrite only through their raw bytes.
 */
const textDecoder = new TextDecoder('utf-8', { ignoreBOM: true });

/** A bounds-checked little-endian cursor over the bytes read so far. */
class Cursor {
  pos = 0;
  private readonly view: DataView;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly path: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  need(n: number): void {
    if (this.pos + n > this.bytes.length) throw new NeedMore(this.pos + n);
  }
  u8(): number {
    this.need(1);
    return this.view.getUint8(this.pos++);
  }
  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  u64(): bigint {
    this.need(8);
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }
  /** A u64 that must fit a JS safe integer (lengths, counts, offsets). */
  u64Number(what: string): number {
    const v = this.u64();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid(this.path, `${what} ${v} is too large.`);
    return Number(v);
  }
  string(what: string): string {
    const len = this.u64Number(`the length of ${what}`);
    this.need(len);
    const s = textDecoder.decode(this.bytes.subarray(this.pos, this.pos + len));
    this.pos += len;
    return s;
  }
  slice(from: number, to: number): Uint8Array {
    return this.bytes.slice(from, to);
  }

  scalar(type: number, key: string): GgufValue {
    const size = scalarByteSize(type);
    if (size !== undefined) this.need(size);
    const p = this.pos;
    switch (type) {
      case GgufValueType.UINT8:
        this.pos += 1;
        return this.view.getUint8(p);
      case GgufValueType.INT8:
        this.pos += 1;
        return this.view.getInt8(p);
      case GgufValueType.UINT16:
        this.pos += 2;
        return this.view.getUint16(p, true);
      case GgufValueType.INT16:
        this.pos += 2;
        return this.view.getInt16(p, true);
      case GgufValueType.UINT32:
        this.pos += 4;
        return this.view.getUint32(p, true);
      case GgufValueType.INT32:
        this.pos += 4;
        return this.view.getInt32(p, true);
      case GgufValueType.FLOAT32:
        this.pos += 4;
        return this.view.getFloat32(p, true);
      case GgufValueType.BOOL: {
        this.pos += 1;
        const b = this.view.getUint8(p);
        if (b > 1) throw invalid(this.path, `metadata ${key} holds a BOOL byte ${b}.`);
        return b === 1;
      }
      case GgufValueType.UINT64:
        this.pos += 8;
        return this.view.getBigUint64(p, true);
      case GgufValueType.INT64:
        this.pos += 8;
        return this.view.getBigInt64(p, true);
      case GgufValueType.FLOAT64:
        this.pos += 8;
        return this.view.getFloat64(p, true);
      case GgufValueType.STRING:
        return this.string(`metadata ${key}`);
      default:
        throw invalid(this.path, `metadata ${key} has unknown value type ${type}.`);
    }
  }

  value(type: number, key: string): { value: GgufValue; arrayType?: GgufValueType } {
    if (type !== GgufValueType.ARRAY) return { value: this.scalar(type, key) };
    const itemType = this.u32();
    if (!isGgufValueType(itemType)) throw invalid(this.path, `metadata ${key} is an array of unknown value type ${itemType}.`);
    const count = this.u64Number(`the length of metadata ${key}`);
    // Every item takes at least one byte (strings 8): make sure the bytes exist before allocating.
    const minItem = scalarByteSize(itemType) ?? (itemType === GgufValueType.STRING ? 8 : 12);
    this.need(count * minItem);
    const items: GgufValue[] = new Array<GgufValue>(count);
    for (let i = 0; i < count; i++) items[i] = this.value(itemType, key).value;
    return { value: items, arrayType: itemType };
  }
}

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

/** Parses the header from the first bytes of a file; throws NeedMore when they end too early. */
function parseHeader(bytes: Uint8Array, fileSize: number, path: string): GgufHeader {
  const c = new Cursor(bytes, path);
  if (fileSize < 4) throw invalid(path, 'the file is too short to be GGUF.');
  const magic = c.u32();
  if (magic !== GGUF_MAGIC) throw invalid(path, 'bad magic: this is not a GGUF file.');
  const version = c.u32();
  if (version === 1) throw invalid(path, 'GGUF version 1 is not supported (re-convert the model with a current llama.cpp).');
  if (version !== 2 && version !== 3) {
    const swapped = ((version & 0xff) << 24) | ((version & 0xff00) << 8) | ((version >>> 8) & 0xff00) | (version >>> 24);
    if (swapped === 2 || swapped === 3) throw invalid(path, 'big-endian GGUF files are not supported.');
    throw invalid(path, `unsupported GGUF version ${version}.`);
  }
  const tensorCount = c.u64Number('the tensor count');
  const kvCount = c.u64Number('the metadata count');
  // The smallest possible KV (empty key + type + u8) is 13 bytes; a tensor info 24 bytes.
  if (4 + 4 + 16 + kvCount * 13 + tensorCount * 24 > fileSize) {
    throw invalid(path, `truncated file: it cannot hold ${kvCount} metadata entries and ${tensorCount} tensor infos.`);
  }

  const metadata: GgufMetadataEntry[] = [];
  const keys = new Set<string>();
  for (let i = 0; i < kvCount; i++) {
    const start = c.pos;
    const key = c.string('a metadata key');
    if (keys.has(key)) throw invalid(path, `duplicate metadata key ${key}.`);
    keys.add(key);
    const type = c.u32();
    if (!isGgufValueType(type)) throw invalid(path, `metadata ${key} has unknown value type ${type}.`);
    const { value, arrayType } = c.value(type, key);
    const raw = c.slice(start, c.pos);
    metadata.push(arrayType === undefined ? { key, type, value, raw } : { key, type, arrayType, value, raw });
  }

  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const alignmentEntry = metadata.find((e) => e.key === 'general.alignment');
  if (alignmentEntry !== undefined) {
    const v = alignmentEntry.value;
    const n = typeof v === 'bigint' ? Number(v) : v;
    if (typeof n !== 'number' || !isPowerOfTwo(n)) {
      throw invalid(path, `general.alignment must be a power of two, got ${String(v)} (${ggufValueTypeName(alignmentEntry.type)}).`);
    }
    alignment = n;
  }

  const raws: Array<{ name: string; dims: number[]; type: number; offset: number }> = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const name = c.string('a tensor name');
    if (names.has(name)) throw invalid(path, `duplicate tensor ${name}.`);
    names.add(name);
    const nDims = c.u32();
    if (nDims < 1 || nDims > GGML_MAX_DIMS) throw invalid(path, `tensor ${name} has ${nDims} dimensions (1 to ${GGML_MAX_DIMS} allowed).`);
    const dims: number[] = [];
    for (let d = 0; d < nDims; d++) dims.push(c.u64Number(`a dimension of tensor ${name}`));
    const type = c.u32();
    const offset = c.u64Number(`the offset of tensor ${name}`);
    if (offset % alignment !== 0) throw invalid(path, `tensor ${name} starts at offset ${offset}, not a multiple of the alignment ${alignment}.`);
    raws.push({ name, dims, type, offset });
  }
  const headerSize = c.pos;
  const dataOffset = alignUp(headerSize, alignment);

  const tensors: GgufTensorInfo[] = raws.map(({ name, dims, type, offset }) => {
    let elementCount = 1;
    for (const d of dims) elementCount *= d;
    if (!Number.isSafeInteger(elementCount)) throw invalid(path, `tensor ${name} is too large.`);
    const byteSize = findGgmlType(type) === undefined ? undefined : ggmlTensorByteSize(type, dims, `tensor ${name}`);
    const fileOffset = dataOffset + offset;
    if (byteSize !== undefined && fileOffset + byteSize > fileSize) {
      throw invalid(path, `truncated file: tensor ${name} ends at byte ${fileOffset + byteSize}, the file has ${fileSize}.`);
    }
    return { name, dims, type, offset, fileOffset, byteSize, elementCount };
  });

  return { version, metadata, tensors, alignment, headerSize, dataOffset, fileSize };
}

/** Reads the header of an open file, reading more bytes until it is complete. */
async function readHeader(handle: FileHandle, path: string): Promise<GgufHeader> {
  const fileSize = (await handle.stat()).size;
  let size = Math.min(fileSize, 1 << 20);
  for (;;) {
    const bytes = new Uint8Array(size);
    const { bytesRead } = await handle.read(bytes, 0, size, 0);
    const got = bytes.subarray(0, bytesRead);
    try {
      return parseHeader(got, fileSize, path);
    } catch (error) {
      if (!(error instanceof NeedMore)) throw error;
      if (bytesRead >= fileSize || error.upTo > fileSize) {
        throw invalid(path, `truncated file: the header needs more than the ${fileSize} bytes the file has.`);
      }
      size = Math.min(fileSize, Math.max(size * 2, error.upTo));
    }
  }
}

/**
 * An open GGUF file: the parsed `header`, and tensor data read on demand.
 * Close it (idempotent) when done, or use `await using`.
 */
export class GgufReader {
  private closed = false;

  private constructor(
    /** The path it was opened from. */
    readonly path: string,
    /** The parsed header. */
    readonly header: GgufHeader,
    private readonly handle: FileHandle,
  ) {}

  /**
   * Opens `path` and parses its header. Throws `SpecrouteError('model_not_found')` when the file does
   * not exist and `SpecrouteError('invalid_model_file')` when it is not a valid GGUF v2/v3 file.
   */
  static async open(path: string): Promise<GgufReader> {
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new SpecrouteError('model_not_found', `${path}: no such file.`, { cause: error });
      if (code === 'EISDIR') throw invalid(path, 'is a directory.');
      throw error;
    }
    try {
      return new GgufReader(path, await readHeader(handle, path), handle);
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /** The metadata entry for `key`, or undefined. */
  getMetadata(key: string): GgufMetadataEntry | undefined {
    return this.header.metadata.find((e) => e.key === key);
  }

  /** The value for `key`, or undefined. */
  getMetadataValue(key: string): GgufValue | undefined {
    return this.getMetadata(key)?.value;
  }

  /** The tensor info named `name`, or undefined. */
  getTensor(name: string): GgufTensorInfo | undefined {
    return this.header.tensors.find((t) => t.name === name);
  }

  /**
   * Reads the data of one tensor (a fresh buffer). Throws `SpecrouteError('unsupported_model')` when
   * its ggml type is unknown (its size cannot be known).
   */
  async readTensorData(tensor: GgufTensorInfo | string): Promise<Uint8Array> {
    if (this.closed) throw new Error(`GgufReader for ${this.path} is closed.`);
    const info = typeof tensor === 'string' ? this.getTensor(tensor) : tensor;
    if (info === undefined) throw new Error(`${this.path}: no tensor named ${String(tensor)}.`);
    const size = info.byteSize ?? ggmlTensorByteSize(info.type, info.dims, `tensor ${info.name}`);
    return this.readBytes(info.fileOffset, size);
  }

  /** Reads `length` bytes at absolute file offset `position`. */
  async readBytes(position: number, length: number): Promise<Uint8Array> {
    if (this.closed) throw new Error(`GgufReader for ${this.path} is closed.`);
    const bytes = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.handle.read(bytes, done, length - done, position + done);
      if (bytesRead === 0) throw invalid(this.path, `truncated file: wanted ${length} bytes at ${position}.`);
      done += bytesRead;
    }
    return bytes;
  }

  /** Closes the file. Safe to call more than once. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Opens the GGUF at `path`, runs `use` on it, and closes it. A `SpecrouteError` that names no parameter (a
 * malformed file, an unsupported tensor) comes out naming `param`: the option that gave the path.
 */
export async function withGgufFile<T>(path: string, param: string, use: (reader: GgufReader) => Promise<T>): Promise<T> {
  const naming = (error: unknown): unknown =>
    isSpecrouteError(error) && error.param === undefined ? new SpecrouteError(error.code, error.message, { param, cause: error.cause }) : error;
  let reader: GgufReader;
  try {
    reader = await GgufReader.open(path);
  } catch (error) {
    throw naming(error);
  }
  try {
    return await use(reader);
  } catch (error) {
    throw naming(error);
  } finally {
    await reader.close();
  }
}

/** Reads only the header of `path` (opens and closes the file). */
export async function readGgufHeader(path: string): Promise<GgufHeader> {
  const reader = await GgufReader.open(path);
  try {
    return reader.header;
  } finally {
    await reader.close();
  }
}
