import { afterEach, describe, expect, it, vi } from 'vitest';
import { entropyDense, topLogprobsDense } from '../../src/sampling/logprobs.js';
import { defaultSamplingParams, isGreedy, type WarpParams } from '../../src/sampling/params.js';
import { randomSeed, Rng } from '../../src/sampling/rng.js';
import { argmax, logSumExp, probOf, residualInto, sampleDense, warp, type TokenDist } from '../../src/sampling/token-dist.js';

/**
 * The TypeScript sampling kernels (src/sampling/), each against an oracle written independently in the test:
 * float64 softmax over the kept set, xoshiro128** in BigInt arithmetic, entropy and log-probabilities from their
 * definitions. (test/standalone/native-kernels.test.ts checks the native addon against these.)
 */

const f32 = (values: number[]): Float32Array => Float32Array.from(values);
const none: WarpParams = { temperature: 1, topK: 0, topP: 1, minP: 0 };

/** Softmax of `logits / temperature` restricted to `kept`, in float64. */
function softmaxOver(logits: Float32Array, temperature: number, kept: number[]): number[] {
  const weights = Array.from(logits, (l, i) => (kept.includes(i) ? Math.exp(l / temperature) : 0));
  const sum = weights.reduce((a, b) => a + b, 0);
  return weights.map((w) => w / sum);
}

function denseProbs(dist: TokenDist): number[] {
  if (dist.kind !== 'dense') throw new Error(`expected a dense distribution, got one-hot on ${dist.token}`);
  return Array.from(dist.probs);
}

function expectProbs(dist: TokenDist, expected: number[]): void {
  const got = denseProbs(dist);
  expect(got.length).toBe(expected.length);
  got.forEach((p, i) => {
    expect(p, `token ${i}`).toBeCloseTo(expected[i]!, 6);
    // A token outside the kept set gets exactly nothing.
    if (expected[i] === 0) expect(p, `token ${i}`).toBe(0);
  });
}

