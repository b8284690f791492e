import { getLlama, LlamaLogLevel, type Llama, type LlamaContext, type LlamaContextOptions, type LlamaContextSequence, type LlamaModel, type Token } from 'node-llama-cpp';
import type { PromptSignals } from '../../contract/router-features.js';
import { SpecrouteError } from '../../errors/registry.js';
import { readGgufHeader } from '../../models/gguf/gguf-reader.js';
import { kernels } from '../../native/kernels.js';
import { denseScores, scoresFromLogits } from '../scores.js';
import { grammarVocabularyOf, type GgufTokenizerMetadata, type GrammarVocabulary } from '../../grammar/grammar-vocabulary.js';
import { allowedTokens, isAllowed, type TokenMask } from '../../sampling/token-mask.js';
import { countingFairShareStrategy, type BatchSizeCounts } from './batch-strategy.js';
import { InPlaceLogits } from './in-place-logits.js';
import { RoutingContext, routingPooling, type RoutingPooling } from './routing-context.js';
import { quietVocabOnlyNoise } from './vocab-only-noise.js';
import type { BackendSequence, ModelBackend, ModelInfo, ModelLoadOptions, PositionScores, PromptSignalsOptions, ScoreRequest } from '../types.js';

let llamaPromise: Promise<Llama> | undefined;

/** One llama.cpp binding per thread, CPU-only unless layers are offloaded. */
export function sharedLlama(): Promise<Llama> {
  llamaPromise ??= getLlama({ gpu: 'auto', logLevel: LlamaLogLevel.error, build: 'never', progressLogs: false }).then(quietVocabOnlyNoise);
  return llamaPromise;
}

/**
 * The options every request context is created with: `contextSize` per sequence capped at the training context,
 * the given threads, flash attention off (docs/ARCHITECTURE.md#f16-kv-cache-and-flash-attention), and the batch
 * split that counts sequences per batch into `batchSizes`.
 */
