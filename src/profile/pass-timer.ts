/**
 * Times the passes a served model makes, as the server makes them: through a model worker (`ModelWorker.step`, the
 * lock-step pass task: the worker thread, its scoring path and the round trip from the main thread), with the
 * options a served model is loaded with. A decode step (one token of one sequence), a verifier pass by the tokens
 * in it (spread over several sequences, every position scored), and a draft pass by its sequences (one token each).
 * Each figure is the median of at least `repeats` passes after `warmup` untimed ones (more for cheap passes: see
 * `MIN_FIGURE_MS`); every sequence holds a prompt first, and each pass rolls back what the one before appended, so
 * that every repeat starts from the same cache (docs/ARCHITECTURE.md#the-hardware-profile).
 */
import type { BatchSizeCounts } from '../backends/llama/batch-strategy.js';
import { LlamaTokenizer } from '../backends/llama/llama-tokenizer.js';
import type { PassTimePoint } from '../pipeline/step-costs.js';
import { SPREAD_SEQUENCES } from '../pipeline/step-costs.js';
import { SpecrouteError } from '../errors/registry.js';
import { ModelWorker, type WorkerSequence } from '../workers/model-worker-client.js';
import { openPrefilled, timeStep } from '../pipeline/step-timing.js';

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
  const tokenizer = await LlamaTokenizer.load(timing.modelPath);
  let textTokens: number[];
  try {
    const body = tokenizer.tokenize(timing.text);
    if (body.length === 0) throw new SpecrouteError('unsupported_model', `${timing.modelPath} turns text into no tokens: it cannot be timed`);
    textTokens = [...(tokenizer.bos !== null ? [tokenizer.bos] : []), ...body];
    while (textTokens.length < timing.promptTokens + 16) textTokens.push(...body);
  } finally {
    await tokenizer.dispose();
  }
  const options = { ...timing, prompt: textTokens.slice(0, timing.promptTokens), continuation: textTokens.slice(timing.promptTokens) };
  const isVerifier = options.role === 'verifier';
  const mostSequences = isVerifier ? VERIFY_SPREAD : Math.max(...DRAFT_SEQUENCES);
  const mostPerSequence = isVerifier ? Math.max(...VERIFY_TOKENS) / VERIFY_SPREAD : 1;
  const contextSize = options.prompt.length + mostPerSequence + 16;
  let batchedAsOne = true;
  const run = async <T>(threads: number, sequences: number, use: (timer: SequenceTimer) => Promise<T>): Promise<T> => {
    const load = { modelPath: options.modelPath, threads, contextSize, batchSize: options.batchSize, sequences, gpuLayers: options.gpuLayers, kvCacheType: options.kvCacheType };
    const worker = await ModelWorker.start(load, options.role);
    try {
      // Each sequence holds its own prompt (the same tokens after BOS, rotated), so that no two are the same text.
      const all = await openPrefilled(worker, Array.from({ length: sequences }, (_, i) => [options.prompt[0]!, ...rotate(options.prompt.slice(1), i)]));
      const timer = new SequenceTimer(worker, all, options);
      const result = await use(timer);
      batchedAsOne &&= timer.batchedAsOne;
      return result;
    } finally {
      await worker.dispose();
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
}

/** Times passes over a worker's sequences. */
class SequenceTimer {
  batchedAsOne = true;

  constructor(
    private readonly worker: ModelWorker,
    private readonly sequences: readonly WorkerSequence[],
    private readonly options: Pick<PassTimerOptions, 'warmup' | 'repeats'> & { readonly prompt: readonly number[]; readonly continuation: readonly number[] },
  ) {}

  /** Median ms of one token appended to the first sequence. */
  decodeStep(): Promise<number> {
    return this.repeat((i) => this.timedPass(i, [this.sequences[0]!], 1));
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
   * Median ms of a pass of `tokens` tokens spread evenly over `sequences` sequences, each scoring every position as
   * a verifier pass does, in one step task.
   */
  async pass(tokens: number, sequences = Math.min(tokens, this.sequences.length)): Promise<number> {
    const perSequence = Math.max(1, Math.floor(tokens / sequences));
    const taking = this.sequences.slice(0, sequences);
    return this.repeat(async (i) => {
      const before = (await this.worker.stats()).batchSizes;
      const ms = await this.timedPass(i, taking, perSequence);
      if (sequences > 1 && !oneBatchOf(before, (await this.worker.stats()).batchSizes, sequences)) this.batchedAsOne = false;
      return ms;
    });
  }

  /** One step appending `perSequence` tokens to each of `taking` after its prompt (rolling back the last pass's). */
  private timedPass(i: number, taking: readonly WorkerSequence[], perSequence: number): Promise<number> {
    const { prompt, continuation } = this.options;
    return timeStep(this.worker, taking, prompt.length, (k) => Array.from({ length: perSequence }, (_, j) => continuation[(i + k + j) % continuation.length]!));
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
