import { describe, expect, it } from 'vitest';
import { MemoryWindows } from '../../src/state/sliding-windows.js';
import { defaultBudget, GlobalBudget, RequestBudget, type BudgetGrant, type BudgetOptions } from '../../src/escalation/budget.js';

const open: BudgetOptions = { maxTokensPerRequest: 0, maxCallsPerRequest: 0, callsPerMinute: 1000, maxCostPerHour: 0, inputPricePerMillion: 0, outputPricePerMillion: 0 };

/** A global budget on a hand-driven clock. */
function global(options: Partial<BudgetOptions>): { g: GlobalBudget; at: (ms: number) => void } {
  let now = 5_000_000;
  const g = new GlobalBudget({ ...open, ...options }, new MemoryWindows(() => now));
  return { g, at: (ms) => (now = 5_000_000 + ms) };
}

function granted(result: Awaited<ReturnType<GlobalBudget['reserve']>>): BudgetGrant {
  if (!('grant' in result)) throw new Error(`expected a grant, got a refusal: ${result.refused}`);
  return result.grant;
}

describe('RequestBudget', () => {
  it('documents its defaults', () => {
    expect(defaultBudget).toEqual({ maxTokensPerRequest: 64, maxCallsPerRequest: 4, callsPerMinute: 60, maxCostPerHour: 0, inputPricePerMillion: 0, outputPricePerMillion: 0 });
  });

  it('grants the tokens asked for, up to what is left, and counts calls', () => {
    const r = new RequestBudget({ maxTokensPerRequest: 10, maxCallsPerRequest: 3 });
    expect(r.tokensRemaining).toBe(10);
    expect(r.take(4)).toEqual({ maxTokens: 4 });
    expect(r.tokensRemaining).toBe(6);
    expect(r.take(8)).toEqual({ maxTokens: 6 });
    expect(r.tokensRemaining).toBe(0);
    expect(r.take(1)).toEqual({ refused: 'request_tokens' });
  });

  it('refuses once the calls are spent, before looking at tokens', () => {
    const r = new RequestBudget({ maxTokensPerRequest: 100, maxCallsPerRequest: 2 });
    expect(r.take(1)).toEqual({ maxTokens: 1 });
    expect(r.take(1)).toEqual({ maxTokens: 1 });
    expect(r.take(1)).toEqual({ refused: 'request_calls' });
    expect(r.tokensRemaining).toBe(98);
    expect(new RequestBudget({ maxTokensPerRequest: 0, maxCallsPerRequest: 0 }).take(1)).toEqual({ refused: 'request_calls' });
    expect(new RequestBudget({ maxTokensPerRequest: 0, maxCallsPerRequest: 1 }).take(1)).toEqual({ refused: 'request_tokens' });
  });

  it('a refused take spends no call', () => {
    const r = new RequestBudget({ maxTokensPerRequest: 2, maxCallsPerRequest: 2 });
    expect(r.take(2)).toEqual({ maxTokens: 2 });
    expect(r.take(2)).toEqual({ refused: 'request_tokens' });
    r.refund(1);
    expect(r.take(2)).toEqual({ maxTokens: 1 });
  });

  it('refunds what a call did not use, and ignores a negative refund', () => {
    const r = new RequestBudget({ maxTokensPerRequest: 10, maxCallsPerRequest: 5 });
    r.take(10);
    r.refund(3);
    expect(r.tokensRemaining).toBe(3);
    r.refund(-5);
    expect(r.tokensRemaining).toBe(3);
    r.refund(0);
    expect(r.take(10)).toEqual({ maxTokens: 3 });
  });
});

