/**
 * GGUF → ONNX conversion of Llama-architecture models, so the same weights run under llama.cpp and under
 * onnxruntime. Weights are dequantized to float32 (F32, F16, Q8_0 and Q4_0 sources); the graph (llama-graph.ts)
 * rounds matrix-product inputs as ggml does for each source type, so the two runtimes compute the same function.
 *
 * Two files are written:
 * - `MODEL.onnx`: the causal-LM graph with a KV cache (Hugging Face Optimum's input/output names);
 * - `MODEL.tokenizer.gguf`: the source GGUF's metadata (tokenizer, chat template, hyperparameters) without
 *   tensors, which the ONNX backend loads with llama.cpp's tokenizer (vocabulary only).
 */
import { stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { SpecrouteError } from '../../errors/registry.js';
import { findGgmlType, ggmlTypeName } from '../gguf/ggml-types.js';
import type { GgufMetadataEntry, GgufValue } from '../gguf/gguf-metadata.js';
import { withGgufFile, type GgufReader } from '../gguf/gguf-reader.js';
import { writeGgufFile } from '../gguf/gguf-writer.js';
import { toFloat32 } from '../gguf/quantize.js';
import { buildLlamaGraph, GRAPH_WEIGHT_TYPES, LLAMA_GRAPH_OPSET, type LlamaHyperparameters, type LlamaWeight } from './llama-graph.js';
import type { OnnxModel } from './onnx-proto.js';
import { writeOnnxFiles } from './onnx-writer.js';
import { defaultTokenizerPath, isOnnxPath } from './tokenizer-path.js';

/** Options of `convertGgufToOnnx`. */
export interface ConvertToOnnxOptions {
  /** The source GGUF (Llama architecture; F32, F16, Q8_0 or Q4_0 tensors). */
  from: string;
  /** The ONNX file to write (must end in `.onnx`). An existing file is replaced only once the new one is complete. */
  out: string;
  /**
   * Where to write the vocabulary-only GGUF holding the tokenizer.
   *
   * Defaults to `out` with `.onnx` replaced by `.tokenizer.gguf` (where the ONNX backend looks for it).
   */
  tokenizerOut?: string;
  /**
   * Store the weights in `<out>.data` beside the model instead of inside it: `true`, `false`, or `'auto'` (past
   * 1.5 GiB of weights, since one protobuf message cannot exceed 2 GiB).
   *
   * Defaults to `'auto'`.
   */
  externalData?: boolean | 'auto';
}

/** What `convertGgufToOnnx` wrote. */
export interface ConvertToOnnxResult {
  /** Absolute path of the ONNX model. */
  outPath: string;
  /** Absolute path of the tokenizer GGUF. */
  tokenizerPath: string;
  /** Absolute path of the external data file, or null when the weights are inside the model. */
  externalDataPath: string | null;
  /** The source model's `general.name`. */
  name: string;
  layers: number;
  vocabSize: number;
  embeddingLength: number;
  headCount: number;
  headCountKv: number;
  /** ONNX operator-set version of the graph. */
  opset: number;
  /** Source tensors by ggml type name, for example `{F32: 48}`. */
  sourceTypes: Record<string, number>;
  /** Bytes of the ONNX model (and external data). */
  bytesWritten: number;
}

/** The ONNX IR version written (IR 8 goes with opset 17). */
export const ONNX_IR_VERSION = 8;

const LAYER_TENSORS = ['attn_norm', 'attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_norm', 'ffn_gate', 'ffn_up', 'ffn_down'];
const GLOBAL_TENSORS = new Set(['token_embd.weight', 'output_norm.weight', 'output.weight']);

function unsupported(message: string): SpecrouteError {
  return new SpecrouteError('unsupported_model', message, { param: 'from' });
}

function badOut(message: string): SpecrouteError {
  return new SpecrouteError('invalid_argument', message, { param: 'out' });
}

function asNumber(value: GgufValue | undefined): number | undefined {
  const n = typeof value === 'bigint' ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
}

/** Reads the hyperparameters llama.cpp reads, rejecting what the graph does not implement. */
function hyperparameters(reader: GgufReader, arch: string): LlamaHyperparameters {
  const path = reader.path;
  const meta = (key: string): GgufValue | undefined => reader.getMetadataValue(`${arch}.${key}`);
  const required = (key: string): number => {
    const n = asNumber(meta(key));
    if (n === undefined) throw new SpecrouteError('invalid_model_file', `${path}: ${arch}.${key} is missing or not a number.`, { param: 'from' });
    return n;
  };
  /** A per-model value that GGUF may store per layer (an array); the graph needs it uniform. */
  const uniform = (key: string, fallback?: number): number => {
    const v = meta(key);
    if (v === undefined && fallback !== undefined) return fallback;
    if (Array.isArray(v)) {
      const values = v.map((x) => asNumber(x));
      const first = values[0];
      if (first === undefined || values.some((x) => x !== first)) throw unsupported(`${path}: ${arch}.${key} differs between layers; the ONNX graph needs it uniform.`);
      return first;
    }
    return required(key);
  };
  const blockCount = required('block_count');
  const embeddingLength = required('embedding_length');
  const headCount = uniform('attention.head_count');
  const headCountKv = uniform('attention.head_count_kv', headCount);
  const feedForwardLength = uniform('feed_forward_length');
  if (headCount <= 0 || embeddingLength % headCount !== 0) throw unsupported(`${path}: embedding length ${embeddingLength} is not a multiple of ${headCount} heads.`);
  const headDim = asNumber(meta('attention.key_length')) ?? embeddingLength / headCount;
  if (headDim !== embeddingLength / headCount || (asNumber(meta('attention.value_length')) ?? headDim) !== headDim) {
    throw unsupported(`${path}: attention head sizes that differ from embedding_length / head_count are not supported.`);
  }
  if (headCountKv <= 0 || headCount % headCountKv !== 0) throw unsupported(`${path}: ${headCount} heads cannot share ${headCountKv} KV heads.`);
  const ropeDims = asNumber(meta('rope.dimension_count')) ?? headDim;
  if (ropeDims !== headDim) throw unsupported(`${path}: partial RoPE (${ropeDims} of ${headDim} dimensions) is not supported.`);
  const scalingType = meta('rope.scaling.type');
  let ropeFreqScale = 1;
  if (scalingType === 'linear' || (scalingType === undefined && meta('rope.scale_linear') !== undefined)) {
    const factor = asNumber(meta('rope.scaling.factor')) ?? asNumber(meta('rope.scale_linear')) ?? 1;
    if (factor <= 0) throw unsupported(`${path}: RoPE scaling factor ${factor} is invalid.`);
    ropeFreqScale = Math.fround(1 / factor);
  } else if (scalingType !== undefined && scalingType !== 'none') {
    throw unsupported(`${path}: RoPE scaling ${JSON.stringify(scalingType)} is not supported (none and linear are).`);
  }
  if ((asNumber(meta('expert_count')) ?? 0) > 0) throw unsupported(`${path}: mixture-of-experts models are not supported.`);
  const embedding = reader.getTensor('token_embd.weight');
  if (embedding === undefined || embedding.dims.length !== 2) throw new SpecrouteError('invalid_model_file', `${path}: token_embd.weight is missing.`, { param: 'from' });
  return {
    vocabSize: embedding.dims[1]!,
    embeddingLength,
    blockCount,
    headCount,
    headCountKv,
    headDim,
    feedForwardLength,
    rmsEpsilon: required('attention.layer_norm_rms_epsilon'),
    ropeFreqBase: asNumber(meta('rope.freq_base')) ?? 10000,
    ropeFreqScale,
  };
}

/**
 * Converts a Llama GGUF to ONNX (plus its tokenizer GGUF).
 *
 * Errors (no file is left behind, and existing files are untouched):
 * - `model_not_found` / `invalid_model_file` (`from`): no such file, or not a valid GGUF;
 * - `unsupported_model` (`from`): not the Llama architecture, a tensor type other than F32/F16/Q8_0/Q4_0, or a
 *   feature the graph does not implement (biases, RoPE frequency factors, partial RoPE, experts…);
 * - `invalid_argument` (`out`): an output path that does not end in `.onnx`, is in a missing folder, or is the source.
 */
export async function convertGgufToOnnx(options: ConvertToOnnxOptions): Promise<ConvertToOnnxResult> {
  if (typeof options.out !== 'string' || options.out === '') throw badOut('The output path is empty.');
  if (!isOnnxPath(options.out)) throw badOut(`The output ${JSON.stringify(options.out)} must end in .onnx.`);
  const outPath = resolve(options.out);
  const tokenizerPath = resolve(options.tokenizerOut ?? defaultTokenizerPath(outPath));
  const fromPath = resolve(options.from);
  if (outPath === fromPath || tokenizerPath === fromPath) throw badOut('The conversion cannot overwrite the model it reads.');
  for (const path of [outPath, tokenizerPath]) {
    const dir = await stat(dirname(path)).catch(() => undefined);
    if (dir === undefined || !dir.isDirectory()) throw badOut(`The directory of ${path} does not exist.`);
  }

  return withGgufFile(options.from, 'from', (reader) => convertFrom(reader, outPath, tokenizerPath, options.externalData ?? 'auto'));
}

async function convertFrom(reader: GgufReader, outPath: string, tokenizerPath: string, externalData: boolean | 'auto'): Promise<ConvertToOnnxResult> {
  const path = reader.path;
  const arch = reader.getMetadataValue('general.architecture');
  if (arch !== 'llama') {
    throw unsupported(`${path}: architecture ${arch === undefined ? '(none)' : JSON.stringify(arch)} is not supported; ONNX conversion supports llama only.`);
  }
  const hp = hyperparameters(reader, arch);

  // Every tensor must be one the graph uses, of a type it reproduces.
  const expected = new Set(GLOBAL_TENSORS);
  for (let layer = 0; layer < hp.blockCount; layer++) for (const t of LAYER_TENSORS) expected.add(`blk.${layer}.${t}.weight`);
  const sourceTypes: Record<string, number> = {};
  for (const info of reader.header.tensors) {
    if (!expected.has(info.name)) throw unsupported(`${path}: tensor ${info.name} is not part of the Llama graph this converter writes (biases, RoPE frequency factors and extra tensors are not supported).`);
    if (findGgmlType(info.type) === undefined || !GRAPH_WEIGHT_TYPES.has(info.type)) {
      throw unsupported(`${path}: tensor ${info.name} is ${ggmlTypeName(info.type)}; ONNX conversion supports F32, F16, Q8_0 and Q4_0 tensors.`);
    }
    const name = ggmlTypeName(info.type);
    sourceTypes[name] = (sourceTypes[name] ?? 0) + 1;
  }

  const weights = new Map<string, LlamaWeight>();
  for (const info of reader.header.tensors) {
    weights.set(info.name, { dims: info.dims, ggmlType: info.type, values: toFloat32(info.type, await reader.readTensorData(info), info.elementCount) });
  }
  let graph;
  try {
    graph = buildLlamaGraph(hp, (name) => weights.get(name));
  } catch (error) {
    throw unsupported(`${path}: ${(error as Error).message}.`);
  }
  weights.clear();

  const name = typeof reader.getMetadataValue('general.name') === 'string' ? String(reader.getMetadataValue('general.name')) : arch;
  const contextLength = asNumber(reader.getMetadataValue(`${arch}.context_length`));
  const model: OnnxModel = {
    irVersion: ONNX_IR_VERSION,
    opsetVersion: LLAMA_GRAPH_OPSET,
    producerName: 'specroute',
    producerVersion: '0.1.0',
    docString: `${name}: converted from ${basename(path)} by specroute convert`,
    graph,
    metadata: {
      'general.architecture': arch,
      'general.name': name,
      'specroute.source': basename(path),
      'specroute.tokenizer': basename(tokenizerPath),
      ...(contextLength !== undefined ? { [`${arch}.context_length`]: String(contextLength) } : {}),
    },
  };

  const pending = await writeOnnxFiles(outPath, model, { externalData });
  try {
    // The tokenizer: every metadata entry (tokenizer, chat template, hyperparameters) copied byte for byte, no tensors.
    const metadata: GgufMetadataEntry[] = reader.header.metadata.slice();
    await writeGgufFile(tokenizerPath, { metadata, tensors: [] });
    await pending.commit();
  } catch (error) {
    await pending.abort();
    throw error;
  }
  return {
    outPath,
    tokenizerPath,
    externalDataPath: pending.externalDataPath ?? null,
    name,
    layers: hp.blockCount,
    vocabSize: hp.vocabSize,
    embeddingLength: hp.embeddingLength,
    headCount: hp.headCount,
    headCountKv: hp.headCountKv,
    opset: LLAMA_GRAPH_OPSET,
    sourceTypes,
    bytesWritten: pending.bytesWritten,
  };
}
