import { kernels, sampleFrom } from '../native/kernels.js';
import type { Rng } from '../sampling/rng.js';
import { probOf, type TokenDist } from '../sampling/token-dist.js';

/** The verdict on one drafted block. */
export interface AcceptanceResult {
  /** How many drafted tokens, from the start, were accepted. */
  readonly accepted: number;
  /** The token that follows the accepted prefix: the resampled correction, the bonus token, or a plain step's. */
  readonly next: number;
  /**
   * `bonus` when a block of at least one drafted token was accepted whole; `verifier` when `next` replaces a
   * rejected draft token, or when nothing was drafted (a plain verifier step: drafting paused, or no room left).
   */
  readonly nextSource: 'verifier' | 'bonus';
}

/**
 * The shape of an acceptance rule: the drafted tokens, the draft's distributions `q` (γ), the verifier's `p`
 * (γ + 1) and the request's random stream, to a verdict. `acceptDraft` is the one the product uses; the type
 * exists so a test can run the engine with a deliberately wrong rule and show that its statistical checks catch
 * it (`EngineOptions.acceptance`).
 */
export type AcceptanceRule = (draft: readonly number[], q: readonly TokenDist[], p: readonly TokenDist[], rng: Rng) => AcceptanceResult;

/**
 * Lossless speculative sampling (Leviathan et al. 2023; Chen et al. 2023).
 *
 * Accept drafted token x_i with probability min(1, p_i(x_i) / q_i(x_i)). At the first rejection, draw from
 * norm(max(0, p_i − q_i)) and stop. When all γ ≥ 1 are accepted, draw a bonus token from p_{γ+1}; with γ = 0
 * the draw from p_1 is the verifier's own plain step, and is tagged so.
 * The emitted tokens are then distributed exactly as the verifier's `p`. With one-hot distributions
 * (temperature 0) this is greedy verification: keep the longest prefix equal to the verifier's argmax, then
 * emit the verifier's argmax.
 *
 * @param draft the γ drafted tokens, each drawn from its `q`.
 * @param q the draft's distribution at each drafted position (γ entries).
 * @param p the verifier's distribution at each drafted position plus one (γ + 1 entries).
 * @param rng consumes one uniform per tested token and one for the final draw.
 */
export function acceptDraft(draft: readonly number[], q: readonly TokenDist[], p: readonly TokenDist[], rng: Rng): AcceptanceResult {
  if (q.length !== draft.length || p.length !== draft.length + 1) {
    throw new Error(`acceptDraft: expected ${draft.length} draft and ${draft.length + 1} verifier distributions, got ${q.length} and ${p.length}`);
  }
  for (let i = 0; i < draft.length; i++) {
    const x = draft[i]!;
    const pi = p[i]!;
    const qi = q[i]!;
    const px = probOf(pi, x);
    const qx = probOf(qi, x);
    // u < p/q, written without the division; qx is > 0 because x was drawn from q.
    if (px >= qx || rng.next() * qx < px) continue;
    return { accepted: i, next: sampleResidual(pi, qi, rng), nextSource: 'verifier' };
  }
  return { accepted: draft.length, next: sampleFrom(p[draft.length]!, rng), nextSource: draft.length > 0 ? 'bonus' : 'verifier' };
}

/** Draws from norm(max(0, p − q)). Only called after a rejection, so p ≠ q and the residual has mass. */
export function sampleResidual(p: TokenDist, q: TokenDist, rng: Rng): number {
  // A rejection under one-hot p means x ≠ argmax, and the residual is all on p's token.
  if (p.kind === 'onehot') return p.token;
  let residual: Float32Array;
  let mass = 0;
  if (q.kind === 'onehot') {
    residual = Float32Array.from(p.probs);
    residual[q.token] = Math.max(0, residual[q.token]! - 1);
    for (let i = 0; i < residual.length; i++) mass += residual[i]!;
  } else {
    residual = new Float32Array(p.probs.length);
    mass = kernels.residual(p.probs, q.probs, residual);
  }
  // Float noise can leave no mass when p and q are equal to the last bit; p itself is then the right law.
  return kernels.sampleDense(mass > 0 ? residual : p.probs, rng.next());
}
