/**
 * The speed-up formulas of speculative decoding (docs/ARCHITECTURE.md#expected-tokens-and-the-ideals). Pure functions:
 * no timing, no models. Times are in any one unit (milliseconds in the benchmarks); only their ratios matter.
 *
 * Worked examples (α = acceptance rate, γ = draft length, c = T_draft / T_step):
 *
 * 1. A good draft at γ = 4: α = 0.8 gives
 *    `expectedTokensPerPass(0.8, 4)` = (1 − 0.8⁵)/(1 − 0.8) = (1 − 0.32768)/0.2 = 3.3616 tokens per verifier pass.
 *    With c = 0.1, `textbookIdealSpeedup({tokensPerPass: 3.3616, gamma: 4, costRatio: 0.1})` = 3.3616/1.4 ≈ 2.40×.
 *
 * 2. The same run on hardware where a batched pass is not free: T_step = 1 ms, T_draft = 0.1 ms and a pass over
 *    γ + 1 = 5 tokens costs T_verify(4) = 2.5 ms.
 *    `hardwareAwareIdealSpeedup({tokensPerPass: 3.3616, gamma: 4, stepMs: 1, draftStepMs: 0.1, verifyMs: 2.5})`
 *    = 3.3616 · 1 / (4 · 0.1 + 2.5) = 3.3616/2.9 ≈ 1.16×: most of the textbook's 2.40× is eaten by the verifier's
 *    batched pass costing 2.5 steps instead of 1.
 *
 * 3. Limits: α = 0 gives E = 1 (only the verifier's own token each pass), so every ideal is ≤ 1 and drafting is pure
 *    loss; α = 1 gives E = γ + 1 (`expectedTokensPerPass(1, 4)` = 5), and with a free draft (c = 0) the textbook ideal
 *    is γ + 1 = 5×.
 *
 * 4. Mixed draft lengths (the adaptive schedule): 10 passes, 6 drafting 4 tokens and 4 drafting 2, emitting 30
 *    tokens, with T_step = 1, T_draft = 0.1, T_verify(2) = 1.8, T_verify(4) = 2.5:
 *    `passCost({4: 6, 2: 4}, 0.1, {2: 1.8, 4: 2.5})` = (6 · (0.4 + 2.5) + 4 · (0.2 + 1.8))/10 = (17.4 + 8)/10 = 2.54,
 *    and `hardwareAwareIdealFromHistogram({tokens: 30, histogram: {4: 6, 2: 4}, stepMs: 1, draftStepMs: 0.1,
 *    verifyMs: {2: 1.8, 4: 2.5}})` = 30 · 1 / 25.4 ≈ 1.18×.
 */

export { expectedTokensPerPass } from '../../src/pipeline/step-costs.js';

/** Inputs of `textbookIdealSpeedup`. */
export interface TextbookInputs {
  /** E: tokens emitted per verifier pass (observed, or `expectedTokensPerPass`). */
  tokensPerPass: number;
  /** γ: tokens drafted per pass (may be a mean, for a varying draft length). */
  gamma: number;
  /** c = T_draft_step / T_verifier_step: one draft decode step relative to one verifier decode step. */
  costRatio: number;
}

/**
 * The textbook ideal speed-up over verifier-only decoding, E / (γ·c + 1) (Leviathan et al. 2023). It assumes
 * a batched verifier pass over γ + 1 tokens costs the same as one decode step, and that nothing else costs time.
 */
export function textbookIdealSpeedup({ tokensPerPass, gamma, costRatio }: TextbookInputs): number {
  return tokensPerPass / (gamma * costRatio + 1);
}

/** Inputs of `hardwareAwareIdealSpeedup`. */
export interface HardwareAwareInputs {
  /** E: tokens emitted per verifier pass. */
  tokensPerPass: number;
  /** γ: tokens drafted per pass. */
  gamma: number;
  /** T_step: one verifier decode step (one token in, one scored). */
  stepMs: number;
  /** T_draft: one draft decode step. */
  draftStepMs: number;
  /** T_verify(γ): one batched verifier pass over γ + 1 tokens, all scored (the uncommitted token plus the draft). */
  verifyMs: number;
}

/**
 * The hardware-aware ideal speed-up, E·T_step / (γ·T_draft + T_verify(γ)): verifier-only decoding costs T_step per
 * token; a speculative pass costs γ draft steps plus one batched verifier pass and yields E tokens. Whatever a real
 * run loses against this is the pipeline's own overhead (threads, messages, bookkeeping).
 */
export function hardwareAwareIdealSpeedup({ tokensPerPass, gamma, stepMs, draftStepMs, verifyMs }: HardwareAwareInputs): number {
  return (tokensPerPass * stepMs) / (gamma * draftStepMs + verifyMs);
}

