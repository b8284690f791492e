import { describe, expect, it } from 'vitest';
import { acceptDraft, type AcceptanceResult } from '../../src/pipeline/acceptance.js';
import { Rng } from '../../src/sampling/rng.js';
import { sampleFrom } from '../../src/native/kernels.js';
import { probOf, warp, type TokenDist } from '../../src/sampling/token-dist.js';
import { chiSquareCritical } from '../helpers/chi-square.js';

/**
 * Losslessness of the acceptance rule, checked on the pure function as vLLM's rejection-sampler tests do: a
 * small vocabulary, context-free target and draft distributions that differ per position, the whole
 * speculative process simulated many times, and the empirical joint law of the first tokens compared with the
 * target's product law by a chi-square statistic and a total-variation bound.
 */
const V = 5;
const TOKENS = 3; // joint law over V^3 = 125 cells
const SAMPLES = 120_000;

type Accept = (draft: number[], q: TokenDist[], p: TokenDist[], rng: Rng) => AcceptanceResult;

function randomDist(rng: Rng, sharpness: number): TokenDist {
  const w = Array.from({ length: V }, () => Math.pow(rng.next() + 1e-3, sharpness));
  const sum = w.reduce((a, b) => a + b, 0);
  return { kind: 'dense', probs: Float32Array.from(w, (x) => x / sum) };
}

/** Runs the speculative process with γ drafted per block until TOKENS tokens exist; returns the histogram. */
function simulate(accept: Accept, p: TokenDist[], q: TokenDist[], gamma: number, seed: number): Float64Array {
  const rng = new Rng(seed);
  const counts = new Float64Array(V ** TOKENS);
  for (let s = 0; s < SAMPLES; s++) {
    const out: number[] = [];
    while (out.length < TOKENS) {
      const at = out.length;
      const draft: number[] = [];
      for (let i = 0; i < gamma; i++) draft.push(sampleFrom(q[at + i]!, rng));
      const verdict = accept(draft, q.slice(at, at + gamma), p.slice(at, at + gamma + 1), rng);
      out.push(...draft.slice(0, verdict.accepted), verdict.next);
    }
    let cell = 0;
    for (let i = 0; i < TOKENS; i++) cell = cell * V + out[i]!;
    counts[cell]!++;
  }
  return counts;
}

function targetLaw(p: TokenDist[]): Float64Array {
  const law = new Float64Array(V ** TOKENS);
  for (let cell = 0; cell < law.length; cell++) {
    let prob = 1;
    for (let i = TOKENS - 1, c = cell; i >= 0; i--, c = Math.floor(c / V)) prob *= probOf(p[i]!, c % V);
    law[cell] = prob;
  }
  return law;
}

function chiSquare(counts: Float64Array, law: Float64Array): number {
  let chi = 0;
  for (let i = 0; i < counts.length; i++) {
    const expected = law[i]! * SAMPLES;
    if (expected > 0) chi += (counts[i]! - expected) ** 2 / expected;
    else if (counts[i]! > 0) return Infinity;
  }
  return chi;
}

function totalVariation(counts: Float64Array, law: Float64Array): number {
  let tv = 0;
  for (let i = 0; i < counts.length; i++) tv += Math.abs(counts[i]! / SAMPLES - law[i]!);
  return tv / 2;
}

// chi-square, 124 degrees of freedom: the 0.9999 quantile (about 191.3).
const CHI_CRITICAL = chiSquareCritical(1e-4, V ** TOKENS - 1);
// With 125 cells and 120k samples the expected TV of a correct sampler is about 0.012.
const TV_BOUND = 0.025;

/** "Accept whenever p ≥ 0.5·q", else take the verifier's own draw: a plausible-looking but biased rule. */
const brokenRule: Accept = (draft, q, p, rng) => {
  for (let i = 0; i < draft.length; i++) {
    if (probOf(p[i]!, draft[i]!) >= 0.5 * probOf(q[i]!, draft[i]!)) continue;
    return { accepted: i, next: sampleFrom(p[i]!, rng), nextSource: 'verifier' };
  }
  return { accepted: draft.length, next: sampleFrom(p[draft.length]!, rng), nextSource: 'bonus' };
};