describe('warp: temperature, then top-k, then top-p, then min-p', () => {
  const logits = f32([1, 3, 0.5, 2, -1]);

  it('temperature 0 (or below) is greedy: one-hot on the argmax, whatever the filters', () => {
    expect(warp(logits, { ...none, temperature: 0 })).toEqual({ kind: 'onehot', token: 1 });
    expect(warp(logits, { temperature: -1, topK: 1, topP: 0.1, minP: 0.9 })).toEqual({ kind: 'onehot', token: 1 });
    expect(isGreedy({ temperature: 0 })).toBe(true);
    expect(isGreedy({ temperature: -0.5 })).toBe(true);
    expect(isGreedy({ temperature: 1e-9 })).toBe(false);
  });

  it('without filters is the softmax of logits / temperature', () => {
    const all = [0, 1, 2, 3, 4];
    expectProbs(warp(logits, none), softmaxOver(logits, 1, all));
    expectProbs(warp(logits, { ...none, temperature: 0.5 }), softmaxOver(logits, 0.5, all));
    expectProbs(warp(logits, { ...none, temperature: 2 }), softmaxOver(logits, 2, all));
    // Stable for large logits: shifted by their max before exponentiating.
    expectProbs(warp(f32([1000, 1000, 999]), none), softmaxOver(f32([1, 1, 0]), 1, [0, 1, 2]));
  });

  it('top-k keeps the k most likely tokens, the lower id first among equals; 0 or k ≥ vocabulary keeps all', () => {
    expectProbs(warp(logits, { ...none, topK: 2 }), softmaxOver(logits, 1, [1, 3]));
    expectProbs(warp(f32([1, 3, 3, 2]), { ...none, topK: 1 }), [0, 1, 0, 0]);
    expectProbs(warp(f32([1, 3, 3, 2]), { ...none, topK: 2 }), [0, 0.5, 0.5, 0]);
    const all = softmaxOver(logits, 1, [0, 1, 2, 3, 4]);
    expectProbs(warp(logits, { ...none, topK: 0 }), all);
    expectProbs(warp(logits, { ...none, topK: 5 }), all);
    expectProbs(warp(logits, { ...none, topK: 9 }), all);
  });

  it('top-p keeps the smallest most-likely set whose mass reaches top_p (reaching it exactly is enough)', () => {
    const flat = f32([0, 0, 0, 0]); // 0.25 each, exactly
    expectProbs(warp(flat, { ...none, topP: 0.5 }), [0.5, 0.5, 0, 0]);
    expectProbs(warp(flat, { ...none, topP: 0.51 }), [1 / 3, 1 / 3, 1 / 3, 0]);
    expectProbs(warp(flat, { ...none, topP: 0.25 }), [1, 0, 0, 0]);
    expectProbs(warp(flat, { ...none, topP: 1 }), [0.25, 0.25, 0.25, 0.25]);
    // softmax([1, 3, 0.5, 2, -1]) ≈ [0.085, 0.628, 0.052, 0.231, 0.011]: 0.628 + 0.231 reaches 0.8.
    expectProbs(warp(logits, { ...none, topP: 0.8 }), softmaxOver(logits, 1, [1, 3]));
    expectProbs(warp(logits, { ...none, topP: 0.6 }), softmaxOver(logits, 1, [1]));
  });

  it('top-p 1 keeps every token, even one whose mass rounds away in the running total', () => {
    // e^-40 ≈ 4e-18 next to two tokens of weight 1: the cumulative mass reaches 1.0 before it.
    const tail = warp(f32([0, 0, -40]), none);
    expect(denseProbs(tail)[2]).toBeGreaterThan(0);
    expect(denseProbs(warp(f32([0, 0, -40, -50]), { ...none, topK: 3 }))[2]).toBeGreaterThan(0);
    expect(denseProbs(warp(f32([0, 0, -40, -50]), { ...none, topK: 3 }))[3]).toBe(0);
  });

  it('top-p looks only within the top-k set', () => {
    // The top two hold ≈ 0.86 < 0.95: top-p alone would keep four tokens, top-k caps them at two.
    expectProbs(warp(logits, { ...none, topK: 2, topP: 0.95 }), softmaxOver(logits, 1, [1, 3]));
    // ≈ 0.86 < 0.9 ≤ the top three's ≈ 0.94: still the top two.
    expectProbs(warp(logits, { ...none, topK: 2, topP: 0.9 }), softmaxOver(logits, 1, [1, 3]));
    expectProbs(warp(logits, { ...none, topK: 3, topP: 0.6 }), softmaxOver(logits, 1, [1]));
  });

  it('top-p measures mass within what top-k kept, renormalised (vLLM, Hugging Face, llama.cpp)', () => {
    // .4/.3/.2/.1 with top-k 3: the three kept renormalise to .44/.33/.22, and the first two (.78) reach top-p .75,
    // though over the whole distribution they hold only .7 (measuring against it would keep a third token).
    const tenths = f32([0.4, 0.3, 0.2, 0.1].map(Math.log));
    expectProbs(warp(tenths, { ...none, topK: 3, topP: 0.75 }), [4 / 7, 3 / 7, 0, 0]);
    expectProbs(warp(tenths, { ...none, topP: 0.75 }), [4 / 9, 3 / 9, 2 / 9, 0]);
  });

  it('min-p drops tokens below min_p × the top token\'s probability, after temperature', () => {
    // Weights 1, 1/2, 1/4, 1/8 at temperature 1.
    const halving = f32([0, Math.log(0.5), Math.log(0.25), Math.log(0.125)]);
    expectProbs(warp(halving, { ...none, minP: 0.3 }), softmaxOver(halving, 1, [0, 1]));
    expectProbs(warp(halving, { ...none, minP: 0.2 }), softmaxOver(halving, 1, [0, 1, 2]));
    // At temperature 2 the weights are 1, 0.71, 0.5, 0.35: min_p 0.6 keeps two tokens, not one.
    expectProbs(warp(halving, { ...none, temperature: 2, minP: 0.6 }), softmaxOver(halving, 2, [0, 1]));
    // The top token (and any tied with it) always stays, even at min_p 1.
    expectProbs(warp(f32([0, 0, -1]), { ...none, minP: 1 }), [0.5, 0.5, 0]);
    expectProbs(warp(halving, { ...none, minP: 0 }), softmaxOver(halving, 1, [0, 1, 2, 3]));
  });

  it('min-p applies after top-k and top-p', () => {
    const halving = f32([0, Math.log(0.5), Math.log(0.25), Math.log(0.125)]);
    expectProbs(warp(halving, { ...none, topK: 3, minP: 0.2 }), softmaxOver(halving, 1, [0, 1, 2]));
    expectProbs(warp(halving, { ...none, topK: 1, minP: 0.2 }), [1, 0, 0, 0]);
  });

  it('writes into `out` when given (logits themselves included), and refuses an `out` of another length', () => {
    const out = new Float32Array(5);
    const dist = warp(logits, { ...none, topK: 2 }, out);
    expect(dist.kind === 'dense' && dist.probs).toBe(out);
    expectProbs({ kind: 'dense', probs: out }, softmaxOver(logits, 1, [1, 3]));
    const inPlace = f32([1, 3, 0.5, 2, -1]);
    const same = warp(inPlace, none, inPlace);
    expect(same.kind === 'dense' && same.probs).toBe(inPlace);
    expectProbs(same, softmaxOver(logits, 1, [0, 1, 2, 3, 4]));
    expect(() => warp(logits, none, new Float32Array(4))).toThrow(RangeError);
    expect(() => warp(logits, none, new Float32Array(6))).toThrow('warp: out must have as many entries as logits');
    // Greedy writes nothing.
    const untouched = f32([7, 7, 7, 7, 7]);
    warp(logits, { ...none, temperature: 0 }, untouched);
    expect(Array.from(untouched)).toEqual([7, 7, 7, 7, 7]);
  });

  it('defaults to greedy with no filters', () => {
    expect(defaultSamplingParams).toEqual({ temperature: 0, topK: 0, topP: 1, minP: 0 });
    expect(isGreedy(defaultSamplingParams)).toBe(true);
  });
});

