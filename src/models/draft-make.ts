/**
 * Self-speculative drafts: a draft model made from the verifier's own GGUF file by keeping a subset of
 * its transformer layers and/or quantizing its weights. The draft shares the verifier's tokenizer byte
 * for byte (every `tokenizer.*` metadata entry is copied raw), so their token ids always agree.
 */
import { dirname, resolve } from 'node:path';
import { stat } from 'node:fs/promises';
import { SpecrouteError } from '../errors/registry.js';
import { ggmlTypeName, findGgmlType } from './gguf/ggml-types.js';
import { GgufValueType, setMetadataEntry, type GgufMetadataEntry } from './gguf/gguf-metadata.js';
import { withGgufFile, type GgufReader, type GgufTensorInfo } from './gguf/gguf-reader.js';
import { writeGgufFile, type GgufWriteTensor } from './gguf/gguf-writer.js';
import { dequantizableTypes, quantizationGgmlType, quantize, toFloat32, type QuantizationType } from './gguf/quantize.js';

/** Options of `makeDraft`. */
export interface MakeDraftOptions {
  /** Path of the verifier's GGUF file (Llama architecture only). */
  from: string;
  /** Path of the draft to write. An existing file there is replaced only once the new one is complete. */
  out: string;
  /**
   * Which of the verifier's layers to keep, in the order given: ranges and single indices separated by
   * commas, for example `"0-2"` or `"0,1,4"` (0-based, no duplicates). The kept layers are renumbered
   * 0..k-1 in that order. When omitted, every layer is kept. Defaults to `"0-(block_count-1)"`.
   */
  layers?: string;
  /**
   * Quantize the weight matrices to this type; see `isQuantizable` for which tensors are. When omitted,
   * every tensor keeps its source type. Defaults to `undefined`.
   */
  quantize?: QuantizationType;
}

/** What `makeDraft` wrote. */
export interface MakeDraftResult {
  /** Absolute path of the written draft. */
  outPath: string;
  /** The verifier's layers kept, in draft order (draft layer i is verifier layer `layers[i]`). */
  layers: number[];
  /** Number of layers kept (the draft's `llama.block_count`). */
  layerCount: number;
  /** The verifier's `llama.block_count`. */
  sourceLayerCount: number;
  /** Tensors in the draft. */
  tensorCount: number;
  /** Tensors quantized to `quantize` (0 without `quantize`). */
  quantizedTensorCount: number;
  /** Size of the written file in bytes. */
  bytesWritten: number;
  /** The draft's `general.name`. */
  name: string;
}

const SUPPORTED_ARCHITECTURES = new Set(['llama']);
const QUANTIZATION_TYPES: ReadonlySet<string> = new Set<QuantizationType>(['q8_0', 'q4_0']);
/** `llama_ftype` values for `general.file_type`. */
const FILE_TYPE: Record<QuantizationType, number> = { q8_0: 7, q4_0: 2 };
/** Per-layer metadata arrays that must follow the kept layers (llama.cpp reads them per layer). */
const PER_LAYER_KEYS = ['attention.head_count', 'attention.head_count_kv', 'feed_forward_length'];
const BLOCK_TENSOR = /^blk\.(\d+)\.(.+)$/;

function badLayers(message: string): SpecrouteError {
  return new SpecrouteError('invalid_argument', message, { param: 'layers' });
}

/**
 * Parses a layer list such as `"0-2"`, `"0,1,4"` or `"3, 0-1"` against a model with `blockCount`
 * layers: comma-separated 0-based indices and ascending inclusive ranges `a-b`. Order is kept.
 * Throws `SpecrouteError('invalid_argument', …, {param: 'layers'})` on a syntax error, an index out of
 * range, a duplicate or an empty list.
 */
export function parseLayerSpec(spec: string, blockCount: number): number[] {
  if (!Number.isInteger(blockCount) || blockCount < 1) {
    throw new SpecrouteError('invalid_model_file', `The model has an invalid layer count ${blockCount}.`, { param: 'from' });
  }
  if (spec.trim() === '') throw badLayers('The layer list is empty.');
  const layers: number[] = [];
  const seen = new Set<number>();
  const add = (layer: number): void => {
    if (layer >= blockCount) throw badLayers(`Layer ${layer} is out of range: the model has ${blockCount} layers (0-${blockCount - 1}).`);
    if (seen.has(layer)) throw badLayers(`Layer ${layer} is listed more than once.`);
    seen.add(layer);
    layers.push(layer);
  };
  for (const rawPart of spec.split(',')) {
    const part = rawPart.trim();
    const match = /^(\d+)(?:\s*-\s*(\d+))?$/.exec(part);
    if (match === null) {
      throw badLayers(`Cannot parse ${JSON.stringify(part)} in the layer list ${JSON.stringify(spec)}: use indices and ranges like "0-2" or "0,1,4".`);
    }
    const first = Number(match[1]);
    const last = match[2] === undefined ? first : Number(match[2]);
    if (last < first) throw badLayers(`The range ${part} runs backwards; write ${last}-${first} or list the layers one by one.`);
    if (last >= blockCount) throw badLayers(`Layer ${last} is out of range: the model has ${blockCount} layers (0-${blockCount - 1}).`);
    for (let layer = first; layer <= last; layer++) add(layer);
  }
  return layers;
}

