/**
 * Scores read straight from the logits llama.cpp has just computed (docs/ARCHITECTURE.md#reading-logits-in-place).
 *
 * node-llama-cpp's `controlledEvaluate` makes a sampler per call and runs one asynchronous sampling task on the
 * thread pool per scored position; in a lock-step pass of 16 one-token sequences that costs as much as the
 * llama_decode itself. Here the same evaluation goes through the sequence's `_decodeTokens` (what
 * `controlledEvaluate` calls: node-llama-cpp still batches every sequence's tokens into one llama_decode) with a
 * synchronous mapper, which node-llama-cpp calls for each scored position right after that decode and before the
 * next, while the row is valid; the mapper reads the row in place through the specroute_llama_logits addon.
 *
 * `_ctx`, `_decodeTokens`, `_tokenMeter`, `_contextShift` and `_takeIntervalCheckpointIfNeededAfterBatch` are
 * node-llama-cpp's private API (pinned at 3.22.1 in package.json). `attach` checks the context's `_ctx` and that the
 * addon reads it correctly, `supports` that a sequence has the first three of its own (the checkpoint hook is passed
 * on as found, as `controlledEvaluate` does); the backend keeps `controlledEvaluate` otherwise.
 */
import type { LlamaContext, LlamaContextSequence, Token } from 'node-llama-cpp';
import type { TokenLogprob } from '../../events/token-logprob.js';
import { llamaLogitsAddon, type LlamaLogitsAddon } from '../../native/llama-logits.js';

/** node-llama-cpp's evaluation priority when none is given (`defaultEvaluationPriority`). */
const DEFAULT_PRIORITY = 5;

/** The private members of node-llama-cpp's `LlamaContextSequence` this path drives. */
interface SequenceInternals {
  _decodeTokens<T>(
    tokens: Token[],
    logits: boolean[],
    evaluationPriority: number,
    tokenMeter: unknown,
    contextShiftOptions: { size: unknown; strategy: unknown },
    logitDataMapper: (batchLogitIndex: number, tokenIndex: number) => T,
    afterBatchAction?: unknown,
  ): Promise<Array<T | undefined>>;
  readonly _tokenMeter: unknown;
  readonly _contextShift: { size: unknown; strategy: unknown };
  readonly _takeIntervalCheckpointIfNeededAfterBatch: unknown;
}

function internalsOf(sequence: LlamaContextSequence): SequenceInternals | undefined {
  const s = sequence as unknown as Partial<SequenceInternals>;
  if (typeof s._decodeTokens !== 'function' || s._tokenMeter == null || s._contextShift == null) return undefined;
  return s as SequenceInternals;
}

/** Reads one scored position's row: what `score` gets, valid only during that call. */
export interface LogitsRow {
  /** The `k` most likely tokens with raw log-probabilities, most likely first (lowest id on ties). */
  top(k: number): TokenLogprob[];
  /** A copy of the whole row of logits (the caller owns it). */
  copy(): Float32Array;
}

/** A context whose logits are read in place. */
export class InPlaceLogits {
  private constructor(
    private readonly addon: LlamaLogitsAddon,
    private readonly native: object,
    private readonly vocabSize: number,
  ) {}

  /**
   * Attaches to `context` (made with `sequences` sequences), or says why its logits cannot be read in place: the
   * addon is not built or turned off, node-llama-cpp's private API or its native layout is not the expected one.
   */
  static attach(context: LlamaContext, sequences: number, vocabSize: number): InPlaceLogits | { reason: string } {
    const loaded = llamaLogitsAddon();
    if ('reason' in loaded) return loaded;
    const native = (context as unknown as { _ctx?: unknown })._ctx;
    if (typeof native !== 'object' || native === null) return { reason: "node-llama-cpp's context has no native object (_ctx)" };
    const reason = loaded.addon.probe(native, context.contextSize * sequences, sequences);
    if (reason !== null) return { reason };
    return new InPlaceLogits(loaded.addon, native, vocabSize);
  }

  /** Whether `sequence` has the private API this path drives. */
  supports(sequence: LlamaContextSequence): boolean {
    return internalsOf(sequence) !== undefined;
  }

  /**
   * Evaluates `tokens` on `sequence` (appended at its end) and scores every position from `firstScored` on with
   * `score` (given the position's index in `tokens`), called synchronously for each right after the decode that
   * computed it. Returns the scores in order.
   */
  async evaluate<T>(sequence: LlamaContextSequence, tokens: readonly number[], firstScored: number, score: (row: LogitsRow, position: number) => T): Promise<T[]> {
    const internals = internalsOf(sequence);
    if (!internals) throw new Error("in-place logits: node-llama-cpp's sequence lacks _decodeTokens");
    const flags = tokens.map((_, i) => i >= firstScored);
    const { addon, native, vocabSize } = this;
    const results = await internals._decodeTokens(
      tokens as Token[],
      flags,
      DEFAULT_PRIORITY,
      internals._tokenMeter,
      { size: internals._contextShift.size, strategy: internals._contextShift.strategy },
      (batchIndex, position) =>
        score({
          top(k) {
            const ids = new Int32Array(Math.max(1, Math.min(k, vocabSize)));
            const logprobs = new Float64Array(ids.length);
            const count = addon.top(native, batchIndex, vocabSize, ids, logprobs);
            return Array.from({ length: count }, (_, i) => ({ token: ids[i]!, logprob: logprobs[i]! }));
          },
          copy() {
            const out = new Float32Array(vocabSize);
            addon.copy(native, batchIndex, out);
            return out;
          },
        }, position),
      internals._takeIntervalCheckpointIfNeededAfterBatch,
    );
    const scores: T[] = [];
    for (let i = firstScored; i < tokens.length; i++) {
      const value = results[i];
      if (value === undefined) throw new Error(`in-place logits: no scores at position ${i}`);
      scores.push(value);
    }
    return scores;
  }
}
