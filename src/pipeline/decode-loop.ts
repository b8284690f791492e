import type { PositionScores, ScoreRequest } from '../backends/types.js';
import type { DraftResult, DraftTask } from '../workers/protocol.js';
import { abortReason } from '../errors/registry.js';
import type { TokenSource } from '../events/token-event.js';
import type { SamplingParams } from '../sampling/params.js';
import type { SpeculationOptions } from './adaptive-draft-length.js';
import type { StatsRecorder } from './stats.js';
import type { RequestGrammar } from './request-grammar.js';

/** One token as a decoding loop emits it, before text assembly. */
export interface EmittedToken {
  readonly token: number;
  readonly source: TokenSource;
  /** The verifier's scores at the position this token fills; null for a token the grammar forced (no model was asked). */
  readonly scores: PositionScores | null;
  /**
   * Its place in the speculative step that wrote it: the k-th drafted token at k - 1 (0 for the first), and the
   * verifier's correction or bonus after k accepted tokens at k. Absent for a token no draft stood for (the first
   * token, a plain step, frontier and grammar tokens).
   */
  readonly position?: number;
}

/**
 * Sent back into a decoding loop for the block it just yielded: keep only its first `cut` tokens, append the
 * `splice` (frontier tokens, re-tokenized locally), and go on from there. The loop then yields the splice
 * (with the verifier's scores for it) as a block of its own.
 */
export interface LoopCommand {
  readonly cut: number;
  readonly splice: readonly number[];
}

/** A decoding loop: yields blocks of tokens; `next(command)` may rewrite the block just yielded. */
export type DecodeLoop = AsyncGenerator<EmittedToken[], void, LoopCommand | undefined>;

export interface LoopContext {
  readonly prompt: readonly number[];
  readonly maxTokens: number;
  readonly sampling: SamplingParams;
  readonly stopTokens: readonly number[];
  topLogprobs: number;
  readonly speculation: SpeculationOptions;
  readonly stats: StatsRecorder;
  readonly signal: AbortSignal | undefined;
  /** The request's grammar (`response_format`), whose forced tokens the loop emits; absent for free text. */
  readonly grammar?: RequestGrammar;
  /** The lock-step step the loop runs in; absent when requests step on their own. */
  step?: LoopStep;
}

/**
 * What the speculative loop asks of a model's sequence: a `WorkerSequence` itself, or the same sequence stepping in
 * lock-step with the other requests (`StepMember.sequence`).
 */
export interface LoopSequence {
  /** `WorkerSequence.evaluate`. */
  evaluate(keep: number, tokens: readonly number[], scoreLast: number, request: ScoreRequest): Promise<PositionScores[]>;
  /** `WorkerSequence.draft`. */
  draft(task: Omit<DraftTask, 'op' | 'slot'>): Promise<DraftResult>;
}

/** What a loop stepping in lock-step learns from its step, and tells it. */
export interface LoopStep {
  /** The largest γ this step may draft (by load); `Infinity` when none is set. */
  gammaCeiling(): number;
  /** A speculative block: `drafted` proposed, `accepted` kept. */
  block(drafted: number, accepted: number): void;
}

/** Throws the abort reason as a registry error. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortReason(signal);
}

/** Score request shared by the loops: the sampling shape, and enough top tokens for logprobs and entropy. */
export function scoreRequest(ctx: LoopContext): { sampling: LoopContext['sampling']; topLogprobs: number } {
  return { sampling: ctx.sampling, topLogprobs: Math.max(1, ctx.topLogprobs) };
}
