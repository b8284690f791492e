/** Limits on what escalation may spend. */
export interface BudgetOptions {
  /**
   * Most frontier tokens per request. `0` disables escalation in effect.
   *
   * Defaults to `64`.
   */
  maxTokensPerRequest: number;
  /**
   * Most frontier calls per request.
   *
   * Defaults to `4`.
   */
  maxCallsPerRequest: number;
  /**
   * Most frontier calls per minute across all requests (sliding window).
   *
   * Defaults to `60`.
   */
  callsPerMinute: number;
  /**
   * Most spent per hour across all requests (sliding window), in the currency of the prices. `0` means no cap.
   *
   * Defaults to `0`.
   */
  maxCostPerHour: number;
  /**
   * Price per million input (prompt) tokens sent to the frontier.
   *
   * Defaults to `0`.
   */
  inputPricePerMillion: number;
  /**
   * Price per million output tokens from the frontier.
   *
   * Defaults to `0`.
   */
  outputPricePerMillion: number;
}

export const defaultBudget: BudgetOptions = {
  maxTokensPerRequest: 64,
  maxCallsPerRequest: 4,
  callsPerMinute: 60,
  maxCostPerHour: 0,
  inputPricePerMillion: 0,
  outputPricePerMillion: 0,
};

/** Why a call was not allowed. */
export type BudgetRefusal = 'request_tokens' | 'request_calls' | 'calls_per_minute' | 'cost_per_hour';

/** A granted call: the most it may produce, and how to settle it with what it really used. */
export interface BudgetGrant {
  readonly maxTokens: number;
  settle(used: { inputTokens: number; outputTokens: number }): void;
}

/**
 * The global budget, shared by all requests. Every grant reserves the worst case up front (the call itself, and
 * the cost of `maxTokens` output), synchronously, so concurrent requests can never overshoot; settling returns
 * what the call did not use.
 */
export class GlobalBudget {
  private calls: number[] = [];
  private spend: Array<{ at: number; cost: number }> = [];

  constructor(
    readonly options: BudgetOptions,
    private readonly now: () => number = Date.now,
  ) {}

  /** What a call of `input` prompt and `output` generated tokens costs at the configured prices. */
  costOf(input: number, output: number): number {
    return (input * this.options.inputPricePerMillion + output * this.options.outputPricePerMillion) / 1e6;
  }

  /** Spent in the last hour, reservations included. */
  get spentLastHour(): number {
    this.prune();
    return this.spend.reduce((sum, s) => sum + s.cost, 0);
  }

  /** Reserves one call of up to `maxTokens` output for `inputTokens` of prompt, or says why not. */
  reserve(inputTokens: number, maxTokens: number): { grant: BudgetGrant } | { refused: BudgetRefusal } {
    this.prune();
    const now = this.now();
    if (this.calls.length >= this.options.callsPerMinute) return { refused: 'calls_per_minute' };
    let tokens = maxTokens;
    if (this.options.maxCostPerHour > 0) {
      const left = this.options.maxCostPerHour - this.spend.reduce((sum, s) => sum + s.cost, 0) - this.costOf(inputTokens, 0);
      const perToken = this.options.outputPricePerMillion / 1e6;
      if (left <= 0) return { refused: 'cost_per_hour' };
      if (perToken > 0) tokens = Math.min(tokens, Math.floor(left / perToken + 1e-9));
      if (tokens < 1) return { refused: 'cost_per_hour' };
    }
    this.calls.push(now);
    const entry = { at: now, cost: this.costOf(inputTokens, tokens) };
    this.spend.push(entry);
    return {
      grant: {
        maxTokens: tokens,
        settle: ({ inputTokens: used, outputTokens }) => {
          entry.cost = this.costOf(used, Math.min(outputTokens, tokens));
        },
      },
    };
  }

  private prune(): void {
    const now = this.now();
    this.calls = this.calls.filter((t) => now - t < 60_000);
    this.spend = this.spend.filter((s) => now - s.at < 3_600_000);
  }
}

/** One request's share: tokens and calls left. */
export class RequestBudget {
  private tokensLeft: number;
  private callsLeft: number;

  constructor(options: Pick<BudgetOptions, 'maxTokensPerRequest' | 'maxCallsPerRequest'>) {
    this.tokensLeft = options.maxTokensPerRequest;
    this.callsLeft = options.maxCallsPerRequest;
  }

  /** Takes one call of at most `wanted` tokens, or says why not. */
  take(wanted: number): { maxTokens: number } | { refused: BudgetRefusal } {
    if (this.callsLeft <= 0) return { refused: 'request_calls' };
    if (this.tokensLeft <= 0) return { refused: 'request_tokens' };
    this.callsLeft--;
    const maxTokens = Math.min(wanted, this.tokensLeft);
    this.tokensLeft -= maxTokens;
    return { maxTokens };
  }

  /** Gives back the tokens a call did not use. */
  refund(tokens: number): void {
    this.tokensLeft += Math.max(0, tokens);
  }

  get tokensRemaining(): number {
    return this.tokensLeft;
  }
}
