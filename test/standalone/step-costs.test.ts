import { describe, expect, it } from 'vitest';
import { bestGamma, expectedTokensPerPass, gammaByBatchSize, PassTimeCurve, stepRate, VerifyCosts, type StepCosts } from '../../src/pipeline/step-costs.js';
import { LoadGamma } from '../../src/pipeline/load-gamma.js';

/** A verifier whose pass costs `fixed` plus `perToken` per token, and a draft pass of 0.05 ms + 0.005 per sequence. */
function costs(fixed: number, perToken: number): StepCosts {
  const verify = new VerifyCosts([1, 8, 64, 256].map((tokens) => ({ tokens, sequences: 1, ms: fixed + perToken * tokens })).concat([{ tokens: 16, sequences: 16, ms: fixed + perToken * 16 }]));
  const draft = new PassTimeCurve([1, 16].map((tokens) => ({ tokens, ms: 0.05 + 0.005 * tokens })));
  return { verify, draft };
}

describe('PassTimeCurve', () => {
  it('interpolates between points, holds below the first and extends the last slope beyond the last', () => {
    const curve = new PassTimeCurve([
      { tokens: 8, ms: 4 },
      { tokens: 1, ms: 1 },
      { tokens: 16, ms: 6 },
    ]);
    expect(curve.measured.map((p) => p.tokens)).toEqual([1, 8, 16]);
    expect(curve.at(1)).toBe(1);
    expect(curve.at(0.5)).toBe(1);
    expect(curve.at(4)).toBeCloseTo(1 + (3 * 3) / 7, 12);
    expect(curve.at(12)).toBe(5);
    expect(curve.at(32)).toBe(6 + (2 / 8) * 16);
  });

  it('one point scales linearly with tokens beyond it', () => {
    const curve = new PassTimeCurve([{ tokens: 2, ms: 3 }]);
    expect(curve.at(2)).toBe(3);
    expect(curve.at(4)).toBe(6);
  });

  it('observe moves a point by the weight, and adds a point for a new token count', () => {
    const curve = new PassTimeCurve([
      { tokens: 1, ms: 1 },
      { tokens: 10, ms: 10 },
    ]);
    curve.observe(10, 20, 0.5);
    expect(curve.at(10)).toBe(15);
    curve.observe(5, 2);
    expect(curve.measured).toEqual([
      { tokens: 1, ms: 1 },
      { tokens: 5, ms: 2 },
      { tokens: 10, ms: 15 },
    ]);
    curve.observe(0, 5);
    curve.observe(3, Number.NaN);
    expect(curve.measured).toHaveLength(3);
  });

  it('refuses an empty curve and bad points', () => {
    expect(() => new PassTimeCurve([])).toThrow(RangeError);
    expect(() => new PassTimeCurve([{ tokens: 0, ms: 1 }])).toThrow(RangeError);
    expect(() => new PassTimeCurve([{ tokens: 1, ms: 0 }])).toThrow(RangeError);
  });
});

describe('VerifyCosts', () => {
  it('a pass of B sequences costs S(B) for one token each, plus the per-token cost of every further token', () => {
    const verify = new VerifyCosts([
      { sequences: 1, tokens: 1, ms: 1 },
      { sequences: 16, tokens: 16, ms: 5 },
      { sequences: 16, tokens: 64, ms: 9.8 },
      { sequences: 4, tokens: 16, ms: 3 },
    ]);
    expect(verify.at(1, 1)).toBe(1);
    expect(verify.at(16, 16)).toBe(5);
    // p: the median of (9.8 − 5) / 48 = 0.1 and (3 − S(4) = 1.8) / 12 = 0.1.
    expect(verify.tokenMs).toBeCloseTo(0.1, 12);
    expect(verify.at(16, 80)).toBeCloseTo(5 + 0.1 * 64, 12);
    expect(verify.at(4, 4)).toBeCloseTo(1 + (4 / 15) * 3, 12);
  });

  it('a point without sequences spread its tokens over min(tokens, 16) sequences', () => {
    const verify = new VerifyCosts([
      { tokens: 1, ms: 1 },
      { tokens: 16, ms: 4 },
      { tokens: 64, ms: 8.8 },
    ]);
    expect(verify.at(16, 16)).toBe(4);
    expect(verify.tokenMs).toBeCloseTo(0.1, 12);
  });

  it('observe refines S from one-token passes and the per-token cost from the others', () => {
    const verify = new VerifyCosts([
      { sequences: 1, tokens: 1, ms: 1 },
      { sequences: 8, tokens: 8, ms: 2 },
      { sequences: 8, tokens: 16, ms: 3 },
    ]);
    verify.observe(8, 8, 4, 0.5);
    expect(verify.at(8, 8)).toBe(3);
    verify.observe(8, 24, 3 + 16 * 0.5, 1);
    expect(verify.tokenMs).toBeCloseTo(0.5, 12);
    verify.observe(8, 4, 1);
    verify.observe(8, 9, 100, 1); // one further token for eight sequences: too little to say what a token costs
    expect(verify.tokenMs).toBeCloseTo(0.5, 12);
  });
});

