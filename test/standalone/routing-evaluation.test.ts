import { describe, expect, it } from 'vitest';
import { calibrateThreshold, realisedShare, thresholdFromJson, thresholdToJson } from '../../src/routing/calibration.js';
import { evaluateAtThreshold, evaluateRouting, qualityAtShare, type QualityPair } from '../../src/routing/routing-evaluation.js';
import { Rng } from '../../src/sampling/rng.js';

/**
 * Four prompts, worked by hand. gains: A 0.8, B 0.5, C 0.2, D −0.1 (total 1.4, so APGR = cumulative gain / 1.4).
 * Q_local = 2.3 / 4 = 0.575, Q_frontier = 3.7 / 4 = 0.925.
 * The router's order (scores 0.9, 0.1, 0.7, 0.3): A, C, D, B → cumulative gain 0, 0.8, 1.0, 0.9, 1.4.
 * The oracle's order: A, B, C, D → 0, 0.8, 1.3, 1.5, 1.4.
 */
const pairs: QualityPair[] = [
  { local: 0.2, frontier: 1.0 }, // A
  { local: 0.5, frontier: 1.0 }, // B
  { local: 0.6, frontier: 0.8 }, // C
  { local: 1.0, frontier: 0.9 }, // D
];
const scores = [0.9, 0.1, 0.7, 0.3];

describe('routing evaluation on a hand-computed example', () => {
  const e = evaluateRouting(pairs, scores);

  it('all-local and all-frontier quality', () => {
    expect(e.qualityLocal).toBeCloseTo(0.575, 12);
    expect(e.qualityFrontier).toBeCloseTo(0.925, 12);
    expect(e.hasRoom).toBe(true);
    expect(e.notes).toEqual([]);
  });

  it('APGR at 10/20/30/50 % for router, random and oracle (fractional counts run linearly)', () => {
    // s = 0.1 → 0.4 prompts: 0.4 × 0.8 = 0.32 of gain → 0.32 / 1.4 = 8/35, the same for the oracle.
    // s = 0.2 → 0.8 prompts: 0.64 / 1.4 = 16/35.
    // s = 0.3 → 1.2 prompts: router 0.8 + 0.2 × 0.2 = 0.84 → 0.6; oracle 0.8 + 0.2 × 0.5 = 0.9 → 9/14.
    // s = 0.5 → 2 prompts: router 1.0 → 5/7; oracle 1.3 → 13/14.
    const expected = [
      { share: 0.1, router: 8 / 35, oracle: 8 / 35, gain: 1 },
      { share: 0.2, router: 16 / 35, oracle: 16 / 35, gain: 1 },
      { share: 0.3, router: 0.6, oracle: 9 / 14, gain: 0.875 }, // (0.6 − 0.3) / (9/14 − 0.3)
      { share: 0.5, router: 5 / 7, oracle: 13 / 14, gain: 0.5 }, // (5/7 − 1/2) / (13/14 − 1/2)
    ];
    expect(e.apgrAt.map((a) => a.share)).toEqual([0.1, 0.2, 0.3, 0.5]);
    e.apgrAt.forEach((a, i) => {
      expect(a.router).toBeCloseTo(expected[i]!.router, 12);
      expect(a.random).toBe(a.share);
      expect(a.oracle).toBeCloseTo(expected[i]!.oracle, 12);
      expect(a.gainOverRandomRecovered).toBeCloseTo(expected[i]!.gain, 12);
    });
  });

  it('AUC: router 17/28, random 1/2, oracle 43/56 (the curves bend only at whole prompts, on the 1 % grid here)', () => {
    // Router: 0.25 × Σ (a_i + a_{i+1}) / 2 with a = [0, 0.8, 1.0, 0.9, 1.4] / 1.4 → 0.125 × 6.8 / 1.4 = 17/28.
    expect(e.curves.router.auc).toBeCloseTo(17 / 28, 12);
    expect(e.curves.random.auc).toBeCloseTo(0.5, 12);
    // Oracle: a = [0, 0.8, 1.3, 1.5, 1.4] / 1.4 → 0.125 × 8.6 / 1.4 = 43/56.
    expect(e.curves.oracle.auc).toBeCloseTo(43 / 56, 12);
  });

  it('the curves: quality and APGR on the 1 % grid, exact at both ends', () => {
    const { router, random, oracle } = e.curves;
    expect(router.shares).toHaveLength(101);
    expect(router.shares[25]).toBe(0.25);
    expect(router.quality[25]).toBeCloseTo(0.775, 12); // A to the frontier: 0.575 + 0.8 / 4
    expect(router.quality[75]).toBeCloseTo(0.8, 12); // 0.575 + 0.9 / 4
    expect(oracle.apgr[75]).toBeCloseTo(15 / 14, 12); // the oracle can beat all-frontier
    expect(random.quality[40]).toBeCloseTo(0.575 + 0.4 * 0.35, 12);
    for (const c of [router, random, oracle]) {
      expect(c.apgr[0]).toBe(0);
      expect(c.apgr[100]).toBe(1);
      expect(c.quality[0]).toBeCloseTo(0.575, 12);
      expect(c.quality[100]).toBeCloseTo(0.925, 12);
    }
  });

  it('at a threshold: who goes, the realised share, APGR, the oracle at that share and the gain recovered', () => {
    const t = evaluateAtThreshold(pairs, scores, 0.5); // A and C
    expect(t.frontierCount).toBe(2);
    expect(t.share).toBe(0.5);
    expect(t.quality).toBeCloseTo(0.825, 12); // (1.0 + 0.5 + 0.8 + 1.0) / 4
    expect(t.apgr).toBeCloseTo(5 / 7, 12);
    expect(t.oracleApgr).toBeCloseTo(13 / 14, 12);
    expect(t.gainOverRandomRecovered).toBeCloseTo(0.5, 12);
    const none = evaluateAtThreshold(pairs, scores, Infinity);
    expect([none.frontierCount, none.apgr, none.gainOverRandomRecovered]).toEqual([0, 0, null]);
    const all = evaluateAtThreshold(pairs, scores, 0.1);
    expect([all.frontierCount, all.share, all.apgr, all.gainOverRandomRecovered]).toEqual([4, 1, 1, null]);
  });

  it('tied scores are one block, each member at the block mean', () => {
    // A and B tied on top: their mean gain 0.65 each. At one prompt: 0.65 / 1.4.
    const tied = [1, 1, 0, 0];
    expect(qualityAtShare(pairs, tied, 0.25)).toBeCloseTo(0.575 + 0.65 / 4, 12);
    expect(qualityAtShare(pairs, tied, 0.5)).toBeCloseTo(0.575 + 1.3 / 4, 12);
  });
});

