/**
 * Raw logits of one position → `PositionScores`, the same shapes the llama backend returns:
 * - greedy (temperature 0): the argmax (lowest index on ties, as llama.cpp's greedy sampler) and the top raw
 *   log-probabilities, most likely first;
 * - dense: `denseScores` (the sampling distribution, the raw logits and their log-normaliser).
 */
import { kernels } from '../../native/kernels.js';
import { denseScores } from '../scores.js';
import type { PositionScores, ScoreRequest } from '../types.js';

/** Scores of one position from its raw logits (dense scores keep the array: pass a copy you own). */
export function scoresFromLogits(logits: Float32Array, request: ScoreRequest): PositionScores {
  if (request.sampling.temperature > 0) return denseScores(logits, request.sampling);
  const top = kernels.topLogprobs(logits, kernels.logSumExp(logits), Math.max(1, request.topLogprobs ?? 1));
  return { kind: 'greedy', token: kernels.argmax(logits), top };
}
