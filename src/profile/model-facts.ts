/**
 * What a GGUF file says about the memory a served model needs: its size, parameters, vocabulary, layers, training
 * context, and the bytes its KV cache holds per token. Read from the header alone (no model load).
 */
import { stat } from 'node:fs/promises';
import { findMetadataEntry, type GgufMetadataEntry, type GgufValue } from '../models/gguf/gguf-metadata.js';
import { readGgufHeader, type GgufHeader } from '../models/gguf/gguf-reader.js';

/** A model file as the profile reports it. */
export interface ModelFacts {
  readonly path: string;
  readonly fileBytes: number;
  /** `general.architecture`, e.g. `llama`. */
  readonly architecture: string;
  /** `general.name`, or empty. */
  readonly name: string;
  /** Elements of every tensor together. */
  readonly params: number;
  /** Logits per position (rows of the token embedding). */
  readonly vocab: number;
  readonly layers: number;
  readonly trainContextSize: number;
  /** The KV cache element type the model is served with. */
  readonly kvCacheType: 'F16' | 'F32';
  /** Bytes one token occupies in the KV cache of one sequence: keys and values of every layer. */
  readonly kvBytesPerToken: number;
}

export async function readModelFacts(path: string, kvCacheType: 'F16' | 'F32'): Promise<ModelFacts> {
  const [header, file] = await Promise.all([readGgufHeader(path), stat(path)]);
  return modelFactsOf(path, file.size, header, kvCacheType);
}

/** `readModelFacts` over a header already read. */
export function modelFactsOf(path: string, fileBytes: number, header: Pick<GgufHeader, 'metadata' | 'tensors'>, kvCacheType: 'F16' | 'F32'): ModelFacts {
  const meta = header.metadata;
  const architecture = String(findMetadataEntry(meta, 'general.architecture')?.value ?? 'unknown');
  const embedding = header.tensors.find((t) => t.name === 'token_embd.weight');
  const tokens = findMetadataEntry(meta, 'tokenizer.ggml.tokens')?.value;
  return {
    path,
    fileBytes,
    architecture,
    name: String(findMetadataEntry(meta, 'general.name')?.value ?? ''),
    params: header.tensors.reduce((sum, t) => sum + t.elementCount, 0),
    vocab: embedding?.dims[1] ?? (Array.isArray(tokens) ? tokens.length : 0),
    layers: numberAt(meta, `${architecture}.block_count`) ?? 0,
    trainContextSize: numberAt(meta, `${architecture}.context_length`) ?? 0,
    kvCacheType,
    kvBytesPerToken: kvBytesPerToken(meta, kvCacheType),
  };
}

/**
 * Bytes of KV cache per token and sequence, as llama.cpp allocates it for a transformer:
 * Σ over layers of n_head_kv(layer) × (key_length + value_length) × bytes per element (F16: 2, F32: 4), where the
 * head lengths default to embedding_length / head_count and n_head_kv to head_count (each may be a per-layer list,
 * as in drafts cut from a verifier). 0 when the metadata does not describe attention (not a transformer).
 */
export function kvBytesPerToken(meta: readonly GgufMetadataEntry[], kvCacheType: 'F16' | 'F32'): number {
  const arch = String(findMetadataEntry(meta, 'general.architecture')?.value ?? '');
  const layers = numberAt(meta, `${arch}.block_count`);
  const embd = numberAt(meta, `${arch}.embedding_length`);
  const heads = perLayer(findMetadataEntry(meta, `${arch}.attention.head_count`)?.value);
  if (!layers || !embd || !heads) return 0;
  const headsKv = perLayer(findMetadataEntry(meta, `${arch}.attention.head_count_kv`)?.value) ?? heads;
  const bytes = kvCacheType === 'F32' ? 4 : 2;
  let total = 0;
  for (let layer = 0; layer < layers; layer++) {
    const h = heads(layer);
    if (h <= 0) continue;
    const keyLength = numberAt(meta, `${arch}.attention.key_length`) ?? embd / h;
    const valueLength = numberAt(meta, `${arch}.attention.value_length`) ?? embd / h;
    total += headsKv(layer) * (keyLength + valueLength) * bytes;
  }
  return total;
}

function numberAt(meta: readonly GgufMetadataEntry[], key: string): number | undefined {
  const value = findMetadataEntry(meta, key)?.value;
  return typeof value === 'number' || typeof value === 'bigint' ? Number(value) : undefined;
}

/** A per-layer value: one number for all layers, or a list (the last entry repeats past its end). */
function perLayer(value: GgufValue | undefined): ((layer: number) => number) | undefined {
  if (typeof value === 'number' || typeof value === 'bigint') return () => Number(value);
  if (Array.isArray(value) && value.length > 0) return (layer) => Number(value[Math.min(layer, value.length - 1)]);
  return undefined;
}
