/**
 * How good a router's ranking is, RouteLLM-style (docs/ARCHITECTURE.md#query-level-routing): the cost–quality
 * curve, APGR, its area, and the share of the oracle's gain over random that the router recovers.
 *
 * - Quality at share s: the top s·n prompts by score go to the frontier, the rest stay local; Q(s) is the mean of
 *   quality.frontier over the first and quality[local] over the rest. s·n need not be whole: the curve runs
 *   linearly between whole counts (a fraction of the next prompt), and prompts with tied scores are one block
 *   the router cannot tell apart, each counted at the block's mean gain (the expectation over tie orders). So a
 *   random router (every score tied) has Q(s) = Q_local + s·(Q_frontier − Q_local) and APGR(s) = s exactly.
 * - APGR(s) = (Q(s) − Q_local) / (Q_frontier − Q_local). When Q_frontier = Q_local there is no room to recover:
 *   APGR is undefined and reported as `null`, with a note.
 * - The oracle ranks by true gain (quality.frontier − quality[local]), highest first.
 * - AUC: the area under APGR(s) for s in [0, 1], trapezoid on the 1 % grid (random: 0.5).
 * - Gain over random recovered at s: (APGR_router(s) − s) / (APGR_oracle(s) − s); `null` where the oracle does
 *   no better than random (s = 0, s = 1, or every prompt with the same gain).
 */

/** One prompt's quality on the local tier the router routes away from, and on the frontier. */
export interface QualityPair {
  readonly local: number;
  readonly frontier: number;
}

/** A cost–quality curve on the 1 % grid. */
export interface CostQualityCurve {
  /** Frontier shares 0, 0.01, …, 1. */
  readonly shares: readonly number[];
  /** Mean quality at each share. */
  readonly quality: readonly number[];
  /** APGR at each share; `null` when there is no room (Q_frontier = Q_local). */
  readonly apgr: readonly (number | null)[];
  /** Area under the APGR curve (trapezoid on the grid); `null` when there is no room. */
  readonly auc: number | null;
}

/** APGR of the three rankings at one share. */
export interface ApgrAtShare {
  readonly share: number;
  readonly router: number | null;
  /** Exactly `share` (when there is room). */
  readonly random: number | null;
  readonly oracle: number | null;
  /** (router − share) / (oracle − share); `null` where the oracle is no better than random. */
  readonly gainOverRandomRecovered: number | null;
}

/** The whole evaluation of a router's scores on labelled prompts. */
export interface RoutingEvaluation {
  readonly rows: number;
  /** Mean quality with every prompt local. */
  readonly qualityLocal: number;
  /** Mean quality with every prompt on the frontier. */
  readonly qualityFrontier: number;
  /** Whether Q_frontier ≠ Q_local, so APGR is defined. */
  readonly hasRoom: boolean;
  /** What a reader must know about these numbers (no room, a frontier worse than local…). */
  readonly notes: readonly string[];
  readonly curves: { readonly router: CostQualityCurve; readonly random: CostQualityCurve; readonly oracle: CostQualityCurve };
  /** At the reported shares (10, 20, 30 and 50 % unless asked otherwise). */
  readonly apgrAt: readonly ApgrAtShare[];
}

/** The router at one threshold: what it sends to the frontier on these prompts and what that recovers. */
export interface ThresholdEvaluation {
  readonly threshold: number;
  /** How many prompts score ≥ threshold. */
  readonly frontierCount: number;
  /** frontierCount / rows. */
  readonly share: number;
  readonly quality: number;
  readonly apgr: number | null;
  /** The oracle's APGR at the same share. */
  readonly oracleApgr: number | null;
  readonly gainOverRandomRecovered: number | null;
}

/** The shares reported by default. */
export const reportedShares = [0.1, 0.2, 0.3, 0.5] as const;

/** |Q_frontier − Q_local| at or below this is "no room". */
const NO_ROOM = 1e-12;

/** The grid 0, 0.01, …, 1, each computed as i/100. */
export const shareGrid: readonly number[] = Array.from({ length: 101 }, (_, i) => i / 100);

/**
 * Cumulative gain of a ranking: `counts[j]` prompts sent (tie blocks whole) gain `gains[j]` in total. Between
 * the points the total runs linearly (a fraction of the block, each member at the block's mean gain).
 */
interface GainProfile {
  readonly counts: readonly number[];
  readonly gains: readonly number[];
}

