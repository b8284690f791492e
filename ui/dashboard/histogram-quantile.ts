/** One cumulative bucket of a histogram: how many observations were at most `upperBound`. */
export interface Bucket {
  readonly upperBound: number;
  readonly count: number;
}

/**
 * The `q`-quantile (0 ≤ q ≤ 1) of a histogram's cumulative buckets, as Prometheus's `histogram_quantile` computes
 * it: the first bucket whose count reaches the rank `q × observations` holds the answer, interpolated linearly
 * between that bucket's lower bound (the previous bucket's upper bound; 0 for the first bucket) and its upper bound.
 * A rank that only the `+Inf` bucket reaches answers the highest finite bound; a first bucket bounded at or below 0
 * answers its bound. Counts that fall from one bucket to the next (a scrape taken mid-update) are raised to stay
 * monotonic, as Prometheus does.
 *
 * Returns null when there is nothing to tell: no observations, no `+Inf` bucket, or fewer than two buckets.
 */
export function histogramQuantile(q: number, buckets: readonly Bucket[]): number | null {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`a quantile is between 0 and 1, not ${q}`);
  const sorted = [...buckets].sort((a, b) => a.upperBound - b.upperBound);
  if (sorted.length < 2 || sorted[sorted.length - 1]!.upperBound !== Infinity) return null;
  let floor = 0;
  const counts = sorted.map((bucket) => (floor = Math.max(floor, bucket.count)));
  const observations = counts[counts.length - 1]!;
  if (observations === 0) return null;
  const rank = q * observations;
  const b = counts.findIndex((count) => count >= rank);
  if (b === sorted.length - 1) return sorted[b - 1]!.upperBound;
  const end = sorted[b]!.upperBound;
  if (b === 0 && end <= 0) return end;
  const start = b === 0 ? 0 : sorted[b - 1]!.upperBound;
  const below = b === 0 ? 0 : counts[b - 1]!;
  const inBucket = counts[b]! - below;
  return inBucket === 0 ? start : start + (end - start) * ((rank - below) / inBucket);
}