describe('sampleDense: inverse-CDF draw', () => {
  it('walks the cumulative weights (any total), skipping zero weights', () => {
    const w = f32([0, 1, 0, 2, 1]); // total 4: token 1 on [0, .25), 3 on [.25, .75), 4 on [.75, 1)
    expect(sampleDense(w, 0)).toBe(1);
    expect(sampleDense(w, 0.2499)).toBe(1);
    expect(sampleDense(w, 0.25)).toBe(3);
    expect(sampleDense(w, 0.7499)).toBe(3);
    expect(sampleDense(w, 0.75)).toBe(4);
    expect(sampleDense(w, 0.9999)).toBe(4);
    expect(sampleDense(f32([0.5, 0.5]), 0.5)).toBe(1);
    expect(sampleDense(f32([3]), 0.999)).toBe(0);
  });

  it('never returns a token of zero weight, even when rounding leaves a sliver of mass past the last one', () => {
    // With these weights and u just below 1, float rounding leaves target ≥ 0 after the last positive weight.
    const w = f32([0.013170462101697922, 1.6688214699023263e-10, 1.2345814148773115e-8, 0.1963152140378952, 0.12920548021793365, 0, 0]);
    expect(sampleDense(w, 1 - 2 ** -53)).toBe(4);
    expect(sampleDense(f32([0, 2, 0]), 0.999999)).toBe(1);
  });

  it('throws when every weight is zero (or negative)', () => {
    expect(() => sampleDense(f32([0, 0, 0]), 0.5)).toThrow('sampleDense: all weights are zero');
    expect(() => sampleDense(f32([0, -1]), 0.5)).toThrow('sampleDense: all weights are zero');
    expect(() => sampleDense(new Float32Array(0), 0.1)).toThrow('sampleDense: all weights are zero');
  });
});

