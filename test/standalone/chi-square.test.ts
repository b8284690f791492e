import { describe, expect, it } from 'vitest';
import { chiSquareCritical, chiSquareHomogeneity, chiSquarePValue, logGamma } from '../helpers/chi-square.js';

/**
 * The chi-square helper behind the lossless-sampling tests. Its p-values decide whether those tests pass, so they
 * are checked against closed forms: for even df = 2k, P(χ² ≥ x) = e^(−x/2) Σ_{i<k} (x/2)^i / i! exactly. A wrong
 * incomplete gamma (a series and a continued fraction swapped, a wrong log Γ) fails these.
 */
function evenDfTail(x: number, df: number): number {
  const h = x / 2;
  let term = Math.exp(-h);
  let sum = term;
  for (let i = 1; i < df / 2; i++) {
    term *= h / i;
    sum += term;
  }
  return sum;
}

describe('chi-square helper', () => {
  it('log Γ matches factorials and Γ(1/2) = √π', () => {
    expect(logGamma(0.5)).toBeCloseTo(0.5 * Math.log(Math.PI), 12);
    let factorial = 1;
    for (let n = 1; n <= 20; n++) {
      factorial *= n;
      expect(Math.abs(logGamma(n + 1) - Math.log(factorial)), `n = ${n}`).toBeLessThan(1e-12 * Math.max(1, Math.log(factorial)));
    }
  });

  it('p-values equal the closed form for even df, in both branches (x below and above df/2 + 1)', () => {
    for (const df of [2, 4, 10, 46, 124]) {
      for (const x of [0.1, 1, df / 2, df, df + 1, 2 * df, 5 * df + 20]) {
        const exact = evenDfTail(x, df);
        expect(Math.abs(chiSquarePValue(x, df) - exact) / exact, `df ${df}, x ${x}`).toBeLessThan(1e-9);
      }
    }
  });

  it('p-values match the tables for odd df', () => {
    expect(chiSquarePValue(3.841458820694124, 1)).toBeCloseTo(0.05, 12);
    expect(chiSquarePValue(6.634896601021214, 1)).toBeCloseTo(0.01, 12);
    expect(chiSquarePValue(11.070497693516351, 5)).toBeCloseTo(0.05, 12);
  });

  it('critical values invert the p-value', () => {
    for (const [alpha, df] of [
      [0.05, 1],
      [1e-3, 30],
      [1e-4, 124],
    ] as const) {
      expect(chiSquarePValue(chiSquareCritical(alpha, df), df)).toBeCloseTo(alpha, 10);
    }
    expect(chiSquareCritical(0.05, 10)).toBeCloseTo(18.307038053275146, 8);
  });

  it('homogeneity: a worked 2×2 example, identical samples, and pooling of rare categories', () => {
    // Expected 15 in each cell: χ² = 4 · 5² / 15, df 1.
    const r = chiSquareHomogeneity(
      new Map([
        ['x', 10],
        ['y', 20],
      ]),
      new Map([
        ['x', 20],
        ['y', 10],
      ]),
    );
    expect(r.statistic).toBeCloseTo(20 / 3, 12);
    expect(r.df).toBe(1);
    expect(r.pValue).toBeCloseTo(chiSquarePValue(20 / 3, 1), 15);

    const same = new Map([
      ['a', 40],
      ['b', 30],
      ['c', 30],
    ]);
    expect(chiSquareHomogeneity(same, same)).toMatchObject({ statistic: 0, df: 2, pValue: 1, pooled: 0 });

    // 'r1'…'r4' alone would expect under 5 in a sample; together (combined 16, expected 8) they form one bin.
    const a = new Map([
      ['a', 50],
      ['b', 40],
      ['r1', 2],
      ['r2', 2],
      ['r3', 2],
      ['r4', 2],
    ]);
    const b = new Map([
      ['a', 45],
      ['b', 45],
      ['r1', 1],
      ['r2', 3],
      ['r3', 2],
      ['r4', 2],
    ]);
    const pooled = chiSquareHomogeneity(a, b);
    expect(pooled).toMatchObject({ categories: 2, pooled: 4, df: 2 });
    // A lone rare category too small even as the `other` bin joins the smallest kept bin.
    const merged = chiSquareHomogeneity(new Map([...a].slice(0, 3)), new Map([...b].slice(0, 3)));
    expect(merged).toMatchObject({ categories: 2, pooled: 1, df: 1 });
  });
});