describe('the best γ for a batch', () => {
  it('rate is B·E over γ draft passes and one verifier pass of B(γ+1) tokens', () => {
    const c = costs(1, 0.5);
    const rate = stepRate(4, 3, 0.8, c);
    const ms = 3 * (0.05 + 0.005 * 4) + (1 + 0.5 * 16);
    expect(rate).toBeCloseTo((4 * expectedTokensPerPass(0.8, 3)) / ms, 12);
  });

  it('a pass that costs the same for any tokens keeps γ high at every batch size', () => {
    const flat = costs(2, 0);
    const table = gammaByBatchSize(16, 0.8, flat, 8);
    expect(table).toHaveLength(16);
    expect(Math.min(...table)).toBeGreaterThanOrEqual(4);
  });

  it('a pass that grows with its tokens lowers γ as the batch grows, down to 0', () => {
    const compute = costs(2, 0.25);
    const table = gammaByBatchSize(16, 0.6, compute, 8);
    for (let i = 1; i < table.length; i++) expect(table[i]!).toBeLessThanOrEqual(table[i - 1]!);
    expect(table[0]!).toBeGreaterThan(0);
    expect(table[15]).toBe(0);
  });

  it('no acceptance means no drafting; certain acceptance with a free draft means the largest γ', () => {
    const c = costs(1, 0.01);
    expect(bestGamma(4, 0, c, 8)).toBe(0);
    const freeDraft: StepCosts = { verify: c.verify, draft: new PassTimeCurve([{ tokens: 1, ms: 1e-9 }]) };
    expect(bestGamma(4, 1, freeDraft, 8)).toBe(8);
  });
});

describe('LoadGamma', () => {
  const profile = {
    alpha: 0.8,
    verify: [
      { tokens: 1, ms: 1 },
      { tokens: 16, ms: 1.1 },
      { tokens: 64, ms: 1.5 },
    ],
    draft: [
      { tokens: 1, ms: 0.2 },
      { tokens: 16, ms: 0.3 },
    ],
    gammaByBatchSize: [6, 5, 4, 0],
  };

  it("starts from the profile's table, the last entry holding beyond it", () => {
    const load = new LoadGamma({ profile, maxBatch: 8, maxGamma: 8 });
    expect([1, 2, 3, 4, 5, 16].map((b) => load.ceiling(b))).toEqual([6, 5, 4, 0, 0, 0]);
    expect(load.ceiling(0)).toBe(6);
    expect(load.alpha).toBeCloseTo(0.8, 12);
  });

  it('recomputes the table from the refined costs every refreshEvery verifier passes', () => {
    const load = new LoadGamma({ profile, maxBatch: 8, maxGamma: 8, refreshEvery: 4 });
    for (let i = 0; i < 3; i++) load.observeVerify(16, 16, 1.2);
    expect(load.gammaByBatchSize).toEqual([6, 5, 4, 0]);
    load.observeVerify(16, 16, 1.2);
    // Passes are nearly free here, so the recomputed table speculates at every batch size.
    expect(load.gammaByBatchSize).toHaveLength(8);
    expect(Math.min(...load.gammaByBatchSize)).toBeGreaterThan(0);
  });

  it('passes that turn out dear take speculation away under load', () => {
    const load = new LoadGamma({ profile, maxBatch: 8, maxGamma: 8, refreshEvery: 1 });
    for (let i = 0; i < 200; i++) {
      for (const sequences of [4, 8, 16]) for (const each of [1, 3]) load.observeVerify(sequences, sequences * each, 0.5 * sequences * each);
    }
    expect(load.ceiling(8)).toBe(0);
  });

  it('where the table says 0, one ceiling in 4 is a one-token probe until 32 positions were examined, then one in 32', () => {
    const load = new LoadGamma({ profile, maxBatch: 8, maxGamma: 8, refreshEvery: 1_000_000 });
    const ceilings = Array.from({ length: 8 }, () => load.ceiling(8));
    expect(ceilings).toEqual([0, 0, 0, 1, 0, 0, 0, 1]);
    for (let i = 0; i < 32; i++) load.observeBlock(1, 1);
    const later = Array.from({ length: 64 }, () => load.ceiling(8));
    expect(later.filter((g) => g === 1)).toHaveLength(2);
    expect(load.ceiling(1)).toBe(6); // a batch that drafts anyway is not a probe
  });

  it('estimates α as accepted / (accepted + rejections), with the profile as a prior', () => {
    const load = new LoadGamma({ profile: { ...profile, alpha: 0.5 }, maxBatch: 4, maxGamma: 8 });
    for (let i = 0; i < 5000; i++) load.observeBlock(4, 1); // one accepted, then a rejection: α → 0.5
    expect(load.alpha).toBeCloseTo(0.5, 2);
    for (let i = 0; i < 5000; i++) load.observeBlock(4, 4); // all accepted, no rejection: α → 1
    expect(load.alpha).toBeGreaterThan(0.99);
    load.observeBlock(0, 0);
  });
});
