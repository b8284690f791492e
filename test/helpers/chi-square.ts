/**
 * Chi-square arithmetic for the statistical tests of lossless sampling (test/standalone/acceptance.test.ts on the
 * pure rule, test/modelDependent/stories260K/lossless-sampling.test.ts on the engine): the distribution's upper
 * tail (the p-value) from the regularized incomplete gamma function, its quantiles, and a two-sample homogeneity
 * test over sparse categories.
 */

// Lanczos approximation (g = 7, n = 9): |relative error| < 1e-13 for z > 0.
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012,
  9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** ln Γ(z) for z > 0. */
export function logGamma(z: number): number {
  if (z < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * z)) - logGamma(1 - z);
  const x = z - 1;
  let sum = LANCZOS[0]!;
  for (let i = 1; i < LANCZOS.length; i++) sum += LANCZOS[i]! / (x + i);
  const t = x + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(sum);
}

/**
 * The regularized upper incomplete gamma function Q(a, x) = Γ(a, x) / Γ(a), for a > 0, x ≥ 0: the series for
 * P = 1 − Q below x = a + 1, Lentz's continued fraction for Q above (Numerical Recipes §6.2). Relative accuracy
 * about 1e-14, down to Q of about 1e-300.
 */
export function regularizedGammaQ(a: number, x: number): number {
  if (!(a > 0) || !(x >= 0)) throw new RangeError(`regularizedGammaQ: need a > 0 and x ≥ 0, got a=${a}, x=${x}`);
  if (x === 0) return 1;
  if (x === Infinity) return 0;
  const front = Math.exp(a * Math.log(x) - x - logGamma(a));
  if (x < a + 1) {
    let term = 1 / a;
    let sum = term;
    for (let n = 1; n < 10_000; n++) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-16) break;
    }
    return Math.max(0, 1 - front * sum);
  }
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let n = 1; n < 10_000; n++) {
    const an = -n * (n - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return front * h;
}

/** P(χ²_df ≥ statistic): the p-value of a chi-square statistic with `df` degrees of freedom. */
export function chiSquarePValue(statistic: number, df: number): number {
  if (!(df >= 1)) throw new RangeError(`chiSquarePValue: need df ≥ 1, got ${df}`);
  return regularizedGammaQ(df / 2, Math.max(0, statistic) / 2);
}

/** The statistic whose p-value is `alpha` at `df` degrees of freedom: the critical value of a test at level `alpha`. */
export function chiSquareCritical(alpha: number, df: number): number {
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`chiSquareCritical: need 0 < alpha < 1, got ${alpha}`);
  let lo = 0;
  let hi = df + 10;
  while (chiSquarePValue(hi, df) > alpha) hi *= 2;
  for (let i = 0; i < 200 && hi - lo > 1e-12 * hi; i++) {
    const mid = (lo + hi) / 2;
    if (chiSquarePValue(mid, df) > alpha) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** The outcome of `chiSquareHomogeneity`. */
export interface HomogeneityResult {
  readonly statistic: number;
  /** Bins after pooling, minus one. */
  readonly df: number;
  readonly pValue: number;
  /** Categories kept as bins of their own (the pooled `other` bin, if any, is one more bin). */
  readonly categories: number;
  /** Categories merged into the `other` bin. */
  readonly pooled: number;
  readonly sizes: readonly [number, number];
}

/**
 * Two-sample chi-square test of homogeneity: were `a` and `b` (category → count) drawn from the same
 * distribution? Categories too rare to carry the χ² approximation (an expected count below `minExpected` in
 * either sample under the null hypothesis) are merged into one `other` bin; should that bin itself stay below
 * `minExpected`, it is merged into the smallest kept bin. Pooling looks only at the combined counts, so it treats
 * both samples alike. Statistic Σ (O − E)² / E over both samples' bins, E = n_sample · combined / n_total; df =
 * bins − 1.
 */
export function chiSquareHomogeneity<K>(a: ReadonlyMap<K, number>, b: ReadonlyMap<K, number>, minExpected = 5): HomogeneityResult {
  const na = sum(a.values());
  const nb = sum(b.values());
  if (na === 0 || nb === 0) throw new RangeError('chiSquareHomogeneity: an empty sample');
  const n = na + nb;
  const keys = new Set<K>([...a.keys(), ...b.keys()]);
  // Expected count of a bin with combined count c in the smaller sample: min(na, nb) · c / n.
  const enough = (combined: number): boolean => (Math.min(na, nb) * combined) / n >= minExpected;
  const bins: Array<[number, number]> = [];
  const other: [number, number] = [0, 0];
  let pooled = 0;
  for (const key of keys) {
    const pair: [number, number] = [a.get(key) ?? 0, b.get(key) ?? 0];
    if (enough(pair[0] + pair[1])) bins.push(pair);
    else {
      other[0] += pair[0];
      other[1] += pair[1];
      pooled++;
    }
  }
  const categories = bins.length;
  if (pooled > 0) {
    if (enough(other[0] + other[1]) || bins.length === 0) bins.push(other);
    else {
      const smallest = bins.reduce((s, bin, i) => (bin[0] + bin[1] < bins[s]![0] + bins[s]![1] ? i : s), 0);
      bins[smallest]![0] += other[0];
      bins[smallest]![1] += other[1];
    }
  }
  let statistic = 0;
  for (const [ca, cb] of bins) {
    const combined = ca + cb;
    const ea = (na * combined) / n;
    const eb = (nb * combined) / n;
    statistic += (ca - ea) ** 2 / ea + (cb - eb) ** 2 / eb;
  }
  const df = bins.length - 1;
  return { statistic, df, pValue: df >= 1 ? chiSquarePValue(statistic, df) : 1, categories, pooled, sizes: [na, nb] };
}

function sum(values: Iterable<number>): number {
  let s = 0;
  for (const v of values) s += v;
  return s;
}
