import type { LlamaModel, Token } from 'node-llama-cpp';
import { SpecrouteError } from '../../errors/registry.js';
import type { Tokenizer } from '../types.js';
import { sharedLlama, vocabularySize } from './llama-backend.js';

/**
 * A GGUF model's tokenizer on the main thread: the vocabulary alone (`vocabOnly`), no weights, so text can be
 * tokenized and streamed without a round trip to the model workers.
 */
export class LlamaTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bos: number | null;
  readonly eos: number | null;
  private disposed = false;

  private constructor(private readonly model: LlamaModel) {
    this.vocabSize = vocabularySize(model);
    this.bos = model.tokens.bos ?? null;
    this.eos = model.tokens.eos ?? null;
  }

  static async load(modelPath: string): Promise<LlamaTokenizer> {
    const llama = await sharedLlama();
    try {
      return new LlamaTokenizer(await llama.loadModel({ modelPath, vocabOnly: true }));
    } catch (error) {
      throw new SpecrouteError('model_load_failed', `cannot read the tokenizer of ${modelPath}: ${(error as Error).message}`, { cause: error });
    }
  }

  tokenize(text: string, specialTokens = false): number[] {
    return this.model.tokenize(text, specialTokens);
  }

  detokenize(tokens: readonly number[], lastTokens?: readonly number[]): string {
    return this.model.detokenize(tokens as Token[], false, lastTokens as Token[] | undefined);
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.model.dispose();
  }
}
