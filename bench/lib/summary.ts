/** Order statistics of repeated measurements. */
export interface Summary {
  /** Number of values. */
  readonly n: number;
  readonly median: number;
  readonly mean: number;
  /** 10th and 90th percentiles (linear interpolation). */
  readonly p10: number;
  readonly p90: number;
  readonly min: number;
  readonly max: number;
}

/** The q-quantile (0 ≤ q ≤ 1) of `values`, interpolating linearly between order statistics; NaN when empty. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/** The median of `values` (the mean of the middle two for an even count); NaN when empty. */
export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

/** n, median, mean, p10, p90, min and max of `values`. */
export function summarize(values: readonly number[]): Summary {
  const n = values.length;
  return {
    n,
    median: median(values),
    mean: n > 0 ? values.reduce((a, b) => a + b, 0) / n : Number.NaN,
    p10: quantile(values, 0.1),
    p90: quantile(values, 0.9),
    min: n > 0 ? Math.min(...values) : Number.NaN,
    max: n > 0 ? Math.max(...values) : Number.NaN,
  };
}