describe('the ladder: random ≤ router ≤ oracle', () => {
  it('random APGR is exactly the share, at every point of the grid', () => {
    const rng = new Rng(9);
    const many = Array.from({ length: 37 }, () => ({ local: rng.next(), frontier: rng.next() }));
    const e = evaluateRouting(many, many.map(() => rng.next()));
    e.curves.random.apgr.forEach((a, i) => expect(a).toBeCloseTo(i / 100, 12));
    // And it is the mean over every ordering: a router that ranks at random does this in expectation.
    let sum = 0;
    const trials = 2000;
    for (let k = 0; k < trials; k++) sum += evaluateRouting(many, many.map(() => rng.next()), [0.3]).apgrAt[0]!.router!;
    expect(sum / trials).toBeCloseTo(0.3, 1);
  });

  it('the oracle is at least as good as any ranking at every share, and a noisy copy of the gain sits between', () => {
    const rng = new Rng(4);
    const many = Array.from({ length: 200 }, () => {
      const local = rng.next();
      return { local, frontier: Math.min(1, local + rng.next() * 0.6) };
    });
    const gains = many.map((p) => p.frontier - p.local);
    const noisy = evaluateRouting(
      many,
      gains.map((g) => g + 0.15 * (rng.next() - 0.5)),
    );
    const worst = evaluateRouting(
      many,
      gains.map((g) => -g),
    );
    for (let i = 0; i <= 100; i++) {
      expect(noisy.curves.oracle.apgr[i]!).toBeGreaterThanOrEqual(noisy.curves.router.apgr[i]! - 1e-12);
      expect(worst.curves.router.apgr[i]!).toBeLessThanOrEqual(noisy.curves.random.apgr[i]! + 1e-12);
    }
    expect(noisy.curves.router.auc!).toBeGreaterThan(noisy.curves.random.auc! + 0.05);
    expect(noisy.curves.oracle.auc!).toBeGreaterThan(noisy.curves.router.auc!);
  });
});

