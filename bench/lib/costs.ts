/**
 * In-process measurement of the model costs the ideal speed-ups need (see ./ideal.ts):
 * - T_step: one decode step of a model (one token in, its next-token scores out);
 * - T_verify(k): one batched verifier pass over k + 1 tokens, all scored (the uncommitted token plus k drafts),
 *   including the roll-back of the previous pass's rejected tokens, as the speculative pipeline does.
 *
 * Measured on the main thread straight on a `BackendSequence` (no worker, no messages), greedy, with the same
 * score request the pipeline makes at temperature 0, at the positions a generation visits (after a real prompt),
 * after a warm-up walk. Only one thing runs at a time: run these while no generation is in flight.
 */
import { loadBackend } from '../../src/backends/load-backend.js';
import type { BackendSequence, ModelBackend, ModelLoadOptions, PositionScores, ScoreRequest } from '../../src/backends/types.js';
import { summarize, type Summary } from './summary.js';

/** The score request of greedy decoding with one top log-probability: what the pipeline asks for at temperature 0. */
export const greedyScoreRequest: ScoreRequest = { sampling: { temperature: 0, topK: 0, topP: 1, minP: 0 }, topLogprobs: 1 };

function argmax(scores: PositionScores): number {
  if (scores.kind === 'greedy') return scores.token;
  let best = 0;
  for (let t = 1; t < scores.probs.length; t++) if (scores.probs[t]! > scores.probs[best]!) best = t;
  return best;
}

/** Options of `measureDecodeStep`. */
export interface DecodeStepOptions {
  /** The prompt's tokens (BOS included), prefilled before each walk (untimed). */
  prefix: readonly number[];
  /** Decode steps timed per walk: the generation length to mimic. */
  steps: number;
  /** Timed walks. Defaults to `3`. */
  repeats?: number;
  /** Untimed walks first. Defaults to `1`. */
  warmup?: number;
  /** Score request. Defaults to `greedyScoreRequest`. */
  request?: ScoreRequest;
}

/** What `measureDecodeStep` returns. */
export interface DecodeStepResult {
  /** Per-step times in ms over all timed walks. */
  readonly summary: Summary;
  readonly samplesMs: number[];
  /** The greedy continuation the walk decoded (`steps` tokens). */
  readonly continuation: number[];
}

/**
 * T_step (or T_draft for a draft model): times single-token greedy decode steps. Each walk rolls the sequence
 * back, prefills `prefix`, then decodes `steps` tokens one at a time, timing each `evaluate` call.
 */
export async function measureDecodeStep(seq: BackendSequence, options: DecodeStepOptions): Promise<DecodeStepResult> {
  const { prefix, steps, repeats = 3, warmup = 1, request = greedyScoreRequest } = options;
  const samplesMs: number[] = [];
  let continuation: number[] = [];
  for (let walk = 0; walk < warmup + repeats; walk++) {
    const timed = walk >= warmup;
    let [scores] = await seq.evaluate(0, prefix, 1, request);
    const produced: number[] = [];
    for (let i = 0; i < steps && scores; i++) {
      const token = argmax(scores);
      produced.push(token);
      const t0 = performance.now();
      [scores] = await seq.evaluate(seq.length, [token], 1, request);
      const dt = performance.now() - t0;
      if (timed) samplesMs.push(dt);
    }
    continuation = produced;
  }
  return { summary: summarize(samplesMs), samplesMs, continuation };
}

/** Options of `measureBatchedPass`. */
export interface BatchedPassOptions {
  /** The prompt's tokens (BOS included), prefilled before each walk (untimed). */
  prefix: readonly number[];
  /** Tokens to walk over after the prefix (a real continuation, e.g. `DecodeStepResult.continuation`). */
  continuation: readonly number[];
  /** Tokens per pass, all scored: γ + 1 for a draft of γ tokens. */
  width: number;
  /** Positions advanced between passes: 1 ≤ stride ≤ width. Defaults to `1`. */
  stride?: number;
  /** Timed walks. Defaults to `2`. */
  repeats?: number;
  /** Untimed walks first. Defaults to `1`. */
  warmup?: number;
  /** Score request. Defaults to `greedyScoreRequest`. */
  request?: ScoreRequest;
}

/**
 * T_verify(width − 1): times batched passes of `width` tokens, all scored, walking along `continuation`. Each pass
 * keeps what the previous one committed (`stride` of its tokens) and erases the rest, exactly the pipeline's
 * keep-accepted-prefix-and-roll-back pattern, so the timing includes that roll-back.
 */
