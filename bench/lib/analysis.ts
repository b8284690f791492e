/**
 * Turns paired runs (speculative vs verifier-only over the same prompts) and the measured model costs into the
 * numbers a speculative-decoding report quotes: measured speed-up, acceptance, E, the textbook and hardware-aware
 * ideals, and where each pass's time went.
 */
import {
  conditionalAcceptance,
  draftLengthHistogram,
  expectedTokensPerPass,
  hardwareAwareIdealFromHistogram,
  meanDraftLength,
  passCost,
  textbookIdealSpeedup,
} from './ideal.js';
import type { PromptSetRun } from './run-set.js';
import { median } from './summary.js';

/** One repeat: a speculative run and the verifier-only run next to it. */
export interface PairedRun {
  readonly spec: PromptSetRun;
  readonly base: PromptSetRun;
}

/** The model costs the ideals use, in ms (medians of in-process measurements). */
export interface CostInputs {
  /** T_step: one verifier decode step. */
  readonly stepMs: number;
  /** T_draft: one draft decode step. */
  readonly draftStepMs: number;
  /** T_verify(k): one verifier pass over k + 1 tokens, for every draft length k the runs used. */
  readonly verifyMs: Readonly<Record<number, number>>;
}

/** What `analyzePairs` reports for one configuration. */
export interface PairAnalysis {
  readonly repeats: number;
  /** Decode-phase tokens/s, median over repeats. */
  readonly specTokensPerSecond: number;
  readonly baseTokensPerSecond: number;
  /** Median over repeats of each repeat's spec/base ratio (paired, so slow drift of the machine cancels). */
  readonly speedup: number;
  readonly perRepeat: ReadonlyArray<{ spec: number; base: number; ratio: number }>;
  /** Pooled over every speculative run. */
  readonly drafted: number;
  readonly accepted: number;
  readonly passes: number;
  readonly decodeTokens: number;
  /** accepted / drafted (the pipeline's `acceptanceRate`). */
  readonly acceptanceRate: number;
  /** Accepted per reached draft position: the α of the independence model (see `conditionalAcceptance`). */
  readonly conditionalAcceptance: number;
  /** Accepted draft tokens per pass. */
  readonly meanAcceptedLength: number;
  /** E: decode tokens per verifier pass (accepted + the correction or bonus; the prefill's token excluded). */
  readonly tokensPerPass: number;
  /** E predicted by (1 − α^(γ+1))/(1 − α) from `conditionalAcceptance` and the nominal γ (fixed γ only). */
  readonly tokensPerPassIid?: number;
  /** Acceptance by draft position (pooled): how often position i was drafted, and accepted. */
  readonly byPosition: ReadonlyArray<{ readonly drafted: number; readonly accepted: number }>;
  /** Per-pass draft lengths: `histogram[k]` = passes that drafted k tokens. */
  readonly histogram: Readonly<Record<number, number>>;
  /** γ̄: mean tokens drafted per pass. */
  readonly meanDraftLength: number;
  /** c = T_draft / T_step. */
  readonly costRatio: number;
  /** E / (γ̄·c + 1). */
  readonly textbookIdeal: number;
  /** tokens·T_step / Σ_passes (k·T_draft + T_verify(k)). */
  readonly hardwareAwareIdeal: number;
  /** speedup / hardwareAwareIdeal. */
  readonly fractionOfHardwareIdeal: number;
  /** Where a speculative pass's time went (ms per pass, median over repeats) against the ideal costs. */
  readonly perPass: {
    readonly draftMs: number;
    readonly verifyMs: number;
    readonly otherMs: number;
    readonly totalMs: number;
    readonly idealDraftMs: number;
    readonly idealVerifyMs: number;
    readonly idealTotalMs: number;
  };
  /** Verifier-only: measured ms per token (median over repeats) against T_step. */
  readonly basePerToken: { readonly measuredMs: number; readonly idealMs: number };
  /** Prompts where the speculative output differed from the verifier-only output, over all repeats. */
  readonly outputMismatches: number;
  readonly outputComparisons: number;
}

