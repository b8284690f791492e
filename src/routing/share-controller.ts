import { calibrateThreshold } from './calibration.js';

/** `routing.controller`: how the router's threshold follows traffic to hold `routing.targetFrontierShare`. */
export interface ShareControllerOptions {
  /**
   * Whether the threshold adapts at all (otherwise it stays where calibration put it).
   *
   * Defaults to `true`.
   */
  readonly enabled: boolean;
  /**
   * The recent router scores the threshold is a quantile of, as a count of requests.
   *
   * Defaults to `50`.
   */
  readonly window: number;
  /**
   * Weight of each decision in the EMA of the observed frontier share (larger reacts faster, and is noisier).
   *
   * Defaults to `0.1`.
   */
  readonly smoothing: number;
}

export const defaultShareController: ShareControllerOptions = { enabled: true, window: 50, smoothing: 0.1 };

/**
 * Where replicas keep one controller state (`state.redis`): every replica's decisions update one EMA and one window
 * of scores, atomically, and each replica's threshold follows them.
 */
export interface SharedShareState {
  /**
   * Records a decision; the EMA of the share and the recent scores (oldest first) after it, or undefined when the
   * shared state did not answer (the replica goes on with its own).
   */
  observe(score: number, toFrontier: boolean): Promise<{ share: number; scores: number[] } | undefined>;
}

/**
 * Holds the share of router decisions that go to the frontier near a target as traffic drifts
 * (docs/ARCHITECTURE.md#adaptive-routing). The threshold is the quantile of the last `window` scores that would
 * send the aimed-for share of them to the frontier (the calibration rule, applied to live traffic), and the aim
 * corrects for the error of the observed share (its EMA): aim = target + (target − EMA), clamped to [0, 1].
 *
 * The target itself falls as the frontier's hourly cost budget is used up: it holds while at most half the budget
 * is spent, then shrinks linearly to 0 when all of it is (`budgetUsed`).
 *
 * Until the window has seen `window` live scores it is filled from the router's training scores (an evenly spaced
 * sample of them), so the first requests meet the calibrated threshold.
 */
export class ShareController {
  private readonly scores: number[];
  private emaShare: number;
  private current: number;

  constructor(
    readonly target: number,
    trainingScores: readonly number[],
    readonly options: ShareControllerOptions = defaultShareController,
    /** The fraction of the hour's frontier cost budget spent, in [0, 1]; 0 without a cost cap. */
    private readonly budgetUsed: () => number = () => 0,
    /** Shared with other replicas; by default, this replica's own. */
    private readonly shared?: SharedShareState,
  ) {
    const sorted = [...trainingScores].sort((a, b) => a - b);
    const n = Math.min(options.window, sorted.length);
    // Evenly spaced quantiles of the training scores, shuffled by a fixed stride so that live scores replace a
    // spread of them rather than one end. The stride must be coprime with n to visit every quantile once.
    let stride = 37 % n || 1;
    while (gcd(stride, n) !== 1) stride++;
    this.scores = Array.from({ length: n }, (_, i) => sorted[Math.floor(((i * stride) % n + 0.5) * (sorted.length / n))]!);
    this.emaShare = target;
    this.current = this.scores.length > 0 ? calibrateThreshold(this.scores, this.aim()) : Infinity;
  }

  /** The share aimed for now: the target, lowered as the cost budget runs out. */
  get effectiveTarget(): number {
    const used = Math.min(1, Math.max(0, this.budgetUsed()));
    return this.target * Math.min(1, 2 * (1 - used));
  }

  /** The EMA of the observed frontier share of router decisions. */
  get observedShare(): number {
    return this.emaShare;
  }

  /** The threshold for the next decision: route to the frontier when score ≥ threshold. */
  get threshold(): number {
    return this.current;
  }

  /**
   * Records one decision (its score and whether it went to the frontier) and moves the threshold. With shared
   * state, the threshold then follows every replica's decisions as soon as Redis answers.
   */
  observe(score: number, toFrontier: boolean): void {
    if (!Number.isFinite(score)) return;
    this.emaShare += this.options.smoothing * ((toFrontier ? 1 : 0) - this.emaShare);
    this.scores.push(score);
    if (this.scores.length > this.options.window) this.scores.shift();
    this.current = calibrateThreshold(this.scores, this.aim());
    void this.shared?.observe(score, toFrontier).then((state) => {
      if (!state) return;
      this.emaShare = state.share;
      // The shared window, topped up from this replica's own (its seed from training) until it is full.
      const own = this.scores.slice(0, Math.max(0, this.options.window - state.scores.length));
      this.scores.splice(0, this.scores.length, ...own, ...state.scores.slice(-this.options.window));
      this.current = calibrateThreshold(this.scores, this.aim());
    });
  }

  private aim(): number {
    const target = this.effectiveTarget;
    return Math.min(1, Math.max(0, target + (target - this.emaShare)));
  }
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}
