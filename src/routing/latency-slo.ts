import type { LocalLoad } from '../contract/tier-router.js';

/** `routing.slo`: the local tiers' latency objective. */
export interface LatencySloOptions {
  /** The local tiers' time to first token at the 95th percentile, in milliseconds, that must not be exceeded. */
  readonly ttftP95Ms: number;
  /**
   * The sliding window the p95 is taken over, in seconds.
   *
   * Defaults to `30`.
   */
  readonly windowSeconds: number;
  /**
   * Hysteresis: once spilling, traffic returns to the local tiers only when both the p95 and the projected wait are
   * below `recoverRatio × ttftP95Ms`.
   *
   * Defaults to `0.8`.
   */
  readonly recoverRatio: number;
}

export const defaultLatencySlo = { windowSeconds: 30, recoverRatio: 0.8 } as const;

/** Weight of a new observation in the EMA of how long a local request holds its sequence. */
const SERVICE_EMA_ALPHA = 0.2;

/**
 * The local tiers against their latency SLO (docs/ARCHITECTURE.md#adaptive-routing). Two readings:
 * - the p95 of local requests' time to first token (queueing included) over the last `windowSeconds`;
 * - the projected wait of a request admitted now: when every sequence is taken, the requests ahead of it (those
 *   queued, and itself) over the sequences, times the EMA-smoothed time a request holds a sequence.
 *
 * `breached` turns on when either exceeds `ttftP95Ms` and off, with hysteresis, when both fall below
 * `recoverRatio × ttftP95Ms`. While spilling, new local samples are few, so the p95 recovers as old samples leave
 * the window and the queue drains.
 */
export class LatencySlo {
  private samples: Array<{ at: number; ms: number }> = [];
  private serviceEmaMs: number | undefined;
  private spilling = false;

  constructor(
    readonly options: LatencySloOptions,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** A local request's first token, `ms` after admission. */
  recordFirstToken(ms: number): void {
    this.samples.push({ at: this.now(), ms });
  }

  /** A local request let go of its sequence after holding it `ms`. */
  recordServed(ms: number): void {
    this.serviceEmaMs = this.serviceEmaMs === undefined ? ms : this.serviceEmaMs + SERVICE_EMA_ALPHA * (ms - this.serviceEmaMs);
  }

  /** The p95 of the window's first-token times, in milliseconds (0 with no sample in the window). */
  get p95Ms(): number {
    this.prune();
    if (this.samples.length === 0) return 0;
    const sorted = this.samples.map((s) => s.ms).sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.ceil(0.95 * sorted.length) - 1)]!;
  }

  /** How long a request admitted now would wait for a sequence, in milliseconds (0 while one is free). */
  projectedWaitMs(load: LocalLoad): number {
    if (load.active < load.maxConcurrent || this.serviceEmaMs === undefined) return 0;
    return ((load.queued + 1) / Math.max(1, load.maxConcurrent)) * this.serviceEmaMs;
  }

  /** Whether the SLO is breached now (with hysteresis), which sends new `auto` requests to the frontier. */
  breached(load: LocalLoad): boolean {
    const worst = Math.max(this.p95Ms, this.projectedWaitMs(load));
    if (!this.spilling && worst > this.options.ttftP95Ms) this.spilling = true;
    else if (this.spilling && worst < this.options.recoverRatio * this.options.ttftP95Ms) this.spilling = false;
    return this.spilling;
  }

  /** The state `breached` last left (for metrics). */
  get isSpilling(): boolean {
    return this.spilling;
  }

  private prune(): void {
    const since = this.now() - this.options.windowSeconds * 1000;
    let drop = 0;
    while (drop < this.samples.length && this.samples[drop]!.at < since) drop++;
    if (drop > 0) this.samples = this.samples.slice(drop);
  }
}
