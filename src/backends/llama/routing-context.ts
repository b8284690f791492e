/**
 * The router's prompt signals under node-llama-cpp (docs/ARCHITECTURE.md#router-features): one llama.cpp context
 * of its own, in embeddings mode, that scores a whole prompt and pools its hidden states in a single pass.
 *
 * Why a context of its own rather than a sequence of the request context:
 * - node-llama-cpp decodes a context's batches one after another, and it reads the scores of every position of a
 *   batch (one native round trip each) before it dispatches the next batch. A 200-token routing pass in the
 *   request context holds every request's next token for the whole of that read (stories260K on the loaded
 *   2-core machine: the longest gap between a request's decode steps was 58–142 ms with such a pass in the
 *   request context, 18–65 ms with it on a context of its own, 14–18 ms with no pass).
 * - The request context keeps exactly the `sequences` it was configured with: routing never takes one, so it
 *   never makes a request wait for a slot or fail with `overloaded`.
 * - An embeddings-mode context returns every position's logits *and* the pooled embedding from the same pass, so
 *   the signals and the embedding cost one prompt pass, not two.
 * Its cost is a second KV cache of `contextSize` tokens (one sequence) and an output buffer of
 * `contextSize × vocabulary` floats, allocated on the first call.
 *
 * node-llama-cpp 3.22.1 has no public way to read the logits and the pooled embedding of one pass (its
 * `LlamaEmbeddingContext` re-evaluates the input and samples nothing), so this file uses two of its internals,
 * checked when the context is created: the `_embeddings` context option (what `createEmbeddingContext` passes)
 * and `context._ctx.getEmbedding(n)` (what `getEmbeddingFor` reads). node-llama-cpp is pinned exactly in
 * package.json; test/modelDependent/stories260K/router-features.test.ts fails if an upgrade changes either.
 */
import type { LlamaContext, LlamaContextOptions, LlamaContextSequence, LlamaModel, Token } from 'node-llama-cpp';
import type { PromptSignals } from '../../contract/router-features.js';
import { SpecrouteError } from '../../errors/registry.js';
import type { GgufHeader } from '../../models/gguf/gguf-reader.js';
import type { ModelLoadOptions } from '../types.js';

/**
 * The prompt positions (the last ones) whose distributions give `promptMeanLogprob` and `promptMeanEntropy`:
 * reading every position's would cost n vocabulary-sized copies (see `PromptSignals`).
 */
export const PROMPT_TAIL = 8;

/** llama.cpp's `enum llama_pooling_type` values that give one vector per sequence. */
const POOLING_TYPES = { mean: 1, cls: 2, last: 3 } as const;
export type EmbeddingPooling = keyof typeof POOLING_TYPES;

/** How the routing context pools a model's hidden states, and the metadata override that sets it at load. */
export interface RoutingPooling {
  readonly pooling: EmbeddingPooling;
  /** For `loadModel({metadataOverrides})`; absent when the file already declares the pooling used. */
  readonly metadataOverrides?: Record<string, { pooling_type: number }>;
}

/**
 * Mean pooling over the prompt's tokens, unless the GGUF declares a pooling of its own that yields one vector (an
 * embedding model's `cls` or `last`). A generative GGUF declares none, and llama.cpp then pools nothing: its
 * "embedding" is the last token's hidden state, which mostly predicts the next token; the mean over the prompt
 * sees what kind of prompt it is. The pooling type is read only by embeddings-mode contexts, so overriding it at
 * load leaves the request context's logits bit for bit the same (checked in the test).
 */
export function routingPooling(header: Pick<GgufHeader, 'metadata'>): RoutingPooling {
  const get = (key: string): unknown => header.metadata.find((e) => e.key === key)?.value;
  const architecture = String(get('general.architecture') ?? '');
  const declared = Number(get(`${architecture}.pooling_type`));
  for (const [pooling, type] of Object.entries(POOLING_TYPES) as [EmbeddingPooling, number][]) {
    if (declared === type) return { pooling };
  }
  return { pooling: 'mean', metadataOverrides: architecture ? { [architecture]: { pooling_type: POOLING_TYPES.mean } } : {} };
}

/** The part of node-llama-cpp's native context this file reads (see the file comment). */
interface NativeContext {
  getEmbedding(inputTokensLength: number): Float64Array;
}

/**
 * The routing context of one model: one sequence, evaluated one call at a time (calls queue). Every call erases
 * the sequence and evaluates the prompt from its first token, in one batch (the batch is as large as the
 * context), so the mean pools exactly the prompt's tokens.
 */
export class RoutingContext {
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;

  private constructor(
    private readonly context: LlamaContext,
    private readonly sequence: LlamaContextSequence,
    private readonly native: NativeContext,
  ) {}

