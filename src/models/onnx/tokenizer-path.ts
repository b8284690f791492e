/**
 * Where an ONNX model's tokenizer lives. An ONNX graph holds no vocabulary, so `specroute convert` writes the
 * source GGUF's metadata (tokenizer, chat template) as a vocabulary-only GGUF beside the model, and the ONNX
 * backend and the main-thread tokenizer look for it there unless told otherwise.
 */

/** Whether `path` names an ONNX model (by its extension). */
export function isOnnxPath(path: string): boolean {
  return /\.onnx$/i.test(path);
}

/** `MODEL.onnx` → `MODEL.tokenizer.gguf`, beside it. */
export function defaultTokenizerPath(onnxPath: string): string {
  return onnxPath.replace(/\.onnx$/i, '') + '.tokenizer.gguf';
}

/**
 * The GGUF file whose vocabulary tokenizes for a model: a GGUF model's own; for an ONNX model `tokenizerPath`
 * when given, else `MODEL.tokenizer.gguf` beside it.
 */
export function tokenizerPathFor(options: { readonly modelPath: string; readonly tokenizerPath?: string | undefined }): string {
  if (!isOnnxPath(options.modelPath)) return options.modelPath;
  return options.tokenizerPath !== undefined && options.tokenizerPath !== '' ? options.tokenizerPath : defaultTokenizerPath(options.modelPath);
}
