import { LUA_NOW, type RedisConnection, type RedisScript } from '../state/redis-connection.js';
import { CircuitBreaker, type BreakerState, type CircuitBreakerOptions } from './circuit-breaker.js';

/** The breaker in front of the frontier, as the escalator uses it: the same one for every replica when Redis is up. */
export interface FrontierBreaker {
  /** The state now (with Redis, as last read from it: at most `pollMs` old). */
  readonly state: BreakerState;
  /** Asks to make a call; true means go ahead (and report the outcome). */
  tryAcquire(): Promise<boolean>;
  success(): void;
  failure(): void;
  /** A call that ended with no verdict (its request went away): frees its half-open probe. */
  abandon(): void;
  dispose(): void;
}

/** The in-process breaker as a `FrontierBreaker`. */
export class LocalBreaker implements FrontierBreaker {
  constructor(readonly breaker: CircuitBreaker) {}
  get state(): BreakerState {
    return this.breaker.state;
  }
  async tryAcquire(): Promise<boolean> {
    return this.breaker.tryAcquire();
  }
  success(): void {
    this.breaker.success();
  }
  failure(): void {
    this.breaker.failure();
  }
  abandon(): void {
    this.breaker.abandon();
  }
  dispose(): void {}
}

/**
 * The breaker's state machine (`CircuitBreaker`'s) on one Redis hash, timed by Redis's clock. KEYS: the hash.
 * ARGV: operation (acquire | success | failure | abandon | read), failureThreshold, cooldownMs, halfOpenProbes.
 * Returns {state, allowed}.
 */
const breakerScript: RedisScript = {
  name: 'specrouteBreaker',
  lua: `${LUA_NOW}local op, threshold, cooldown, halfOpen = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local h = redis.call('HMGET', KEYS[1], 'state', 'failures', 'openedAt', 'probes')
local state = h[1] or 'closed'
local failures, openedAt, probes = tonumber(h[2] or '0'), tonumber(h[3] or '0'), tonumber(h[4] or '0')
local function set(s) if s ~= state then state = s; probes = 0 end end
if state == 'open' and now - openedAt >= cooldown then set('half-open') end
local allowed = 0
if op == 'acquire' then
  if state == 'closed' then allowed = 1
  elseif state == 'half-open' and probes < halfOpen then probes = probes + 1; allowed = 1 end
elseif op == 'success' then failures = 0; set('closed')
elseif op == 'failure' then
  failures = failures + 1
  if state == 'half-open' or failures >= threshold then openedAt = now; set('open') end
elseif op == 'abandon' then
  if state == 'half-open' and probes > 0 then probes = probes - 1 end
end
redis.call('HSET', KEYS[1], 'state', state, 'failures', failures, 'openedAt', openedAt, 'probes', probes)
return {state, allowed}
`,
};

/**
 * The breaker shared by every replica through Redis: a failure seen through one replica counts towards opening it
 * for all, and an open breaker is open everywhere (each replica reads it at least every `pollMs`). Every outcome is
 * also recorded in this replica's own breaker, which decides alone while Redis is down.
 */
export class SharedBreaker implements FrontierBreaker {
  private readonly local: CircuitBreaker;
  private mirror: BreakerState = 'closed';
  private reported: BreakerState = 'closed';
  private readonly poll: NodeJS.Timeout;

  constructor(
    private readonly redis: RedisConnection,
    private readonly options: CircuitBreakerOptions,
    private readonly onChange: (state: BreakerState) => void = () => undefined,
    private readonly onLocal: (operation: string) => void = () => undefined,
    pollMs = 250,
  ) {
    this.local = new CircuitBreaker(options, Date.now, () => this.report());
    this.poll = setInterval(() => void this.run('read'), pollMs);
    this.poll.unref();
  }

  get state(): BreakerState {
    return this.redis.up ? this.mirror : this.local.state;
  }

  async tryAcquire(): Promise<boolean> {
    const reply = await this.run('acquire');
    if (reply === undefined) {
      this.onLocal('breaker');
      return this.local.tryAcquire();
    }
    return reply;
  }

  success(): void {
    this.local.success();
    void this.run('success');
  }

  failure(): void {
    this.local.failure();
    void this.run('failure');
  }

  abandon(): void {
    this.local.abandon();
    void this.run('abandon');
  }

  dispose(): void {
    clearInterval(this.poll);
  }

  /** Runs one operation in Redis; whether it allowed a call, or `undefined` when Redis did not answer. */
  private async run(operation: 'acquire' | 'success' | 'failure' | 'abandon' | 'read'): Promise<boolean | undefined> {
    const { failureThreshold, cooldownMs, halfOpenProbes } = this.options;
    const reply = (await this.redis.run(breakerScript, ['breaker'], [operation, failureThreshold, cooldownMs, halfOpenProbes])) as [BreakerState, number] | undefined;
    if (reply !== undefined) this.mirror = reply[0];
    this.report();
    return reply === undefined ? undefined : reply[1] === 1;
  }

  private report(): void {
    const state = this.state;
    if (state === this.reported) return;
    this.reported = state;
    this.onChange(state);
  }
}
