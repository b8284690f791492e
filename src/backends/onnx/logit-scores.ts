/**
 * Raw logits of one position → `PositionScores`, the same shapes the llama backend returns:
 * - greedy (temperature 0): the argmax (lowest index on ties, as llama.cpp's greedy sampler) and the top raw
 *   log-probabilities, most likely first;
 * - dense: the sampling distribution from `warp`, the raw logits and their log-normaliser.
 */
import { kernels } from '../../native/kernels.js';
import type { PositionScores, ScoreRequest } from '../types.js';

/** Scores of one position from its raw logits (dense scores keep the array: pass a copy you own). */
export function scoresFromLogits(logits: Float32Array, request: ScoreRequest): PositionScores {
  const logZ = kernels.logSumExp(logits);
  if (request.sampling.temperature <= 0) {
    const token = kernels.argmax(logits);
    const top = kernels.topLogprobs(logits, logZ, Math.max(1, request.topLogprobs ?? 1));
    return { kind: 'greedy', token, top };
  }
  const dist = kernels.warp(logits, request.sampling);
  const probs = dist.kind === 'dense' ? dist.probs : Float32Array.from({ length: logits.length }, (_, t) => (t === dist.token ? 1 : 0));
  return { kind: 'dense', probs, logits, logZ };
}
