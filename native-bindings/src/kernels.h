// Vocabulary-wide scoring kernels: plain C++ over float arrays, no Node API (the bindings are in addon.cc).
//
// Every kernel reproduces its TypeScript reference in src/sampling/ operation for operation: values are stored
// as float32 (Float32Array) and every sum, difference and exponential is taken in double, as JavaScript
// numbers are, in the same order. Build with -ffp-contract=off so no multiply-add is fused where JavaScript
// rounds twice.
#pragma once

#include <cstddef>
#include <cstdint>

namespace specroute {

/** log Σ exp(x): max + log Σ exp(x − max). Reference: logSumExp in src/sampling/token-dist.ts. */
double LogSumExp(const float* x, size_t n);

/** Index of the largest value, lowest index on ties, 0 when nothing beats -Infinity. Reference: argmax. */
size_t Argmax(const float* x, size_t n);

/**
 * Raw logits → normalised sampling probabilities in `out` (n entries; may alias `logits`): temperature, then
 * top-k, then top-p over what top-k kept, renormalised, in the order (probability desc, index asc), then min-p
 * (drop tokens below min_p × the top token's probability). `temperature` must be > 0 (greedy is the caller's
 * one-hot). `top_k` <= 0 or >= n disables top-k; `top_p` >= 1 disables top-p; `min_p` <= 0 disables min-p.
 * Reference: warp in src/sampling/token-dist.ts.
 */
void Warp(const float* logits, float* out, size_t n, double temperature, double top_k, double top_p, double min_p);

/** out[i] = max(0, p[i] − q[i]) (q[i] = 0 past q's end) for i < n_p; returns Σ out. Reference: residualInto. */
double Residual(const float* p, size_t n_p, const float* q, size_t n_q, float* out);

/**
 * Inverse-CDF draw from non-negative weights with the uniform u in [0, 1); -1 when every weight is zero.
 * Reference: sampleDense.
 */
int64_t SampleDense(const float* w, size_t n, double u);

/**
 * The k most likely tokens of (logits − log_z), most likely first, lowest index first on ties: tokens and
 * log-probabilities written to the outputs (k entries each); returns how many (min(k, n)).
 * Reference: topLogprobsDense in src/sampling/logprobs.ts.
 */
size_t TopLogprobs(const float* logits, size_t n, double log_z, size_t k, int32_t* tokens, double* logprobs);

/** −Σ p log p in nats over lp = logits − log_z, skipping lp <= −80. Reference: entropyDense. */
double Entropy(const float* logits, size_t n, double log_z);

/**
 * out[i] = expf(x[i] − max) / sum, every step in float32 and with the C library's expf: the probabilities
 * llama.cpp's samplers (and node-llama-cpp's `probabilities`) compute from logits, its max and its sum of
 * expf(logit − max). The one kernel that is not double arithmetic: it reproduces node-llama-cpp's addon, which
 * calls the same expf. Reference: softmaxFloat32 in src/sampling/logprobs.ts (Math.exp rounded to float32, which
 * may differ from expf by one ulp).
 */
void SoftmaxFloat32(const float* x, size_t n, float max, float sum, float* out);

}  // namespace specroute
