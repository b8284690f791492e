import type { Llama } from 'node-llama-cpp';

/**
 * What llama.cpp logs when node-llama-cpp's memory estimate (a simulated full load that runs before every
 * `loadModel`, `vocabOnly` included) meets a GGUF without tensors, such as the tokenizer `specroute convert`
 * writes beside an ONNX model. The real vocabulary-only load then succeeds, so these lines are noise.
 */
const VOCAB_ONLY_NOISE = /llama_model_load: error loading model: missing tensor 'token_embd\.weight'|llama_model_load_from_file_impl: failed to load model/;

/**
 * Drops that noise from a binding's log. node-llama-cpp routes llama.cpp's log of every thread to one process-wide
 * callback, so each thread's binding filters it. A genuinely failed load still throws with its reason.
 */
export function quietVocabOnlyNoise(llama: Llama): Llama {
  const forward = llama.logger;
  llama.logger = (level, message) => {
    if (!VOCAB_ONLY_NOISE.test(message)) forward(level, message);
  };
  return llama;
}
