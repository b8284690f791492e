import { MemoryWindows, NO_LIMIT, type SlidingWindows } from '../state/sliding-windows.js';

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

/** The windows' keys: the same on every replica that shares a Redis. */
const CALLS = 'frontier:calls';
const COST = 'frontier:cost';
const MINUTE = 60_000;
const HOUR = 3_600_000;

/**
 * The global budget, shared by all requests (and, with `state.redis`, by all replicas). Every grant reserves the
 * worst case up front (the call itself, and the cost of `maxTokens` output) in one atomic step per window, so
 * concurrent requests can never overshoot; settling returns what the call did not use.
 */
export class GlobalBudget {
  private spent = 0;

  constructor(
    readonly options: BudgetOptions,
    private readonly windows: SlidingWindows = new MemoryWindows(),
  ) {}

  /** What a call of `input` prompt and `output` generated tokens costs at the configured prices. */
  costOf(input: number, output: number): number {
    return (input * this.options.inputPricePerMillion + output * this.options.outputPricePerMillion) / 1e6;
  }

  /** Spent in the last hour, reservations included (every replica's, with shared state). */
  async spentLastHour(): Promise<number> {
    this.spent = await this.windows.sum(COST, HOUR);
    return this.spent;
  }

  /** `spentLastHour` as of the last time this replica reserved, settled or asked: for decisions that cannot wait. */
  get spentRecently(): number {
    return this.spent;
  }

  /** Reserves one call of up to `maxTokens` output for `inputTokens` of prompt, or says why not. */
  async reserve(inputTokens: number, maxTokens: number): Promise<{ grant: BudgetGrant } | { refused: BudgetRefusal }> {
    const call = await this.takeCall();
    if (!call) return { refused: 'calls_per_minute' };
    const { maxCostPerHour } = this.options;
    const perToken = this.options.outputPricePerMillion / 1e6;
    const input = this.costOf(inputTokens, 0);
    // At least one output token must fit (with free output: more than the prompt's cost must be left).
    const least = perToken > 0 ? input + perToken * (1 - 1e-9) : input + 1e-12;
    const most = Math.max(least, this.costOf(inputTokens, maxTokens));
    const cost = await this.windows.take(COST, HOUR, maxCostPerHour > 0 ? maxCostPerHour : NO_LIMIT, least, most);
    if (!cost.admitted) {
      void this.windows.settle(CALLS, call, 0); // a refused call is not counted
      this.spent = cost.used;
      return { refused: 'cost_per_hour' };
    }
    const tokens = perToken > 0 ? Math.min(maxTokens, Math.floor((cost.granted - input) / perToken + 1e-9)) : maxTokens;
    let reserved = cost.granted;
    this.spent = cost.used + reserved;
    const settle = (amount: number): void => {
      this.spent += amount - reserved;
      reserved = amount;
      void this.windows.settle(COST, cost.id, amount);
    };
    settle(this.costOf(inputTokens, tokens));
    return {
      grant: {
        maxTokens: tokens,
        settle: ({ inputTokens: used, outputTokens }) => settle(this.costOf(used, Math.min(outputTokens, tokens))),
      },
    };
  }

  /**
   * Takes one more call from `callsPerMinute` for a retry of a call already granted (every HTTP attempt counts);
   * false when none is left.
   */
  async takeRetry(): Promise<boolean> {
    return (await this.takeCall()) !== undefined;
  }

  /** One call from the per-minute window: its entry's id, or undefined when the window is full. */
  private async takeCall(): Promise<string | undefined> {
    const call = await this.windows.take(CALLS, MINUTE, this.options.callsPerMinute, 1, 1);
    return call.admitted ? call.id : undefined;
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
