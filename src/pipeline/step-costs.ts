/**
 * What a lock-step step costs, and the draft length γ that makes the most of it
 * (docs/ARCHITECTURE.md#speculation-that-adapts-to-load). Pure arithmetic: the times come from `specroute profile`
 * and from the passes the batchers measure while serving.
 *
 * A step of B sequences drafting γ tokens each costs γ draft passes (one position of all B drafts each) and one
 * verifier pass over B sequences of γ + 1 tokens, and emits B·E(α, γ) tokens on average. The best γ for B maximises
 *
 *   rate(B, γ) = B · E(α, γ) / (γ · T_draft(B) + T_verify(B, B · (γ + 1)))
 *
 * the hardware-aware ideal of docs/ARCHITECTURE.md#expected-tokens-and-the-ideals applied to a whole batch. Where a
 * verifier pass costs about the same for 1 or 64 tokens (a GPU, or a tiny model) γ stays high at every B; where it
 * grows with its tokens (this CPU and a 59M verifier) γ falls to 0 as B grows: speculation would cost throughput.
 */

/**
 * One measured pass: how many tokens it evaluated, over how many sequences, and how long it took. Without
 * `sequences`, the tokens were spread over min(tokens, 16) sequences (as `specroute profile` measures them).
 */
export interface PassTimePoint {
  readonly tokens: number;
  readonly ms: number;
  readonly sequences?: number | undefined;
}

/** How many sequences a point without `sequences` spread its tokens over. */
export const SPREAD_SEQUENCES = 16;

/**
 * Milliseconds of one pass by the tokens in it: piecewise-linear between measured points, flat below the first,
 * extended with the slope of the last two beyond the last. `observe` refines it online from measured passes.
 */
export class PassTimeCurve {
  private readonly points: Array<{ tokens: number; ms: number }>;
  /** `points` made non-decreasing (`monotoneCurve`), what `at` reads; rebuilt after `observe`. */
  private monotone: PassTimePoint[] | undefined;

  /** `points` need at least one entry; tokens ≥ 1 and ms > 0 each. */
  constructor(points: readonly PassTimePoint[]) {
    if (points.length === 0) throw new RangeError('a pass-time curve needs at least one point');
    for (const p of points) {
      if (!(p.tokens >= 1) || !(p.ms > 0) || !Number.isFinite(p.ms)) throw new RangeError(`bad pass-time point ${JSON.stringify(p)}`);
    }
    const byTokens = new Map<number, number>();
    for (const p of points) byTokens.set(p.tokens, p.ms);
    this.points = [...byTokens].map(([tokens, ms]) => ({ tokens, ms })).sort((a, b) => a.tokens - b.tokens);
  }

  /** The curve's points, fewest tokens first. */
  get measured(): readonly PassTimePoint[] {
    return this.points.map((p) => ({ ...p }));
  }

  /** Estimated milliseconds of a pass over `tokens` tokens (over the curve made non-decreasing: noise never makes more cheaper). */
  at(tokens: number): number {
    const pts = (this.monotone ??= monotoneCurve(this.points));
    const first = pts[0]!;
    if (tokens <= first.tokens || pts.length === 1) return tokens <= first.tokens ? first.ms : first.ms * (tokens / first.tokens);
    for (let i = 1; i < pts.length; i++) {
      const hi = pts[i]!;
      if (tokens <= hi.tokens) {
        const lo = pts[i - 1]!;
        return lo.ms + ((hi.ms - lo.ms) * (tokens - lo.tokens)) / (hi.tokens - lo.tokens);
      }
    }
    const last = pts[pts.length - 1]!;
    const before = pts[pts.length - 2]!;
    const slope = Math.max(0, (last.ms - before.ms) / (last.tokens - before.tokens));
    return last.ms + slope * (tokens - last.tokens);
  }