describe('no room to route', () => {
  it('reports APGR as null with a note, never a division by zero', () => {
    const flat = [
      { local: 0.5, frontier: 0.5 },
      { local: 1, frontier: 1 },
    ];
    const e = evaluateRouting(flat, [0.2, 0.9]);
    expect(e.hasRoom).toBe(false);
    expect(e.notes.join()).toMatch(/no room to route/);
    expect(e.curves.router.apgr.every((a) => a === null)).toBe(true);
    expect([e.curves.router.auc, e.curves.random.auc, e.curves.oracle.auc]).toEqual([null, null, null]);
    expect(e.apgrAt[0]).toEqual({ share: 0.1, router: null, random: null, oracle: null, gainOverRandomRecovered: null });
    expect(e.curves.router.quality[50]).toBeCloseTo(0.75, 12);
    expect(evaluateAtThreshold(flat, [0.2, 0.9], 0.5)).toMatchObject({ frontierCount: 1, apgr: null, gainOverRandomRecovered: null });
  });

  it('notes when every prompt gains the same (the oracle is random: gain over random is undefined)', () => {
    const same = [
      { local: 0.2, frontier: 0.7 },
      { local: 0.4, frontier: 0.9 },
    ];
    const e = evaluateRouting(same, [1, 0]);
    expect(e.notes.join()).toMatch(/same gain/);
    expect(e.apgrAt[3]).toEqual({ share: 0.5, router: 0.5, random: 0.5, oracle: 0.5, gainOverRandomRecovered: null });
  });
});

describe('calibration', () => {
  it('realises the target share exactly up to rounding when scores are distinct', () => {
    const rng = new Rng(21);
    const scores = Array.from({ length: 1000 }, () => rng.next());
    for (const share of [0, 0.01, 0.1, 0.25, 0.333, 0.5, 0.9, 0.999, 1]) {
      const threshold = calibrateThreshold(scores, share);
      expect(Math.abs(realisedShare(scores, threshold) - share)).toBeLessThanOrEqual(0.5 / 1000 + 1e-12);
    }
  });

  it('share 0 is a threshold above every score (Infinity, null in a file); share 1 the lowest score', () => {
    const scores = [0.3, 0.9, 0.1];
    expect(calibrateThreshold(scores, 0)).toBe(Infinity);
    expect(realisedShare(scores, Infinity)).toBe(0);
    expect(calibrateThreshold(scores, 1)).toBe(0.1);
    expect(thresholdToJson(Infinity)).toBeNull();
    expect(thresholdFromJson(null)).toBe(Infinity);
    expect(thresholdFromJson(thresholdToJson(0.42))).toBe(0.42);
  });

  it('with ties, the realised share is as close as the ties allow (nearer fewer frontier calls on a tie)', () => {
    const scores = [0.1, 0.5, 0.5, 0.5, 0.9];
    expect(calibrateThreshold(scores, 0.4)).toBe(0.9); // 1 of 5 (distance 1) beats 4 of 5 (distance 2)
    expect(calibrateThreshold(scores, 0.6)).toBe(0.5); // 4 of 5 (distance 1)
    expect(calibrateThreshold(scores, 0.5)).toBe(0.9); // 1 or 4 of 5, both 1.5 away: the fewer
    // Exhaustively: no threshold does better than the calibrated one.
    const rng = new Rng(8);
    for (let trial = 0; trial < 200; trial++) {
      const tied = Array.from({ length: 1 + Math.floor(rng.next() * 12) }, () => Math.floor(rng.next() * 4) / 4);
      const share = rng.next();
      const got = Math.abs(realisedShare(tied, calibrateThreshold(tied, share)) - share);
      const best = Math.min(...[Infinity, ...tied].map((t) => Math.abs(realisedShare(tied, t) - share)));
      expect(got).toBeCloseTo(best, 12);
    }
  });

  it('rejects a share outside [0, 1] and no scores', () => {
    expect(() => calibrateThreshold([0.5], 1.5)).toThrow(/\[0, 1\]/);
    expect(() => calibrateThreshold([], 0.5)).toThrow(/at least one score/);
  });
});