describe('lossless acceptance rule', () => {
  const setup = new Rng(7);
  const positions = TOKENS + 8;
  const p = Array.from({ length: positions }, () => randomDist(setup, 2));
  const q = Array.from({ length: positions }, () => randomDist(setup, 2));
  const law = targetLaw(p);

  for (const gamma of [1, 3]) {
    it(`keeps the verifier's joint distribution over ${TOKENS} tokens (γ=${gamma}, ${SAMPLES} samples)`, () => {
      const counts = simulate(acceptDraft, p, q, gamma, 11 + gamma);
      const chi = chiSquare(counts, law);
      const tv = totalVariation(counts, law);
      expect(chi).toBeLessThan(CHI_CRITICAL);
      expect(tv).toBeLessThan(TV_BOUND);
    });
  }

  it('detects a broken rule (accept whenever p ≥ 0.5·q)', () => {
    const counts = simulate(brokenRule, p, q, 3, 99);
    expect(chiSquare(counts, law)).toBeGreaterThan(CHI_CRITICAL);
    expect(totalVariation(counts, law)).toBeGreaterThan(TV_BOUND);
  });

  describe('with min-p warping both models (min_p 0.3, the draft at another temperature)', () => {
    // min_p is part of the verifier's warped distribution: tokens below 0.3 × the top token's probability get
    // none. The draft's own min-p cut keeps other tokens, so it proposes tokens the verifier gives no mass
    // (always rejected) and misses some the verifier keeps (only the residual can produce them).
    const logits = (): Float32Array => Float32Array.from({ length: V }, () => 3 * setup.next());
    const warped = (temperature: number): TokenDist[] => Array.from({ length: positions }, () => warp(logits(), { temperature, topK: 0, topP: 1, minP: 0.3 }));
    const pm = warped(1);
    const qm = warped(1.8);
    const lawM = targetLaw(pm);
    const support = lawM.filter((x) => x > 0).length;
    // chi-square with support − 1 degrees of freedom: the 0.9999 quantile.
    const critical = chiSquareCritical(1e-4, support - 1);

    it('the warp really cut tokens from both models, differently', () => {
      expect(pm.some((d) => d.kind === 'dense' && d.probs.some((x) => x === 0))).toBe(true);
      const differ = pm.some((d, i) => d.kind === 'dense' && qm[i]!.kind === 'dense' && d.probs.some((x, t) => (x === 0) !== (probOf(qm[i]!, t) === 0)));
      expect(differ).toBe(true);
      expect(support).toBeLessThan(V ** TOKENS);
    });

    it(`keeps the min-p-warped verifier's joint distribution (γ=3, ${SAMPLES} samples)`, () => {
      const counts = simulate(acceptDraft, pm, qm, 3, 21);
      expect(chiSquare(counts, lawM)).toBeLessThan(critical); // Infinity if a token outside min-p's set came out
      expect(totalVariation(counts, lawM)).toBeLessThan(TV_BOUND);
    });

    it('detects the broken rule under min-p too', () => {
      const counts = simulate(brokenRule, pm, qm, 3, 23);
      expect(chiSquare(counts, lawM)).toBeGreaterThan(critical);
    });
  });

  it('with an identical draft accepts everything', () => {
    const rng = new Rng(1);
    for (let s = 0; s < 1000; s++) {
      const draft = [sampleFrom(p[0]!, rng), sampleFrom(p[1]!, rng)];
      expect(acceptDraft(draft, [p[0]!, p[1]!], [p[0]!, p[1]!, p[2]!], rng).accepted).toBe(2);
    }
  });

  it('reduces to greedy verification with one-hot distributions', () => {
    const rng = new Rng(3);
    const onehot = (token: number): TokenDist => ({ kind: 'onehot', token });
    // The verifier's argmax is 4, 2, 0, 1; the draft agrees on the first two.
    const p = [onehot(4), onehot(2), onehot(0), onehot(1)];
    const draft = [4, 2, 3];
    expect(acceptDraft(draft, draft.map(onehot), p, rng)).toEqual({ accepted: 2, next: 0, nextSource: 'verifier' });
    expect(acceptDraft([4, 2, 0], [4, 2, 0].map(onehot), p, rng)).toEqual({ accepted: 3, next: 1, nextSource: 'bonus' });
    // Nothing drafted: a plain verifier step, whose token is the verifier's own, not a bonus.
    expect(acceptDraft([], [], [onehot(3)], rng)).toEqual({ accepted: 0, next: 3, nextSource: 'verifier' });
  });

  it('keeps the verifier law when a greedy (one-hot) draft meets a sampling verifier', () => {
    // The residual is then p with the draft token's mass removed.
    const rng = new Rng(9);
    const counts = new Float64Array(V);
    for (let s = 0; s < SAMPLES; s++) {
      const verdict = acceptDraft([2], [{ kind: 'onehot', token: 2 }], [p[0]!, p[1]!], rng);
      counts[verdict.accepted === 1 ? 2 : verdict.next]!++;
    }
    let tv = 0;
    for (let t = 0; t < V; t++) tv += Math.abs(counts[t]! / SAMPLES - probOf(p[0]!, t));
    expect(tv / 2).toBeLessThan(0.01);
  });

  it('is reproducible from a seed', () => {
    const run = (seed: number): number[] => {
      const rng = new Rng(seed);
      const out: number[] = [];
      for (let s = 0; s < 200; s++) {
        const draft = [sampleFrom(q[0]!, rng), sampleFrom(q[1]!, rng)];
        const v = acceptDraft(draft, [q[0]!, q[1]!], [p[0]!, p[1]!, p[2]!], rng);
        out.push(v.accepted, v.next);
      }
      return out;
    };
    expect(run(42)).toEqual(run(42));
    expect(run(42)).not.toEqual(run(43));
  });
});
