/**
 * Picks the backend for a model file by its extension: `.onnx` runs under onnxruntime-node (backends/onnx),
 * anything else is a GGUF for node-llama-cpp (backends/llama). Each runtime is imported only when used.
 */
import { isOnnxPath } from '../models/onnx/tokenizer-path.js';
import type { ModelBackend, ModelLoadOptions } from './types.js';

/** Which backend runs `modelPath`. */
export function backendKind(modelPath: string): 'onnx' | 'llama' {
  return isOnnxPath(modelPath) ? 'onnx' : 'llama';
}

/** Loads `options.modelPath` with the backend its extension calls for. */
export async function loadBackend(options: ModelLoadOptions): Promise<ModelBackend> {
  if (backendKind(options.modelPath) === 'onnx') {
    const { OnnxBackend } = await import('./onnx/onnx-backend.js');
    return OnnxBackend.load(options);
  }
  const { LlamaBackend } = await import('./llama/llama-backend.js');
  return LlamaBackend.load(options);
}
