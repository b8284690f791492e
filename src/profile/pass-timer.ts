/**
 * Times the raw passes a served model makes, on node-llama-cpp in this process, with the options a request context
 * gets (`llamaContextOptions`): a decode step (one token of one sequence), a verifier pass by the tokens in it
 * (spread over several sequences, issued in the same tick so that node-llama-cpp evaluates them in one batch, as a
 * lock-step step does), and a draft pass by its sequences (one token each). Each figure is the median of at least
 * `repeats` passes after `warmup` untimed ones (more for cheap passes: see `MIN_FIGURE_MS`); every sequence holds a
 * prompt first, and what a pass appends is erased after it, so that every repeat starts from the same cache
 * (docs/ARCHITECTURE.md#the-hardware-profile).
 */
import type { LlamaContextSequence, LlamaModel, Token } from 'node-llama-cpp';
import { llamaContextOptions, sharedLlama } from '../backends/llama/llama-backend.js';
import type { BatchSizeCounts } from '../backends/llama/batch-strategy.js';
import { SpecrouteError } from '../errors/registry.js';
import type { PassTimePoint } from '../pipeline/step-costs.js';
import { SPREAD_SEQUENCES } from '../pipeline/step-costs.js';

/** Token counts of the verifier passes timed. */
export const VERIFY_TOKENS = [1, 2, 4, 8, 16, 32, 64, 128] as const;
/** Sequences of the draft passes timed (one token each). */
export const DRAFT_SEQUENCES = [1, 2, 4, 8, 16, 32] as const;
/**
 * Most sequences a verifier pass is spread over: T tokens go to min(T, this) sequences, T / that each. The step
 * costs read a profile's points without `sequences` the same way.
 */
export const VERIFY_SPREAD = SPREAD_SEQUENCES;
/** The batched pass that picks the verifier's threads: this many tokens over `VERIFY_SPREAD` sequences. */
export const THREADS_PROBE_TOKENS = 64;
/** A figure's timed runs go on past `repeats` until they add up to this many ms… */
export const MIN_FIGURE_MS = 60;
/** …or this many runs. */
export const MAX_REPEATS = 100;

/** How to time one model. */
export interface PassTimerOptions {
  readonly modelPath: string;
  readonly gpuLayers: number;
  readonly batchSize: number;
  readonly kvCacheType: 'F16' | 'F32';
  /** Thread counts to try, e.g. `[1, 2]`. */
  readonly threads: readonly number[];
  /**
   * Text whose tokens (with BOS where the model has one) fill each sequence before a timed pass, `promptTokens` of
   * them; the tokens after those are what the timed passes append (cycled).
   */
  readonly text: string;
  readonly promptTokens: number;
  /** Timed passes per figure (the median is kept). */
  readonly repeats: number;
  /** Untimed passes before them. */
  readonly warmup: number;
  /** `verifier`: the verify curve at the best threads for batched passes; `draft`: the draft curve at the best for a decode step. */
  readonly role: 'verifier' | 'draft';
}

/** One thread count's figures. */
export interface ThreadTiming {
  readonly threads: number;
  /** One token of one sequence. */
  readonly decodeMs: number;
  /** `THREADS_PROBE_TOKENS` tokens over `VERIFY_SPREAD` sequences (verifier only). */
  readonly batchedMs?: number;
}

/** What `timePasses` measured for one model. */
export interface ModelTimings {
  readonly threads: readonly ThreadTiming[];
  /** The fastest decode step's threads, and that step. */
  readonly decodeThreads: number;
  readonly decodeMs: number;
  /** The fastest batched pass's threads (the verifier's); the decode threads for a draft. */
  readonly batchedThreads: number;
  /** The verifier's passes by tokens (at `batchedThreads`), or the draft's by sequences (at `decodeThreads`). */
  readonly curve: ReadonlyArray<PassTimePoint & { readonly sequences: number }>;
  /**
   * Whether every timed pass of several sequences ran as one llama.cpp batch carrying all of them (counted by the
   * context's batch split). False means the times are of several smaller batches: the curve over-states a
   * batched step.
   */
  readonly batchedAsOne: boolean;
}

