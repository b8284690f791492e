/**
 * The main-thread tokenizer of a model, beside `loadBackend`: a GGUF's own vocabulary, or for an ONNX model the
 * tokenizer GGUF written beside it by `specroute convert` (or named by `tokenizerPath`).
 */
import { tokenizerPathFor } from '../models/onnx/tokenizer-path.js';
import { LlamaTokenizer } from './llama/llama-tokenizer.js';
import type { ModelLoadOptions } from './types.js';

export async function loadTokenizer(options: Pick<ModelLoadOptions, 'modelPath' | 'tokenizerPath'>): Promise<LlamaTokenizer> {
  return LlamaTokenizer.load(tokenizerPathFor(options));
}
