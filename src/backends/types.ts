import type { WarpParams } from '../sampling/params.js';
import type { TokenLogprob } from '../events/token-logprob.js';
import type { PromptSignals } from '../contract/router-features.js';
import type { GrammarVocabulary } from '../grammar/grammar-vocabulary.js';
import type { TokenMask } from '../sampling/token-mask.js';

/** How to load one model. Shared by every backend. */
export interface ModelLoadOptions {
  /** Path to the model file (GGUF for the llama backend). */
  modelPath: string;
  /**
   * CPU threads for evaluation. Set it: node-llama-cpp's default oversubscribes small machines, and tiny models
   * then decode hundreds of times slower. 1 is best for single-token decoding of small models; 2 helps batched
   * passes of 30–60M-parameter models on a 2-core machine.
   *
   * Defaults to `1`.
   */
  threads: number;
  /**
   * Context size in tokens, shared by all sequences of the context (each sequence gets this many).
   *
   * Defaults to `512`, capped at the model's training context.
   */
  contextSize: number;
  /**
   * Largest number of tokens evaluated in one batch.
   *
   * Defaults to `512`.
   */
  batchSize: number;
  /**
   * How many sequences (concurrent requests) the context holds.
   *
   * Defaults to `1`.
   */
  sequences: number;
  /**
   * Layers offloaded to the GPU. `0` runs on the CPU alone.
   *
   * Defaults to `0`.
   */
  gpuLayers: number;
  /**
   * ONNX Runtime execution providers, most preferred first (ONNX models only), for example `['cuda', 'cpu']`.
   *
   * Defaults to `['cpu']`.
   */
  executionProviders?: readonly string[];
  /**
   * The GGUF file whose vocabulary (and chat template) tokenizes for an ONNX model, which has no tokenizer of its
   * own (`specroute convert` writes one beside it). GGUF models always use their own.
   *
   * Defaults to `MODEL.tokenizer.gguf` beside `MODEL.onnx`.
   */
  tokenizerPath?: string;
  /**
   * Element type of llama.cpp's KV cache (GGUF models). `F32` makes llama.cpp compute in float32 throughout, as
   * an ONNX conversion of the same weights does (logits agree to ~1e-5 instead of ~1e-2), and keeps greedy output
   * independent of which requests share a batch; `F16` halves the cache's memory.
   *
   * Defaults to `'F32'`.
   */
  kvCacheType?: 'F16' | 'F32';
  /**
   * GGUF models: read scores from llama.cpp's logits in place (docs/ARCHITECTURE.md#reading-logits-in-place) when
   * the specroute_llama_logits addon is built and attaches; `false` keeps node-llama-cpp's sampler (the same
   * tokens, slower). Not a config key: `SPECROUTE_LLAMA_LOGITS=0` turns it off for a whole process.
   *
   * Defaults to `true`.
   */
  inPlaceLogits?: boolean;
}

export const defaultModelLoadOptions: Omit<ModelLoadOptions, 'modelPath'> = {
  threads: 1,
  contextSize: 512,
  batchSize: 512,
  sequences: 1,
  gpuLayers: 0,
};

/** What a loaded model says about itself. */
export interface ModelInfo {
  readonly vocabSize: number;
  readonly bos: number | null;
  readonly eos: number | null;
  /** Context size actually allocated per sequence. */
  readonly contextSize: number;
  readonly trainContextSize: number;
  readonly architecture: string;
  readonly name: string;
  /**
   * Length of the prompt embedding `promptSignals` returns (the model's hidden size); absent where the backend
   * computes none (ONNX).
   */
  readonly embeddingDims?: number;
  /**
   * How `promptSignals` pools the hidden states of the prompt's tokens into one embedding: `mean` unless the model
   * file declares its own pooling (an embedding model's `cls` or `last`). Absent with `embeddingDims`.
   */
  readonly embeddingPooling?: 'mean' | 'cls' | 'last';
  /**
   * GGUF models: where scores come from: `in-place` (llama.cpp's logits read where they lie), or node-llama-cpp's
   * `sampler` with the reason the in-place path is not in use. Absent for ONNX models (which always read logits).
   */
  readonly scoring?: { readonly path: 'in-place' } | { readonly path: 'sampler'; readonly reason: string };
}

/**
 * A model's opinion of the next token at one position.
 * - `greedy`: the argmax only, with raw log-probabilities of the top tokens (cheap: no vocabulary copy).
 * - `dense`: the sampling distribution (after temperature, top-k, top-p), and the raw distribution as `logits`
 *   (log-probabilities or logits: any constant shift) with `logZ`, their log-normaliser.
 */
