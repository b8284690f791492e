/**
 * Statistics of a raw distribution given as dense logits (log-probabilities up to a constant shift) and `logZ`,
 * their log-normaliser (`logSumExp(logits)`): the reference implementations of the native kernels'
 * `topLogprobs` and `entropy` (src/native/kernels.ts).
 */

/**
 * The `n` most likely tokens with their log-probabilities `logits[token] − logZ`, most likely first; among equal
 * log-probabilities the lower token id comes first (and is kept when only one fits).
 */
export function topLogprobsDense(logits: Float32Array, logZ: number, n: number): { token: number; logprob: number }[] {
  if (n <= 0) return [];
  const best: { token: number; logprob: number }[] = [];
  for (let token = 0; token < logits.length; token++) {
    const logprob = logits[token]! - logZ;
    if (best.length < n || logprob > best[best.length - 1]!.logprob) {
      best.push({ token, logprob });
      best.sort((a, b) => b.logprob - a.logprob);
      if (best.length > n) best.pop();
    }
  }
  return best;
}

/** Entropy in nats, −Σ p log p with log p = `logits − logZ`; terms with log p <= −80 (p < 2e-35) are skipped. */
export function entropyDense(logits: Float32Array, logZ: number): number {
  let h = 0;
  for (let i = 0; i < logits.length; i++) {
    const lp = logits[i]! - logZ;
    if (lp > -80) h -= Math.exp(lp) * lp;
  }
  return h;
}

/**
 * out[i] = e^(values[i] − max) / sum with every step rounded to float32, as llama.cpp's samplers compute
 * probabilities from logits (their max, and the float32 sum of e^(logit − max)). The native kernel calls the C
 * library's expf, as node-llama-cpp does, and so reproduces its probabilities bit for bit; Math.exp rounded to
 * float32 may differ from expf by one ulp.
 */
export function softmaxFloat32(values: Float32Array, max: number, sum: number, out: Float32Array): void {
  const m = Math.fround(max);
  const s = Math.fround(sum);
  for (let i = 0; i < values.length; i++) out[i] = Math.fround(Math.fround(Math.exp(Math.fround(values[i]! - m))) / s);
}