export async function measureBatchedPass(seq: BackendSequence, options: BatchedPassOptions): Promise<{ summary: Summary; samplesMs: number[] }> {
  const { prefix, continuation, width, stride = 1, repeats = 2, warmup = 1, request = greedyScoreRequest } = options;
  if (width < 1) throw new RangeError(`width must be at least 1, got ${width}`);
  if (stride < 1 || stride > width) throw new RangeError(`stride must be in [1, width=${width}], got ${stride}`);
  if (continuation.length < width) throw new RangeError(`the continuation (${continuation.length} tokens) is shorter than one pass (${width})`);
  const samplesMs: number[] = [];
  for (let walk = 0; walk < warmup + repeats; walk++) {
    const timed = walk >= warmup;
    await seq.evaluate(0, prefix, 0, request);
    for (let p = 0; p + width <= continuation.length; p += stride) {
      const tokens = continuation.slice(p, p + width);
      const t0 = performance.now();
      await seq.evaluate(prefix.length + p, tokens, width, request);
      const dt = performance.now() - t0;
      if (timed) samplesMs.push(dt);
    }
  }
  return { summary: summarize(samplesMs), samplesMs };
}

/** One model of a `measureCosts` set. */
export interface CostModel {
  /** Key of its result, e.g. `verifier` or a draft's label. */
  id: string;
  /** How to load it (set `threads` as the pipeline's workers do). */
  load: ModelLoadOptions;
  /** Draft lengths k to time T_verify(k) for (a pass over k + 1 tokens). Empty for a draft model. */
  verifyDraftLengths: readonly number[];
}

/** Options of `measureCosts`. */
export interface CostOptions {
  models: readonly CostModel[];
  /** Prompt text; tokenized with each model's tokenizer, BOS prepended when it has one. */
  prompt: string;
  /** Generation length to mimic (decode steps per walk; the verify walks cover the same positions). */
  steps: number;
  /** Timed rounds. Defaults to `3`. */
  rounds?: number;
  /** Untimed rounds first. Defaults to `2`. */
  warmupRounds?: number;
  /** Called with a line of progress. */
  onProgress?: (line: string) => void;
}

/** A model's measured costs (milliseconds per call). */
export interface ModelCosts {
  /** One decode step: T_step for the verifier, T_draft for a draft. */
  readonly step: Summary;
  /** T_verify(k) by draft length k: one batched pass over k + 1 tokens. */
  readonly verify: Readonly<Record<number, Summary>>;
  /** Tokens in the measured prompt. */
  readonly promptTokens: number;
}

/**
 * Loads every model in-process with its backend (`loadBackend`: llama.cpp or ONNX; one sequence each) and times, in rounds, each model's decode
 * step and each requested batched pass: one walk of each per round, round-robin across models and widths, so slow
 * drift of the machine (frequency, noisy neighbours) hits every measurement alike and their ratios stay fair. The
 * first `warmupRounds` rounds are untimed (the first walks run ~10% slow). Disposes the models. The medians are
 * what the ideals use.
 */
export async function measureCosts(options: CostOptions): Promise<Record<string, ModelCosts>> {
  const { rounds = 3, warmupRounds = 2 } = options;
  const loaded: Array<{ model: CostModel; backend: ModelBackend; seq: BackendSequence; prefix: number[]; widths: number[] }> = [];
  try {
    for (const model of options.models) {
      const backend = await loadBackend(model.load);
      let seq: BackendSequence;
      try {
        seq = backend.openSequence();
      } catch (error) {
        await backend.dispose();
        throw error;
      }
      const prefix = [...(backend.info.bos !== null ? [backend.info.bos] : []), ...backend.tokenize(options.prompt)];
      const widths = [...new Set(model.verifyDraftLengths)].sort((a, b) => a - b).map((k) => k + 1);
      loaded.push({ model, backend, seq, prefix, widths });
    }
    const steps = new Map<string, number[]>(loaded.map((m) => [m.model.id, []]));
    const passes = new Map<string, number[]>();
    for (let round = 0; round < warmupRounds + rounds; round++) {
      const timed = round >= warmupRounds;
      for (const m of loaded) {
        const step = await measureDecodeStep(m.seq, { prefix: m.prefix, steps: options.steps, repeats: 1, warmup: 0 });
        if (timed) steps.get(m.model.id)!.push(...step.samplesMs);
        for (const width of m.widths) {
          const pass = await measureBatchedPass(m.seq, { prefix: m.prefix, continuation: step.continuation, width, repeats: 1, warmup: 0 });
          const key = `${m.model.id}\u0000${width}`;
          if (timed) passes.set(key, [...(passes.get(key) ?? []), ...pass.samplesMs]);
        }
      }
      options.onProgress?.(`${timed ? 'round' : 'warm-up round'} ${timed ? round - warmupRounds + 1 : round + 1}/${timed ? rounds : warmupRounds}`);
    }
    return Object.fromEntries(
      loaded.map((m) => [
        m.model.id,
        {
          step: summarize(steps.get(m.model.id)!),
          verify: Object.fromEntries(m.widths.map((w) => [w - 1, summarize(passes.get(`${m.model.id}\u0000${w}`) ?? [])])),
          promptTokens: m.prefix.length,
        },
      ]),
    );
  } finally {
    for (const m of loaded.reverse()) {
      await m.seq.dispose();
      await m.backend.dispose();
    }
  }
}
