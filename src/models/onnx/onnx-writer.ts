/**
 * Writes an ONNX model file, optionally with its large initializers in an external data file beside it (ONNX's
 * `external_data` convention, needed past protobuf's 2 GiB message limit).
 *
 * Files are written to temporary names beside their targets; `commit()` renames them into place and `abort()`
 * deletes them, so a failed conversion never leaves a partial file and never clobbers an existing one.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { encodeModel, type OnnxModel, type OnnxTensor } from './onnx-proto.js';

/** Initializers at least this large go to the external data file when one is used (ONNX's own default). */
const EXTERNAL_MIN_BYTES = 1024;
/** Offsets of external tensors are multiples of this (lets runtimes map them directly). */
const EXTERNAL_ALIGNMENT = 4096;
/** Above this many bytes of initializers, `externalData: 'auto'` writes an external data file. */
export const AUTO_EXTERNAL_BYTES = 1.5 * 2 ** 30;

export interface OnnxWriteOptions {
  /**
   * Store large initializers in `<file>.data` beside the model: `true`, `false`, or `'auto'` (when they exceed
   * 1.5 GiB, since one protobuf message cannot exceed 2 GiB).
   *
   * Defaults to `'auto'`.
   */
  externalData?: boolean | 'auto';
}

/** Files written to temporary names, waiting to be renamed into place. */
export interface PendingOnnxFiles {
  readonly path: string;
  /** The external data file's final path, when one is written. */
  readonly externalDataPath: string | undefined;
  /** Bytes of the model file plus the external data file. */
  readonly bytesWritten: number;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

async function writeAll(handle: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, position + done);
    done += bytesWritten;
  }
}

async function writeChunks(path: string, chunks: Iterable<{ bytes: Uint8Array; position: number }>): Promise<void> {
  const handle = await open(path, 'wx');
  try {
    for (const { bytes, position } of chunks) await writeAll(handle, bytes, position);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes `model` to temporary files for `path` (and `path.data`); rename them with `commit()`. */
export async function writeOnnxFiles(path: string, model: OnnxModel, options: OnnxWriteOptions = {}): Promise<PendingOnnxFiles> {
  const initializerBytes = model.graph.initializers.reduce((sum, t) => sum + t.data.length, 0);
  const mode = options.externalData ?? 'auto';
  const external = mode === 'auto' ? initializerBytes > AUTO_EXTERNAL_BYTES : mode;
  const temps: string[] = [];
  const renames: Array<[string, string]> = [];
  const cleanup = async (): Promise<void> => {
    await Promise.all(temps.map((t) => unlink(t).catch(() => undefined)));
  };
  try {
    let toEncode = model;
    let externalDataPath: string | undefined;
    let dataBytes = 0;
    if (external) {
      externalDataPath = `${path}.data`;
      const location = basename(externalDataPath);
      const pieces: Array<{ bytes: Uint8Array; position: number }> = [];
      const initializers = model.graph.initializers.map((tensor): OnnxTensor => {
        if (tensor.data.length < EXTERNAL_MIN_BYTES) return tensor;
        const offset = Math.ceil(dataBytes / EXTERNAL_ALIGNMENT) * EXTERNAL_ALIGNMENT;
        pieces.push({ bytes: tensor.data, position: offset });
        dataBytes = offset + tensor.data.length;
        return { ...tensor, data: new Uint8Array(0), external: { location, offset, length: tensor.data.length } };
      });
      const dataTemp = tempPathFor(externalDataPath);
      temps.push(dataTemp);
      await writeChunks(dataTemp, pieces);
      renames.push([dataTemp, externalDataPath]);
      toEncode = { ...model, graph: { ...model.graph, initializers } };
    }
    const encoded = encodeModel(toEncode);
    if (encoded.length >= 2 ** 31) throw new Error(`the model's protobuf would be ${encoded.length} bytes, past the 2 GiB limit; write external data`);
    const modelTemp = tempPathFor(path);
    temps.push(modelTemp);
    let position = 0;
    await writeChunks(
      modelTemp,
      encoded.chunks.map((bytes) => {
        const piece = { bytes, position };
        position += bytes.length;
        return piece;
      }),
    );
    renames.push([modelTemp, path]);
    return {
      path,
      externalDataPath,
      bytesWritten: encoded.length + dataBytes,
      async commit() {
        for (const [from, to] of renames) await rename(from, to);
        temps.length = 0;
      },
      abort: cleanup,
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
