/**
 * The Llama architecture as an ONNX causal-LM graph with a KV cache, computing what llama.cpp computes for the
 * same GGUF weights (see bench/fixtures/reference-forward.ts for the same function in float64):
 *
 * - RMSNorm: `x · 1/sqrt(mean(x²) + eps) · weight`, the mean of squares summed in double as ggml does;
 * - RoPE in llama.cpp's NORM mode: adjacent pairs (0,1), (2,3)… within each head, rotated by
 *   `θ_i = p · s^i · freq_scale` with `s = freq_base^(-2/n_rot)`, the powers accumulated by repeated
 *   multiplication as ggml's rope cache does, from `position_ids`;
 * - causal attention with grouped-query heads (query head h reads KV head ⌊h / (heads / kv_heads)⌋), scores
 *   scaled by 1/sqrt(head_dim) before the mask and softmax;
 * - SwiGLU feed-forward: `down(silu(gate(x)) · up(x))`;
 * - the weight matrices' inputs rounded as ggml's CPU matrix products round them: to float16 for F16 weights,
 *   to Q8_0 blocks (scale `amax/127` stored as float16, values rounded half to even) for Q8_0 and Q4_0 weights,
 *   untouched for F32 weights. The weights themselves are dequantized to float32 exactly.
 *
 * Graph I/O follows Hugging Face Optimum's causal-LM convention, so a runtime that drives Optimum exports drives
 * this too: inputs `input_ids` int64 [batch, seq], `attention_mask` int64 [batch, past+seq], `position_ids` int64
 * [batch, seq], `past_key_values.{i}.key|value` float32 [batch, kv_heads, past, head_dim] (keys after RoPE);
 * outputs `logits` float32 [batch, seq, vocab] and `present.{i}.key|value` [batch, kv_heads, past+seq, head_dim].
 */
import { GgmlType, ggmlTypeName } from '../gguf/ggml-types.js';
import { GraphBuilder } from './graph-builder.js';
import { OnnxDataType, type OnnxGraph, type OnnxValueInfo } from './onnx-proto.js';

/** The hyperparameters of a Llama model, as llama.cpp reads them from GGUF metadata. */
export interface LlamaHyperparameters {
  readonly vocabSize: number;
  readonly embeddingLength: number;
  readonly blockCount: number;
  readonly headCount: number;
  readonly headCountKv: number;
  readonly headDim: number;
  readonly feedForwardLength: number;
  /** `attention.layer_norm_rms_epsilon`. */
  readonly rmsEpsilon: number;
  /** `rope.freq_base`. Defaults to `10000`. */
  readonly ropeFreqBase: number;
  /** 1 / `rope.scaling.factor` for linear RoPE scaling. Defaults to `1`. */
  readonly ropeFreqScale: number;
}

/** One weight, dequantized to float32, in ggml order (`dims[0]` is the row length), with its source ggml type. */
export interface LlamaWeight {
  readonly dims: readonly number[];
  readonly ggmlType: number;
  readonly values: Float32Array;
}

/** The ggml types whose matrix products the graph reproduces (weights dequantized, inputs rounded as ggml does). */
export const GRAPH_WEIGHT_TYPES: ReadonlySet<number> = new Set([GgmlType.F32, GgmlType.F16, GgmlType.Q8_0, GgmlType.Q4_0]);

/** Opset of the default domain used by the graph (ONNX 1.12; every op used is in the CPU execution provider). */
export const LLAMA_GRAPH_OPSET = 17;

/** The lowest finite float32: masked scores. (−∞ would turn fully masked padding rows into NaN.) */
const MASKED = -3.4028234663852886e38;

/** `x` [rows][cols] row-major → [cols][rows]. */
function transpose(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let c = 0; c < cols; c++) out[c * rows + r] = values[o + c]!;
  }
  return out;
}

