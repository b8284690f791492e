/** Circuit breaker settings. */
export interface CircuitBreakerOptions {
  /**
   * Consecutive failures that open the breaker.
   *
   * Defaults to `3`.
   */
  failureThreshold: number;
  /**
   * How long the breaker stays open before letting probe calls through (half-open), in ms.
   *
   * Defaults to `10000`.
   */
  cooldownMs: number;
  /**
   * Calls let through while half-open; one success closes the breaker, one failure opens it again.
   *
   * Defaults to `1`.
   */
  halfOpenProbes: number;
}

export const defaultCircuitBreaker: CircuitBreakerOptions = { failureThreshold: 3, cooldownMs: 10_000, halfOpenProbes: 1 };

export type BreakerState = 'closed' | 'open' | 'half-open';

/** The classic three-state breaker in front of the frontier. Time is injectable for tests. */
export class CircuitBreaker {
  private failures = 0;
  private openedAt = 0;
  private probes = 0;
  private stateValue: BreakerState = 'closed';

  constructor(
    private readonly options: CircuitBreakerOptions,
    private readonly now: () => number = Date.now,
    private readonly onChange: (state: BreakerState) => void = () => undefined,
  ) {}

  get state(): BreakerState {
    if (this.stateValue === 'open' && this.now() - this.openedAt >= this.options.cooldownMs) this.set('half-open');
    return this.stateValue;
  }

  /** Asks to make a call; true means go ahead (and report the outcome), false means skip the frontier. */
  tryAcquire(): boolean {
    const state = this.state;
    if (state === 'closed') return true;
    if (state === 'open') return false;
    if (this.probes >= this.options.halfOpenProbes) return false;
    this.probes++;
    return true;
  }

  /** A call that ended with no verdict (the client went away): frees its half-open probe. */
  abandon(): void {
    if (this.stateValue === 'half-open' && this.probes > 0) this.probes--;
  }

  success(): void {
    this.failures = 0;
    this.set('closed');
  }

  failure(): void {
    this.failures++;
    if (this.stateValue === 'half-open' || this.failures >= this.options.failureThreshold) {
      this.openedAt = this.now();
      this.set('open');
    }
  }

  private set(state: BreakerState): void {
    if (state === this.stateValue) return;
    this.stateValue = state;
    this.probes = 0;
    this.onChange(state);
  }
}