/** How many passes drafted each number of tokens: `histogram[k]` = passes that drafted exactly k tokens. */
export type DraftLengthHistogram = Readonly<Record<number, number>>;

/**
 * The histogram of per-pass draft lengths, recovered exactly from per-position counts: `draftedAt[i]` is the number
 * of passes that drafted a token at position i (0-based), i.e. drafted at least i + 1 tokens (the pipeline's
 * `SpeculationStats.byPosition[i].drafted`). So exactly k were drafted in `draftedAt[k−1] − draftedAt[k]` passes,
 * and none in `passes − draftedAt[0]`.
 *
 * Example: 10 passes with `draftedAt = [10, 10, 6, 6]` → `{2: 4, 4: 6}`.
 */
export function draftLengthHistogram(draftedAt: readonly number[], passes: number): Record<number, number> {
  const histogram: Record<number, number> = {};
  const at = (i: number): number => (i < 0 ? passes : (draftedAt[i] ?? 0));
  for (let k = 0; k <= draftedAt.length; k++) {
    const n = at(k - 1) - at(k);
    if (n < 0) throw new RangeError(`draftedAt must not increase: position ${k} has ${at(k)} after ${at(k - 1)}`);
    if (n > 0) histogram[k] = n;
  }
  return histogram;
}

/** Passes in a histogram. */
export function histogramPasses(histogram: DraftLengthHistogram): number {
  return Object.values(histogram).reduce((a, b) => a + b, 0);
}

/** γ̄: mean tokens drafted per pass. */
export function meanDraftLength(histogram: DraftLengthHistogram): number {
  const passes = histogramPasses(histogram);
  if (passes === 0) return 0;
  return Object.entries(histogram).reduce((sum, [k, n]) => sum + Number(k) * n, 0) / passes;
}

/**
 * Mean ideal cost of one pass: the mean over passes of k·T_draft + T_verify(k), k being that pass's draft length.
 * `verifyMs[k]` must hold T_verify(k) (a pass over k + 1 tokens) for every k in the histogram.
 */
export function passCost(histogram: DraftLengthHistogram, draftStepMs: number, verifyMs: Readonly<Record<number, number>>): number {
  const passes = histogramPasses(histogram);
  if (passes === 0) return 0;
  let total = 0;
  for (const [key, n] of Object.entries(histogram)) {
    const k = Number(key);
    const verify = verifyMs[k];
    if (verify === undefined) throw new RangeError(`no T_verify measured for a draft of ${k} tokens`);
    total += n * (k * draftStepMs + verify);
  }
  return total / passes;
}

/** Inputs of `hardwareAwareIdealFromHistogram`. */
export interface HistogramInputs {
  /** Tokens the passes emitted (after the first token, which comes from the prefill). */
  tokens: number;
  /** Per-pass draft lengths (see `draftLengthHistogram`). */
  histogram: DraftLengthHistogram;
  stepMs: number;
  draftStepMs: number;
  /** T_verify(k) for each draft length k in the histogram. */
  verifyMs: Readonly<Record<number, number>>;
}

/**
 * The hardware-aware ideal for passes of varying draft length: tokens·T_step / Σ_passes (k·T_draft + T_verify(k)),
 * the ideal verifier-only time for those tokens over the ideal speculative time. With every pass drafting γ it
 * equals `hardwareAwareIdealSpeedup` with E = tokens / passes.
 */
export function hardwareAwareIdealFromHistogram({ tokens, histogram, stepMs, draftStepMs, verifyMs }: HistogramInputs): number {
  const passes = histogramPasses(histogram);
  if (passes === 0) return 0;
  return (tokens * stepMs) / (passes * passCost(histogram, draftStepMs, verifyMs));
}

/**
 * The acceptance probability per drafted token under the independence assumption behind `expectedTokensPerPass`,
 * estimated from per-position counts: accepted tokens over the draft positions the verifier actually reached (a
 * position is reached when every earlier draft token of its pass was accepted). This differs from the pipeline's
 * `acceptanceRate` (accepted / drafted), which also counts the drafted tokens after a rejection.
 *
 * `byPosition[i]` = {drafted, accepted} at draft position i. Reached(i) = drafted(0) for i = 0, and
 * min(drafted(i), accepted(i−1)) after (exact when only the last pass of a request drafts fewer tokens).
 */
export function conditionalAcceptance(byPosition: ReadonlyArray<{ readonly drafted: number; readonly accepted: number }>): number {
  let reached = 0;
  let accepted = 0;
  byPosition.forEach((p, i) => {
    reached += i === 0 ? p.drafted : Math.min(p.drafted, byPosition[i - 1]!.accepted);
    accepted += p.accepted;
  });
  return reached > 0 ? accepted / reached : 0;
}
