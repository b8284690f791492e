import { existsSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { SpecrouteError, isSpecrouteError } from '../../errors/registry.js';
import type { GgufValue } from '../../models/gguf/gguf-metadata.js';
import { readGgufHeader } from '../../models/gguf/gguf-reader.js';
import { tokenizerPathFor } from '../../models/onnx/tokenizer-path.js';
import { LlamaTokenizer } from '../llama/llama-tokenizer.js';
import type { GrammarVocabulary } from '../../grammar/grammar-vocabulary.js';
import type { PromptSignals } from '../../contract/router-features.js';
import type { BackendSequence, ModelBackend, ModelInfo, ModelLoadOptions } from '../types.js';
import { readCausalLmSignature, type CausalLmSignature } from './causal-lm-signature.js';
import { OnnxSequence } from './onnx-sequence.js';

/** The execution providers used when the options name none. */
export const DEFAULT_EXECUTION_PROVIDERS: readonly string[] = ['cpu'];

/**
 * A causal-LM ONNX model under onnxruntime-node: one `InferenceSession`, the tokenizer from a vocabulary-only
 * GGUF, and up to `options.sequences` sequences, each with its own KV cache. Runs are serialized (one sequence
 * per run), so `batchSizes` counts every run as a batch of 1.
 */
export class OnnxBackend implements ModelBackend {
  readonly info: ModelInfo;
  /** Sequences per run since load: size → runs. */
  readonly batchSizes: Record<number, number> = {};
  private readonly free: number[];
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;

  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly tokenizer: LlamaTokenizer,
    readonly signature: CausalLmSignature,
    info: ModelInfo,
    sequences: number,
  ) {
    this.info = info;
    this.free = Array.from({ length: sequences }, (_, i) => sequences - 1 - i);
  }

  static async load(options: ModelLoadOptions): Promise<OnnxBackend> {
    const tokenizerPath = tokenizerPathFor(options);
    if (!existsSync(options.modelPath)) throw new SpecrouteError('model_not_found', `${options.modelPath}: no such file.`, { param: 'modelPath' });
    if (!existsSync(tokenizerPath)) {
      throw new SpecrouteError(
        'model_not_found',
        `no tokenizer for ${options.modelPath}: ${tokenizerPath} does not exist (specroute convert writes it beside the model; or set tokenizerPath to a GGUF with the model's vocabulary)`,
        { param: 'tokenizerPath' },
      );
    }
    const executionProviders = options.executionProviders?.length ? [...options.executionProviders] : [...DEFAULT_EXECUTION_PROVIDERS];
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(options.modelPath, {
        executionProviders,
        intraOpNumThreads: options.threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        logSeverityLevel: 3,
      });
    } catch (error) {
      throw new SpecrouteError('model_load_failed', `cannot load ONNX model ${options.modelPath} (execution providers ${executionProviders.join(', ')}): ${(error as Error).message}`, {
        param: 'modelPath',
        cause: error,
      });
    }
    let tokenizer: LlamaTokenizer | undefined;
    try {
      const signature = readCausalLmSignature(session, options.modelPath);
      tokenizer = await LlamaTokenizer.load(tokenizerPath);
      const meta = await tokenizerMetadata(tokenizerPath);
      const trainContextSize = meta.contextLength ?? options.contextSize;
      const vocabSize = signature.vocabSize ?? tokenizer.vocabSize;
      const info: ModelInfo = {
        vocabSize,
        bos: tokenizer.bos,
        eos: tokenizer.eos,
        contextSize: Math.min(options.contextSize, trainContextSize),
        trainContextSize,
        architecture: meta.architecture ?? 'onnx',
        name: meta.name ?? '',
      };
      return new OnnxBackend(session, tokenizer, signature, info, Math.max(1, options.sequences));
    } catch (error) {
      await Promise.allSettled([session.release(), tokenizer?.dispose()]);
      if (isSpecrouteError(error)) throw error;
      throw new SpecrouteError('model_load_failed', `cannot load ONNX model ${options.modelPath}: ${(error as Error).message}`, { cause: error });
    }
  }

  grammarVocabulary(): GrammarVocabulary | undefined {
    const vocabulary = this.tokenizer.grammarVocabulary();
    return vocabulary && { ...vocabulary, vocabSize: this.info.vocabSize };
  }

  tokenize(text: string, specialTokens = false): number[] {
    return this.tokenizer.tokenize(text, specialTokens);
  }

  detokenize(tokens: readonly number[], lastTokens?: readonly number[]): string {
    return this.tokenizer.detokenize(tokens, lastTokens);
  }

  openSequence(): BackendSequence {
    if (this.disposed) throw new SpecrouteError('shutting_down', 'the model is disposed');
    const slot = this.free.pop();
    if (slot === undefined) throw new SpecrouteError('overloaded', 'no free sequence in the model context');
    return new OnnxSequence(this, () => this.free.push(slot));
  }

  /**
   * Not supported yet: the router's prompt signals need a pooled embedding of the prompt, which the exported
   * causal-LM graph does not output (it would need the final hidden states as a second output). The scores part
   * could come from `run` as it is.
   */
  promptSignals(): Promise<PromptSignals> {
    return Promise.reject(
      new SpecrouteError(
        'unsupported_model',
        'query routing needs prompt signals (a pooled prompt embedding and prompt log-probabilities) from the verifier, which the ONNX backend does not compute; serve a GGUF verifier to route',
      ),
    );
  }

  /** Runs the graph on `feeds`, one run at a time. */
  run(feeds: Record<string, ort.Tensor>): Promise<ort.InferenceSession.ReturnType> {
    if (this.disposed) return Promise.reject(new SpecrouteError('shutting_down', 'the model is disposed'));
    const result = this.queue.then(() => {
      this.batchSizes[1] = (this.batchSizes[1] ?? 0) + 1;
      return this.session.run(feeds);
    });
    this.queue = result.catch(() => undefined);
    return result;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.queue;
    await Promise.allSettled([this.session.release(), this.tokenizer.dispose()]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}

/** Architecture, name and training context from the tokenizer GGUF (the source model's metadata). */
async function tokenizerMetadata(path: string): Promise<{ architecture?: string; name?: string; contextLength?: number }> {
  const header = await readGgufHeader(path);
  const get = (key: string): GgufValue | undefined => header.metadata.find((e) => e.key === key)?.value;
  const architecture = get('general.architecture');
  const name = get('general.name');
  const context = get(`${String(architecture)}.context_length`);
  const contextLength = typeof context === 'bigint' ? Number(context) : context;
  return {
    ...(typeof architecture === 'string' ? { architecture } : {}),
    ...(typeof name === 'string' ? { name } : {}),
    ...(typeof contextLength === 'number' && contextLength > 0 ? { contextLength } : {}),
  };
}
