import type { RedisConnection, RedisScript } from '../state/redis-connection.js';
import type { SharedShareState } from './share-controller.js';

/**
 * KEYS: the EMA (a string) and the scores (a list). ARGV: score, 1 if it went to the frontier else 0, smoothing,
 * window, the EMA's first value. Returns {EMA, scores oldest first}; numbers as strings (Redis truncates Lua numbers).
 */
const observeScript: RedisScript = {
  name: 'specrouteShareObserve',
  lua: `
local share = tonumber(redis.call('GET', KEYS[1]) or ARGV[5])
share = share + tonumber(ARGV[3]) * (tonumber(ARGV[2]) - share)
redis.call('SET', KEYS[1], tostring(share))
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[4]), -1)
return {tostring(share), redis.call('LRANGE', KEYS[2], 0, -1)}
`,
};

/** The share controller's state in Redis, one for every replica of a router (keyed by the router's name). */
export class RedisShareState implements SharedShareState {
  constructor(
    private readonly redis: RedisConnection,
    private readonly router: string,
    private readonly options: { readonly window: number; readonly smoothing: number; readonly target: number },
    private readonly onLocal: (operation: string) => void = () => undefined,
  ) {}

  async observe(score: number, toFrontier: boolean): Promise<{ share: number; scores: number[] } | undefined> {
    const keys = [`controller:{${this.router}}:share`, `controller:{${this.router}}:scores`];
    const reply = (await this.redis.run(observeScript, keys, [score, toFrontier ? 1 : 0, this.options.smoothing, this.options.window, this.options.target])) as
      | [string, string[]]
      | undefined;
    if (reply === undefined) {
      this.onLocal('controller');
      return undefined;
    }
    return { share: Number(reply[0]), scores: reply[1].map(Number) };
  }
}
