import { Redis } from 'ioredis';

/** `state.redis`: where replicas keep the state they share (docs/ARCHITECTURE.md#shared-state). */
export interface RedisOptions {
  /** `redis://[user:password@]host:port[/db]` (or `rediss://` for TLS). Required. */
  readonly url: string;
  /**
   * Prefix of every key this server writes; replicas that share limits share it, and separate deployments on one
   * Redis use different ones.
   *
   * Defaults to `specroute:`.
   */
  readonly keyPrefix: string;
  /**
   * Longest wait for one Redis command, in ms. A command that takes longer (or a Redis that is down) is answered
   * from this replica's own state instead: a request never waits on Redis for longer than this.
   *
   * Defaults to `250`.
   */
  readonly timeoutMs: number;
}

export const defaultRedis: Omit<RedisOptions, 'url'> = { keyPrefix: 'specroute:', timeoutMs: 250 };

/** A Lua script run atomically inside Redis, with its keys (before the prefix) and arguments. */
export interface RedisScript {
  /** A name for errors and metrics, such as `window`. */
  readonly name: string;
  readonly lua: string;
}

/**
 * Lua that sets `now` to Redis's own clock in ms: every replica's script reads the same clock, so replicas agree on
 * windows and cooldowns whatever their own clocks say.
 */
export const LUA_NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/** Told when Redis becomes usable or stops being usable (`reason`: why it stopped). */
export type RedisHealthListener = (up: boolean, reason?: string) => void;

/**
 * One replica's connection to the shared Redis. Every command is bounded by `timeoutMs` and fails fast while the
 * connection is down (no offline queue), so a caller gets `undefined` and uses its own state rather than waiting.
 * A failed command marks Redis down until a ping answers again (checked every 500 ms), so one slow Redis does not
 * cost every request its timeout.
 */
export class RedisConnection {
  private readonly client: Redis;
  /** Undefined until the first connection attempt says either way (so that a Redis down at boot is reported). */
  private upValue: boolean | undefined;
  private probe: NodeJS.Timeout | undefined;
  private readonly loaded = new Set<string>();
  private disposed = false;

  constructor(
    readonly options: RedisOptions,
    private readonly onHealth: RedisHealthListener = () => undefined,
  ) {
    this.client = new Redis(options.url, {
      keyPrefix: options.keyPrefix,
      commandTimeout: options.timeoutMs,
      connectTimeout: Math.max(1000, options.timeoutMs),
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: (times) => Math.min(100 * times, 1000),
      lazyConnect: true,
    });
    this.client.on('ready', () => this.set(true));
    this.client.on('error', (error: Error) => this.set(false, error.message));
    this.client.on('close', () => this.set(false, 'the connection closed'));
    this.client.connect().catch((error: Error) => this.set(false, error.message));
  }

  /** Whether commands go to Redis now. */
  get up(): boolean {
    return this.upValue === true;
  }

  /**
   * Runs `script` atomically with `keys` (the key prefix is added) and `args`. Returns its reply, or `undefined`
   * when Redis is down, slow or failed: the caller then answers from its own state.
   */
  async run(script: RedisScript, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown> {
    if (this.upValue !== true || this.disposed) return undefined;
    try {
      if (!this.loaded.has(script.name)) {
        this.client.defineCommand(script.name, { numberOfKeys: keys.length, lua: script.lua });
        this.loaded.add(script.name);
      }
      const command = (this.client as unknown as Record<string, (...a: Array<string | number>) => Promise<unknown>>)[script.name]!;
      return await command.call(this.client, ...keys, ...args);
    } catch (error) {
      this.set(false, `${script.name}: ${(error as Error).message}`);
      return undefined;
    }
  }

  /** Closes the connection. */
  async dispose(): Promise<void> {
    this.disposed = true;
    clearInterval(this.probe);
    this.probe = undefined;
    await this.client.quit().catch(() => this.client.disconnect());
  }

  private set(up: boolean, reason?: string): void {
    if (this.disposed || up === this.upValue) return;
    this.upValue = up;
    this.onHealth(up, reason);
    if (up) {
      clearInterval(this.probe);
      this.probe = undefined;
    } else if (this.probe === undefined) {
      // The connection may still be open (a timed-out command): a ping that answers brings Redis back.
      this.probe = setInterval(() => {
        if (this.client.status !== 'ready') return; // reconnecting: `ready` will say when it is back
        this.client.ping().then(
          () => this.set(true),
          () => undefined,
        );
      }, 500);
      this.probe.unref();
    }
  }
}
