/**
 * From measured costs to settings (docs/ARCHITECTURE.md#the-hardware-profile): the draft length for each batch
 * size, the batch size beyond which a step's throughput stops growing, and what memory holds. Pure arithmetic
 * over `src/pipeline/step-costs.ts`, the functions the server itself uses online, so that the profile recommends
 * exactly what the server would choose from the same curves.
 */
import { bestGamma, expectedTokensPerPass, gammaByBatchSize, stepCostsOf, stepRate, type PassTimePoint, type StepCosts } from '../pipeline/step-costs.js';

/** A larger batch must gain at least this much step throughput (as a share) to be worth recommending. */
export const KNEE_GAIN = 0.05;
/** `limits.maxConcurrent`'s upper bound in the config schema. */
export const MAX_CONCURRENT = 256;
/** Share of the free memory the KV caches may take (the rest: weights, compute buffers, the process). */
export const MEMORY_SHARE = 0.8;

/** One batch size's best step. */
export interface StepPoint {
  readonly batch: number;
  readonly gamma: number;
  /** Expected tokens per sequence per step, E(α, γ). */
  readonly tokensPerPass: number;
  /** γ·T_draft(B) + T_verify(B, B·(γ + 1)). */
  readonly stepMs: number;
  /** Tokens per second of the whole step: B · E / step time. */
  readonly tokensPerSecond: number;
}

/** The best step (by `bestGamma`) for a batch of `batch` sequences; γ is 0 without a draft. */
export function stepAt(batch: number, alpha: number, costs: StepCosts, maxGamma: number): StepPoint {
  const gamma = maxGamma > 0 ? bestGamma(batch, alpha, costs, maxGamma) : 0;
  const stepMs = gamma * costs.draft.at(batch) + costs.verify.at(batch, batch * (gamma + 1));
  return { batch, gamma, tokensPerPass: expectedTokensPerPass(alpha, gamma), stepMs, tokensPerSecond: stepRate(batch, gamma, alpha, costs) * 1000 };
}

/**
 * The batch size beyond which a step's throughput stops growing: the smallest of 1, 2, 4, …, `cap` whose step
 * throughput is within `KNEE_GAIN` of the best of them, so that no larger batch gains as much as that. Returns it
 * with the steps looked at. Past the largest measured pass the curves extend with their last slope, so a knee
 * found there is an extrapolation.
 */
export function throughputKnee(alpha: number, costs: StepCosts, maxGamma: number, cap: number): { batch: number; steps: StepPoint[] } {
  const limit = Math.max(1, Math.min(cap, MAX_CONCURRENT));
  const sizes: number[] = [];
  for (let b = 1; b < limit; b *= 2) sizes.push(b);
  sizes.push(limit);
  const steps = sizes.map((b) => stepAt(b, alpha, costs, maxGamma));
  const best = Math.max(...steps.map((s) => s.tokensPerSecond));
  const knee = steps.find((s) => s.tokensPerSecond * (1 + KNEE_GAIN) >= best)!;
  return { batch: knee.batch, steps };
}

/** How many sequences' KV caches fit in `budgetBytes` at `contextSize` tokens each (0 when not one does). */
export function sequencesThatFit(budgetBytes: number, contextSize: number, kvBytesPerToken: number): number {
  const perSequence = contextSize * kvBytesPerToken;
  if (perSequence <= 0) return MAX_CONCURRENT;
  return Math.max(0, Math.floor(budgetBytes / perSequence));
}

/** What the profile recommends. */
export interface Recommendation {
  readonly verifierThreads: number;
  /** Absent without a draft. */
  readonly draftThreads?: number;
  readonly maxConcurrent: number;
  /**
   * Why `maxConcurrent` is what it is: the throughput knee, the memory, the largest verifier pass measured (no
   * larger batch was judged), or the schema's cap.
   */
  readonly maxConcurrentBy: 'throughput' | 'memory' | 'measured' | 'limit';
  readonly contextSize: number;
  /** Sequences whose KV caches fit at `contextSize`. */
  readonly sequencesFit: number;
  /** Entry i: the γ for i + 1 sequences (all 0 without a draft). */
  readonly gammaByBatchSize: number[];
  /** The steps the knee was found on. */
  readonly steps: StepPoint[];
}

export interface RecommendInput {
  readonly alpha: number;
  readonly verify: readonly PassTimePoint[];
  readonly draft?: readonly PassTimePoint[];
  readonly verifierThreads: number;
  readonly draftThreads?: number;
  /** speculation.max: the largest γ. */
  readonly maxGamma: number;
  /** Batch sizes of the γ table. */
  readonly maxBatch: number;
  /** The context size the config asks for, and the smallest training context of the models. */
  readonly contextSize: number;
  readonly trainContextSize: number;
  /** Bytes a token takes in the KV caches of both models together. */
  readonly kvBytesPerToken: number;
  /** Memory the KV caches may take (`MEMORY_SHARE` of what is free, less the weights). */
  readonly memoryBudgetBytes: number;
}

export function recommend(input: RecommendInput): Recommendation {
  const costs = stepCostsOf({ verify: input.verify, draft: input.draft });
  const maxGamma = input.draft ? input.maxGamma : 0;
  const wanted = Math.min(input.contextSize, input.trainContextSize > 0 ? input.trainContextSize : Infinity);
  // A context no single sequence's cache fits in shrinks to what fits (at least 16 tokens, the schema's least).
  const fitsOne = input.kvBytesPerToken > 0 ? Math.floor(input.memoryBudgetBytes / input.kvBytesPerToken) : Infinity;
  const contextSize = Math.max(16, Math.min(wanted, fitsOne));
  const sequencesFit = sequencesThatFit(input.memoryBudgetBytes, contextSize, input.kvBytesPerToken);
  // Batches past the largest verifier pass measured would rank steps by the curve's extrapolation alone, where a
  // flat plateau of throughput makes the choice arbitrary: the search stops there.
  const measured = Math.max(...input.verify.map((p) => p.tokens));
  const cap = Math.max(1, Math.min(sequencesFit, MAX_CONCURRENT, measured));
  const knee = throughputKnee(input.alpha, costs, maxGamma, cap);
  const maxConcurrentBy = knee.batch < cap ? 'throughput' : cap === sequencesFit ? 'memory' : cap === measured ? 'measured' : 'limit';
  return {
    verifierThreads: input.verifierThreads,
    ...(input.draft && input.draftThreads !== undefined ? { draftThreads: input.draftThreads } : {}),
    maxConcurrent: knee.batch,
    maxConcurrentBy,
    contextSize,
    sequencesFit,
    gammaByBatchSize: input.draft ? gammaByBatchSize(input.maxBatch, input.alpha, costs, input.maxGamma) : new Array<number>(input.maxBatch).fill(0),
    steps: knee.steps,
  };
}
