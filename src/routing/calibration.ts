/**
 * Calibrating the router's threshold, as RouteLLM does (docs/ARCHITECTURE.md#query-level-routing): the threshold
 * that sends a share S of the labelled prompts to the frontier (score ≥ threshold), i.e. the (1 − S) quantile of
 * their scores.
 *
 * "Never the frontier" (S = 0, or a share nearer 0 than any score allows) is a threshold above every score:
 * `Infinity` in memory. JSON cannot hold Infinity, so a router file writes it as `null`
 * (`thresholdToJson` / `thresholdFromJson`).
 */

/** The fraction of `scores` at or above `threshold` (what would go to the frontier). */
export function realisedShare(scores: readonly number[], threshold: number): number {
  if (scores.length === 0) throw new RangeError('realisedShare needs at least one score');
  let count = 0;
  for (const s of scores) if (s >= threshold) count++;
  return count / scores.length;
}

/**
 * The threshold whose realised share of `scores` (score ≥ threshold) is as close to `share` as ties allow: one of
 * the scores themselves, or `Infinity` (nothing goes to the frontier). Share 0 gives `Infinity`, share 1 the
 * lowest score. Where two thresholds are equally close, the one sending fewer prompts to the frontier wins.
 */
export function calibrateThreshold(scores: readonly number[], share: number): number {
  if (scores.length === 0) throw new RangeError('calibrateThreshold needs at least one score');
  if (!(share >= 0 && share <= 1)) throw new RangeError(`the frontier share must lie in [0, 1], got ${share}`);
  for (const s of scores) if (!Number.isFinite(s)) throw new RangeError(`scores must be finite numbers, got ${s}`);
  const sorted = [...scores].sort((a, b) => b - a);
  const target = share * sorted.length;
  let best = Infinity;
  let bestDistance = target; // Infinity sends 0 prompts
  let i = 0;
  while (i < sorted.length) {
    const value = sorted[i]!;
    while (i < sorted.length && sorted[i] === value) i++;
    // `i` scores are ≥ value.
    const distance = Math.abs(i - target);
    if (distance < bestDistance) {
      best = value;
      bestDistance = distance;
    }
  }
  return best;
}

/** A threshold as a router file stores it: `null` for Infinity ("never the frontier"). */
export function thresholdToJson(threshold: number): number | null {
  return threshold === Infinity ? null : threshold;
}

/** A router file's threshold in memory: `null` is Infinity ("never the frontier"). */
export function thresholdFromJson(threshold: number | null): number {
  return threshold === null ? Infinity : threshold;
}