  /**
   * Folds a measured pass into the curve: the point with the same token count moves toward it by `weight` (an
   * exponential moving average); a token count between points becomes a point of its own, starting from the
   * measurement. Passes of one token count keep their own point, so the curve follows the machine as load and
   * thermal state change.
   */
  observe(tokens: number, ms: number, weight = 0.1): void {
    if (!(tokens >= 1) || !(ms > 0) || !Number.isFinite(ms)) return;
    const at = this.points.findIndex((p) => p.tokens >= tokens);
    const point = at >= 0 ? this.points[at] : undefined;
    if (point && point.tokens === tokens) point.ms += weight * (ms - point.ms);
    else this.points.splice(at < 0 ? this.points.length : at, 0, { tokens, ms });
    this.monotone = undefined;
  }
}

/**
 * The step costs `specroute profile` measures (`batching.profile` in the config): `alpha`, the pair's acceptance
 * rate; `verify`, a verifier pass by its tokens; `draft`, a draft pass by its sequences (one token each; absent
 * without a draft); `gammaByBatchSize`, the recommended γ for 1, 2, … sequences in a step (the last entry holds
 * beyond its end).
 */
export interface StepProfile {
  readonly alpha: number;
  readonly verify: readonly PassTimePoint[];
  readonly draft?: readonly PassTimePoint[] | undefined;
  readonly gammaByBatchSize: readonly number[];
  /** Where and when it was measured (informative). */
  readonly machine?: string | undefined;
  readonly measuredAt?: string | undefined;
}

/**
 * A verifier pass by its sequences and tokens: T(B, n) = S(B) + p·(n − B), where S(B) is a pass of B sequences
 * with one token each (a curve: passes of many sequences cost more than their tokens alone, as each sequence brings
 * its own attention and bookkeeping) and p what each further token costs. Measured both ways by the profile and
 * the boot calibration; `observe` refines S from one-token passes and p from the others.
 */
export class VerifyCosts {
  private readonly bySequences: PassTimeCurve;
  private perToken: number;

  constructor(points: readonly PassTimePoint[]) {
    if (points.length === 0) throw new RangeError('verifier pass costs need at least one point');
    const spread = points.map((p) => ({ ...p, sequences: p.sequences ?? Math.min(p.tokens, SPREAD_SEQUENCES) }));
    const single = spread.filter((p) => p.tokens <= p.sequences);
    this.bySequences = new PassTimeCurve((single.length > 0 ? single : spread).map((p) => ({ tokens: p.sequences, ms: p.ms })));
    const extra = spread
      .filter((p) => p.tokens > p.sequences)
      .map((p) => (p.ms - this.bySequences.at(p.sequences)) / (p.tokens - p.sequences))
      .filter((x) => x > 0 && Number.isFinite(x))
      .sort((a, b) => a - b);
    const curve = this.bySequences.measured;
    const last = curve[curve.length - 1]!;
    // Without passes of several tokens per sequence, a token costs what another sequence does at the curve's end.
    this.perToken = extra[Math.floor(extra.length / 2)] ?? (curve.length > 1 ? Math.max(0, (last.ms - curve[0]!.ms) / (last.tokens - curve[0]!.tokens)) : last.ms);
  }

  /** Estimated milliseconds of a pass over `tokens` tokens of `sequences` sequences. */
  at(sequences: number, tokens: number): number {
    const b = Math.max(1, sequences);
    return this.bySequences.at(b) + this.perToken * Math.max(0, tokens - b);
  }

  /** What one more token of a sequence costs in a pass, in ms. */
  get tokenMs(): number {
    return this.perToken;
  }

  /**
   * Folds a measured pass in (exponential moving averages): a one-token-each pass into S; a pass with at least one
   * further token per sequence on average into p. A pass with fewer further tokens says little about p: the
   * pass's noise would be divided by a handful of tokens.
   */
  observe(sequences: number, tokens: number, ms: number, weight = 0.1): void {
    if (!(sequences >= 1) || !(tokens >= sequences) || !(ms > 0) || !Number.isFinite(ms)) return;
    if (tokens === sequences) return this.bySequences.observe(sequences, ms, weight);
    if (tokens < 2 * sequences) return;
    const estimate = (ms - this.bySequences.at(sequences)) / (tokens - sequences);
    if (estimate > 0 && Number.isFinite(estimate)) this.perToken += weight * (estimate - this.perToken);
  }
}

