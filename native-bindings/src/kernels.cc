// Vocabulary-wide scoring kernels. See kernels.h: each one mirrors its TypeScript reference in src/sampling/
// operation for operation (float32 storage, double arithmetic, same summation order), so both agree to the
// last bit or nearly (std::exp and V8's Math.exp may differ in the last bit of a double).
#include "kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <vector>

namespace specroute {
namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// Largest value, ignoring NaN (as `v > max` does), -Infinity for none. `x > m ? x : m` is exactly what
// MAXPS / FMAX-style selects compute, so GCC and Clang vector extensions give the same answer as the scalar
// loop without any fast-math flag (plain loops of this shape are not auto-vectorised).
float MaxOf(const float* x, size_t n) {
  constexpr float kNegInfF = -std::numeric_limits<float>::infinity();
  size_t i = 0;
  float m = kNegInfF;
#if defined(__GNUC__)
  typedef float v4sf __attribute__((vector_size(16)));
  constexpr size_t kBlock = 16;
  if (n >= kBlock) {
    v4sf m0 = {kNegInfF, kNegInfF, kNegInfF, kNegInfF}, m1 = m0, m2 = m0, m3 = m0;
    for (; i + kBlock <= n; i += kBlock) {
      v4sf a, b, c, d;
      std::memcpy(&a, x + i, sizeof a);
      std::memcpy(&b, x + i + 4, sizeof b);
      std::memcpy(&c, x + i + 8, sizeof c);
      std::memcpy(&d, x + i + 12, sizeof d);
      m0 = a > m0 ? a : m0;
      m1 = b > m1 ? b : m1;
      m2 = c > m2 ? c : m2;
      m3 = d > m3 ? d : m3;
    }
    m0 = m1 > m0 ? m1 : m0;
    m2 = m3 > m2 ? m3 : m2;
    m0 = m2 > m0 ? m2 : m0;
    for (int j = 0; j < 4; j++) m = m0[j] > m ? m0[j] : m;
  }
#endif
  for (; i < n; i++) m = x[i] > m ? x[i] : m;
  return m;
}

// A candidate for the top-k / top-p order: its float32 probability bits above, the inverted index below.
// Probabilities are >= 0, whose bit patterns order like their values, so sorting keys descending sorts by
// (probability desc, index asc): the TypeScript comparator `probs[b] - probs[a] || a - b`.
inline uint64_t KeyOf(float prob, size_t index) {
  uint32_t bits;
  std::memcpy(&bits, &prob, sizeof bits);
  return (static_cast<uint64_t>(bits) << 32) | (0xFFFFFFFFu - static_cast<uint32_t>(index));
}
inline size_t IndexOf(uint64_t key) { return 0xFFFFFFFFu - static_cast<uint32_t>(key); }
inline float ProbOf(uint64_t key) {
  const uint32_t bits = static_cast<uint32_t>(key >> 32);
  float prob;
  std::memcpy(&prob, &bits, sizeof prob);
  return prob;
}

// Scratch for the candidate keys, kept per thread (worker threads each load the addon) so the hot path does
// not allocate once it has seen the vocabulary size.
std::vector<uint64_t>& Scratch() {
  thread_local std::vector<uint64_t> keys;
  return keys;
}

}  // namespace

double LogSumExp(const float* x, size_t n) {
  const double max = n == 0 ? kNegInf : static_cast<double>(MaxOf(x, n));
  double sum = 0;
  for (size_t i = 0; i < n; i++) sum += std::exp(static_cast<double>(x[i]) - max);
  return max + std::log(sum);
}

size_t Argmax(const float* x, size_t n) {
  const float max = MaxOf(x, n);
  if (!(max > -std::numeric_limits<float>::infinity())) return 0;
  for (size_t i = 0; i < n; i++) {
    if (x[i] == max) return i;
  }
  return 0;
}