/** The graph's inputs and outputs for a model of this shape. */
export function llamaGraphSignature(hp: LlamaHyperparameters): { inputs: OnnxValueInfo[]; outputs: OnnxValueInfo[] } {
  const kvShape = (len: string): (number | string)[] => ['batch_size', hp.headCountKv, len, hp.headDim];
  const inputs: OnnxValueInfo[] = [
    { name: 'input_ids', elemType: OnnxDataType.INT64, shape: ['batch_size', 'sequence_length'] },
    { name: 'attention_mask', elemType: OnnxDataType.INT64, shape: ['batch_size', 'total_sequence_length'] },
    { name: 'position_ids', elemType: OnnxDataType.INT64, shape: ['batch_size', 'sequence_length'] },
  ];
  const outputs: OnnxValueInfo[] = [{ name: 'logits', elemType: OnnxDataType.FLOAT, shape: ['batch_size', 'sequence_length', hp.vocabSize] }];
  for (let i = 0; i < hp.blockCount; i++) {
    for (const kind of ['key', 'value']) {
      inputs.push({ name: `past_key_values.${i}.${kind}`, elemType: OnnxDataType.FLOAT, shape: kvShape('past_sequence_length') });
      outputs.push({ name: `present.${i}.${kind}`, elemType: OnnxDataType.FLOAT, shape: kvShape('total_sequence_length') });
    }
  }
  return { inputs, outputs };
}

/**
 * Builds the graph. `weight(name)` returns a GGUF tensor by name (`token_embd.weight`, `blk.0.attn_q.weight`…),
 * or undefined when absent (only `output.weight` may be: the embedding is then tied).
 */