function gainProfile(pairs: readonly QualityPair[], scores: readonly number[]): GainProfile {
  const order = scores.map((_, i) => i).sort((a, b) => scores[b]! - scores[a]! || a - b);
  const counts = [0];
  const gains = [0];
  let i = 0;
  let total = 0;
  while (i < order.length) {
    const value = scores[order[i]!]!;
    while (i < order.length && scores[order[i]!] === value) {
      const pair = pairs[order[i]!]!;
      total += pair.frontier - pair.local;
      i++;
    }
    counts.push(i);
    gains.push(total);
  }
  return { counts, gains };
}

/** The total gain when `k` (possibly fractional) prompts go to the frontier. */
function gainAt(profile: GainProfile, k: number): number {
  const { counts, gains } = profile;
  if (k <= 0) return 0;
  const last = counts.length - 1;
  if (k >= counts[last]!) return gains[last]!;
  let lo = 0;
  let hi = last;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (counts[mid]! <= k) lo = mid;
    else hi = mid;
  }
  const c0 = counts[lo]!;
  const c1 = counts[hi]!;
  return gains[lo]! + ((gains[hi]! - gains[lo]!) * (k - c0)) / (c1 - c0);
}

/** s·n, snapped to a whole count when rounding error is all that separates them. */
function countAt(share: number, n: number): number {
  const k = share * n;
  const whole = Math.round(k);
  return Math.abs(k - whole) < 1e-9 ? whole : k;
}

function checkInputs(pairs: readonly QualityPair[], scores: readonly number[]): void {
  if (pairs.length === 0) throw new RangeError('routing evaluation needs at least one prompt');
  if (pairs.length !== scores.length) throw new RangeError(`${pairs.length} prompts but ${scores.length} scores`);
  pairs.forEach((p, i) => {
    if (!Number.isFinite(p.local) || !Number.isFinite(p.frontier)) throw new RangeError(`prompt ${i}: qualities must be finite numbers`);
  });
  scores.forEach((s, i) => {
    if (Number.isNaN(s)) throw new RangeError(`score ${i} is NaN`);
  });
}

function means(pairs: readonly QualityPair[]): { local: number; frontier: number } {
  let local = 0;
  let frontier = 0;
  for (const p of pairs) {
    local += p.local;
    frontier += p.frontier;
  }
  return { local: local / pairs.length, frontier: frontier / pairs.length };
}

/** APGR for a mean quality, or `null` when Q_frontier = Q_local (no room). */
export function apgr(quality: number, qualityLocal: number, qualityFrontier: number): number | null {
  const room = qualityFrontier - qualityLocal;
  return Math.abs(room) <= NO_ROOM ? null : (quality - qualityLocal) / room;
}

/** (router − s) / (oracle − s), or `null` when either is undefined or the oracle is no better than random at s. */
export function gainOverRandomRecovered(routerApgr: number | null, oracleApgr: number | null, share: number): number | null {
  if (routerApgr === null || oracleApgr === null) return null;
  const headroom = oracleApgr - share;
  return Math.abs(headroom) <= NO_ROOM ? null : (routerApgr - share) / headroom;
}

/** The oracle's scores: the true gain of each prompt. */
export function oracleScores(pairs: readonly QualityPair[]): number[] {
  return pairs.map((p) => p.frontier - p.local);
}

/** Mean quality when the top `share` of prompts by score go to the frontier (ties and fractions as above). */
export function qualityAtShare(pairs: readonly QualityPair[], scores: readonly number[], share: number): number {
  checkInputs(pairs, scores);
  if (!(share >= 0 && share <= 1)) throw new RangeError(`the frontier share must lie in [0, 1], got ${share}`);
  return means(pairs).local + gainAt(gainProfile(pairs, scores), countAt(share, pairs.length)) / pairs.length;
}

function curve(profile: GainProfile, n: number, qualityLocal: number, qualityFrontier: number): CostQualityCurve {
  const quality = shareGrid.map((s, i) => qualityLocal + gainAt(profile, (i * n) / 100) / n);
  const apgrs = quality.map((q, i) => (i === 0 ? apgr(qualityLocal, qualityLocal, qualityFrontier) : i === 100 ? apgr(qualityFrontier, qualityLocal, qualityFrontier) : apgr(q, qualityLocal, qualityFrontier)));
  let auc: number | null = null;
  if (apgrs.every((a) => a !== null)) {
    auc = 0;
    for (let i = 0; i < 100; i++) auc += ((apgrs[i]! + apgrs[i + 1]!) / 2) * 0.01;
  }
  return { shares: shareGrid, quality, apgr: apgrs, auc };
}

