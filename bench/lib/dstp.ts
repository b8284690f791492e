/**
 * The baseline to beat: node-llama-cpp's own speculative decoding, a `DraftSequenceTokenPredictor` on the
 * verifier's sequence, driven by `LlamaContextSequence.evaluate` in this process. It validates a drafted token by
 * sampling the verifier and checking for a match ("sample and match"), where specroute applies the
 * min(1, p/q) acceptance rule.
 */
import { DraftSequenceTokenPredictor, type LlamaContext, type LlamaContextSequence, type LlamaModel, type Token } from 'node-llama-cpp';
import { sharedLlama } from '../../src/backends/llama/llama-backend.js';
import type { SamplingParams } from '../../src/sampling/params.js';

/** The baseline's `minTokens` unless told otherwise (see `DstpOptions.minDraftTokens`). */
export const DEFAULT_DSTP_MIN_TOKENS = 1;

/** Options of `DstpBaseline.load`. */
export interface DstpOptions {
  readonly verifierPath: string;
  readonly draftPath: string;
  /** Threads of the verifier's context (set it: node-llama-cpp's default oversubscribes small machines). */
  readonly threads: number;
  /** Threads of the draft's context. */
  readonly draftThreads: number;
  /** Context size of both models. Defaults to `512`. */
  readonly contextSize?: number;
  /** The predictor's `maxTokens`: at most this many tokens drafted per round (our γ). */
  readonly maxDraftTokens: number;
  /**
   * The predictor's `minTokens`: the verifier waits until the draft has predicted this many tokens (or stopped).
   * node-llama-cpp's default, 0, lets the verifier go on without predictions whenever the draft lags, so the
   * baseline's result then depends on timing (with models as fast as stories260K it may judge no prediction at
   * all). 1 keeps every step speculative, and measured a little faster here (x16 verifier + Q8_0 draft, greedy,
   * threads 1: 70 tok/s against 68 at 0; 62 at 8).
   *
   * Defaults to `1`.
   */
  readonly minDraftTokens?: number;
  /**
   * The predictor's `minConfidence`: drafting stops below this draft probability. node-llama-cpp's default.
   *
   * Defaults to `0.6`.
   */
  readonly minConfidence?: number;
}

/** Token-prediction counts of one run (node-llama-cpp's `tokenPredictions`). */
export interface PredictionCounts {
  readonly validated: number;
  readonly refuted: number;
  readonly used: number;
  readonly unused: number;
}

/** One pass of the baseline over a prompt set, measured like `runPromptSet`. */
export interface DstpRun {
  readonly tokens: number[][];
  /** Tokens after each prompt's first (which comes with the prefill), summed. */
  readonly decodeTokens: number;
  readonly decodeMs: number;
  readonly tokensPerSecond: number;
  readonly wallMs: number;
  readonly predictions: PredictionCounts;
  /** validated / (validated + refuted): the share of drafted tokens the verifier confirmed. */
  readonly acceptanceRate: number;
}

export class DstpBaseline {
  private constructor(
    private readonly models: LlamaModel[],
    private readonly contexts: LlamaContext[],
    private readonly sequence: LlamaContextSequence,
  ) {}

  static async load(options: DstpOptions): Promise<DstpBaseline> {
    const llama = await sharedLlama();
    const contextSize = options.contextSize ?? 512;
    const verifier = await llama.loadModel({ modelPath: options.verifierPath, gpuLayers: 0 });
    const draft = await llama.loadModel({ modelPath: options.draftPath, gpuLayers: 0 });
    const create = (model: LlamaModel, threads: number) => model.createContext({ contextSize: Math.min(contextSize, model.trainContextSize), threads, flashAttention: false });
    const verifierContext = await create(verifier, options.threads);
    const draftContext = await create(draft, options.draftThreads);
    const sequence = verifierContext.getSequence({
      tokenPredictor: new DraftSequenceTokenPredictor(draftContext.getSequence(), {
        maxTokens: options.maxDraftTokens,
        minTokens: options.minDraftTokens ?? DEFAULT_DSTP_MIN_TOKENS,
        ...(options.minConfidence !== undefined ? { minConfidence: options.minConfidence } : {}),
      }),
    });
    return new DstpBaseline([verifier, draft], [verifierContext, draftContext], sequence);
  }

  /** Generates `maxTokens` tokens (EOS ignored) for each prompt in turn. */
  async run(prompts: ReadonlyArray<readonly number[]>, maxTokens: number, sampling: SamplingParams): Promise<DstpRun> {
    const started = performance.now();
    const before = { ...this.sequence.tokenPredictions };
    const tokens: number[][] = [];
    let decodeMs = 0;
    let decodeTokens = 0;
    for (const prompt of prompts) {
      await this.sequence.clearHistory();
      const ids: number[] = [];
      let firstAt = 0;
      const options =
        sampling.temperature <= 0
          ? { temperature: 0 }
          : { temperature: sampling.temperature, topK: sampling.topK, topP: sampling.topP, ...(sampling.seed !== undefined ? { seed: sampling.seed } : {}) };
      for await (const token of this.sequence.evaluate(prompt as Token[], options)) {
        ids.push(token);
        if (ids.length === 1) firstAt = performance.now();
        if (ids.length >= maxTokens) break;
      }
      decodeMs += performance.now() - firstAt;
      decodeTokens += ids.length - 1;
      tokens.push(ids);
    }
    const after = this.sequence.tokenPredictions;
    const predictions = {
      validated: after.validated - before.validated,
      refuted: after.refuted - before.refuted,
      used: after.used - before.used,
      unused: after.unused - before.unused,
    };
    const judged = predictions.validated + predictions.refuted;
    return {
      tokens,
      decodeTokens,
      decodeMs,
      tokensPerSecond: (decodeTokens * 1000) / decodeMs,
      wallMs: performance.now() - started,
      predictions,
      acceptanceRate: judged > 0 ? predictions.validated / judged : 0,
    };
  }

  async dispose(): Promise<void> {
    for (const context of this.contexts) await context.dispose();
    for (const model of this.models) await model.dispose();
  }
}