export function buildLlamaGraph(hp: LlamaHyperparameters, weight: (name: string) => LlamaWeight | undefined): OnnxGraph {
  const g = new GraphBuilder();
  const { headCount: H, headCountKv: KVH, headDim: D, embeddingLength: E } = hp;
  if (H % KVH !== 0) throw new Error(`head_count ${H} is not a multiple of head_count_kv ${KVH}`);
  if (D % 2 !== 0) throw new Error(`head dimension ${D} is odd`);
  const group = H / KVH;
  const need = (name: string): LlamaWeight => {
    const w = weight(name);
    if (w === undefined) throw new Error(`missing tensor ${name}`);
    return w;
  };
  const vector = (name: string, length: number): string => {
    const w = need(name);
    if (w.values.length !== length) throw new Error(`tensor ${name} has ${w.values.length} values, ${length} expected`);
    return g.floatInitializer(name, [length], w.values);
  };

  // A weight matrix W (ggml dims [in, out]) stored as [in, out] for MatMul, with the rounding ggml applies to
  // the other operand of its matrix product.
  const matrices = new Map<string, { name: string; ggmlType: number; inFeatures: number }>();
  const matrix = (name: string, inFeatures: number, outFeatures: number, source = name): { name: string; ggmlType: number; inFeatures: number } => {
    const cached = matrices.get(name);
    if (cached) return cached;
    const w = need(source);
    if (w.dims[0] !== inFeatures || (w.dims[1] ?? 1) !== outFeatures || w.dims.length > 2) {
      throw new Error(`tensor ${source} has dims [${w.dims.join(', ')}], [${inFeatures}, ${outFeatures}] expected`);
    }
    if (!GRAPH_WEIGHT_TYPES.has(w.ggmlType)) throw new Error(`tensor ${source} is ${ggmlTypeName(w.ggmlType)}, which the graph cannot reproduce`);
    const stored = g.floatInitializer(name, [inFeatures, outFeatures], transpose(w.values, outFeatures, inFeatures));
    const entry = { name: stored, ggmlType: w.ggmlType, inFeatures };
    matrices.set(name, entry);
    return entry;
  };

  /** ggml's rounding of a matrix product's activations for a weight of type `ggmlType`. */
  const roundActivations = (x: string, ggmlType: number, inFeatures: number): string => {
    if (ggmlType === GgmlType.F16) return g.op('Cast', [g.op('Cast', [x], { to: OnnxDataType.FLOAT16 })], { to: OnnxDataType.FLOAT });
    if (ggmlType === GgmlType.Q8_0 || ggmlType === GgmlType.Q4_0) {
      // ggml's x86 quantize_row_q8_0: d = amax/127 kept as float16, q = x·(127/amax) rounded half to even.
      if (inFeatures % 32 !== 0) throw new Error(`a quantized matrix needs rows of a multiple of 32, not ${inFeatures}`);
      const blocks = g.op('Reshape', [x, g.int64([0, 0, inFeatures / 32, 32])]);
      const amax = g.op('ReduceMax', [g.op('Abs', [blocks])], { axes: [-1], keepdims: 1 });
      const d16 = g.op('Cast', [g.op('Cast', [g.op('Div', [amax, g.float(127)])], { to: OnnxDataType.FLOAT16 })], { to: OnnxDataType.FLOAT });
      const inverse = g.op('Where', [g.op('Equal', [amax, g.float(0)]), g.float(0), g.op('Div', [g.float(127), amax])]);
      const q = g.op('Round', [g.op('Mul', [blocks, inverse])]);
      return g.op('Reshape', [g.op('Mul', [q, d16]), g.int64([0, 0, inFeatures])]);
    }
    return x;
  };

  const linear = (x: string, name: string, inFeatures: number, outFeatures: number, source?: string): string => {
    const m = matrix(name, inFeatures, outFeatures, source);
    return g.op('MatMul', [roundActivations(x, m.ggmlType, inFeatures), m.name]);
  };

  const rmsNorm = (x: string, weightName: string): string => {
    // ggml sums the float squares in double and rounds the mean to float.
    const squares = g.op('Cast', [g.op('Mul', [x, x])], { to: OnnxDataType.DOUBLE });
    const meanSquare = g.op('Cast', [g.op('ReduceMean', [squares], { axes: [-1], keepdims: 1 })], { to: OnnxDataType.FLOAT });
    const scale = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [meanSquare, g.float(hp.rmsEpsilon)])])]);
    return g.op('Mul', [g.op('Mul', [x, scale]), vector(weightName, E)]);
  };

  // Rotation angles [batch, seq, D/2]: θ_0 = p, θ_{i+1} = θ_i · s, then · freq_scale, as ggml's rope cache does.
  const thetaScale = Math.fround(Math.pow(hp.ropeFreqBase, Math.fround(-2 / D)));
  let theta = g.op('Unsqueeze', [g.op('Cast', ['position_ids'], { to: OnnxDataType.FLOAT }), g.int64([-1])]);
  const thetas = [theta];
  for (let i = 1; i < D / 2; i++) thetas.push((theta = g.op('Mul', [theta, g.float(thetaScale)])));
  const unscaled = thetas.length === 1 ? thetas[0]! : g.op('Concat', thetas, { axis: -1 });
  const angles = hp.ropeFreqScale === 1 ? unscaled : g.op('Mul', [unscaled, g.float(hp.ropeFreqScale)]);
  const ropeAxes = g.int64([2, 4]);
  const cos = g.op('Unsqueeze', [g.op('Cos', [angles]), ropeAxes]); // [batch, seq, 1, D/2, 1]
  const sin = g.op('Unsqueeze', [g.op('Sin', [angles]), ropeAxes]);
  /** RoPE on [batch, seq, heads·D] → [batch, seq, heads, D]. */
  const rope = (x: string, heads: number): string => {
    const pairs = g.op('Reshape', [x, g.int64([0, 0, heads, D / 2, 2])]);
    const [x0, x1] = g.opN('Split', [pairs], 2, { axis: -1 });
    const out0 = g.op('Sub', [g.op('Mul', [x0!, cos]), g.op('Mul', [x1!, sin])]);
    const out1 = g.op('Add', [g.op('Mul', [x0!, sin]), g.op('Mul', [x1!, cos])]);
    return g.op('Reshape', [g.op('Concat', [out0, out1], { axis: -1 }), g.int64([0, 0, heads, D])]);
  };

  // Which keys each query may attend: causal (key index ≤ past + query index) and not padding. [batch,1,1,seq,total]
  const total = g.op('Gather', [g.op('Shape', ['attention_mask']), g.int64([1], true)], { axis: 0 });
  const seqLen = g.op('Gather', [g.op('Shape', ['input_ids']), g.int64([1], true)], { axis: 0 });
  const keyIndex = g.op('Range', [g.int64([0], true), total, g.int64([1], true)]);
  const queryIndex = g.op('Range', [g.op('Sub', [total, seqLen]), total, g.int64([1], true)]);
  const causal = g.op('LessOrEqual', [g.op('Unsqueeze', [keyIndex, g.int64([0])]), g.op('Unsqueeze', [queryIndex, g.int64([1])])]);
  const notPadding = g.op('Unsqueeze', [g.op('Cast', ['attention_mask'], { to: OnnxDataType.BOOL }), g.int64([1, 2, 3])]);
  const allowed = g.op('And', [causal, notPadding]);
  const kqScale = Math.fround(1 / Math.fround(Math.sqrt(D)));

  let x = g.op('Gather', [g.floatInitializer('token_embd.weight', [hp.vocabSize, E], embeddingTable(need('token_embd.weight'), hp)), 'input_ids'], { axis: 0 });
  for (let layer = 0; layer < hp.blockCount; layer++) {
    const p = (name: string): string => `blk.${layer}.${name}.weight`;
    const xn = rmsNorm(x, p('attn_norm'));
    const q = rope(linear(xn, p('attn_q'), E, H * D), H);
    const k = rope(linear(xn, p('attn_k'), E, KVH * D), KVH);
    const v = g.op('Reshape', [linear(xn, p('attn_v'), E, KVH * D), g.int64([0, 0, KVH, D])]);
    const headsFirst = { perm: [0, 2, 1, 3] };
    const presentKey = g.op('Concat', [`past_key_values.${layer}.key`, g.op('Transpose', [k], headsFirst)], { axis: 2 }, `present.${layer}.key`);
    const presentValue = g.op('Concat', [`past_key_values.${layer}.value`, g.op('Transpose', [v], headsFirst)], { axis: 2 }, `present.${layer}.value`);
    // Grouped queries: [batch, kv_heads, group, seq, D] against keys [batch, kv_heads, 1, D, total].
    const queries = g.op('Reshape', [g.op('Transpose', [q], headsFirst), g.int64([0, KVH, group, -1, D])]);
    const keysT = g.op('Transpose', [g.op('Unsqueeze', [presentKey, g.int64([2])])], { perm: [0, 1, 2, 4, 3] });
    const scores = g.op('Mul', [g.op('MatMul', [queries, keysT]), g.float(kqScale)]);
    const probs = g.op('Softmax', [g.op('Where', [allowed, scores, g.float(MASKED)])], { axis: -1 });
    const attended = g.op('MatMul', [probs, g.op('Unsqueeze', [presentValue, g.int64([2])])]); // [batch, kv_heads, group, seq, D]
    const merged = g.op('Reshape', [g.op('Transpose', [g.op('Reshape', [attended, g.int64([0, H, -1, D])])], headsFirst), g.int64([0, 0, H * D])]);
    x = g.op('Add', [x, linear(merged, p('attn_output'), H * D, E)]);

    const xf = rmsNorm(x, p('ffn_norm'));
    const F = hp.feedForwardLength;
    const gate = linear(xf, p('ffn_gate'), E, F);
    const up = linear(xf, p('ffn_up'), E, F);
    const hidden = g.op('Mul', [g.op('Mul', [gate, g.op('Sigmoid', [gate])]), up]);
    x = g.op('Add', [x, linear(hidden, p('ffn_down'), F, E)]);
  }
  const output = matrix('output.weight', E, hp.vocabSize, weight('output.weight') === undefined ? 'token_embd.weight' : 'output.weight');
  g.op('MatMul', [roundActivations(rmsNorm(x, 'output_norm.weight'), output.ggmlType, E), output.name], undefined, 'logits');

  const { inputs, outputs } = llamaGraphSignature(hp);
  return g.build('llama', inputs, outputs);
}

function embeddingTable(w: LlamaWeight, hp: LlamaHyperparameters): Float32Array {
  if (w.dims[0] !== hp.embeddingLength || w.dims[1] !== hp.vocabSize) {
    throw new Error(`tensor token_embd.weight has dims [${w.dims.join(', ')}], [${hp.embeddingLength}, ${hp.vocabSize}] expected`);
  }
  return w.values;
}
