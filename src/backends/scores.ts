import { kernels } from '../native/kernels.js';
import type { TokenDist } from '../sampling/token-dist.js';
import type { TokenLogprob } from '../events/token-logprob.js';
import { maskLogits, type TokenMask } from '../sampling/token-mask.js';
import type { PositionScores, ScoreRequest } from './types.js';

/** The distribution a token at this position is drawn from (one-hot under greedy decoding). */
export function distOf(scores: PositionScores): TokenDist {
  return scores.kind === 'greedy' ? { kind: 'onehot', token: scores.token } : { kind: 'dense', probs: scores.probs };
}

/** Raw log-probability of `token`; -Infinity when greedy scores did not keep it. */
export function logprobOf(scores: PositionScores, token: number): number {
  if (scores.kind === 'dense') return (scores.logits[token] ?? -Infinity) - scores.logZ;
  return scores.top.find((t) => t.token === token)?.logprob ?? -Infinity;
}

/** The `n` most likely tokens with their raw log-probabilities, most likely first. */
export function topLogprobs(scores: PositionScores, n: number): TokenLogprob[] {
  if (n <= 0) return [];
  if (scores.kind === 'greedy') return scores.top.slice(0, n);
  return kernels.topLogprobs(scores.logits, scores.logZ, n);
}

/** Raw probability of the most likely token: the verifier's confidence at this position. */
export function topProbability(scores: PositionScores): number {
  return Math.exp(topLogprobs(scores, 1)[0]?.logprob ?? -Infinity);
}

/**
 * The verifier's entropy at this position, in nats. Exact for dense scores; for greedy scores it is estimated
 * from the top tokens kept, with the remaining mass spread evenly over the rest of the vocabulary (an upper
 * bound on the tail's share).
 */
export function entropyOf(scores: PositionScores, vocabSize: number): number {
  if (scores.kind === 'dense') return kernels.entropy(scores.logits, scores.logZ);
  let h = 0;
  let mass = 0;
  for (const { logprob } of scores.top) {
    const p = Math.exp(logprob);
    mass += p;
    h -= p * logprob;
  }
  const rest = Math.max(0, 1 - mass);
  const others = vocabSize - scores.top.length;
  if (rest > 1e-9 && others > 0) h -= rest * Math.log(rest / others);
  return h;
}

/**
 * Dense scores of one position from its raw distribution (logits, or log-probabilities: any constant shift):
 * the sampling distribution after temperature, top-k and top-p, the raw array (kept, not copied) and its
 * log-normaliser. Both backends build their non-greedy scores here.
 *
 * With a grammar's `mask`, the position is scored under the constrained distribution p' = norm(p·m): refused
 * tokens get -Infinity before warping (temperature, top-k and top-p then act on what is left), and `logZ` is the
 * allowed tokens' normaliser, so log-probabilities, confidence and entropy are p''s (`ScoreRequest.masks`).
 * Allowed tokens that all have zero raw probability share the mass evenly rather than leave none.
 */
export function denseScores(logits: Float32Array, sampling: ScoreRequest['sampling'], mask?: TokenMask): PositionScores {
  let shown = logits;
  if (mask) {
    shown = maskLogits(logits, mask);
    if (kernels.logSumExp(shown) === -Infinity) shown = maskLogits(new Float32Array(logits.length), mask);
  }
  const dist = kernels.warp(shown, sampling);
  const probs = dist.kind === 'dense' ? dist.probs : Float32Array.from({ length: logits.length }, (_, t) => (t === dist.token ? 1 : 0));
  return { kind: 'dense', probs, logits: shown, logZ: kernels.logSumExp(shown) };
}

/**
 * Scores of one position from its raw logits, as every backend returns them (dense scores keep the array: pass a
 * copy you own):
 * - greedy (temperature 0): the argmax (lowest index on ties, as llama.cpp's greedy sampler) and the top raw
 *   log-probabilities, most likely first;
 * - dense: `denseScores`.
 * With a grammar's `mask`, only allowed tokens are scored, under the constrained distribution (`ScoreRequest.masks`).
 */
export function scoresFromLogits(logits: Float32Array, request: ScoreRequest, mask?: TokenMask): PositionScores {
  if (request.sampling.temperature > 0) return denseScores(logits, request.sampling, mask);
  const shown = mask ? maskLogits(logits, mask) : logits;
  const top = kernels.topLogprobs(shown, kernels.logSumExp(shown), Math.max(1, request.topLogprobs ?? 1));
  return { kind: 'greedy', token: kernels.argmax(shown), top };
}