void Warp(const float* logits, float* out, size_t n, double temperature, double top_k, double top_p, double min_p) {
  const double inv_t = 1 / temperature;
  const double max = n == 0 ? kNegInf : static_cast<double>(MaxOf(logits, n));
  double sum = 0;
  for (size_t i = 0; i < n; i++) {
    const double e = std::exp((static_cast<double>(logits[i]) - max) * inv_t);
    out[i] = static_cast<float>(e);
    sum += e;
  }
  const bool needs_top_k = top_k > 0 && top_k < static_cast<double>(n);
  const bool needs_top_p = top_p < 1;
  if (needs_top_k || needs_top_p) {
    // `r < topK` in TypeScript keeps ceil(topK) ranks.
    const size_t limit = needs_top_k ? static_cast<size_t>(std::ceil(top_k)) : n;
    std::vector<uint64_t>& keys = Scratch();
    keys.resize(n);
    for (size_t i = 0; i < n; i++) keys[i] = KeyOf(out[i], i);
    // Only the ranks that are kept or scanned need sorting. Top-k selects its ranks with nth_element and sorts just
    // those; top-p alone selects and sorts blocks of the best remaining candidates, growing them until the
    // cumulative mass reaches top_p.
    size_t keep = limit;
    size_t sorted = 0;
    const auto first = keys.begin();
    // The mass top-p measures against: all of it, or what top-k kept, renormalised (vLLM, Hugging Face, llama.cpp),
    // summed in rank order as TypeScript does.
    double mass = sum;
    if (needs_top_k) {
      if (limit < n) std::nth_element(first, first + limit, keys.end(), std::greater<uint64_t>());
      std::sort(first, first + limit, std::greater<uint64_t>());
      sorted = limit;
      if (needs_top_p) {
        mass = 0;
        for (size_t r = 0; r < limit; r++) mass += ProbOf(keys[r]);
      }
    }
    if (needs_top_p) {
      size_t scanned = 0;
      size_t block = 256;
      double cumulative = 0;
      while (true) {
        if (scanned == sorted) {
          const size_t end = std::min(limit, sorted + block);
          if (end < n) std::nth_element(first + sorted, first + end, keys.end(), std::greater<uint64_t>());
          std::sort(first + sorted, first + end, std::greater<uint64_t>());
          sorted = end;
          block *= 4;
        }
        bool cut = false;
        for (; scanned < sorted; scanned++) {
          cumulative += static_cast<double>(ProbOf(keys[scanned])) / mass;
          if (cumulative >= top_p) {
            keep = scanned + 1;
            cut = true;
            break;
          }
        }
        if (cut || sorted >= limit) break;
      }
    }
    // Zero everything, then put back the kept ranks, summing them in rank order as TypeScript does.
    std::fill(out, out + n, 0.0f);
    sum = 0;
    for (size_t r = 0; r < keep; r++) {
      const float prob = ProbOf(keys[r]);
      out[IndexOf(keys[r])] = prob;
      sum += prob;
    }
  }
  if (min_p > 0) {
    // The top token's weight is exp(0) = 1, so the cut is min_p itself; summed in index order as TypeScript does.
    sum = 0;
    for (size_t i = 0; i < n; i++) {
      if (static_cast<double>(out[i]) < min_p) out[i] = 0.0f;
      else sum += out[i];
    }
  }
  const double inv = 1 / sum;
  for (size_t i = 0; i < n; i++) out[i] = static_cast<float>(static_cast<double>(out[i]) * inv);
}

double Residual(const float* p, size_t n_p, const float* q, size_t n_q, float* out) {
  const size_t both = std::min(n_p, n_q);
  // TypeScript subtracts in double and rounds to float32 on store; a float32 subtraction gives the same bits
  // (double rounding is innocuous for +, −, ×, ÷ when the wider format has at least 2·24 + 2 bits), 4 lanes wide.
  for (size_t i = 0; i < both; i++) {
    const float d = p[i] - q[i];
    out[i] = d > 0 ? d : 0.0f;
  }
  for (size_t i = both; i < n_p; i++) out[i] = p[i] > 0 ? p[i] : 0.0f;
  double mass = 0;
  for (size_t i = 0; i < n_p; i++) mass += out[i];
  return mass;
}

int64_t SampleDense(const float* w, size_t n, double u) {
  double total = 0;
  for (size_t i = 0; i < n; i++) total += w[i];
  double target = u * total;
  int64_t last = -1;
  for (size_t i = 0; i < n; i++) {
    const double wi = w[i];
    if (wi <= 0) continue;
    last = static_cast<int64_t>(i);
    target -= wi;
    if (target < 0) return last;
  }
  return last;  // rounding left a sliver of mass at the end, or -1: every weight is zero
}

size_t TopLogprobs(const float* logits, size_t n, double log_z, size_t k, int32_t* tokens, double* logprobs) {
  size_t count = 0;
  if (k == 0) return 0;
  for (size_t token = 0; token < n; token++) {
    const double lp = static_cast<double>(logits[token]) - log_z;
    if (count == k && !(lp > logprobs[count - 1])) continue;
    // Insert after every kept entry that is at least as likely (a stable sort of the appended entry).
    size_t at = count == k ? k - 1 : count;
    while (at > 0 && lp > logprobs[at - 1]) {
      logprobs[at] = logprobs[at - 1];
      tokens[at] = tokens[at - 1];
      at--;
    }
    logprobs[at] = lp;
    tokens[at] = static_cast<int32_t>(token);
    if (count < k) count++;
  }
  return count;
}

double Entropy(const float* logits, size_t n, double log_z) {
  double h = 0;
  for (size_t i = 0; i < n; i++) {
    const double lp = static_cast<double>(logits[i]) - log_z;
    if (lp > -80) h -= std::exp(lp) * lp;
  }
  return h;
}

void SoftmaxFloat32(const float* x, size_t n, float max, float sum, float* out) {
  for (size_t i = 0; i < n; i++) {
    const float shifted = x[i] - max;
    const float e = expf(shifted);
    out[i] = e / sum;
  }
}

}  // namespace specroute