/**
 * Pools the speculative stats of all repeats (acceptance is a property of the models and prompts, not of the
 * timing) and takes medians of the timings.
 *
 * `nominalGamma` is the fixed γ of the runs, or undefined for the adaptive schedule.
 */
export function analyzePairs(pairs: readonly PairedRun[], costs: CostInputs, nominalGamma: number | undefined): PairAnalysis {
  if (pairs.length === 0) throw new Error('no runs to analyze');
  const perRepeat = pairs.map(({ spec, base }) => ({ spec: spec.tokensPerSecond, base: base.tokensPerSecond, ratio: spec.tokensPerSecond / base.tokensPerSecond }));

  let drafted = 0;
  let accepted = 0;
  let passes = 0;
  let decodeTokens = 0;
  const byPosition: Array<{ drafted: number; accepted: number }> = [];
  for (const { spec } of pairs) {
    decodeTokens += spec.decodeTokens;
    for (const s of spec.stats) {
      drafted += s.drafted;
      accepted += s.accepted;
      passes += s.verifierPasses;
      s.byPosition.forEach((p, i) => {
        const slot = (byPosition[i] ??= { drafted: 0, accepted: 0 });
        slot.drafted += p.drafted;
        slot.accepted += p.accepted;
      });
    }
  }
  const histogram = draftLengthHistogram(
    byPosition.map((p) => p.drafted),
    passes,
  );
  const gammaBar = meanDraftLength(histogram);
  const tokensPerPass = passes > 0 ? decodeTokens / passes : 0;
  const costRatio = costs.draftStepMs / costs.stepMs;
  const alphaCond = conditionalAcceptance(byPosition);
  const hardwareAwareIdeal = hardwareAwareIdealFromHistogram({ tokens: decodeTokens, histogram, ...costs });
  const speedup = median(perRepeat.map((r) => r.ratio));

  const perPassMs = (pick: (s: PromptSetRun['stats'][number]) => number) =>
    median(pairs.map(({ spec }) => spec.stats.reduce((sum, s) => sum + pick(s), 0) / Math.max(1, spec.stats.reduce((n, s) => n + s.verifierPasses, 0))));
  const idealVerifyMs = passCost(histogram, 0, costs.verifyMs);
  const idealDraftMs = gammaBar * costs.draftStepMs;

  let outputMismatches = 0;
  let outputComparisons = 0;
  for (const { spec, base } of pairs) {
    spec.tokens.forEach((tokens, i) => {
      outputComparisons++;
      const other = base.tokens[i] ?? [];
      if (tokens.length !== other.length || tokens.some((t, j) => t !== other[j])) outputMismatches++;
    });
  }

  return {
    repeats: pairs.length,
    specTokensPerSecond: median(perRepeat.map((r) => r.spec)),
    baseTokensPerSecond: median(perRepeat.map((r) => r.base)),
    speedup,
    perRepeat,
    drafted,
    accepted,
    passes,
    decodeTokens,
    acceptanceRate: drafted > 0 ? accepted / drafted : 0,
    conditionalAcceptance: alphaCond,
    meanAcceptedLength: passes > 0 ? accepted / passes : 0,
    tokensPerPass,
    ...(nominalGamma !== undefined ? { tokensPerPassIid: expectedTokensPerPass(alphaCond, nominalGamma) } : {}),
    byPosition,
    histogram,
    meanDraftLength: gammaBar,
    costRatio,
    textbookIdeal: textbookIdealSpeedup({ tokensPerPass, gamma: gammaBar, costRatio }),
    hardwareAwareIdeal,
    fractionOfHardwareIdeal: speedup / hardwareAwareIdeal,
    perPass: {
      draftMs: perPassMs((s) => s.timeMs.draft),
      verifyMs: perPassMs((s) => s.timeMs.verify),
      otherMs: perPassMs((s) => s.timeMs.other),
      totalMs: perPassMs((s) => s.timeMs.total - s.timeMs.prefill),
      idealDraftMs,
      idealVerifyMs,
      idealTotalMs: idealDraftMs + idealVerifyMs,
    },
    basePerToken: { measuredMs: median(pairs.map(({ base }) => base.decodeMs / base.decodeTokens)), idealMs: costs.stepMs },
    outputMismatches,
    outputComparisons,
  };
}
