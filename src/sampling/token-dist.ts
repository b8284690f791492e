import type { WarpParams } from './params.js';

/**
 * A distribution over the vocabulary: either all mass on one token (greedy decoding), or dense probabilities
 * after temperature, top-k and top-p. The acceptance rule works on both shapes.
 */
export type TokenDist = { readonly kind: 'onehot'; readonly token: number } | { readonly kind: 'dense'; readonly probs: Float32Array };

export function probOf(dist: TokenDist, token: number): number {
  return dist.kind === 'onehot' ? (dist.token === token ? 1 : 0) : (dist.probs[token] ?? 0);
}

/** Inverse-CDF draw from unnormalised non-negative weights with the uniform `u` in [0, 1). */
export function sampleDense(weights: Float32Array, u: number): number {
  let total = 0;
  for (let i = 0; i < weights.length; i++) total += weights[i]!;
  let target = u * total;
  let last = -1;
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i]!;
    if (w <= 0) continue;
    last = i;
    target -= w;
    if (target < 0) return i;
  }
  if (last < 0) throw new Error('sampleDense: all weights are zero');
  return last; // rounding left a sliver of mass at the end
}

/** Index of the largest value; the lowest index wins ties, as llama.cpp's greedy sampler does. */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  let bestValue = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v > bestValue) {
      bestValue = v;
      best = i;
    }
  }
  return best;
}

/** log Σ exp(logits): the log-softmax normaliser of raw logits. */
export function logSumExp(logits: Float32Array): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  return max + Math.log(sum);
}

/**
 * Raw logits → the sampling distribution: temperature first, then top-k, then top-p over what top-k kept,
 * renormalised (the order and definition of vLLM, Hugging Face and llama.cpp: with probabilities .4/.3/.2/.1, top-k 3
 * and top-p .75 keep 2 tokens, since .4/.9 + .3/.9 ≥ .75), then min-p: tokens whose probability is below `minP` × the top token's are dropped (llama.cpp's
 * and vLLM's definition; the ratio does not depend on renormalisation, so it is taken after top-p). Greedy
 * parameters give a one-hot distribution on the argmax, whatever the filters say (they never drop the top token).
 *
 * @param out where to write the probabilities (as many entries as `logits`; may be `logits` itself).
 * Defaults to a new array.
 */
export function warp(logits: Float32Array, params: WarpParams, out?: Float32Array): TokenDist {
  if (params.temperature <= 0) return { kind: 'onehot', token: argmax(logits) };
  const n = logits.length;
  if (out !== undefined && out.length !== n) throw new RangeError('warp: out must have as many entries as logits');
  const invT = 1 / params.temperature;
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (logits[i]! > max) max = logits[i]!;
  const probs = out ?? new Float32Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const e = Math.exp((logits[i]! - max) * invT);
    probs[i] = e;
    sum += e;
  }
  const needsTopK = params.topK > 0 && params.topK < n;
  const needsTopP = params.topP < 1;
  if (needsTopK || needsTopP) {
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => probs[b]! - probs[a]! || a - b);
    let keep = needsTopK ? params.topK : n;
    if (needsTopP) {
      // The mass top-p measures against: all of it, or what top-k kept (summed in rank order, as the addon does).
      let mass = sum;
      if (needsTopK) {
        mass = 0;
        for (let r = 0; r < keep; r++) mass += probs[order[r]!]!;
      }
      let cumulative = 0;
      for (let r = 0; r < keep; r++) {
        cumulative += probs[order[r]!]! / mass;
        if (cumulative >= params.topP) {
          keep = r + 1;
          break;
        }
      }
    }
    sum = 0;
    for (let r = 0; r < n; r++) {
      const i = order[r]!;
      if (r < keep) sum += probs[i]!;
      else probs[i] = 0;
    }
  }
  if (params.minP > 0) {
    // The top token's weight is exp(0) = 1 (logits were shifted by their max), so the cut is minP itself.
    sum = 0;
    for (let i = 0; i < n; i++) {
      if (probs[i]! < params.minP) probs[i] = 0;
      else sum += probs[i]!;
    }
  }
  const inv = 1 / sum;
  for (let i = 0; i < n; i++) probs[i] = probs[i]! * inv;
  return { kind: 'dense', probs };
}

/**
 * The residual of speculative sampling before normalisation: `out[i] = max(0, p[i] − q[i])` for every index of
 * `p` (`q[i]` counts as 0 past the end of `q`). Returns its mass Σ out; 0 means `p` and `q` agree to the last
 * bit.
 *
 * @param out at least as many entries as `p`; may be `p` itself.
 */
export function residualInto(p: Float32Array, q: Float32Array, out: Float32Array): number {
  if (out.length < p.length) throw new RangeError('residual: out must have at least as many entries as p');
  for (let i = 0; i < p.length; i++) out[i] = Math.max(0, p[i]! - (q[i] ?? 0));
  let mass = 0;
  for (let i = 0; i < p.length; i++) mass += out[i]!;
  return mass;
}