export async function timePasses(timing: PassTimerOptions): Promise<ModelTimings> {
  const llama = await sharedLlama();
  let model: LlamaModel;
  try {
    model = await llama.loadModel({ modelPath: timing.modelPath, gpuLayers: timing.gpuLayers });
  } catch (error) {
    throw new SpecrouteError('model_load_failed', `cannot load model ${timing.modelPath}: ${(error as Error).message}`, { cause: error });
  }
  try {
    const body = model.tokenize(timing.text);
    if (body.length === 0) throw new SpecrouteError('unsupported_model', `${timing.modelPath} turns text into no tokens: it cannot be timed`);
    const textTokens = [...(model.tokens.bos !== null ? [model.tokens.bos] : []), ...body];
    while (textTokens.length < timing.promptTokens + 16) textTokens.push(...body);
    const options = { ...timing, prompt: textTokens.slice(0, timing.promptTokens), continuation: textTokens.slice(timing.promptTokens) };
    const isVerifier = options.role === 'verifier';
    const mostSequences = isVerifier ? VERIFY_SPREAD : Math.max(...DRAFT_SEQUENCES);
    const mostPerSequence = isVerifier ? Math.max(...VERIFY_TOKENS) / VERIFY_SPREAD : 1;
    const contextSize = options.prompt.length + mostPerSequence + 16;
    let batchedAsOne = true;
    const run = async <T>(threads: number, sequences: number, use: (timer: SequenceTimer) => Promise<T>): Promise<T> => {
      const counts: BatchSizeCounts = {};
      const context = await model.createContext(llamaContextOptions(model, { contextSize, batchSize: options.batchSize, sequences, threads, kvCacheType: options.kvCacheType }, counts));
      try {
        const all = Array.from({ length: sequences }, () => context.getSequence());
        // Each sequence holds its own prompt (the same tokens after BOS, rotated), so that no two are the same text.
        await Promise.all(all.map((s, i) => s.evaluateWithoutGeneratingNewTokens([options.prompt[0]!, ...rotate(options.prompt.slice(1), i)] as Token[])));
        const timer = new SequenceTimer(all, counts, options);
        const result = await use(timer);
        batchedAsOne &&= timer.batchedAsOne;
        return result;
      } finally {
        await context.dispose();
      }
    };

    const threads: ThreadTiming[] = [];
    for (const t of options.threads) {
      threads.push(
        await run(t, isVerifier ? VERIFY_SPREAD : 1, async (timer) => ({
          threads: t,
          decodeMs: await timer.decodeStep(),
          ...(isVerifier ? { batchedMs: await timer.pass(THREADS_PROBE_TOKENS) } : {}),
        })),
      );
    }
    const fastest = (key: 'decodeMs' | 'batchedMs'): ThreadTiming => threads.reduce((a, b) => ((b[key] ?? Infinity) < (a[key] ?? Infinity) ? b : a));
    const decode = fastest('decodeMs');
    const batchedThreads = isVerifier ? fastest('batchedMs').threads : decode.threads;
    const curve = await run(batchedThreads, mostSequences, async (timer) => {
      const points: Array<PassTimePoint & { sequences: number }> = [];
      if (isVerifier) {
        for (const tokens of VERIFY_TOKENS) {
          const sequences = Math.min(tokens, VERIFY_SPREAD);
          points.push({ tokens, sequences, ms: await timer.pass(tokens, sequences) });
        }
      } else {
        for (const sequences of DRAFT_SEQUENCES) points.push({ tokens: sequences, sequences, ms: await timer.pass(sequences, sequences) });
      }
      return points;
    });
    return { threads, decodeThreads: decode.threads, decodeMs: decode.decodeMs, batchedThreads, curve, batchedAsOne };
  } finally {
    await model.dispose();
  }
}

/** Times passes over a context's sequences. */
class SequenceTimer {
  batchedAsOne = true;

  constructor(
    private readonly sequences: readonly LlamaContextSequence[],
    private readonly counts: BatchSizeCounts,
    private readonly options: Pick<PassTimerOptions, 'warmup' | 'repeats'> & { readonly continuation: readonly number[] },
  ) {}

  /** Median ms of one token appended to the first sequence (erased after each). */
  async decodeStep(): Promise<number> {
    const sequence = this.sequences[0]!;
    const { continuation } = this.options;
    return this.repeat(async (i) => {
      const token = continuation[i % continuation.length]! as Token;
      const t0 = performance.now();
      await sequence.controlledEvaluate([[token, { generateNext: { token: true, confidence: true } }]]);
      const ms = performance.now() - t0;
      await sequence.eraseContextTokenRanges([{ start: sequence.nextTokenIndex - 1, end: sequence.nextTokenIndex }]);
      return ms;
    });
  }

  /**
   * The median of `measure(i)` over `warmup` untimed and then at least `repeats` timed runs, more while the timed
   * runs add up to less than `MIN_FIGURE_MS` (cheap passes are noisy: a tiny model's figure needs dozens).
   */
  private async repeat(measure: (i: number) => Promise<number>): Promise<number> {
    const { warmup, repeats } = this.options;
    const times: number[] = [];
    let spent = 0;
    for (let i = 0; i < warmup; i++) await measure(i);
    for (let i = warmup; times.length < repeats || (spent < MIN_FIGURE_MS && times.length < MAX_REPEATS); i++) {
      const ms = await measure(i);
      times.push(ms);
      spent += ms;
    }
    return median(times);
  }

  /**
   * Median ms of a pass of `tokens` tokens spread evenly over `sequences` sequences (each scoring every position,
   * as a verifier pass does), all issued in the same tick; the appended tokens are erased after each.
   */
  async pass(tokens: number, sequences = Math.min(tokens, this.sequences.length)): Promise<number> {
    const perSequence = Math.max(1, Math.floor(tokens / sequences));
    const taking = this.sequences.slice(0, sequences);
    const { continuation } = this.options;
    return this.repeat(async (i) => {
      const before = { ...this.counts };
      const t0 = performance.now();
      await Promise.all(
        taking.map((s, k) =>
          s.controlledEvaluate(
            Array.from({ length: perSequence }, (_, j) => [continuation[(i + k + j) % continuation.length]! as Token, { generateNext: { token: true, confidence: true } }] as const),
          ),
        ),
      );
      const ms = performance.now() - t0;
      if (sequences > 1 && !oneBatchOf(before, this.counts, sequences)) this.batchedAsOne = false;
      await Promise.all(taking.map((s) => s.eraseContextTokenRanges([{ start: s.nextTokenIndex - perSequence, end: s.nextTokenIndex }])));
      return ms;
    });
  }
}

/** Whether exactly one batch ran between the two counts, carrying `sequences` sequences. */
function oneBatchOf(before: BatchSizeCounts, after: BatchSizeCounts, sequences: number): boolean {
  let batches = 0;
  for (const [size, n] of Object.entries(after)) {
    const added = n - (before[Number(size)] ?? 0);
    if (added === 0) continue;
    if (Number(size) !== sequences) return false;
    batches += added;
  }
  return batches === 1;
}

function rotate<T>(items: readonly T[], by: number): T[] {
  if (items.length === 0) return [];
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
