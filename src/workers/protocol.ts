/**
 * The messages between the main thread and a model worker. Every task is a plain object; results come back as
 * the task's value, except `decode`, which streams token batches over a MessagePort while it runs.
 *
 * Cancellation is cooperative: each sequence has a slot in a shared Int32Array of flags. The main thread sets
 * the flag; the worker checks it between evaluation steps. (Aborting a running piscina task would kill the
 * thread and the model in it: docs/ARCHITECTURE.md#piscina-abort-kills-the-worker.)
 */
import type { MessagePort } from 'node:worker_threads';
import type { PromptSignals } from '../contract/router-features.js';
import type { ModelInfo, ModelLoadOptions, PositionScores, ScoreRequest } from '../backends/types.js';
import type { WarpParams } from '../sampling/params.js';
import type { TokenDist } from '../sampling/token-dist.js';
import type { GrammarSpec } from '../grammar/grammar-spec.js';

export interface LoadTask {
  readonly op: 'load';
  readonly options: ModelLoadOptions;
  /** One Int32 flag per sequence slot: non-zero asks the worker to stop that sequence's loop. */
  readonly cancelFlags: SharedArrayBuffer;
}

export interface OpenTask {
  readonly op: 'open';
}

export interface StatsTask {
  readonly op: 'stats';
}

export interface CloseTask {
  readonly op: 'close';
  readonly slot: number;
}

/** Roll the sequence back to `keep` tokens, append `tokens`, and score the last `scoreLast` of them. */
export interface EvaluateTask {
  readonly op: 'evaluate';
  readonly slot: number;
  readonly keep: number;
  readonly tokens: readonly number[];
  readonly scoreLast: number;
  readonly request: ScoreRequest;
}

/**
 * Constrain a sequence's output to a grammar from token index `start` on (the prompt's length): from then on the
 * worker masks every position it scores in that sequence, and the grammar's state follows the sequence's tokens,
 * rolled back with its cache (docs/ARCHITECTURE.md#structured-output). Lasts until the sequence is closed.
 */
export interface ConstrainTask {
  readonly op: 'constrain';
  readonly slot: number;
  readonly spec: GrammarSpec;
  readonly start: number;
}

/**
 * The router's prompt signals of `tokens` (ModelBackend.promptSignals), computed in the worker: only scalars and
 * the embedding come back. It uses no sequence slot; `cancel` is its own flag (an Int32 in a SharedArrayBuffer),
 * non-zero once the caller gave up.
 */
export interface SignalsTask {
  readonly op: 'signals';
  readonly tokens: readonly number[];
  readonly cancel: SharedArrayBuffer;
}

/** What the generating tasks share: roll the sequence back to `keep`, append `tokens`, then produce up to `maxTokens`. */
interface GeneratingTask {
  readonly slot: number;
  readonly keep: number;
  readonly tokens: readonly number[];
  readonly maxTokens: number;
  readonly sampling: WarpParams;
  /** Seed of this task's random stream (forked from the request's). */
  readonly seed: number;
  /** Tokens after which generation stops (end of sequence). */
  readonly stopTokens: readonly number[];
}

/** Propose up to `maxTokens` draft tokens, one evaluation each. */
export interface DraftTask extends GeneratingTask {
  readonly op: 'draft';
  /**
   * Stop drafting when the draft's own probability of its next token falls below this (llama.cpp's
   * `--draft-p-min`). `0` never stops early.
   */
  readonly pMin: number;
}

export interface DraftResult {
  readonly tokens: number[];
  /** The draft's distribution at each drafted position: what each token was drawn from. */
  readonly q: TokenDist[];
}

/** Plain decoding: generate up to `maxTokens`, streaming token batches on `port`. */
export interface DecodeTask extends GeneratingTask {
  readonly op: 'decode';
  readonly topLogprobs: number;
  readonly port: MessagePort;
}

/** One message on a decode port: tokens generated since the last message, with their scores. */
export interface DecodeBatch {
  readonly tokens: number[];
  readonly scores: PositionScores[];
}

/**
 * One lock-step pass (docs/ARCHITECTURE.md#lock-step-steps): every item runs at once, so node-llama-cpp evaluates
 * them in shared batches: the evaluations in one batch, and the drafts one batch per draft position. Each item
 * succeeds or fails on its own.
 */
export interface StepTask {
  readonly op: 'step';
  readonly evaluate: readonly Omit<EvaluateTask, 'op'>[];
  readonly draft: readonly Omit<DraftTask, 'op'>[];
}

/** One item's outcome in a `step`: its result, or its error (as `encodeWorkerError` sends it). */
export type StepOutcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

/**
 * For tests of recovery only (nothing in the product sends it): the thread throws an uncaught error right after
 * answering, as a bug in the worker would, and so dies the way docs/ARCHITECTURE.md#workers-that-recover describes.
 */
export interface CrashForTestingTask {
  readonly op: 'crashForTesting';
}

export type WorkerTask = LoadTask | OpenTask | CloseTask | ConstrainTask | EvaluateTask | DraftTask | DecodeTask | StatsTask | SignalsTask | StepTask | CrashForTestingTask;

/**
 * Posted by a thread on its parent port (not as a task result) the moment it starts dying of an uncaught error:
 * the main thread stops sending it work at once, while it finishes its native work and exits.
 */
export interface DyingNotice {
  readonly specroute: 'dying';
  /** The uncaught error's message. */
  readonly reason: string;
}

export function isDyingNotice(message: unknown): message is DyingNotice {
  return typeof message === 'object' && message !== null && (message as Partial<DyingNotice>).specroute === 'dying';
}

export interface WorkerResults {
  load: ModelInfo;
  open: { slot: number };
  close: void;
  constrain: void;
  evaluate: PositionScores[];
  draft: DraftResult;
  decode: { generated: number };
  signals: PromptSignals;
  stats: { openSequences: number; batchSizes: Record<number, number> };
  step: { evaluate: StepOutcome<PositionScores[]>[]; draft: StepOutcome<DraftResult>[] };
  crashForTesting: void;
}