  static async create(model: LlamaModel, options: Pick<ModelLoadOptions, 'contextSize' | 'threads' | 'kvCacheType'>): Promise<RoutingContext> {
    const contextOptions: LlamaContextOptions & { _embeddings: true } = {
      contextSize: options.contextSize,
      batchSize: options.contextSize,
      sequences: 1,
      threads: options.threads,
      flashAttention: false,
      ...(options.kvCacheType !== 'F16' ? { experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32' } : {}),
      _embeddings: true,
    };
    let context: LlamaContext;
    try {
      context = await model.createContext(contextOptions);
    } catch (error) {
      throw new SpecrouteError('model_load_failed', `cannot create the routing context: ${(error as Error).message}`, { cause: error });
    }
    const native = (context as unknown as { _ctx?: Partial<NativeContext> })._ctx;
    if (typeof native?.getEmbedding !== 'function') {
      await context.dispose();
      throw new SpecrouteError('unsupported_model', 'this node-llama-cpp exposes no pooled embeddings (context._ctx.getEmbedding); prompt signals need node-llama-cpp 3.22.1');
    }
    return new RoutingContext(context, context.getSequence(), native as NativeContext);
  }

  /** Largest prompt one call takes: node-llama-cpp keeps one cell of a sequence free. */
  get maxTokens(): number {
    return this.context.contextSize - 1;
  }

  /** The signals of `tokens` (validated by the caller). Calls run one at a time, in order. */
  signals(tokens: readonly number[], cancelled: () => boolean): Promise<PromptSignals> {
    const result = this.queue.then(() => this.pass(tokens, cancelled));
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async pass(tokens: readonly number[], cancelled: () => boolean): Promise<PromptSignals> {
    if (this.disposed) throw new SpecrouteError('shutting_down', 'the model is disposed');
    if (cancelled()) throw cancelledError();
    const n = tokens.length;
    const stats = new PassStats();
    await this.sequence.eraseContextTokenRanges([{ start: 0, end: this.sequence.nextTokenIndex }]);
    // Distributions only for the prompt's last PROMPT_TAIL positions and the first generated token's: each one is
    // a vocabulary-sized copy out of node-llama-cpp (see the file comment), and all of them would cost more than
    // the pass itself. The embedding still pools every token.
    const from = Math.max(0, n - 1 - PROMPT_TAIL);
    const input = tokens.map((token, i) => [token as Token, i >= from ? { generateNext: { logits: true } } : {}] as const);
    // Each position's distribution is folded into the sums as it arrives and then dropped: holding them all would
    // take n × vocabulary map entries (hundreds of MB at a 32k vocabulary).
    await this.sequence.controlledEvaluate(input as unknown as Parameters<LlamaContextSequence['controlledEvaluate']>[0], {
      onTokenResult: (index, output) => {
        const logits = output.next?.logits;
        if (output.next) output.next.logits = undefined;
        if (logits === undefined || cancelled()) return;
        stats.add(logits, tokens[index + 1]);
      },
    });
    if (cancelled()) throw cancelledError();
    if (stats.positions !== n - from) throw new Error(`prompt signals: scores for ${stats.positions} of ${n - from} positions`);
    const embedding = normalized(this.native.getEmbedding(n));
    const predicted = n - 1 - from;
    return {
      embedding,
      promptMeanLogprob: predicted > 0 ? stats.logprobSum / predicted : 0,
      promptMeanEntropy: predicted > 0 ? stats.entropySum / predicted : 0,
      firstEntropy: stats.lastEntropy,
      firstMargin: stats.lastMargin,
      promptTokens: n,
    };
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.queue;
    await this.context.dispose();
  }
}

/**
 * Running sums over the positions of one pass. Position i's distribution predicts token i + 1: it adds
 * log p(token i + 1) and its entropy to the prompt means; the last position's distribution is the first
 * generated token's (its entropy and top-two margin).
 */
class PassStats {
  positions = 0;
  logprobSum = 0;
  entropySum = 0;
  lastEntropy = 0;
  lastMargin = 0;

  add(logits: ReadonlyMap<number, number>, next: number | undefined): void {
    this.positions++;
    let max = -Infinity;
    let second = -Infinity;
    for (const v of logits.values()) {
      if (v > max) {
        second = max;
        max = v;
      } else if (v > second) second = v;
    }
    // Z = Σ exp(l − max); entropy = log Z − E[l − max]; all in float64.
    let z = 0;
    let weighted = 0;
    for (const v of logits.values()) {
      const d = v - max;
      const e = Math.exp(d);
      z += e;
      weighted += e * d;
    }
    const logZ = Math.log(z);
    const entropy = logZ - weighted / z;
    if (next === undefined) {
      this.lastEntropy = entropy;
      this.lastMargin = (1 - Math.exp(second - max)) / z;
      return;
    }
    this.entropySum += entropy;
    this.logprobSum += (logits.get(next) ?? -Infinity) - max - logZ;
  }
}

function normalized(vector: Float64Array): number[] {
  let sumSquares = 0;
  for (const v of vector) sumSquares += v * v;
  const norm = Math.sqrt(sumSquares);
  return Array.from(vector, (v) => (norm > 0 ? v / norm : 0));
}

function cancelledError(): SpecrouteError {
  return new SpecrouteError('cancelled', 'the prompt signals were cancelled');
}