describe('GlobalBudget', () => {
  it('caps calls per minute over a sliding window: a call leaves it 60 s after it was made', async () => {
    const { g, at } = global({ callsPerMinute: 2 });
    granted(await g.reserve(0, 1));
    at(30_000);
    granted(await g.reserve(0, 1));
    expect(await g.reserve(0, 1)).toEqual({ refused: 'calls_per_minute' });
    at(59_999);
    expect(await g.reserve(0, 1)).toEqual({ refused: 'calls_per_minute' });
    at(60_000);
    granted(await g.reserve(0, 1));
    expect(await g.reserve(0, 1)).toEqual({ refused: 'calls_per_minute' });
    expect(await global({ callsPerMinute: 0 }).g.reserve(0, 1)).toEqual({ refused: 'calls_per_minute' });
  });

  it('without a cost cap grants every token asked for, and a refused call is not counted', async () => {
    const { g } = global({ callsPerMinute: 1, outputPricePerMillion: 5 });
    expect(granted(await g.reserve(10, 500)).maxTokens).toBe(500);
    expect(await g.reserve(0, 1)).toEqual({ refused: 'calls_per_minute' });
    expect(await g.reserve(0, 1)).toEqual({ refused: 'calls_per_minute' });
  });

  it('prices input and output tokens per million, and reserves the worst case until settled', async () => {
    const { g } = global({ inputPricePerMillion: 2, outputPricePerMillion: 10 });
    const grant = granted(await g.reserve(1_000_000, 500_000)); // 2 + 5
    expect((await g.spentLastHour())).toBeCloseTo(7, 9);
    grant.settle({ inputTokens: 500_000, outputTokens: 100_000 }); // 1 + 1
    expect((await g.spentLastHour())).toBeCloseTo(2, 9);
    // Settling more output than was granted counts only the grant.
    grant.settle({ inputTokens: 0, outputTokens: 900_000 });
    expect((await g.spentLastHour())).toBeCloseTo(5, 9);
    granted(await g.reserve(250_000, 0));
    expect((await g.spentLastHour())).toBeCloseTo(5.5, 9);
  });

  it('caps the cost per hour: trims a grant to what is left, and refuses when nothing or less than a token is left', async () => {
    // 0.1 per output token, 0.5 per million input tokens; a cap of 1 per hour.
    const { g } = global({ maxCostPerHour: 1, outputPricePerMillion: 100_000, inputPricePerMillion: 0.5 });
    expect(granted(await g.reserve(0, 3)).maxTokens).toBe(3); // 0.3 reserved
    // 0.7 left, minus 0.5 of input: 0.2 for output, 2 tokens.
    expect(granted(await g.reserve(1_000_000, 50)).maxTokens).toBe(2);
    expect((await g.spentLastHour())).toBeCloseTo(1, 9);
    expect(await g.reserve(0, 1)).toEqual({ refused: 'cost_per_hour' });
  });

  it('grants the last token that exactly fits, despite float rounding', async () => {
    const { g } = global({ maxCostPerHour: 0.3, outputPricePerMillion: 100_000 });
    // 0.3 / 0.1 is 2.9999999999999996 in floats: still 3 tokens.
    expect(granted(await g.reserve(0, 10)).maxTokens).toBe(3);
    expect(await g.reserve(0, 1)).toEqual({ refused: 'cost_per_hour' });
  });

  it('grants a single token when exactly one fits, and refuses when less than one does', async () => {
    const one = global({ maxCostPerHour: 1, outputPricePerMillion: 100_000 }).g;
    expect(granted(await one.reserve(0, 9)).maxTokens).toBe(9); // 0.9 of 1
    expect(granted(await one.reserve(0, 5)).maxTokens).toBe(1);
    expect(await one.reserve(0, 5)).toEqual({ refused: 'cost_per_hour' });
    // 0.05 of input and 0.9 of output leave 0.05: half a token.
    const half = global({ maxCostPerHour: 1, outputPricePerMillion: 100_000, inputPricePerMillion: 1 }).g;
    expect(granted(await half.reserve(50_000, 9)).maxTokens).toBe(9);
    expect(await half.reserve(0, 5)).toEqual({ refused: 'cost_per_hour' });
  });

  it('with a cost cap but free output, grants all tokens while the input fits', async () => {
    const { g } = global({ maxCostPerHour: 1, inputPricePerMillion: 1 });
    expect(granted(await g.reserve(400_000, 1000)).maxTokens).toBe(1000);
    expect(granted(await g.reserve(400_000, 1000)).maxTokens).toBe(1000);
    expect(granted(await g.reserve(100_000, 7)).maxTokens).toBe(7);
    // A prompt that costs exactly the whole cap leaves nothing for the call, free output or not.
    expect(await global({ maxCostPerHour: 1, inputPricePerMillion: 1 }).g.reserve(1_000_000, 5)).toEqual({ refused: 'cost_per_hour' });
  });

  it('forgets spending an hour after it happened', async () => {
    const { g, at } = global({ maxCostPerHour: 1, outputPricePerMillion: 100_000 });
    granted(await g.reserve(0, 10));
    expect(await g.reserve(0, 1)).toEqual({ refused: 'cost_per_hour' });
    at(3_599_999);
    expect((await g.spentLastHour())).toBeCloseTo(1, 9);
    expect(await g.reserve(0, 1)).toEqual({ refused: 'cost_per_hour' });
    at(3_600_000);
    expect(granted(await g.reserve(0, 4)).maxTokens).toBe(4);
    expect((await g.spentLastHour())).toBeCloseTo(0.4, 9);
    at(7_200_000);
    expect((await g.spentLastHour())).toBe(0);
  });

  it('spentRecently follows every reservation and settlement without asking the windows', async () => {
    const { g } = global({ maxCostPerHour: 1, outputPricePerMillion: 100_000, inputPricePerMillion: 1 });
    expect(g.spentRecently).toBe(0);
    const grant = granted(await g.reserve(100_000, 5)); // 0.1 of input + 0.5 of output
    expect(g.spentRecently).toBeCloseTo(0.6, 9);
    grant.settle({ inputTokens: 100_000, outputTokens: 2 });
    expect(g.spentRecently).toBeCloseTo(0.3, 9);
    grant.settle({ inputTokens: 100_000, outputTokens: 3 });
    expect(g.spentRecently).toBeCloseTo(0.4, 9);
    // A second grant is trimmed to what is left, and the mirror counts only what it reserved.
    expect(granted(await g.reserve(0, 10)).maxTokens).toBe(6);
    expect(g.spentRecently).toBeCloseTo(1, 9);
    expect(await g.reserve(0, 1)).toEqual({ refused: 'cost_per_hour' });
    expect(g.spentRecently).toBeCloseTo(1, 9);
  });

  it('a retry takes one more call from the per-minute window, and is refused when none is left', async () => {
    const { g, at } = global({ callsPerMinute: 3 });
    granted(await g.reserve(0, 1));
    expect(await g.takeRetry()).toBe(true);
    expect(await g.takeRetry()).toBe(true);
    expect(await g.takeRetry()).toBe(false);
    expect(await g.reserve(0, 1)).toEqual({ refused: 'calls_per_minute' });
    at(60_000);
    expect(await g.takeRetry()).toBe(true);
  });

  it('keeps its options readable', async () => {
    const options = { ...open, callsPerMinute: 7 };
    expect(new GlobalBudget(options).options).toBe(options);
  });

  it('runs on the real clock by default', async () => {
    const g = new GlobalBudget({ ...open, callsPerMinute: 1 });
    granted(await g.reserve(0, 1));
    expect(await g.reserve(0, 1)).toEqual({ refused: 'calls_per_minute' });
  });
});