export function llamaContextOptions(
  model: LlamaModel,
  options: Pick<ModelLoadOptions, 'contextSize' | 'batchSize' | 'sequences' | 'threads' | 'kvCacheType'>,
  batchSizes: BatchSizeCounts,
): LlamaContextOptions {
  return {
    contextSize: Math.min(options.contextSize, model.trainContextSize),
    batchSize: options.batchSize,
    sequences: options.sequences,
    threads: options.threads,
    flashAttention: false,
    ...(options.kvCacheType !== 'F16' ? { experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32' } : {}),
    batching: { itemPrioritizationStrategy: countingFairShareStrategy(batchSizes) },
  };
}

/**
 * A GGUF model under node-llama-cpp: one context with `sequences` sequences for requests, and, from the first
 * `promptSignals` call on, a routing context of its own (routing-context.ts).
 */
export class LlamaBackend implements ModelBackend {
  readonly info: ModelInfo;
  private disposed = false;
  private routing: Promise<RoutingContext> | undefined;
  /** Reads scores in place when it can (in-place-logits.ts); `undefined` keeps node-llama-cpp's sampler. */
  private readonly inPlace: InPlaceLogits | undefined;

  private constructor(
    private readonly model: LlamaModel,
    private readonly context: LlamaContext,
    /** Sequences per evaluation batch since load: size → batches. */
    readonly batchSizes: BatchSizeCounts,
    private readonly options: ModelLoadOptions,
    pooling: RoutingPooling['pooling'],
  ) {
    const tokens = model.tokens;
    const vocabSize = vocabularySize(model);
    const attached = options.inPlaceLogits === false ? { reason: 'inPlaceLogits: false' } : InPlaceLogits.attach(context, options.sequences, vocabSize);
    this.inPlace = attached instanceof InPlaceLogits ? attached : undefined;
    const meta = model.fileInfo.metadata as { general?: { architecture?: string; name?: string } };
    this.info = {
      vocabSize,
      bos: tokens.bos ?? null,
      eos: tokens.eos ?? null,
      contextSize: context.contextSize,
      trainContextSize: model.trainContextSize,
      architecture: String(meta.general?.architecture ?? 'unknown'),
      name: String(meta.general?.name ?? ''),
      embeddingDims: model.embeddingVectorSize,
      embeddingPooling: pooling,
      scoring: attached instanceof InPlaceLogits ? { path: 'in-place' } : { path: 'sampler', reason: attached.reason },
    };
  }

  static async load(options: ModelLoadOptions): Promise<LlamaBackend> {
    const llama = await sharedLlama();
    let model: LlamaModel;
    let pooling: RoutingPooling;
    try {
      // The pooling of the routing context's embedding is a model parameter in llama.cpp (routing-context.ts).
      pooling = routingPooling(await readGgufHeader(options.modelPath));
      model = await llama.loadModel({
        modelPath: options.modelPath,
        gpuLayers: options.gpuLayers,
        ...(pooling.metadataOverrides ? { metadataOverrides: pooling.metadataOverrides } : {}),
      });
    } catch (error) {
      throw new SpecrouteError('model_load_failed', `cannot load model ${options.modelPath}: ${(error as Error).message}`, {
        param: 'modelPath',
        cause: error,
      });
    }
    try {
      const batchSizes: BatchSizeCounts = {};
      const context = await model.createContext(llamaContextOptions(model, options, batchSizes));
      return new LlamaBackend(model, context, batchSizes, options, pooling.pooling);
    } catch (error) {
      await model.dispose();
      throw new SpecrouteError('model_load_failed', `cannot create a context for ${options.modelPath}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  tokenize(text: string, specialTokens = false): number[] {
    return this.model.tokenize(text, specialTokens);
  }

  grammarVocabulary(): GrammarVocabulary | undefined {
    return grammarVocabularyOfModel(this.model);
  }

  detokenize(tokens: readonly number[], lastTokens?: readonly number[]): string {
    return this.model.detokenize(tokens as Token[], false, lastTokens as Token[] | undefined);
  }

  openSequence(): BackendSequence {
    if (this.context.sequencesLeft === 0) throw new SpecrouteError('overloaded', 'no free sequence in the model context');
    const sequence = this.context.getSequence();
    return new LlamaSequence(sequence, this.info.vocabSize, this.inPlace?.supports(sequence) ? this.inPlace : undefined);
  }

  async promptSignals(tokens: readonly number[], options: PromptSignalsOptions = {}): Promise<PromptSignals> {
    if (this.disposed) throw new SpecrouteError('shutting_down', 'the model is disposed');
    if (tokens.length === 0) throw new SpecrouteError('invalid_argument', 'prompt signals: the prompt is empty');
    const bad = tokens.find((t) => !Number.isInteger(t) || t < 0 || t >= this.info.vocabSize);
    if (bad !== undefined) throw new SpecrouteError('invalid_argument', `prompt signals: token ${bad} is outside the vocabulary (${this.info.vocabSize} tokens)`);
    const routing = await this.routingContext();
    if (tokens.length > routing.maxTokens) {
      throw new SpecrouteError('context_length_exceeded', `prompt signals: the prompt (${tokens.length} tokens) exceeds the context size (${routing.maxTokens} tokens)`);
    }
    return routing.signals(tokens, options.cancelled ?? (() => false));
  }

  /** The routing context, created on first use (a failed creation is retried by the next call). */
  private routingContext(): Promise<RoutingContext> {
    this.routing ??= RoutingContext.create(this.model, { ...this.options, contextSize: this.info.contextSize }).catch((error: unknown) => {
      this.routing = undefined;
      throw error;
    });
    return this.routing;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    const routing = await this.routing?.catch(() => undefined);
    await routing?.dispose();
    await this.context.dispose();
    await this.model.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}

class LlamaSequence implements BackendSequence {
  constructor(
    private readonly sequence: LlamaContextSequence,
    private readonly vocabSize: number,
    /** Scores read in place, when the backend could attach (in-place-logits.ts); else node-llama-cpp's sampler. */
    private readonly inPlace: InPlaceLogits | undefined,
    /**
     * Whether greedy top log-probabilities come from the top logits (the native kernels compute node-llama-cpp's
     * probabilities from them exactly) rather than from the whole distribution. Defaults to the native kernels
     * being loaded.
     */
    private readonly topFromLogits = kernels.name === 'native',
  ) {}

  /** An evaluation is under way: one at a time (the in-place path takes no lock of node-llama-cpp's). */
  private evaluating = false;

  get length(): number {
    return this.sequence.nextTokenIndex;
  }

  async evaluate(keep: number, tokens: readonly number[], scoreLast: number, request: ScoreRequest): Promise<PositionScores[]> {
    if (this.evaluating) throw new Error('evaluate: this sequence is already evaluating');
    this.evaluating = true;
    try {
      return await this.evaluateAlone(keep, tokens, scoreLast, request);
    } finally {
      this.evaluating = false;
    }
  }

  private async evaluateAlone(keep: number, tokens: readonly number[], scoreLast: number, request: ScoreRequest): Promise<PositionScores[]> {
    const length = this.sequence.nextTokenIndex;
    if (keep < length) await this.sequence.eraseContextTokenRanges([{ start: keep, end: length }]);
    else if (keep > length) throw new Error(`evaluate: keep ${keep} is past the sequence length ${length}`);
    if (tokens.length === 0) return [];

    // node-llama-cpp's greedy sampler (temperature 0, its default) reports the raw softmax: the argmax with its
    // probability, and on request the whole distribution, most likely first. Sampling distributions are built
    // here from those raw probabilities (log p is the log-softmax of the logits), so warping stays ours.
    // A masked greedy position needs the distribution to find the most likely allowed token.
    const greedy = request.sampling.temperature <= 0;
    const top = Math.max(1, request.topLogprobs ?? 1);
    const firstScored = tokens.length - scoreLast;
    const maskAt = (i: number): TokenMask | undefined => request.masks?.[i - firstScored];
    if (this.inPlace) {
      // Greedy unmasked positions read the top of the row where it lies; the rest score a copy of it.
      return this.inPlace.evaluate(this.sequence, tokens, firstScored, (row, i): PositionScores => {
        const mask = maskAt(i);
        if (!greedy || mask) return scoresFromLogits(row.copy(), request, mask);
        const best = row.top(top);
        return { kind: 'greedy', token: best[0]!.token, top: best };
      });
    }
    // Greedy with top > 1 reads only the top logits and the sum of exp(logit − max) when the native kernels can
    // turn those into node-llama-cpp's own probabilities bit for bit (topProbabilities); otherwise the whole
    // distribution (docs/ARCHITECTURE.md#large-vocabularies).
    const topOnly = greedy && top > 1 && this.topFromLogits;
    const greedyNext = topOnly
      ? { token: true, totalLogitWeight: true, logits: { filter: { tokens: [] as Token[], includeTop: top } } }
      : { token: true, confidence: true, probabilities: top > 1 };
    const input = tokens.map((token, i) => {
      if (i < firstScored) return token as Token;
      const generateNext = greedy && !maskAt(i) ? greedyNext : { probabilities: true };
      return [token as Token, { generateNext }] as const;
    });
    const outputs = await this.sequence.controlledEvaluate(input as Parameters<LlamaContextSequence['controlledEvaluate']>[0]);

    const scores: PositionScores[] = [];
    for (let i = firstScored; i < tokens.length; i++) {
      const next = outputs[i]?.next;
      const mask = maskAt(i);
      if (greedy && mask) {
        if (next?.probabilities == null) throw new Error(`evaluate: no probabilities at position ${i}`);
        scores.push(maskedGreedyScores(next.probabilities, mask, top));
      } else if (topOnly) {
        if (next?.token == null || next.logits == null || next.totalLogitWeight == null) throw new Error(`evaluate: no next token at position ${i}`);
        scores.push({ kind: 'greedy', token: next.token, top: topProbabilities(next.logits, next.totalLogitWeight) });
      } else if (greedy) {
        if (next?.token == null || next.confidence == null) throw new Error(`evaluate: no next token at position ${i}`);
        const topLogprobs = next.probabilities
          ? [...take(next.probabilities.entries(), top)].map(([token, p]) => ({ token, logprob: Math.log(p) }))
          : [{ token: next.token, logprob: Math.log(next.confidence) }];
        scores.push({ kind: 'greedy', token: next.token, top: topLogprobs });
      } else {
        if (next?.probabilities == null) throw new Error(`evaluate: no probabilities at position ${i}`);
        const logits = new Float32Array(this.vocabSize).fill(-Infinity);
        for (const [token, p] of next.probabilities) logits[token] = Math.log(p);
        scores.push(denseScores(logits, request.sampling, mask));
      }
    }
    return scores;
  }

  /** Resolves once the context has reclaimed the sequence id (after any batch in flight), so it can be reopened. */
  async dispose(): Promise<void> {
    if (!this.sequence.disposed) await this.sequence.dispose();
  }
}

/**
 * The top tokens' raw log-probabilities from their logits (most likely first) and `totalLogitWeight`, the float32
 * sum of expf(logit − max) over the vocabulary: node-llama-cpp's `probabilities` are expf(logit − max) / sum in
 * float32, over the same sorted candidates, so with the C library's expf (the native kernel) these are the values
 * `probabilities` would have given, bit for bit, without the vocabulary-long array and Map. Exported for its test.
 */
export function topProbabilities(logits: Map<Token, number>, totalLogitWeight: number): Array<{ token: number; logprob: number }> {
  const tokens = [...logits.keys()];
  const values = Float32Array.from(logits.values());
  const probabilities = new Float32Array(values.length);
  kernels.softmaxFloat32(values, values[0] ?? 0, totalLogitWeight, probabilities);
  return tokens.map((token, i) => ({ token, logprob: Math.log(probabilities[i]!) }));
}

/**
 * Greedy scores over the tokens a grammar allows, from the whole distribution (most likely first): the most
 * likely allowed token, and the top allowed tokens under the constrained distribution (renormalised over the
 * allowed tokens). When the model gives no allowed token any probability, the lowest allowed id is chosen.
 */
function maskedGreedyScores(probabilities: Map<Token, number>, mask: TokenMask, top: number): PositionScores {
  const allowed: Array<{ token: number; p: number }> = [];
  let mass = 0;
  for (const [token, p] of probabilities) {
    if (!isAllowed(mask, token)) continue;
    mass += p;
    if (allowed.length < top) allowed.push({ token, p });
  }
  const best = allowed[0];
  if (best && mass > 0) return { kind: 'greedy', token: best.token, top: allowed.map(({ token, p }) => ({ token, logprob: Math.log(p / mass) })) };
  const [first] = allowedTokens(mask, mask.length * 32);
  if (first === undefined) throw new Error('evaluate: the grammar allows no token');
  return { kind: 'greedy', token: first, top: [{ token: first, logprob: 0 }] };
}

/** The model's vocabulary for the grammar engine, from its GGUF tokenizer metadata. */
export function grammarVocabularyOfModel(model: LlamaModel): GrammarVocabulary | undefined {
  const ggml = (model.fileInfo.metadata as { tokenizer?: { ggml?: GgufTokenizerMetadata } }).tokenizer?.ggml;
  return grammarVocabularyOf(ggml, vocabularySize(model));
}

/** Rows of the token embedding: the logit count per position. */
export function vocabularySize(model: LlamaModel): number {
  const embedding = model.fileInfo.tensorInfo?.find((tensor) => tensor.name === 'token_embd.weight');
  const rows = embedding?.dimensions[1];
  if (rows != null) return Number(rows);
  const tokens = (model.fileInfo.metadata as { tokenizer?: { ggml?: { tokens?: readonly unknown[] } } }).tokenizer?.ggml?.tokens;
  if (tokens != null) return tokens.length;
  throw new SpecrouteError('unsupported_model', 'cannot tell the vocabulary size of this model');
}

function* take<T>(items: Iterable<T>, n: number): Generator<T> {
  if (n <= 0) return;
  let i = 0;
  for (const item of items) {
    yield item;
    if (++i >= n) return;
  }
}