/** `[0,1,2,4]` → `"0-2,4"`. */
export function formatLayerList(layers: readonly number[]): string {
  const parts: string[] = [];
  let i = 0;
  while (i < layers.length) {
    let j = i;
    while (j + 1 < layers.length && layers[j + 1] === layers[j]! + 1) j++;
    parts.push(j > i ? `${layers[i]}-${layers[j]}` : String(layers[i]));
    i = j + 1;
  }
  return parts.join(',');
}

/**
 * Whether `makeDraft` quantizes a tensor (the rule of llama.cpp's `llama-quantize`, simplified):
 * - its name ends in `weight` and it has 2 or more dimensions (1-D tensors such as the norms stay as
 *   they are, F32 in practice);
 * - its row length (`dims[0]`) is a multiple of 32, the Q8_0/Q4_0 block size; other tensors (for
 *   example every matrix of a model with n_embd 8, or an FFN down-projection with n_ff 172) keep their
 *   source type, which llama.cpp runs fine alongside quantized ones;
 * - it is not an MoE router (`ffn_gate_inp.weight`), which llama.cpp keeps in full precision.
 * `token_embd.weight` and `output.weight` are quantized too, to the requested type (llama-quantize
 * does the same for Q8_0; for Q4_0 it would promote `output.weight` to Q6_K, which this code does not
 * write).
 */
export function isQuantizable(tensor: Pick<GgufTensorInfo, 'name' | 'dims'>): boolean {
  return (
    tensor.name.endsWith('weight') &&
    tensor.dims.length >= 2 &&
    (tensor.dims[0] ?? 0) % 32 === 0 &&
    !tensor.name.endsWith('ffn_gate_inp.weight')
  );
}

function stringValue(entry: GgufMetadataEntry | undefined): string | undefined {
  return entry !== undefined && typeof entry.value === 'string' ? entry.value : undefined;
}

/**
 * Makes a draft model from a verifier GGUF: keeps the chosen layers (renumbered), optionally quantizes
 * the weight matrices, updates `llama.block_count` and `general.name` (plus `general.file_type` when it
 * quantizes), and copies every other metadata entry byte for byte.
 *
 * Errors (no file is left at `out`, and an existing one is untouched):
 * - `model_not_found` (`from`): no such file; `invalid_model_file` (`from`): not a valid GGUF file;
 * - `unsupported_model` (`from`): not the Llama architecture, or a tensor of a ggml type it cannot copy
 *   (unknown id) or quantize (only F32, F16, BF16, Q8_0 and Q4_0 sources can be quantized);
 * - `invalid_argument` (`layers`, `quantize`, `out`): a bad layer list, quantization type or output path.
 */
export async function makeDraft(options: MakeDraftOptions): Promise<MakeDraftResult> {
  const target = options.quantize;
  if (target !== undefined && !QUANTIZATION_TYPES.has(target)) {
    throw new SpecrouteError('invalid_argument', `Unknown quantization ${JSON.stringify(target)}; use q8_0 or q4_0.`, { param: 'quantize' });
  }
  if (typeof options.out !== 'string' || options.out === '') {
    throw new SpecrouteError('invalid_argument', 'The output path is empty.', { param: 'out' });
  }
  const outPath = resolve(options.out);
  if (outPath === resolve(options.from)) {
    throw new SpecrouteError('invalid_argument', 'The draft cannot overwrite the model it is made from.', { param: 'out' });
  }
  const outDirStat = await stat(dirname(outPath)).catch(() => undefined);
  if (outDirStat === undefined || !outDirStat.isDirectory()) {
    throw new SpecrouteError('invalid_argument', `The directory of ${outPath} does not exist.`, { param: 'out' });
  }

  return withGgufFile(options.from, 'from', (reader) => makeDraftFrom(reader, outPath, options.layers, target));
}