describe('argmax, logSumExp, probOf, residualInto', () => {
  it('argmax: the largest value, the lowest index among ties, negatives included', () => {
    expect(argmax([1, 3, 3, 2])).toBe(1);
    expect(argmax(f32([-5, -2, -9, -2]))).toBe(1);
    expect(argmax([-Infinity, -1e30])).toBe(1);
    expect(argmax([4])).toBe(0);
    expect(argmax([0, 0, 0, 1e-30])).toBe(3);
  });

  it('logSumExp is log Σ exp, stable for large logits', () => {
    const logits = f32([1, 3, 0.5, 2, -1]);
    const naive = Math.log(Array.from(logits).reduce((s, l) => s + Math.exp(l), 0));
    expect(logSumExp(logits)).toBeCloseTo(naive, 12);
    expect(logSumExp(f32([1000, 1000]))).toBeCloseTo(1000 + Math.LN2, 9);
    expect(logSumExp(f32([-1000, -1000, -1000, -1000]))).toBeCloseTo(-1000 + Math.log(4), 9);
    expect(logSumExp(f32([1000, 0]))).toBeCloseTo(1000, 9);
    expect(logSumExp(f32([0, 1000]))).toBeCloseTo(1000, 9);
  });

  it('probOf reads either shape; tokens past a dense array have probability 0', () => {
    expect(probOf({ kind: 'onehot', token: 2 }, 2)).toBe(1);
    expect(probOf({ kind: 'onehot', token: 2 }, 3)).toBe(0);
    const dense: TokenDist = { kind: 'dense', probs: f32([0.25, 0.75]) };
    expect(probOf(dense, 1)).toBe(0.75);
    expect(probOf(dense, 0)).toBe(0.25);
    expect(probOf(dense, 2)).toBe(0);
  });

  it('residualInto writes max(0, p − q) over p (q counts 0 past its end) and returns the mass', () => {
    const p = f32([0.5, 0.25, 0.125, 0.125]);
    const q = f32([0.25, 0.5, 0.25]);
    const out = f32([9, 9, 9, 9, 9]);
    expect(residualInto(p, q, out)).toBe(0.375);
    expect(Array.from(out)).toEqual([0.25, 0, 0, 0.125, 9]);
    // In place over p; equal lengths are enough.
    const same = f32([0.5, 0.5]);
    expect(residualInto(same, f32([0.75, 0.25]), same)).toBe(0.25);
    expect(Array.from(same)).toEqual([0, 0.25]);
    expect(residualInto(f32([0.5, 0.5]), f32([0.5, 0.5]), new Float32Array(2))).toBe(0);
    expect(() => residualInto(p, q, new Float32Array(3))).toThrow('residual: out must have at least as many entries as p');
  });
});

describe('topLogprobsDense and entropyDense', () => {
  const logits = f32([1, 2, 2, 0, -3]);
  const logZ = logSumExp(logits);
  const lp = (token: number): { token: number; logprob: number } => ({ token, logprob: logits[token]! - logZ });

  it('gives the n most likely tokens, most likely first, the lower id first among equals', () => {
    expect(topLogprobsDense(logits, logZ, 1)).toEqual([lp(1)]);
    expect(topLogprobsDense(logits, logZ, 2)).toEqual([lp(1), lp(2)]);
    expect(topLogprobsDense(logits, logZ, 3)).toEqual([lp(1), lp(2), lp(0)]);
    expect(topLogprobsDense(logits, logZ, 9)).toEqual([lp(1), lp(2), lp(0), lp(3), lp(4)]);
    expect(topLogprobsDense(f32([5, 5, 5]), 0, 2)).toEqual([
      { token: 0, logprob: 5 },
      { token: 1, logprob: 5 },
    ]);
    // Log-probabilities: they sum (as probabilities) to 1.
    const total = topLogprobsDense(logits, logZ, 5).reduce((s, t) => s + Math.exp(t.logprob), 0);
    expect(total).toBeCloseTo(1, 6);
  });

  it('gives nothing for n ≤ 0', () => {
    expect(topLogprobsDense(logits, logZ, 0)).toEqual([]);
    expect(topLogprobsDense(logits, logZ, -2)).toEqual([]);
  });

  it('entropy is −Σ p log p in nats, skipping terms at or below log p = −80', () => {
    expect(entropyDense(f32([0, 0, 0, 0]), Math.log(4))).toBeCloseTo(Math.log(4), 6);
    const probs = Array.from(logits, (l) => Math.exp(l - logZ));
    const h = -probs.reduce((s, p) => s + p * Math.log(p), 0);
    expect(entropyDense(logits, logZ)).toBeCloseTo(h, 6);
    // A certain token: zero entropy; the term at exactly −80 is skipped, one just above it is not.
    expect(entropyDense(f32([0, -80]), 0)).toBe(0);
    expect(entropyDense(f32([0, -79]), 0)).toBeCloseTo(79 * Math.exp(-79), 40);
    expect(entropyDense(f32([0, -79]), 0)).toBeGreaterThan(0);
  });
});

