/**
 * Raw logits of one position → `PositionScores`, the same shapes the llama backend returns:
 * - greedy (temperature 0): the argmax (lowest index on ties, as llama.cpp's greedy sampler) and the top raw
 *   log-probabilities, most likely first;
 * - dense: `denseScores` (the sampling distribution, the raw logits and their log-normaliser).
 */
import { kernels } from '../../native/kernels.js';
import { denseScores } from '../scores.js';
import { maskLogits, type TokenMask } from '../../sampling/token-mask.js';
import type { PositionScores, ScoreRequest } from '../types.js';

/**
 * Scores of one position from its raw logits (dense scores keep the array: pass a copy you own). With a grammar's
 * `mask`, only allowed tokens are scored, under the constrained distribution (`ScoreRequest.masks`).
 */
export function scoresFromLogits(logits: Float32Array, request: ScoreRequest, mask?: TokenMask): PositionScores {
  if (request.sampling.temperature > 0) return denseScores(logits, request.sampling, mask);
  const shown = mask ? maskLogits(logits, mask) : logits;
  const top = kernels.topLogprobs(shown, kernels.logSumExp(shown), Math.max(1, request.topLogprobs ?? 1));
  return { kind: 'greedy', token: kernels.argmax(shown), top };
}
