/**
 * Writes GGUF v3 files: metadata (raw bytes reused for entries read from another file), tensor infos,
 * padding to the alignment, then each tensor's data padded to the alignment (as ggml and gguf-py do).
 *
 * The file is written to a temporary file beside `path` and renamed over it only when complete, so a
 * failure never leaves a partial file and never clobbers an existing one.
 */
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { SpecrouteError } from '../../errors/registry.js';
import { ggmlTensorByteSize } from './ggml-types.js';
import { ByteSink, encodeMetadataEntry, type GgufMetadataEntry } from './gguf-metadata.js';
import { GGML_MAX_DIMS, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC } from './gguf-reader.js';

/** The GGUF version this writer produces. */
export const GGUF_WRITE_VERSION = 3;

/** One tensor to write. */
export interface GgufWriteTensor {
  /** Tensor name, for example `blk.0.attn_q.weight`. */
  readonly name: string;
  /** Dimensions in ggml order (`dims[0]` is the row length). */
  readonly dims: readonly number[];
  /** ggml type id. */
  readonly type: number;
  /**
   * Bytes of data. Defaults to the size computed from `type` and `dims`; give it explicitly only to write
   * a type this code does not know (for example in tests of error handling).
   */
  readonly byteSize?: number;
  /**
   * The data, or a function producing it when its turn comes (so only one tensor is in memory at a
   * time). Its length must equal the byte size.
   */
  readonly data: Uint8Array | (() => Promise<Uint8Array>);
}

/** What to write. */
export interface GgufWriteInput {
  /** Metadata entries in order. `general.alignment`, when present, sets the alignment. */
  readonly metadata: readonly GgufMetadataEntry[];
  /** Tensors in order; their data is laid out in this order. */
  readonly tensors: readonly GgufWriteTensor[];
}

/** What was written. */
export interface GgufWriteResult {
  /** The final path. */
  readonly path: string;
  /** Size of the file. */
  readonly bytesWritten: number;
  /** Absolute offset of the data section. */
  readonly dataOffset: number;
}

function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

function alignmentOf(metadata: readonly GgufMetadataEntry[]): number {
  const entry = metadata.find((e) => e.key === 'general.alignment');
  if (entry === undefined) return GGUF_DEFAULT_ALIGNMENT;
  const n = typeof entry.value === 'bigint' ? Number(entry.value) : entry.value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n <= 0 || (n & (n - 1)) !== 0) {
    throw new SpecrouteError('invalid_argument', `general.alignment must be a power of two, got ${String(entry.value)}.`, {
      param: 'general.alignment',
    });
  }
  return n;
}

async function writeAll(handle: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, position + done);
    done += bytesWritten;
  }
}

/**
 * Writes `input` as a GGUF v3 file at `path` (atomically: temp file + rename). Throws
 * `SpecrouteError('invalid_argument')` for inconsistent input (duplicate names, a data length that
 * does not match its tensor, a bad metadata value); in every error case no file is left behind.
 */
export async function writeGgufFile(path: string, input: GgufWriteInput): Promise<GgufWriteResult> {
  const alignment = alignmentOf(input.metadata);

  // Header: everything is known before any tensor data is produced.
  const header = new ByteSink();
  header.u32(GGUF_MAGIC);
  header.u32(GGUF_WRITE_VERSION);
  header.u64(BigInt(input.tensors.length));
  header.u64(BigInt(input.metadata.length));
  const keys = new Set<string>();
  for (const entry of input.metadata) {
    if (keys.has(entry.key)) throw new SpecrouteError('invalid_argument', `Duplicate metadata key ${entry.key}.`, { param: entry.key });
    keys.add(entry.key);
    encodeMetadataEntry(header, entry);
  }
  const names = new Set<string>();
  const sizes: number[] = [];
  let offset = 0;
  for (const tensor of input.tensors) {
    if (names.has(tensor.name)) throw new SpecrouteError('invalid_argument', `Duplicate tensor ${tensor.name}.`, { param: tensor.name });
    names.add(tensor.name);
    if (tensor.dims.length < 1 || tensor.dims.length > GGML_MAX_DIMS) {
      throw new SpecrouteError('invalid_argument', `Tensor ${tensor.name} has ${tensor.dims.length} dimensions.`, { param: tensor.name });
    }
    const size = tensor.byteSize ?? ggmlTensorByteSize(tensor.type, tensor.dims, `tensor ${tensor.name}`);
    sizes.push(size);
    header.string(tensor.name);
    header.u32(tensor.dims.length);
    for (const d of tensor.dims) header.u64(BigInt(d));
    header.u32(tensor.type);
    header.u64(BigInt(offset));
    offset = alignUp(offset + size, alignment);
  }
  const dataOffset = alignUp(header.length, alignment);
  header.zeros(dataOffset - header.length);
  const headerBytes = header.toBytes();

  const tempPath = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let handle: FileHandle | undefined;
  try {
    handle = await open(tempPath, 'wx');
    await writeAll(handle, headerBytes, 0);
    let position = dataOffset;
    const padding = new Uint8Array(alignment);
    for (let i = 0; i < input.tensors.length; i++) {
      const tensor = input.tensors[i]!;
      const size = sizes[i]!;
      const data = typeof tensor.data === 'function' ? await tensor.data() : tensor.data;
      if (data.length !== size) {
        throw new SpecrouteError('invalid_argument', `Tensor ${tensor.name} has ${data.length} bytes of data, ${size} expected.`, {
          param: tensor.name,
        });
      }
      await writeAll(handle, data, position);
      position += size;
      const pad = alignUp(position, alignment) - position;
      if (pad > 0) {
        await writeAll(handle, padding.subarray(0, pad), position);
        position += pad;
      }
    }
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(tempPath, path);
    return { path, bytesWritten: position, dataOffset };
  } catch (error) {
    if (handle !== undefined) await handle.close().catch(() => undefined);
    await unlink(tempPath).catch(() => undefined);
    throw error;
  }
}