/**
 * The router's curve beside random's and the oracle's, and APGR at `shares` (defaults to 10, 20, 30 and 50 %).
 * `scores[i]` is the router's score for `pairs[i]` (higher: more deserving of the frontier).
 */
export function evaluateRouting(pairs: readonly QualityPair[], scores: readonly number[], shares: readonly number[] = reportedShares): RoutingEvaluation {
  checkInputs(pairs, scores);
  const n = pairs.length;
  const { local: qualityLocal, frontier: qualityFrontier } = means(pairs);
  const hasRoom = apgr(qualityFrontier, qualityLocal, qualityFrontier) !== null;
  const notes: string[] = [];
  if (!hasRoom) {
    notes.push(
      `no room to route: the frontier's mean quality equals the local tier's (${qualityFrontier.toFixed(4)}) on these ${n} prompts, so APGR (a ratio over their difference) is undefined and reported as null`,
    );
  } else if (qualityFrontier < qualityLocal) {
    notes.push(`the frontier's mean quality (${qualityFrontier.toFixed(4)}) is below the local tier's (${qualityLocal.toFixed(4)}): APGR's scale is inverted (higher APGR means lower quality)`);
  }
  const routerProfile = gainProfile(pairs, scores);
  const oracleProfile = gainProfile(pairs, oracleScores(pairs));
  const randomProfile = gainProfile(pairs, new Array<number>(n).fill(0));
  const gains = oracleScores(pairs);
  const spread = gains.reduce((hi, g) => Math.max(hi, g), -Infinity) - gains.reduce((lo, g) => Math.min(lo, g), Infinity);
  if (hasRoom && spread <= NO_ROOM) {
    notes.push('every prompt has the same gain, so the oracle is no better than random and "gain over random recovered" is undefined (null)');
  }
  const curves = {
    router: curve(routerProfile, n, qualityLocal, qualityFrontier),
    random: curve(randomProfile, n, qualityLocal, qualityFrontier),
    oracle: curve(oracleProfile, n, qualityLocal, qualityFrontier),
  };
  const at = (profile: GainProfile, s: number): number | null => apgr(qualityLocal + gainAt(profile, countAt(s, n)) / n, qualityLocal, qualityFrontier);
  const apgrAt = shares.map((share): ApgrAtShare => {
    if (!(share >= 0 && share <= 1)) throw new RangeError(`the frontier share must lie in [0, 1], got ${share}`);
    const router = at(routerProfile, share);
    const oracle = at(oracleProfile, share);
    return { share, router, random: hasRoom ? share : null, oracle, gainOverRandomRecovered: gainOverRandomRecovered(router, oracle, share) };
  });
  return { rows: n, qualityLocal, qualityFrontier, hasRoom, notes, curves, apgrAt };
}

/** What the router does at `threshold` on these prompts: every prompt with score ≥ threshold goes to the frontier. */
export function evaluateAtThreshold(pairs: readonly QualityPair[], scores: readonly number[], threshold: number): ThresholdEvaluation {
  checkInputs(pairs, scores);
  const n = pairs.length;
  const { local: qualityLocal, frontier: qualityFrontier } = means(pairs);
  let frontierCount = 0;
  let total = 0;
  pairs.forEach((p, i) => {
    if (scores[i]! >= threshold) {
      frontierCount++;
      total += p.frontier;
    } else {
      total += p.local;
    }
  });
  const share = frontierCount / n;
  const quality = total / n;
  const routerApgr = frontierCount === 0 ? apgr(qualityLocal, qualityLocal, qualityFrontier) : frontierCount === n ? apgr(qualityFrontier, qualityLocal, qualityFrontier) : apgr(quality, qualityLocal, qualityFrontier);
  const oracleApgr = apgr(qualityLocal + gainAt(gainProfile(pairs, oracleScores(pairs)), frontierCount) / n, qualityLocal, qualityFrontier);
  return { threshold, frontierCount, share, quality, apgr: routerApgr, oracleApgr, gainOverRandomRecovered: gainOverRandomRecovered(routerApgr, oracleApgr, share) };
}
