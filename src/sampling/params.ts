/** How the next token is chosen from a model's logits. One shape for the draft, the verifier and every transport. */
export interface SamplingParams {
  /**
   * Softmax temperature. `0` means greedy decoding (argmax), and then speculative output is token-identical
   * to verifier-only greedy decoding.
   *
   * Defaults to `0`.
   */
  temperature: number;
  /**
   * Keep only the `topK` most likely tokens (after temperature). `0` disables it.
   *
   * Defaults to `0`.
   */
  topK: number;
  /**
   * Nucleus sampling: keep the smallest set of most likely tokens whose probability sums to at least `topP`
   * (after temperature and top-k). `1` disables it.
   *
   * Defaults to `1`.
   */
  topP: number;
  /**
   * Seed of the request's random stream. Two runs with the same seed, prompt, models and settings produce the
   * same tokens.
   *
   * Defaults to a random seed.
   */
  seed: number;
}

export const defaultSamplingParams: Omit<SamplingParams, 'seed'> = { temperature: 0, topK: 0, topP: 1 };

export function isGreedy(params: Pick<SamplingParams, 'temperature'>): boolean {
  return params.temperature <= 0;
}