/** xoshiro128** (Blackman & Vigna) seeded by four splitmix32 outputs, in BigInt arithmetic. */
function referenceStream(seed: number): () => bigint {
  const M = 0xffffffffn;
  let x = BigInt(seed >>> 0);
  const splitmix = (): bigint => {
    x = (x + 0x9e3779b9n) & M;
    let z = x;
    z = ((z ^ (z >> 16n)) * 0x85ebca6bn) & M;
    z = ((z ^ (z >> 13n)) * 0xc2b2ae35n) & M;
    return z ^ (z >> 16n);
  };
  const rotl = (v: bigint, k: bigint): bigint => ((v << k) | (v >> (32n - k))) & M;
  const s = [splitmix(), splitmix(), splitmix(), splitmix()] as [bigint, bigint, bigint, bigint];
  return () => {
    const result = (rotl((s[1] * 5n) & M, 7n) * 9n) & M;
    const t = (s[1] << 9n) & M;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11n);
    return result;
  };
}

describe('Rng', () => {
  afterEach(() => vi.restoreAllMocks());

  it('is xoshiro128** seeded by splitmix32, for any 32-bit seed', () => {
    for (const seed of [0, 1, 42, 0x9e3779b9, 0xffffffff]) {
      const rng = new Rng(seed);
      const ref = referenceStream(seed);
      for (let i = 0; i < 64; i++) expect(rng.nextUint32(), `seed ${seed}, draw ${i}`).toBe(Number(ref()));
    }
  });

  it('reduces the seed modulo 2^32', () => {
    const a = new Rng(-1);
    const b = new Rng(0xffffffff);
    const c = new Rng(2 ** 32 + 5);
    const d = new Rng(5);
    for (let i = 0; i < 8; i++) {
      expect(a.nextUint32()).toBe(b.nextUint32());
      expect(c.nextUint32()).toBe(d.nextUint32());
    }
  });

  it('next() is a 53-bit uniform in [0, 1) made of two 32-bit draws (27 high bits, 26 low bits)', () => {
    const rng = new Rng(7);
    const ref = referenceStream(7);
    let sum = 0;
    for (let i = 0; i < 2000; i++) {
      const hi = ref() >> 5n;
      const lo = ref() >> 6n;
      const u = rng.next();
      expect(u).toBe(Number((hi << 26n) + lo) / 2 ** 53);
      expect(u).toBeGreaterThanOrEqual(0);
      expect(u).toBeLessThan(1);
      sum += u;
    }
    expect(sum / 2000).toBeCloseTo(0.5, 1);
  });

  it('fork() hands out the next 32-bit draw as a child seed', () => {
    const rng = new Rng(11);
    const ref = referenceStream(11);
    expect(rng.fork()).toBe(Number(ref()));
    expect(rng.nextUint32()).toBe(Number(ref()));
  });

  it('randomSeed() is a uniform 32-bit unsigned integer', () => {
    vi.spyOn(Math, 'random').mockReturnValueOnce(0.5).mockReturnValueOnce(0).mockReturnValueOnce(1 - 2 ** -53);
    expect(randomSeed()).toBe(0x8000_0000);
    expect(randomSeed()).toBe(0);
    expect(randomSeed()).toBe(0xffff_ffff);
  });
});
