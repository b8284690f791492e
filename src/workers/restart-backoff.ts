/**
 * When to restart a model worker whose thread died (docs/ARCHITECTURE.md#workers-that-recover). A thread that ran
 * for a while before it died is restarted at once; one that keeps dying soon after its load, or a load that keeps
 * failing, waits longer each time (doubling, capped), so a crash loop never spins.
 */
export interface RestartBackoffOptions {
  /** The delay before the second attempt in a row; each further attempt waits twice as long. Defaults to `250`. */
  readonly baseMs: number;
  /** The longest delay between attempts. Defaults to `30000`. */
  readonly maxMs: number;
  /**
   * A thread that stayed up this long after its load counts as stable: when it dies, the count of attempts starts
   * over (an immediate restart). Defaults to `60000`.
   */
  readonly stableMs: number;
}

export const defaultRestartBackoff: RestartBackoffOptions = { baseMs: 250, maxMs: 30_000, stableMs: 60_000 };

export class RestartBackoff {
  private readonly options: RestartBackoffOptions;
  /** Attempts since the last stable run. */
  private attempts = 0;
  /** When the running thread loaded; undefined while none runs (after a death or a failed load). */
  private upSince: number | undefined;

  /** `now` in milliseconds (a clock for tests). The worker starts out up: its first load has just succeeded. */
  constructor(options: Partial<RestartBackoffOptions> = {}, private readonly now: () => number = () => performance.now()) {
    this.options = { ...defaultRestartBackoff, ...options };
    this.upSince = now();
  }

  /** The model loaded on a new thread. */
  loaded(): void {
    this.upSince = this.now();
  }

  /** The thread died, or a restart attempt failed: milliseconds to wait before the next attempt. */
  failed(): number {
    if (this.upSince !== undefined && this.now() - this.upSince >= this.options.stableMs) this.attempts = 0;
    this.upSince = undefined;
    const delay = this.attempts === 0 ? 0 : Math.min(this.options.maxMs, this.options.baseMs * 2 ** (this.attempts - 1));
    this.attempts++;
    return delay;
  }
}
