import { randomUUID } from 'node:crypto';
import { LUA_NOW, type RedisConnection, type RedisScript } from './redis-connection.js';

/** What a `take` got. */
export interface WindowTake {
  /** The amount granted (between the `min` and `max` asked), or 0 when refused. */
  readonly granted: number;
  /** Whether it was granted. */
  readonly admitted: boolean;
  /** The window's sum before this take. */
  readonly used: number;
  /** When refused: ms until the oldest entry leaves the window (a `Retry-After`); 0 when granted. */
  readonly retryAfterMs: number;
  /** Names the entry, to `settle` it with what was really used. */
  readonly id: string;
}

/**
 * Sliding-window sums, by key: each entry (an amount at a time) counts for `windowMs` after it was taken. Calls per
 * minute, cost per hour and per-key quotas are all windows. Every `take` checks and adds in one step, so concurrent
 * takers never overshoot a limit.
 */
export interface SlidingWindows {
  /**
   * Takes as much of `[min, max]` as fits under `limit` in the window `key`, or nothing when the window is already
   * at its limit or less than `min` is left.
   */
  take(key: string, windowMs: number, limit: number, min: number, max: number): Promise<WindowTake>;
  /** Sets the amount of entry `id` (a reservation settled with what it used); a gone entry is left gone. */
  settle(key: string, id: string, amount: number): Promise<void>;
  /** The window's sum now. */
  sum(key: string, windowMs: number): Promise<number>;
}

/** The limit of a window that only records (a finite number, for Redis's Lua). */
export const NO_LIMIT = 1e308;

interface Entry {
  readonly at: number;
  amount: number;
}

/** The windows of one process. */
export class MemoryWindows implements SlidingWindows {
  private readonly windows = new Map<string, Map<string, Entry>>();

  constructor(private readonly now: () => number = Date.now) {}

  async take(key: string, windowMs: number, limit: number, min: number, max: number): Promise<WindowTake> {
    return this.takeNow(key, windowMs, limit, min, max);
  }

  /** `take`, synchronously. */
  takeNow(key: string, windowMs: number, limit: number, min: number, max: number): WindowTake {
    const entries = this.live(key, windowMs);
    const now = this.now();
    let used = 0;
    let oldest = now;
    for (const entry of entries.values()) {
      used += entry.amount;
      oldest = Math.min(oldest, entry.at);
    }
    const id = randomUUID();
    const granted = Math.min(max, limit - used);
    if (limit - used <= 0 || granted < min) return { granted: 0, admitted: false, used, retryAfterMs: Math.max(1, oldest + windowMs - now), id };
    entries.set(id, { at: now, amount: granted });
    return { granted, admitted: true, used, retryAfterMs: 0, id };
  }

  async settle(key: string, id: string, amount: number): Promise<void> {
    this.settleNow(key, id, amount);
  }

  settleNow(key: string, id: string, amount: number): void {
    const entry = this.windows.get(key)?.get(id);
    if (entry) entry.amount = amount;
  }

  async sum(key: string, windowMs: number): Promise<number> {
    let total = 0;
    for (const entry of this.live(key, windowMs).values()) total += entry.amount;
    return total;
  }

  private live(key: string, windowMs: number): Map<string, Entry> {
    let entries = this.windows.get(key);
    if (!entries) this.windows.set(key, (entries = new Map()));
    const now = this.now();
    for (const [id, entry] of entries) if (now - entry.at >= windowMs) entries.delete(id);
    return entries;
  }
}

/**
 * Lua (after `LUA_NOW`, with `windowMs` set) that drops the entries of window KEYS (times, amounts) older than
 * `windowMs` and sets `used` to the sum of the rest.
 */
const PRUNE_AND_SUM = `local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - windowMs)
for _, gone in ipairs(old) do redis.call('HDEL', KEYS[2], gone) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - windowMs)
local used = 0
for _, v in ipairs(redis.call('HVALS', KEYS[2])) do used = used + tonumber(v) end
`;

/**
 * KEYS: the entries' times (a sorted set) and amounts (a hash), by id. ARGV: windowMs, limit, min, max, id.
 * Returns {admitted, granted, used, retryAfterMs}; amounts as strings (Redis would truncate Lua numbers).
 */
const takeScript: RedisScript = {
  name: 'specrouteWindowTake',
  lua: `${LUA_NOW}local windowMs, limit, min, max, id = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
${PRUNE_AND_SUM}local granted = math.min(max, limit - used)
if limit - used <= 0 or granted < min then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  local retry = windowMs
  if oldest[2] then retry = math.max(1, tonumber(oldest[2]) + windowMs - now) end
  return {0, '0', tostring(used), retry}
end
redis.call('ZADD', KEYS[1], now, id)
redis.call('HSET', KEYS[2], id, tostring(granted))
redis.call('PEXPIRE', KEYS[1], windowMs)
redis.call('PEXPIRE', KEYS[2], windowMs)
return {1, tostring(granted), tostring(used), 0}
`,
};

/** KEYS: as `take`. ARGV: id, amount. */
const settleScript: RedisScript = {
  name: 'specrouteWindowSettle',
  lua: `
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then redis.call('HSET', KEYS[2], ARGV[1], ARGV[2]) end
return 1
`,
};

/** KEYS: as `take`. ARGV: windowMs. */
const sumScript: RedisScript = {
  name: 'specrouteWindowSum',
  lua: `${LUA_NOW}local windowMs = tonumber(ARGV[1])
${PRUNE_AND_SUM}return tostring(used)
`,
};

/**
 * Windows shared by every replica through Redis, each change one Lua script (atomic, timed by Redis's clock so
 * replicas agree). While Redis is down or slow, this replica's own windows answer instead (`onLocal` is told):
 * each replica then holds the limits by itself. When Redis answers again, it is the truth again.
 */
export class SharedWindows implements SlidingWindows {
  private readonly local: MemoryWindows;

  constructor(
    private readonly redis: RedisConnection,
    private readonly onLocal: (operation: string) => void = () => undefined,
    now: () => number = Date.now,
  ) {
    this.local = new MemoryWindows(now);
  }

  async take(key: string, windowMs: number, limit: number, min: number, max: number): Promise<WindowTake> {
    const id = randomUUID();
    const reply = (await this.redis.run(takeScript, keysOf(key), [windowMs, limit, min, max, id])) as [number, string, string, number] | undefined;
    if (reply === undefined) {
      this.onLocal('take');
      return this.local.takeNow(key, windowMs, limit, min, max);
    }
    const [admitted, granted, used, retryAfterMs] = reply;
    return { admitted: admitted === 1, granted: Number(granted), used: Number(used), retryAfterMs: Number(retryAfterMs), id };
  }

  async settle(key: string, id: string, amount: number): Promise<void> {
    this.local.settleNow(key, id, amount);
    await this.redis.run(settleScript, keysOf(key), [id, amount]);
  }

  async sum(key: string, windowMs: number): Promise<number> {
    const reply = await this.redis.run(sumScript, keysOf(key), [windowMs]);
    if (reply === undefined) {
      this.onLocal('sum');
      return this.local.sum(key, windowMs);
    }
    return Number(reply);
  }
}

function keysOf(key: string): [string, string] {
  return [`window:{${key}}:at`, `window:{${key}}:amount`];
}