/** The costs of a step for one served pair. */
export interface StepCosts {
  /** A verifier pass by its sequences and tokens. */
  readonly verify: VerifyCosts;
  /** One draft pass (one token for each drafting sequence) by the number of sequences in it. */
  readonly draft: PassTimeCurve;
}

/**
 * Expected tokens emitted per verifier pass when each drafted token is accepted independently with probability
 * `alpha` and `gamma` tokens are drafted: E = (1 − α^(γ+1)) / (1 − α), with the limit γ + 1 at α = 1.
 * (The accepted prefix plus the one correction or bonus token.)
 */
export function expectedTokensPerPass(alpha: number, gamma: number): number {
  if (alpha < 0 || alpha > 1) throw new RangeError(`alpha must be in [0, 1], got ${alpha}`);
  if (gamma < 0) throw new RangeError(`gamma must be non-negative, got ${gamma}`);
  if (alpha === 1) return gamma + 1;
  return (1 - alpha ** (gamma + 1)) / (1 - alpha);
}

/** Tokens per millisecond of a step of `batch` sequences drafting `gamma` tokens each (see the file's comment). */
export function stepRate(batch: number, gamma: number, alpha: number, costs: StepCosts): number {
  const ms = gamma * costs.draft.at(batch) + costs.verify.at(batch, batch * (gamma + 1));
  return (batch * expectedTokensPerPass(alpha, gamma)) / ms;
}

/** The γ in `0..maxGamma` with the highest `stepRate` for `batch` sequences; the smaller γ on a tie. */
export function bestGamma(batch: number, alpha: number, costs: StepCosts, maxGamma: number): number {
  let best = 0;
  let bestRate = stepRate(batch, 0, alpha, costs);
  for (let gamma = 1; gamma <= maxGamma; gamma++) {
    const rate = stepRate(batch, gamma, alpha, costs);
    if (rate > bestRate * (1 + 1e-9)) {
      best = gamma;
      bestRate = rate;
    }
  }
  return best;
}

/** `bestGamma` for every batch size from 1 to `maxBatch`: entry i is the γ for i + 1 sequences. */
export function gammaByBatchSize(maxBatch: number, alpha: number, costs: StepCosts, maxGamma: number): number[] {
  return Array.from({ length: maxBatch }, (_, i) => bestGamma(i + 1, alpha, costs, maxGamma));
}

/** The step costs a profile describes (the draft's absent without a draft: then no γ but 0 pays). */
export function stepCostsOf(profile: Pick<StepProfile, 'verify' | 'draft'>): StepCosts {
  return {
    verify: new VerifyCosts(profile.verify),
    draft: new PassTimeCurve(profile.draft ?? [{ tokens: 1, ms: Number.MAX_VALUE / 1e6 }]),
  };
}

/**
 * A measured curve made non-decreasing in its tokens (pool-adjacent-violators: each run of points where a larger
 * pass timed faster becomes their mean). A pass over more tokens never costs less; an inversion is noise from
 * other load, and left in it would make γ or the batch size jump on a single unlucky figure.
 */
export function monotoneCurve(points: readonly PassTimePoint[]): PassTimePoint[] {
  const sorted = [...points].sort((a, b) => a.tokens - b.tokens);
  const blocks: Array<{ sum: number; n: number }> = [];
  for (const p of sorted) {
    blocks.push({ sum: p.ms, n: 1 });
    while (blocks.length > 1 && blocks.at(-2)!.sum / blocks.at(-2)!.n > blocks.at(-1)!.sum / blocks.at(-1)!.n) {
      const last = blocks.pop()!;
      blocks.at(-1)!.sum += last.sum;
      blocks.at(-1)!.n += last.n;
    }
  }
  const out: PassTimePoint[] = [];
  let i = 0;
  for (const block of blocks) for (let k = 0; k < block.n; k++) out.push({ tokens: sorted[i++]!.tokens, ms: block.sum / block.n });
  return out;
}
