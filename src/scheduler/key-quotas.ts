import type { Tier } from '../events/route-decision.js';
import { SpecrouteError } from '../errors/registry.js';
import { NO_LIMIT, type SlidingWindows } from '../state/sliding-windows.js';

/** `auth.keys[]`: one API key's limits (a limit left out is no limit). */
export interface KeyQuota {
  /** The key's name: what metrics and errors say (never the key). */
  readonly name: string;
  /** Requests admitted per minute (sliding window). */
  readonly requestsPerMinute?: number | undefined;
  /**
   * Tokens per minute (sliding window): a request reserves its prompt and `max_tokens` when admitted, and is
   * settled to what it used when it ends.
   */
  readonly tokensPerMinute?: number | undefined;
  /**
   * Frontier spending per day (sliding 24 h), in the currency of `escalation.budget`'s prices: whole requests on the
   * frontier and escalated spans. Once reached, the key's requests stay local (an `auto` request is not sent to the
   * frontier, escalation is off) and `route: frontier` is refused.
   */
  readonly frontierCostPerDay?: number | undefined;
  /** The tiers the key may use. Defaults to all. */
  readonly tiers?: readonly Tier[] | undefined;
}

const MINUTE = 60_000;
const DAY = 86_400_000;

/** What an admitted request holds of its key's quotas. */
export interface QuotaHold {
  /** Whether the frontier is open to this request: its key's tiers include it and its day's spending allows. */
  readonly frontierAllowed: boolean;
  /** The key's day of frontier spending is used up: the error for a request that names the frontier. */
  readonly frontierRefusal: SpecrouteError | undefined;
  /** Records frontier spending by this request. */
  spent(cost: number): void;
  /** Settles the token reservation with the tokens the request really used. */
  settle(tokens: number): void;
}

/** Per-key quotas on sliding windows (shared by every replica when the windows are). */
export class KeyQuotas {
  constructor(private readonly windows: SlidingWindows) {}

  /**
   * Admits one request of `key` that takes `tokens` (prompt and `max_tokens`), or throws `quota_exceeded` naming
   * the limit, with how long to wait.
   */
  async admit(key: KeyQuota, tokens: number): Promise<QuotaHold> {
    const requests = key.requestsPerMinute;
    if (requests !== undefined) {
      const take = await this.windows.take(`key:${key.name}:requests`, MINUTE, requests, 1, 1);
      if (!take.admitted) throw over(key, 'requestsPerMinute', `${requests} requests per minute`, take.retryAfterMs);
    }
    let settleTokens = (_used: number): void => undefined;
    const limit = key.tokensPerMinute;
    if (limit !== undefined) {
      const take = await this.windows.take(`key:${key.name}:tokens`, MINUTE, limit, tokens, tokens);
      if (!take.admitted) {
        throw over(key, 'tokensPerMinute', `${limit} tokens per minute; this request reserves ${tokens} (its prompt and max_tokens)`, take.retryAfterMs);
      }
      settleTokens = (used) => void this.windows.settle(`key:${key.name}:tokens`, take.id, used);
    }
    const mayUseFrontier = tierAllowed(key, 'frontier');
    let frontierRefusal: SpecrouteError | undefined;
    if (mayUseFrontier && key.frontierCostPerDay !== undefined) {
      const spent = await this.windows.sum(`key:${key.name}:frontier-cost`, DAY);
      if (spent >= key.frontierCostPerDay) frontierRefusal = over(key, 'frontierCostPerDay', `${key.frontierCostPerDay} of frontier spending per day`, 3_600_000);
    }
    return {
      frontierAllowed: mayUseFrontier && frontierRefusal === undefined,
      frontierRefusal,
      spent: (cost) => {
        if (cost > 0 && key.frontierCostPerDay !== undefined) void this.windows.take(`key:${key.name}:frontier-cost`, DAY, NO_LIMIT, cost, cost);
      },
      settle: settleTokens,
    };
  }
}

/** Whether `key` may use `tier` at all. */
export function tierAllowed(key: KeyQuota | undefined, tier: Tier): boolean {
  return key?.tiers === undefined || key.tiers.includes(tier);
}

function over(key: KeyQuota, limit: string, what: string, retryAfterMs: number): SpecrouteError {
  return new SpecrouteError('quota_exceeded', `the API key '${key.name}' is over its quota of ${what}; retry later`, { param: limit, retryAfterMs });
}