export type PositionScores =
  | { readonly kind: 'greedy'; readonly token: number; readonly top: readonly TokenLogprob[] }
  | { readonly kind: 'dense'; readonly probs: Float32Array; readonly logits: Float32Array; readonly logZ: number };

/** What to compute for each evaluated position. */
export interface ScoreRequest {
  /** Sampling settings that shape the distribution (`temperature: 0` gives `greedy` scores). */
  readonly sampling: WarpParams;
  /**
   * How many top raw log-probabilities to return with greedy scores (at least 1: the argmax itself).
   *
   * Defaults to `1`.
   */
  readonly topLogprobs?: number;
  /**
   * A grammar's allowed tokens at each scored position (aligned with them; `undefined` where nothing is masked).
   * A masked position is scored under the constrained distribution p' = norm(p·m): the sampling distribution is
   * warped from the allowed tokens' logits, greedy picks the most likely allowed token, and log-probabilities and
   * top tokens are p''s (docs/ARCHITECTURE.md#structured-output).
   *
   * Defaults to no mask.
   */
  readonly masks?: readonly (TokenMask | undefined)[];
}

/** One sequence (a request's KV cache) in a backend's context. */
export interface BackendSequence {
  /** Tokens currently held in this sequence's KV cache. */
  readonly length: number;
  /**
   * Keeps the first `keep` tokens of the cache (rolling back the rest), appends `tokens`, and returns the
   * scores for the next token after each of the last `scoreLast` appended tokens (one batched pass).
   */
  evaluate(keep: number, tokens: readonly number[], scoreLast: number, request: ScoreRequest): Promise<PositionScores[]>;
  dispose(): Promise<void>;
}

export interface ChatTemplateMessage {
  readonly role: 'system' | 'user' | 'assistant';
  readonly content: string;
}

/** Chat messages rendered by a chat template. */
export interface ChatPrompt {
  /** The prompt's tokens, BOS included where the template puts one. */
  readonly tokens: number[];
  /** Text the template ends a reply with (stop sequences), besides the end-of-sequence token. */
  readonly stop: string[];
  /** Name of the chat template used. */
  readonly template: string;
}

/** Text ↔ tokens for one vocabulary. */
export interface Tokenizer {
  readonly vocabSize: number;
  readonly bos: number | null;
  readonly eos: number | null;
  /** Tokens of `text`, without a BOS token. `specialTokens` parses special-token text such as `</s>`. */
  tokenize(text: string, specialTokens?: boolean): number[];
  /** Text of `tokens`; `lastTokens` (the tokens before them) decide leading spaces the way the model expects. */
  detokenize(tokens: readonly number[], lastTokens?: readonly number[]): string;
  /** Renders chat messages with the model's chat template. */
  applyChatTemplate?(messages: readonly ChatTemplateMessage[]): ChatPrompt;
  /** The vocabulary as the grammar engine reads it; undefined when the model file does not list its tokens. */
  grammarVocabulary?(): GrammarVocabulary | undefined;
}

/** What `ModelBackend.promptSignals` may be told besides the tokens. */
export interface PromptSignalsOptions {
  /**
   * Polled while the call runs; `true` abandons it with a `cancelled` error at the next point where it can stop
   * (before the prompt pass, and after it, before the result is assembled).
   *
   * Defaults to never cancelled.
   */
  readonly cancelled?: () => boolean;
}

/** A loaded model: tokenizer, context and sequences. Owned by one worker thread. */
export interface ModelBackend {
  readonly info: ModelInfo;
  tokenize(text: string, specialTokens?: boolean): number[];
  detokenize(tokens: readonly number[], lastTokens?: readonly number[]): string;
  /** Takes a free sequence of the context; throws `overloaded` when all are in use. */
  openSequence(): BackendSequence;
  /**
   * The router's prompt signals (contract/router-features.ts): one pass of the model over `tokens` (the prompt
   * exactly as the model sees it, BOS and chat template included) that scores every position, and the prompt's
   * pooled, L2-normalised embedding. It never takes one of the request sequences, so it neither waits for one nor
   * fails with `overloaded`. Throws `unsupported_model` on a backend without it (ONNX).
   */
  promptSignals(tokens: readonly number[], options?: PromptSignalsOptions): Promise<PromptSignals>;
  /** How many sequences shared each evaluation batch since load: size → batches. */
  readonly batchSizes: Readonly<Record<number, number>>;
  /** The vocabulary as the grammar engine reads it; undefined when the model file does not list its tokens. */
  grammarVocabulary(): GrammarVocabulary | undefined;
  dispose(): Promise<void>;
}
