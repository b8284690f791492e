/**
 * What a causal-LM ONNX graph expects, read from its session's input and output metadata rather than assumed, so
 * the backend drives any graph that follows Hugging Face Optimum's naming (our converter's output, or a model
 * exported with `optimum-cli export onnx --task text-generation-with-past`):
 *
 * inputs  `input_ids` int64 [batch, seq], optional `attention_mask` int64 [batch, past+seq], optional
 *         `position_ids` int64 [batch, seq], `past_key_values.{i}.key|value` float32 [batch, kv_heads, past, head_dim],
 *         optional `use_cache_branch` bool [1] (Optimum's merged decoders);
 * outputs `logits` float32 [batch, seq, vocab], `present.{i}.key|value`.
 */
import type { InferenceSession } from 'onnxruntime-node';
import { SpecrouteError } from '../../errors/registry.js';

export interface CausalLmSignature {
  /** Transformer layers: the number of `past_key_values.{i}.key` inputs. */
  readonly layers: number;
  readonly kvHeads: number;
  readonly headDim: number;
  /** The logits' last dimension when the graph fixes it. */
  readonly vocabSize: number | undefined;
  readonly hasAttentionMask: boolean;
  readonly hasPositionIds: boolean;
  readonly hasUseCacheBranch: boolean;
  readonly pastKey: readonly string[];
  readonly pastValue: readonly string[];
  readonly presentKey: readonly string[];
  readonly presentValue: readonly string[];
}

type Metadata = InferenceSession.ValueMetadata;

function unsupported(modelPath: string, message: string): SpecrouteError {
  return new SpecrouteError('unsupported_model', `${modelPath}: ${message}`, { param: 'modelPath' });
}

/** Reads the signature of a loaded session; throws `unsupported_model` when it is not a causal LM with a KV cache. */
export function readCausalLmSignature(session: InferenceSession, modelPath: string): CausalLmSignature {
  const inputs = new Map<string, Metadata>(session.inputMetadata.map((m) => [m.name, m]));
  const outputs = new Map<string, Metadata>(session.outputMetadata.map((m) => [m.name, m]));
  const tensor = (m: Metadata | undefined): (Metadata & { isTensor: true }) | undefined => (m?.isTensor ? m : undefined);

  const ids = tensor(inputs.get('input_ids'));
  if (ids === undefined) throw unsupported(modelPath, 'the graph has no input_ids input; a causal LM with past_key_values inputs is expected.');
  if (ids.type !== 'int64') throw unsupported(modelPath, `input_ids is ${ids.type}; int64 is supported.`);
  for (const name of ['attention_mask', 'position_ids']) {
    const m = tensor(inputs.get(name));
    if (m !== undefined && m.type !== 'int64') throw unsupported(modelPath, `${name} is ${m.type}; int64 is supported.`);
  }
  const logits = tensor(outputs.get('logits'));
  if (logits === undefined || logits.type !== 'float32') throw unsupported(modelPath, 'the graph has no float32 logits output.');

  let layers = 0;
  while (inputs.has(`past_key_values.${layers}.key`)) layers++;
  if (layers === 0) throw unsupported(modelPath, 'the graph has no past_key_values.0.key input (export it with a KV cache: Optimum task text-generation-with-past).');
  const layerNames = (pattern: (i: number) => string): string[] => Array.from({ length: layers }, (_, i) => pattern(i));
  const signature = {
    pastKey: layerNames((i) => `past_key_values.${i}.key`),
    pastValue: layerNames((i) => `past_key_values.${i}.value`),
    presentKey: layerNames((i) => `present.${i}.key`),
    presentValue: layerNames((i) => `present.${i}.value`),
  };
  let kvHeads: number | undefined;
  let headDim: number | undefined;
  for (const [names, from] of [
    [signature.pastKey, inputs],
    [signature.pastValue, inputs],
    [signature.presentKey, outputs],
    [signature.presentValue, outputs],
  ] as const) {
    for (const name of names) {
      const m = tensor(from.get(name));
      if (m === undefined) throw unsupported(modelPath, `the graph lacks ${name}.`);
      if (m.type !== 'float32') throw unsupported(modelPath, `${name} is ${m.type}; float32 KV caches are supported.`);
      const [, heads, , dim] = m.shape;
      if (m.shape.length !== 4 || typeof heads !== 'number' || typeof dim !== 'number') {
        throw unsupported(modelPath, `${name} has shape [${m.shape.join(', ')}]; [batch, kv_heads, length, head_dim] with fixed kv_heads and head_dim is expected.`);
      }
      kvHeads ??= heads;
      headDim ??= dim;
      if (heads !== kvHeads || dim !== headDim) throw unsupported(modelPath, `${name} has shape [${m.shape.join(', ')}], unlike the other KV tensors.`);
    }
  }
  const vocab = logits.shape[2];
  return {
    layers,
    kvHeads: kvHeads!,
    headDim: headDim!,
    vocabSize: typeof vocab === 'number' && vocab > 0 ? vocab : undefined,
    hasAttentionMask: inputs.has('attention_mask'),
    hasPositionIds: inputs.has('position_ids'),
    hasUseCacheBranch: inputs.has('use_cache_branch'),
    ...signature,
  };
}