async function makeDraftFrom(
  reader: GgufReader,
  outPath: string,
  layerSpec: string | undefined,
  target: QuantizationType | undefined,
): Promise<MakeDraftResult> {
  const { header } = reader;
  const arch = stringValue(reader.getMetadata('general.architecture'));
  if (arch === undefined || !SUPPORTED_ARCHITECTURES.has(arch)) {
    throw new SpecrouteError(
      'unsupported_model',
      `${reader.path}: architecture ${arch === undefined ? '(none)' : JSON.stringify(arch)} is not supported; draft making supports llama only.`,
      { param: 'from' },
    );
  }
  const blockCountEntry = reader.getMetadata(`${arch}.block_count`);
  const blockCountValue = blockCountEntry?.value;
  const blockCount = typeof blockCountValue === 'bigint' ? Number(blockCountValue) : blockCountValue;
  if (typeof blockCount !== 'number' || !Number.isInteger(blockCount) || blockCount < 1) {
    throw new SpecrouteError('invalid_model_file', `${reader.path}: ${arch}.block_count is missing or invalid.`, { param: 'from' });
  }
  const layers = parseLayerSpec(layerSpec ?? `0-${blockCount - 1}`, blockCount);
  const newIndex = new Map(layers.map((layer, i) => [layer, i]));

  // Tensors: the non-block ones before the first block tensor, then the kept blocks in draft order
  // (each block's tensors in source order), then the remaining non-block ones.
  const before: GgufTensorInfo[] = [];
  const after: GgufTensorInfo[] = [];
  const blocks: Array<Array<{ info: GgufTensorInfo; name: string }>> = layers.map(() => []);
  let seenBlock = false;
  for (const info of header.tensors) {
    const match = BLOCK_TENSOR.exec(info.name);
    if (match === null) {
      (seenBlock ? after : before).push(info);
      continue;
    }
    seenBlock = true;
    const layer = Number(match[1]);
    if (layer >= blockCount) {
      throw new SpecrouteError('invalid_model_file', `${reader.path}: tensor ${info.name} belongs to layer ${layer} of ${blockCount}.`, {
        param: 'from',
      });
    }
    const index = newIndex.get(layer);
    if (index !== undefined) blocks[index]!.push({ info, name: `blk.${index}.${match[2]}` });
  }
  const plan = [
    ...before.map((info) => ({ info, name: info.name })),
    ...blocks.flat(),
    ...after.map((info) => ({ info, name: info.name })),
  ];

  const targetType = target === undefined ? undefined : quantizationGgmlType(target);
  let quantizedTensorCount = 0;
  const tensors: GgufWriteTensor[] = plan.map(({ info, name }) => {
    if (findGgmlType(info.type) === undefined || info.byteSize === undefined) {
      throw new SpecrouteError(
        'unsupported_model',
        `${reader.path}: tensor ${info.name} has unknown ggml type id ${info.type}; cannot copy it.`,
        { param: 'from' },
      );
    }
    const copy: GgufWriteTensor = { name, dims: info.dims, type: info.type, data: () => reader.readTensorData(info) };
    if (targetType === undefined || !isQuantizable(info) || info.type === targetType) return copy;
    if (!dequantizableTypes.has(info.type)) {
      throw new SpecrouteError(
        'unsupported_model',
        `${reader.path}: tensor ${info.name} is ${ggmlTypeName(info.type)}; only F32, F16, BF16, Q8_0 and Q4_0 tensors can be quantized to ${target}.`,
        { param: 'from' },
      );
    }
    quantizedTensorCount++;
    return {
      name,
      dims: info.dims,
      type: targetType,
      data: async () => quantize(target!, toFloat32(info.type, await reader.readTensorData(info), info.elementCount)),
    };
  });

  // Metadata: raw copies, except block_count, per-layer arrays, general.name and (when quantizing) the file type.
  let metadata: GgufMetadataEntry[] = header.metadata.slice();
  metadata = setMetadataEntry(metadata, `${arch}.block_count`, layers.length);
  for (const suffix of PER_LAYER_KEYS) {
    const entry = metadata.find((e) => e.key === `${arch}.${suffix}`);
    if (entry !== undefined && Array.isArray(entry.value) && entry.value.length === blockCount) {
      const values = entry.value;
      metadata = setMetadataEntry(metadata, entry.key, layers.map((layer) => values[layer]!));
    }
  }
  const sourceName = stringValue(reader.getMetadata('general.name')) ?? arch;
  const what = [`layers ${formatLayerList(layers)}`];
  if (target !== undefined) what.push(target);
  const name = `${sourceName} draft (${what.join(', ')})`;
  metadata = setMetadataEntry(metadata, 'general.name', name, GgufValueType.STRING);
  if (target !== undefined && quantizedTensorCount > 0) {
    metadata = setMetadataEntry(metadata, 'general.file_type', FILE_TYPE[target], GgufValueType.UINT32);
    if (reader.getMetadata('general.quantization_version') === undefined) {
      metadata = setMetadataEntry(metadata, 'general.quantization_version', 2, GgufValueType.UINT32);
    }
  }

  const written = await writeGgufFile(outPath, { metadata, tensors });
  return {
    outPath,
    layers,
    layerCount: layers.length,
    sourceLayerCount: blockCount,
    tensorCount: tensors.length,
    quantizedTensorCount,
    bytesWritten: written.bytesWritten,
    name,
  };
}
